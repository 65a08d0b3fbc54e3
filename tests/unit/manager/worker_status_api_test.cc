// The worker status endpoints over real HTTP (in-process Manager): requests
// and how the v2 worker endpoints deliver them, forget, ack-timeout, sleep
// schedules, and bad input (JSON {"message"}, nothing changed).
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "common/ids.h"
#include "http/http.h"
#include "manager/app.h"
#include "manager/config.h"
#include "support/temp_dir.h"

namespace duende::manager {
namespace {

using nlohmann::json;

class WorkerStatusApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto config = ParseConfig("listen: 127.0.0.1:0\ntimezone: Europe/Amsterdam\n", dir_.path());
    ASSERT_TRUE(config.has_value()) << config.error().message;
    app_ = std::make_unique<ManagerApp>(*config, clock_);
    auto port = app_->Start();
    ASSERT_TRUE(port.has_value()) << port.error().message;
    base_ = "http://127.0.0.1:" + std::to_string(*port);
    client_ = http::MakeCurlClient("Flamenco-Worker/2.5");
  }
  void TearDown() override { app_->Stop(); }

  http::ClientResponse Call(const std::string& method, const std::string& path, const std::string& body = "",
                            const std::string& user = "") {
    http::ClientRequest r;
    r.method = method;
    r.url = base_ + path;
    r.body = body;
    if (!user.empty()) {
      r.user = user;
      r.password = "secret-" + nicks_[user];
    } else if (path.starts_with("/api/")) {
      // People's endpoints: the admin token the Manager made on first start.
      std::ifstream in(dir_.path() + "/admin-token");
      std::string token;
      std::getline(in, token);
      r.headers.emplace_back("Authorization", "Bearer " + token);
    }
    auto resp = client_->Send(r);
    EXPECT_TRUE(resp.has_value());
    return resp.value_or(http::ClientResponse{});
  }
  json CallJson(const std::string& method, const std::string& path, const json& body, int expected = 200) {
    auto r = Call(method, path, body.is_null() ? "" : body.dump());
    EXPECT_EQ(r.status, expected) << method << " " << path << ": " << r.body;
    return json::parse(r.body, nullptr, false);
  }

  std::string Worker(const std::string& nick) {
    auto r = Call("POST", "/register-worker",
                  json{{"secret", "secret-" + nick}, {"platform", "linux"}, {"supported_task_types", {"sleep"}},
                       {"nickname", nick}}
                      .dump());
    EXPECT_EQ(r.status, 200) << r.body;
    const std::string id = json::parse(r.body)["_id"];
    nicks_[id] = nick;
    EXPECT_EQ(Call("POST", "/sign-on", "{}", id).status, 204);
    return id;
  }

  // Submits a one-task job and has `w` fetch it; returns the task ID.
  std::string RunningTask(const std::string& w) {
    auto job = Call("POST", "/api/jobs",
                    json{{"name", "nap"},
                         {"job_type", "sleep"},
                         {"settings", {{"frames", "1"}, {"chunk_size", 1}, {"time_in_seconds", 0}}}}
                        .dump());
    EXPECT_EQ(job.status, 201) << job.body;
    for (int i = 0; i < 200; ++i) {
      auto r = Call("POST", "/task", "", w);
      if (r.status == 200) return json::parse(r.body)["_id"];
      clock_.WaitFor(std::chrono::milliseconds(10), std::stop_token());
    }
    ADD_FAILURE() << "no task";
    return "";
  }

  json MayIRun(const std::string& w, const std::string& task) {
    auto r = Call("GET", "/may-i-run/" + task, "", w);
    EXPECT_EQ(r.status, 200);
    return json::parse(r.body);
  }

  static void ExpectMessage(const http::ClientResponse& r, int status, const std::string& part) {
    EXPECT_EQ(r.status, status) << r.body;
    auto j = json::parse(r.body, nullptr, false);
    ASSERT_TRUE(j.is_object() && j.contains("message")) << r.body;
    EXPECT_NE(j["message"].get<std::string>().find(part), std::string::npos) << r.body;
  }

  testing::TempDir dir_;
  SystemClock clock_;
  std::unique_ptr<ManagerApp> app_;
  std::unique_ptr<http::Client> client_;
  std::string base_;
  std::map<std::string, std::string> nicks_;
};

TEST_F(WorkerStatusApiTest, LazyRequestKeepsTheTaskRunningAndBlocksTheNextFetch) {
  const std::string w = Worker("w1");
  const std::string task = RunningTask(w);
  auto worker = CallJson("POST", "/api/workers/" + w + "/status", {{"status", "asleep"}, {"lazy", true}});
  EXPECT_EQ(worker["status_requested"], "asleep");
  EXPECT_EQ(worker["lazy_status_request"], true);
  auto may = MayIRun(w, task);
  EXPECT_EQ(may["may_keep_running"], true);
  EXPECT_EQ(may["status_requested"], "asleep");
  EXPECT_EQ(Call("POST", "/tasks/" + task + "/update", json{{"task_status", "completed"}}.dump(), w).status, 204);
  auto fetch = Call("POST", "/task", "", w);
  EXPECT_EQ(fetch.status, 423);
  EXPECT_EQ(json::parse(fetch.body)["status_requested"], "asleep");
  auto change = Call("GET", "/status-change", "", w);
  EXPECT_EQ(change.status, 200);
  EXPECT_EQ(json::parse(change.body)["status_requested"], "asleep");
  EXPECT_EQ(Call("POST", "/ack-status-change/asleep", "", w).status, 204);
  EXPECT_EQ(Call("GET", "/status-change", "", w).status, 204);
  auto after = CallJson("GET", "/api/workers/" + w, nullptr);
  EXPECT_EQ(after["status"], "asleep");
  EXPECT_EQ(after["status_requested"], "");
}

TEST_F(WorkerStatusApiTest, ImmediateRequestRevokesMayIRun) {
  const std::string w = Worker("w1");
  const std::string task = RunningTask(w);
  CallJson("POST", "/api/workers/" + w + "/status", {{"status", "shutdown"}});
  auto may = MayIRun(w, task);
  EXPECT_EQ(may["may_keep_running"], false);
  EXPECT_EQ(may["reason"], "worker status change to shutdown requested");
  EXPECT_EQ(may["status_requested"], "shutdown");
}

TEST_F(WorkerStatusApiTest, SeveralWorkersInOneRequest) {
  const std::string a = Worker("a");
  const std::string b = Worker("b");
  auto r = CallJson("POST", "/api/workers/status", {{"workers", {a, b}}, {"status", "restart"}, {"lazy", true}});
  ASSERT_EQ(r["workers"].size(), 2u);
  for (const auto& w : r["workers"]) EXPECT_EQ(w["status_requested"], "restart");
  // One unknown ID: 404 and nobody changes.
  auto bad = Call("POST", "/api/workers/status",
                  json{{"workers", {a, NewObjectId()}}, {"status", "asleep"}}.dump());
  ExpectMessage(bad, 404, "not found");
  EXPECT_EQ(CallJson("GET", "/api/workers/" + a, nullptr)["status_requested"], "restart");
}

TEST_F(WorkerStatusApiTest, BadRequestsAnswerWithAMessageAndChangeNothing) {
  const std::string w = Worker("w1");
  const std::string path = "/api/workers/" + w + "/status";
  ExpectMessage(Call("POST", path, R"({"status": "offline"})"), 400, "cannot be requested");
  ExpectMessage(Call("POST", path, R"({"status": "asleep", "lazy": "yes"})"), 400, "'lazy'");
  ExpectMessage(Call("POST", path, R"({"status": "asleep", "when": "now"})"), 400, "unknown field 'when'");
  ExpectMessage(Call("POST", path, "{not json"), 400, "malformed JSON");
  ExpectMessage(Call("POST", path, ""), 400, "'status' is required");
  ExpectMessage(Call("POST", "/api/workers/nope/status", R"({"status": "asleep"})"), 404, "not found");
  ExpectMessage(Call("POST", "/api/workers/" + NewObjectId() + "/status", R"({"status": "asleep"})"), 404,
                "not found");
  ExpectMessage(Call("POST", "/api/workers/status", R"({"workers": [], "status": "asleep"})"), 400, "non-empty");
  ExpectMessage(Call("POST", "/api/workers/" + w + "/ack-timeout"), 409, "not timed out");
  auto worker = CallJson("GET", "/api/workers/" + w, nullptr);
  EXPECT_EQ(worker["status_requested"], "");
  EXPECT_EQ(worker["status"], "starting");
}

TEST_F(WorkerStatusApiTest, ForgetReQueuesTheTaskAndRevokesTheCredentials) {
  const std::string w = Worker("w1");
  const std::string other = Worker("w2");
  const std::string task = RunningTask(w);
  EXPECT_EQ(Call("DELETE", "/api/workers/" + w).status, 204);
  ExpectMessage(Call("GET", "/api/workers/" + w), 404, "not found");
  EXPECT_EQ(Call("POST", "/task", "", w).status, 401) << "the cached digest was dropped";
  auto r = Call("POST", "/task", "", other);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body)["_id"], task);
  EXPECT_EQ(Call("POST", "/api/workers/" + other + "/forget").status, 204);
  EXPECT_EQ(CallJson("GET", "/api/workers", nullptr)["workers"].size(), 0u);
  ExpectMessage(Call("DELETE", "/api/workers/" + w), 404, "not found");
}

TEST_F(WorkerStatusApiTest, SleepScheduleSetShowClear) {
  const std::string w = Worker("w1");
  const std::string path = "/api/workers/" + w + "/sleep-schedule";
  auto worker = CallJson("PUT", path,
                         {{"schedule_active", true}, {"days_of_week", "Monday TU"}, {"time_start", "22:00"},
                          {"time_end", "07:00"}});
  EXPECT_EQ(worker["sleep_schedule"]["days_of_week"], "mo tu");
  EXPECT_EQ(worker["sleep_schedule"]["time_start"], "22:00");
  EXPECT_EQ(worker["sleep_schedule"]["time_end"], "07:00");
  EXPECT_TRUE(worker["sleep_schedule"]["next_check"].is_string());
  auto listed = CallJson("GET", "/api/workers", nullptr)["workers"][0];
  EXPECT_EQ(listed["sleep_schedule"], worker["sleep_schedule"]);
  EXPECT_EQ(CallJson("GET", path, nullptr), worker["sleep_schedule"]);

  ExpectMessage(Call("PUT", path, R"({"days_of_week": "m tu"})"), 400, "too short");
  ExpectMessage(Call("POST", path, R"({"time_start": "25:00"})"), 400, "time_start");
  ExpectMessage(Call("PUT", path, R"({"time_end": 7})"), 400, "'time_end' must be a string");
  EXPECT_EQ(CallJson("GET", path, nullptr), worker["sleep_schedule"]) << "bad input changed nothing";

  auto cleared = CallJson("DELETE", path, nullptr);
  EXPECT_EQ(cleared["sleep_schedule"]["schedule_active"], false);
  EXPECT_EQ(cleared["sleep_schedule"]["time_start"], nullptr);
  EXPECT_EQ(cleared["sleep_schedule"]["next_check"], nullptr);
}

TEST_F(WorkerStatusApiTest, AllDayScheduleSendsTheWorkerToSleepAtOnce) {
  const std::string w = Worker("w1");
  EXPECT_EQ(Call("POST", "/task", "", w).status, 204);  // awake
  auto worker = CallJson("POST", "/api/workers/" + w + "/sleep-schedule", {{"time_start", "00:00"}});
  EXPECT_EQ(worker["status_requested"], "asleep");
  EXPECT_EQ(worker["lazy_status_request"], false);
  EXPECT_EQ(Call("POST", "/task", "", w).status, 423);
}

}  // namespace
}  // namespace duende::manager
