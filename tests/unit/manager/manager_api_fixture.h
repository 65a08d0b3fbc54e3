// The Manager in-process over real HTTP on loopback: the fixture of the
// API tests (manager_api_test.cc), the worker status endpoints'
// (worker_status_api_test.cc) and the store fault tests (store_faults_test.cc).
#pragma once

#include <gtest/gtest.h>

#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "common/clock.h"
#include "http/http.h"
#include "manager/app.h"
#include "manager/config.h"
#include "support/temp_dir.h"

namespace duende::manager {

class ManagerApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto config = ParseConfig(
        "request_body_limit: 65536\nlisten: 127.0.0.1:0\ntask_log_max_bytes: 16384\n" + ExtraConfig(), dir_.path());
    ASSERT_TRUE(config.has_value());
    app_ = std::make_unique<ManagerApp>(*config, clock_);
    auto port = app_->Start();
    ASSERT_TRUE(port.has_value()) << port.error().message;
    base_ = "http://127.0.0.1:" + std::to_string(*port);
    client_ = http::MakeCurlClient("Flamenco-Worker/2.5");
  }
  void TearDown() override { app_->Stop(); }
  // More config lines (YAML) for a test's Manager.
  virtual std::string ExtraConfig() const { return ""; }

  // The request Call sends (for tests that send from threads of their own).
  http::ClientRequest MakeRequest(const std::string& method, const std::string& path, const std::string& body = "",
                                  const std::string& user = "", const std::string& password = "") const {
    http::ClientRequest r;
    r.method = method;
    r.url = base_ + path;
    r.body = body;
    r.user = user;
    r.password = password;
    // People's endpoints: the admin token the Manager made on first start.
    if (user.empty() && (path.starts_with("/api/") || path.starts_with("/metrics"))) r.headers = AdminAuth();
    return r;
  }

  http::ClientResponse Call(const std::string& method, const std::string& path, const std::string& body = "",
                            const std::string& user = "", const std::string& password = "") {
    auto resp = client_->Send(MakeRequest(method, path, body, user, password));
    EXPECT_TRUE(resp.has_value());
    return resp.value_or(http::ClientResponse{});
  }

  // The whole log of a task's current run ("" when it has none).
  std::string LogOf(const std::string& task_id) {
    auto r = Call("GET", "/api/tasks/" + task_id + "/log?length=1073741824");
    return r.status == 200 ? r.body : "";
  }

  // Registers and signs on a worker; returns its ID (secret = "secret-" + nick).
  std::string Worker(const std::string& nick, nlohmann::json types = {"sleep", "debug"}) {
    auto r = Call(
        "POST", "/register-worker",
        nlohmann::json{
            {"secret", "secret-" + nick}, {"platform", "linux"}, {"supported_task_types", types}, {"nickname", nick}}
            .dump());
    EXPECT_EQ(r.status, 200) << r.body;
    const std::string id = nlohmann::json::parse(r.body)["_id"];
    EXPECT_EQ(
        Call("POST", "/sign-on", nlohmann::json{{"supported_task_types", types}}.dump(), id, "secret-" + nick).status,
        204);
    return id;
  }

  nlohmann::json SubmitSleepJob(int frames = 2) {
    auto r =
        Call("POST", "/api/jobs",
             nlohmann::json{
                 {"name", "nap"},
                 {"job_type", "sleep"},
                 {"settings", {{"frames", "1-" + std::to_string(frames)}, {"chunk_size", 1}, {"time_in_seconds", 0}}}}
                 .dump());
    EXPECT_EQ(r.status, 201) << r.body;
    return nlohmann::json::parse(r.body, nullptr, false);
  }

  http::ClientResponse FetchTask(const std::string& id, const std::string& nick) {
    // The depsgraph download is asynchronous; give it a moment.
    http::ClientResponse r;
    for (int i = 0; i < 200; ++i) {
      r = Call("POST", "/task", "", id, "secret-" + nick);
      if (r.status != 204) break;
      clock_.WaitFor(std::chrono::milliseconds(10), std::stop_token());
    }
    return r;
  }

  // The job side learns of farm-side changes asynchronously (the upstream
  // push): wait for a task's status there.
  // The job side's copy of a task, once it has `status` (and, if given,
  // `worker`): it hears of the farm's changes through the upstream push, on
  // the link's thread, so tests wait for it.
  nlohmann::json WaitForTaskStatus(const std::string& task_id, const std::string& status,
                                   const std::optional<std::string>& worker = std::nullopt) {
    nlohmann::json task;
    for (int i = 0; i < 500; ++i) {
      task = nlohmann::json::parse(Call("GET", "/api/tasks/" + task_id).body, nullptr, false);
      if (task.is_object() && task.value("status", "") == status && (!worker || task.value("worker", "") == *worker))
        break;
      clock_.WaitFor(std::chrono::milliseconds(10), std::stop_token());
    }
    return task;
  }

  int JobCount() { return static_cast<int>(nlohmann::json::parse(Call("GET", "/api/jobs").body)["jobs"].size()); }

  static void ExpectJsonMessage(const http::ClientResponse& r, int status) {
    EXPECT_EQ(r.status, status) << r.body;
    auto j = nlohmann::json::parse(r.body, nullptr, false);
    ASSERT_TRUE(j.is_object()) << r.body;
    EXPECT_TRUE(j.contains("message")) << r.body;
  }

  http::Headers AdminAuth() const {
    std::ifstream in(dir_.path() + "/admin-token");
    std::string token;
    std::getline(in, token);
    return {{"Authorization", "Bearer " + token}};
  }

  testing::TempDir dir_;
  SystemClock clock_;
  std::unique_ptr<ManagerApp> app_;
  std::unique_ptr<http::Client> client_;
  std::string base_;
};

}  // namespace duende::manager
