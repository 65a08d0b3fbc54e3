// Test helpers for the worker: a fake in-process Manager that records every
// request, a temp directory, and a time pump for FakeClock.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "common/ids.h"
#include "http/http.h"
#include "support/fake_clock.h"

namespace duende::worker::testing {

struct Recorded {
  std::string method;
  std::string path;
  std::string body;
  http::Headers headers;
  std::string Header(std::string_view name) const {
    for (const auto& [k, v] : headers)
      if (k == name) return v;
    return "";
  }
  nlohmann::json Json() const { return nlohmann::json::parse(body, nullptr, false); }
};

// A fake Manager on 127.0.0.1:<ephemeral>. Default answers follow spec §2.2
// for a Manager with nothing to do; tests override routes with On().
class FakeManager {
 public:
  using Fn = std::function<http::Response(const http::Request&)>;

  FakeManager() : worker_id_(NewObjectId()) {
    On("POST", "/register-worker", [this](const http::Request&) {
      return http::Response::Json(200, {{"_id", worker_id_}, {"status", ""}});
    });
    On("POST", "/sign-on", [](const http::Request&) { return http::Response::NoContent(); });
    On("POST", "/sign-off", [](const http::Request&) { return http::Response::NoContent(); });
    On("POST", "/task", [](const http::Request&) { return http::Response::NoContent(); });
    On("POST", "/tasks/", [](const http::Request&) { return http::Response::NoContent(); });
    On("GET", "/may-i-run/", [](const http::Request&) {
      return http::Response::Json(200, {{"may_keep_running", true}});
    });
    On("GET", "/status-change", [](const http::Request&) { return http::Response::NoContent(); });
    On("POST", "/ack-status-change/", [](const http::Request&) { return http::Response::NoContent(); });
    On("POST", "/output-produced", [](const http::Request&) { return http::Response::NoContent(); });
    server_ = std::make_unique<http::Server>(http::ServerOptions{}, [this](http::Request& r) { return Handle(r); });
    auto port = server_->Start();
    EXPECT_TRUE(port.has_value());
    url_ = "http://127.0.0.1:" + std::to_string(port ? *port : 0);
  }
  ~FakeManager() { server_->Stop(); }

  // Routes match on method and path prefix; the longest prefix wins.
  void On(std::string method, std::string prefix, Fn fn) {
    std::lock_guard lock(mu_);
    routes_[{std::move(method), std::move(prefix)}] = std::move(fn);
  }
  const std::string& url() const { return url_; }
  const std::string& worker_id() const { return worker_id_; }

  std::vector<Recorded> Requests() {
    std::lock_guard lock(mu_);
    return requests_;
  }
  std::vector<Recorded> Requests(std::string_view method, std::string_view prefix) {
    std::vector<Recorded> out;
    for (auto& r : Requests())
      if (r.method == method && r.path.starts_with(prefix)) out.push_back(r);
    return out;
  }
  // Task updates received, in order.
  std::vector<nlohmann::json> Updates() {
    std::vector<nlohmann::json> out;
    for (auto& r : Requests("POST", "/tasks/"))
      if (r.path.ends_with("/update")) out.push_back(r.Json());
    return out;
  }
  // All log text received in updates.
  std::string AllLogs() {
    std::string out;
    for (auto& u : Updates())
      if (u.contains("log")) out += u["log"].get<std::string>() + "\n";
    return out;
  }
  // Waits (bounded, real time) until `pred` holds for the recorded requests.
  // Re-checks on every request and every 10 ms.
  bool WaitFor(const std::function<bool()>& pred, std::chrono::seconds timeout = std::chrono::seconds(30)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!pred()) {
      if (std::chrono::steady_clock::now() >= deadline) return false;
      std::unique_lock lock(wait_mu_);
      cv_.wait_for(lock, std::chrono::milliseconds(10));
    }
    return true;
  }
  bool WaitForRequest(std::string_view method, std::string_view prefix, size_t n = 1) {
    return WaitFor([&] { return Requests(method, prefix).size() >= n; });
  }

 private:
  http::Response Handle(http::Request& r) {
    Fn fn;
    {
      std::lock_guard lock(mu_);
      requests_.push_back({r.method, r.path, r.body, r.headers});
      size_t best = 0;
      for (const auto& [key, f] : routes_) {
        if (key.first == r.method && r.path.starts_with(key.second) && key.second.size() >= best) {
          best = key.second.size();
          fn = f;
        }
      }
    }
    http::Response resp = fn ? fn(r) : http::Response::Message(404, "no route");
    { std::lock_guard lock(wait_mu_); }
    cv_.notify_all();
    return resp;
  }

  std::string worker_id_;
  std::unique_ptr<http::Server> server_;
  std::string url_;
  std::mutex mu_;
  std::map<std::pair<std::string, std::string>, Fn> routes_;
  std::vector<Recorded> requests_;
  std::mutex wait_mu_;
  std::condition_variable cv_;
};

// Moves a FakeClock forward in small steps while alive, so services waiting
// on it make progress. Tests assert on what happened, never on how long.
class TimePump {
 public:
  explicit TimePump(duende::testing::FakeClock& clock, std::chrono::milliseconds step = std::chrono::milliseconds(100))
      : thread_([&clock, step](std::stop_token st) {
          while (!st.stop_requested()) {
            clock.Advance(step);
            std::this_thread::sleep_for(std::chrono::microseconds(500));
          }
        }) {}

 private:
  std::jthread thread_;
};

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "duende-worker-test-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }
  std::string operator/(std::string_view name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

inline void WriteFile(const std::filesystem::path& p, std::string_view text) {
  std::filesystem::create_directories(p.parent_path());
  FILE* f = std::fopen(p.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  std::fwrite(text.data(), 1, text.size(), f);
  std::fclose(f);
}

inline std::string ReadFile(const std::filesystem::path& p) {
  std::string out;
  FILE* f = std::fopen(p.c_str(), "rb");
  if (!f) return out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  std::fclose(f);
  return out;
}

}  // namespace duende::worker::testing
