// An in-process fake of the Manager's /api/ for CLI tests: a real
// http::Server on 127.0.0.1 (ephemeral port) that records every request and
// answers from routes the test registers before Start().
#pragma once

#include <gtest/gtest.h>

#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/clock.h"
#include "http/http.h"
#include "support/fake_clock.h"

namespace duende::cli::testing {

struct RecordedRequest {
  std::string method;
  std::string path;
  std::string query;
  std::string body;
  nlohmann::json Json() const { return nlohmann::json::parse(body); }
};

class FakeManager {
 public:
  FakeManager()
      : server_(http::ServerOptions{}, [this](http::Request& request) {
          {
            std::lock_guard lock(mu_);
            requests_.push_back({request.method, request.path, request.query, request.body});
          }
          return router_.Dispatch(request);
        }) {}
  ~FakeManager() { server_.Stop(); }

  // Routes must be added before Start(); handlers run on server threads.
  void On(std::string_view method, std::string_view pattern, http::Handler handler) {
    router_.Add(method, pattern, std::move(handler));
  }
  void OnJson(std::string_view method, std::string_view pattern, int status, nlohmann::json body) {
    On(method, pattern, [status, body](http::Request&) { return http::Response::Json(status, body); });
  }

  void Start() {
    auto port = server_.Start();
    ASSERT_TRUE(port.has_value()) << port.error().message;
    url_ = "http://127.0.0.1:" + std::to_string(*port);
  }
  void Stop() { server_.Stop(); }
  const std::string& url() const { return url_; }

  std::vector<RecordedRequest> requests() const {
    std::lock_guard lock(mu_);
    return requests_;
  }
  std::vector<RecordedRequest> requests(std::string_view method) const {
    std::vector<RecordedRequest> out;
    for (auto& r : requests())
      if (r.method == method) out.push_back(r);
    return out;
  }

 private:
  http::Router router_;
  http::Server server_;
  mutable std::mutex mu_;
  std::vector<RecordedRequest> requests_;
  std::string url_;
};

// A clock whose waits return at once after moving time to the deadline, so
// `submit --wait` polls without real sleeping and the test can check how
// far (and how often) it waited.
class StepClock final : public Clock {
 public:
  SystemTime Now() const override { return fake_.Now(); }
  SteadyTime SteadyNow() const override { return fake_.SteadyNow(); }
  bool WaitUntil(SteadyTime deadline, std::stop_token stop, uint64_t /*since*/ = kNow) override {
    if (stop.stop_requested()) return false;
    ++waits_;
    const SteadyTime now = fake_.SteadyNow();
    if (deadline > now) fake_.Advance(deadline - now);
    return !stop.stop_requested();
  }
  void NotifyAll() override {}
  uint64_t Generation() const override { return 0; }

  int waits() const { return waits_; }
  duende::testing::FakeClock& fake() { return fake_; }

 private:
  duende::testing::FakeClock fake_;
  int waits_ = 0;
};

}  // namespace duende::cli::testing
