// `duende worker ...` against an in-process fake manager: the requests it
// sends, what it prints, and its errors.
#include "cli/worker_commands.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/cli.h"
#include "fake_manager.h"

namespace duende::cli {
namespace {

using nlohmann::json;
using testing::FakeManager;
using testing::StepClock;

constexpr const char* kA = "5f00000000000000000000aa";
constexpr const char* kB = "5f00000000000000000000bb";

json Worker(const std::string& id, const std::string& nick, const std::string& requested, bool lazy) {
  return {{"_id", id},
          {"nickname", nick},
          {"status", "awake"},
          {"status_requested", requested},
          {"lazy_status_request", lazy},
          {"supported_task_types", {"sleep", "blender-render"}},
          {"sleep_schedule",
           {{"schedule_active", true},
            {"days_of_week", "mo tu"},
            {"time_start", "22:00"},
            {"time_end", "07:00"},
            {"next_check", "2027-01-18T21:00:00.000000Z"}}}};
}

class WorkerCommandsTest : public ::testing::Test {
 protected:
  void SetUp() override { client_ = http::MakeCurlClient("cli-test"); }

  int Run(std::vector<std::string> args) {
    std::vector<std::string> storage = {"duende", "--manager", manager_.url()};
    storage.insert(storage.end(), args.begin(), args.end());
    std::vector<const char*> argv;
    for (const auto& a : storage) argv.push_back(a.c_str());
    out_.str("");
    err_.str("");
    return RunCli(static_cast<int>(argv.size()), argv.data(), out_, err_, *client_, clock_);
  }

  FakeManager manager_;
  StepClock clock_;
  std::unique_ptr<http::Client> client_;
  std::ostringstream out_, err_;
};

TEST_F(WorkerCommandsTest, SleepSeveralWorkersLazilyInOneRequest) {
  manager_.OnJson("POST", "/api/workers/status", 200,
                  {{"workers", {Worker(kA, "a", "asleep", true), Worker(kB, "b", "asleep", true)}}});
  manager_.Start();
  EXPECT_EQ(Run({"worker", "sleep", kA, kB, "--lazy"}), kExitOk) << err_.str();
  auto posts = manager_.requests("POST");
  ASSERT_EQ(posts.size(), 1u);
  EXPECT_EQ(posts[0].Json(), (json{{"workers", {kA, kB}}, {"status", "asleep"}, {"lazy", true}}));
  EXPECT_EQ(out_.str(), std::string("worker ") + kA + " (a): asleep requested (after its current task)\nworker " +
                            kB + " (b): asleep requested (after its current task)\n");
}

TEST_F(WorkerCommandsTest, StatusCommandsMapToStatuses) {
  manager_.OnJson("POST", "/api/workers/status", 200, {{"workers", {Worker(kA, "a", "", false)}}});
  manager_.Start();
  EXPECT_EQ(Run({"worker", "wake", kA}), kExitOk);
  EXPECT_EQ(out_.str(), std::string("worker ") + kA + " (a): already awake\n");
  EXPECT_EQ(Run({"worker", "shutdown", kA}), kExitOk);
  EXPECT_EQ(Run({"worker", "restart", kA, "--lazy"}), kExitOk);
  auto posts = manager_.requests("POST");
  ASSERT_EQ(posts.size(), 3u);
  EXPECT_EQ(posts[0].Json()["status"], "awake");
  EXPECT_EQ(posts[0].Json()["lazy"], false);
  EXPECT_EQ(posts[1].Json()["status"], "shutdown");
  EXPECT_EQ(posts[1].Json()["lazy"], false);
  EXPECT_EQ(posts[2].Json()["status"], "restart");
  EXPECT_EQ(posts[2].Json()["lazy"], true);
}

TEST_F(WorkerCommandsTest, WakeHasNoLazyFlag) {
  manager_.Start();
  EXPECT_EQ(Run({"worker", "wake", kA, "--lazy"}), kExitUsage);
  EXPECT_EQ(Run({"worker", "sleep"}), kExitUsage);
  EXPECT_TRUE(manager_.requests().empty());
}

TEST_F(WorkerCommandsTest, ManagerErrorIsOneLine) {
  manager_.OnJson("POST", "/api/workers/status", 404, {{"message", "worker 5f00000000000000000000aa not found"}});
  manager_.Start();
  EXPECT_EQ(Run({"worker", "sleep", kA}), kExitFailed);
  EXPECT_EQ(err_.str(), "duende: error: worker 5f00000000000000000000aa not found (HTTP 404)\n");
  EXPECT_EQ(out_.str(), "");
}

TEST_F(WorkerCommandsTest, AckTimeoutAndForgetGoWorkerByWorkerAndKeepGoing) {
  manager_.On("POST", "/api/workers/{id}/ack-timeout", [](http::Request& r) {
    if (r.params[0] == kA) return http::Response::Json(200, Worker(kA, "a", "", false));
    return http::Response::Message(409, "worker is not timed out");
  });
  manager_.On("POST", "/api/workers/{id}/forget", [](http::Request&) { return http::Response::NoContent(); });
  manager_.Start();
  EXPECT_EQ(Run({"worker", "ack-timeout", kA, kB}), kExitFailed);
  EXPECT_EQ(out_.str(), std::string("worker ") + kA + ": timeout acknowledged, now offline\n");
  EXPECT_EQ(err_.str(), "duende: error: worker is not timed out (HTTP 409)\n");
  EXPECT_EQ(Run({"worker", "forget", kA, kB}), kExitOk);
  EXPECT_EQ(out_.str(), std::string("worker ") + kA + ": forgotten\nworker " + kB + ": forgotten\n");
}

TEST_F(WorkerCommandsTest, ScheduleSetClearShow) {
  manager_.OnJson("POST", "/api/workers/{id}/sleep-schedule", 200, Worker(kA, "a", "", false));
  json cleared = Worker(kA, "a", "", false);
  cleared["sleep_schedule"] = {{"schedule_active", false},
                               {"days_of_week", ""},
                               {"time_start", nullptr},
                               {"time_end", nullptr},
                               {"next_check", nullptr}};
  manager_.OnJson("DELETE", "/api/workers/{id}/sleep-schedule", 200, cleared);
  manager_.OnJson("GET", "/api/workers/{id}", 200, Worker(kA, "a", "", false));
  manager_.Start();

  EXPECT_EQ(Run({"worker", "schedule", kA, "--days", "mo tu", "--start", "22:00", "--end", "07:00"}), kExitOk)
      << err_.str();
  auto posts = manager_.requests("POST");
  ASSERT_EQ(posts.size(), 1u);
  EXPECT_EQ(posts[0].path, std::string("/api/workers/") + kA + "/sleep-schedule");
  EXPECT_EQ(posts[0].Json(), (json{{"schedule_active", true},
                                   {"days_of_week", "mo tu"},
                                   {"time_start", "22:00"},
                                   {"time_end", "07:00"}}));
  EXPECT_EQ(out_.str(), std::string("worker ") + kA +
                            " (a): sleep schedule active, mo tu, asleep 22:00-07:00, next check 2027-01-18 21:00:00\n");

  EXPECT_EQ(Run({"worker", "schedule", kA, "--start", "08:00", "--inactive"}), kExitOk);
  EXPECT_EQ(manager_.requests("POST")[1].Json()["schedule_active"], false);
  EXPECT_EQ(manager_.requests("POST")[1].Json()["time_end"], nullptr);

  EXPECT_EQ(Run({"worker", "schedule", kA, "--clear"}), kExitOk);
  EXPECT_EQ(out_.str(), std::string("worker ") + kA + " (a): sleep schedule none\n");
  EXPECT_EQ(manager_.requests("DELETE").size(), 1u);

  EXPECT_EQ(Run({"worker", "schedule", kA}), kExitOk);
  EXPECT_NE(out_.str().find("active, mo tu"), std::string::npos);

  EXPECT_EQ(Run({"worker", "schedule", kA, "--clear", "--days", "mo"}), kExitUsage);
  EXPECT_NE(err_.str().find("--clear cannot be combined"), std::string::npos);
}

TEST_F(WorkerCommandsTest, ShowPrintsDetailsWithSchedule) {
  manager_.OnJson("GET", "/api/workers/{id}", 200, Worker(kA, "a", "asleep", true));
  manager_.Start();
  EXPECT_EQ(Run({"worker", "show", kA}), kExitOk);
  const std::string out = out_.str();
  EXPECT_NE(out.find("Nickname: a\n"), std::string::npos) << out;
  EXPECT_NE(out.find("Requested: asleep (lazy)\n"), std::string::npos) << out;
  EXPECT_NE(out.find("Task types: sleep,blender-render\n"), std::string::npos) << out;
  EXPECT_NE(out.find("Sleep schedule: active, mo tu, asleep 22:00-07:00, next check 2027-01-18 21:00:00\n"),
            std::string::npos)
      << out;
}

TEST(ScheduleSummaryTest, Defaults) {
  EXPECT_EQ(ScheduleSummary(json()), "none");
  EXPECT_EQ(ScheduleSummary(json{{"schedule_active", true}, {"days_of_week", ""}}),
            "active, every day, asleep 00:00-24:00");
}

}  // namespace
}  // namespace duende::cli
