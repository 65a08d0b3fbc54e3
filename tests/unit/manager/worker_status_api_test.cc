// The worker status endpoints over real HTTP (in-process Manager): requests
// and how the v2 worker endpoints deliver them, forget, ack-timeout, sleep
// schedules, and bad input (JSON {"message"}, nothing changed).
#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>

#include "common/ids.h"
#include "manager_api_fixture.h"

namespace duende::manager {
namespace {

using nlohmann::json;

class WorkerStatusApiTest : public ManagerApiTest {
 protected:
  std::string ExtraConfig() const override { return "timezone: Europe/Amsterdam\n"; }

  // As worker `user` (with its secret) or, without one, as the admin.
  http::ClientResponse Call(const std::string& method, const std::string& path, const std::string& body = "",
                            const std::string& user = "") {
    return ManagerApiTest::Call(method, path, body, user, user.empty() ? "" : "secret-" + nicks_[user]);
  }
  json CallJson(const std::string& method, const std::string& path, const json& body, int expected = 200) {
    auto r = Call(method, path, body.is_null() ? "" : body.dump());
    EXPECT_EQ(r.status, expected) << method << " " << path << ": " << r.body;
    return json::parse(r.body, nullptr, false);
  }

  std::string Worker(const std::string& nick) {
    const std::string id = ManagerApiTest::Worker(nick, {"sleep"});
    nicks_[id] = nick;
    return id;
  }

  // Submits a one-task job and has `w` fetch it; returns the task ID.
  std::string RunningTask(const std::string& w) {
    SubmitSleepJob(1);
    auto r = FetchTask(w, nicks_[w]);
    EXPECT_EQ(r.status, 200) << "no task: " << r.body;
    return r.status == 200 ? json::parse(r.body)["_id"].get<std::string>() : "";
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
  auto bad = Call("POST", "/api/workers/status", json{{"workers", {a, NewObjectId()}}, {"status", "asleep"}}.dump());
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
  ExpectMessage(Call("POST", "/api/workers/" + NewObjectId() + "/status", R"({"status": "asleep"})"), 404, "not found");
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
  auto worker = CallJson(
      "PUT", path,
      {{"schedule_active", true}, {"days_of_week", "Monday TU"}, {"time_start", "22:00"}, {"time_end", "07:00"}});
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
