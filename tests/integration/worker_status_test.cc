// Worker status changes with the real binaries (issue 4): lazy and immediate
// sleep, wake, shutdown/restart exit codes, signals, and the CLI.
#include <gtest/gtest.h>
#include <signal.h>

#include <thread>

#include "support/farm.h"
#include "support/temp_dir.h"

namespace duende::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

json SleepJob(const std::string& name, const std::string& frames, double seconds) {
  return {{"name", name},
          {"job_type", "sleep"},
          {"settings", {{"frames", frames}, {"chunk_size", 1}, {"time_in_seconds", seconds}}}};
}

std::vector<std::string> FastWorker() {
  return {"--task-types",        "sleep", "--poll-interval", "200ms", "--may-i-run-interval", "500ms",
          "--sleep-poll-interval", "500ms"};
}

class WorkerStatusIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    manager_ = std::make_unique<ManagerProcess>(dir_ / "manager");
    ASSERT_FALSE(manager_->url().empty()) << manager_->process().Log();
  }

  // The worker's record, found by nickname (null when not registered yet).
  json WorkerByNick(const std::string& nick) {
    const json workers = manager_->Get("/api/workers");
    for (const auto& w : workers["workers"])
      if (w["nickname"] == nick) return w;
    return nullptr;
  }
  std::string WaitForWorker(const std::string& nick) {
    std::string id;
    EXPECT_TRUE(WaitFor(
        [&] {
          json w = WorkerByNick(nick);
          if (w.is_null() || w["status"] == "starting") return false;
          id = w["_id"];
          return true;
        },
        30s));
    return id;
  }
  bool WaitForWorkerState(const std::string& nick, const std::string& status, std::chrono::milliseconds timeout) {
    return WaitFor(
        [&] {
          json w = WorkerByNick(nick);
          return w.is_object() && w["status"] == status && w["status_requested"] == "";
        },
        timeout);
  }
  json Task(const std::string& job) { return manager_->Get("/api/jobs/" + job + "/tasks")["tasks"][0]; }
  // Not taken by any worker (the Manager's cache says claimed-by-manager).
  bool Untaken(const std::string& job) {
    const json t = Task(job);
    return t["status"] == "queued" || t["status"] == "claimed-by-manager";
  }
  bool WaitForTaskStatus(const std::string& job, const std::string& status, std::chrono::milliseconds timeout) {
    return WaitFor([&] { return Task(job)["status"] == status; }, timeout);
  }
  void Request(const std::string& id, const std::string& status, bool lazy) {
    auto r = manager_->Post("/api/workers/" + id + "/status", {{"status", status}, {"lazy", lazy}});
    ASSERT_EQ(r.status, 200) << r.body;
  }

  TempDir dir_;
  std::unique_ptr<ManagerProcess> manager_;
};

TEST_F(WorkerStatusIntegrationTest, LazySleepFinishesTheTaskThenSleepsUntilWoken) {
  WorkerProcess w1(manager_->url(), dir_ / "w1", "w1", FastWorker());
  const std::string id = WaitForWorker("w1");
  const std::string job = manager_->SubmitJob(SleepJob("long", "1", 3));
  ASSERT_TRUE(WaitForTaskStatus(job, "active", 30s)) << w1.process().Log();
  Request(id, "asleep", /*lazy=*/true);
  ASSERT_TRUE(manager_->WaitForJobStatus(job, "completed", 30s)) << w1.process().Log();
  EXPECT_NE(Task(job)["worker"].get<std::string>().find("w1"), std::string::npos);
  ASSERT_TRUE(WaitForWorkerState("w1", "asleep", 15s)) << WorkerByNick("w1").dump() << w1.process().Log();

  // Asleep: fetches nothing.
  const std::string next = manager_->SubmitJob(SleepJob("next", "1", 0));
  std::this_thread::sleep_for(2s);
  EXPECT_TRUE(Untaken(next)) << Task(next).dump();

  Request(id, "awake", false);
  ASSERT_TRUE(manager_->WaitForJobStatus(next, "completed", 30s)) << w1.process().Log();
  EXPECT_TRUE(WaitForWorkerState("w1", "awake", 10s)) << WorkerByNick("w1").dump();
}

TEST_F(WorkerStatusIntegrationTest, ImmediateSleepAbortsTheTaskAndAnotherWorkerFinishesIt) {
  WorkerProcess w1(manager_->url(), dir_ / "w1", "w1", FastWorker());
  const std::string id = WaitForWorker("w1");
  const std::string job = manager_->SubmitJob(SleepJob("long", "1", 4));
  ASSERT_TRUE(WaitForTaskStatus(job, "active", 30s)) << w1.process().Log();
  WorkerProcess w2(manager_->url(), dir_ / "w2", "w2", FastWorker());
  WaitForWorker("w2");
  Request(id, "asleep", /*lazy=*/false);
  ASSERT_TRUE(WaitForWorkerState("w1", "asleep", 15s)) << WorkerByNick("w1").dump() << w1.process().Log();
  ASSERT_TRUE(manager_->WaitForJobStatus(job, "completed", 30s)) << Task(job).dump() << w2.process().Log();
  EXPECT_NE(Task(job)["worker"].get<std::string>().find("w2"), std::string::npos) << Task(job).dump();
  EXPECT_NE(w1.process().Log().find("status change requested: asleep"), std::string::npos) << w1.process().Log();

  Request(id, "awake", false);
  EXPECT_TRUE(WaitForWorkerState("w1", "awake", 10s)) << WorkerByNick("w1").dump();
}

TEST_F(WorkerStatusIntegrationTest, ShutdownSignsOffAndRestartExitsWith75) {
  WorkerProcess w1(manager_->url(), dir_ / "w1", "w1", FastWorker());
  WorkerProcess w2(manager_->url(), dir_ / "w2", "w2", FastWorker());
  const std::string id1 = WaitForWorker("w1");
  const std::string id2 = WaitForWorker("w2");
  Request(id1, "shutdown", true);
  Request(id2, "restart", false);
  EXPECT_EQ(w1.process().Wait(15s), 0) << w1.process().Log();
  EXPECT_EQ(w2.process().Wait(15s), 75) << w2.process().Log();
  EXPECT_EQ(WorkerByNick("w1")["status"], "offline");
  EXPECT_EQ(WorkerByNick("w1")["status_requested"], "");
  EXPECT_EQ(WorkerByNick("w2")["status"], "offline");
}

TEST_F(WorkerStatusIntegrationTest, SignalsPutTheWorkerToSleepAndWakeIt) {
  WorkerProcess w1(manager_->url(), dir_ / "w1", "w1", FastWorker());
  WaitForWorker("w1");
  w1.process().Signal(SIGUSR1);
  ASSERT_TRUE(WaitForWorkerState("w1", "asleep", 10s)) << w1.process().Log();
  const std::string job = manager_->SubmitJob(SleepJob("nap", "1", 0));
  std::this_thread::sleep_for(1500ms);
  EXPECT_TRUE(Untaken(job)) << Task(job).dump();
  w1.process().Signal(SIGUSR2);
  ASSERT_TRUE(manager_->WaitForJobStatus(job, "completed", 30s)) << w1.process().Log();
  EXPECT_TRUE(WaitForWorkerState("w1", "awake", 10s));
}

TEST_F(WorkerStatusIntegrationTest, CliRequestsStatusesAndSchedules) {
  WorkerProcess w1(manager_->url(), dir_ / "w1", "w1", FastWorker());
  const std::string id = WaitForWorker("w1");
  auto cli = [&](std::vector<std::string> args) {
    std::vector<std::string> argv = {BinPath("duende"), "--manager", manager_->url(), "--token-file",
                                     manager_->token_file()};
    argv.insert(argv.end(), args.begin(), args.end());
    static int n = 0;
    Process p(argv, dir_ / ("cli-" + std::to_string(++n) + ".log"));
    auto rc = p.Wait(30s);
    return std::pair{rc.value_or(-1), p.Log()};
  };
  auto [rc, out] = cli({"worker", "sleep", id});
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("asleep requested"), std::string::npos) << out;
  ASSERT_TRUE(WaitForWorkerState("w1", "asleep", 10s));
  std::tie(rc, out) = cli({"worker", "wake", id});
  EXPECT_EQ(rc, 0) << out;
  ASSERT_TRUE(WaitForWorkerState("w1", "awake", 10s));
  std::tie(rc, out) = cli({"worker", "schedule", id, "--days", "Saturday su", "--start", "22:00", "--end", "07:00"});
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("active, sa su, asleep 22:00-07:00, next check"), std::string::npos) << out;
  std::tie(rc, out) = cli({"worker", "show", id});
  EXPECT_NE(out.find("Sleep schedule: active, sa su"), std::string::npos) << out;
  std::tie(rc, out) = cli({"worker", "schedule", id, "--days", "x"});
  EXPECT_EQ(rc, 1) << out;
  EXPECT_NE(out.find("duende: error: "), std::string::npos) << out;
  std::tie(rc, out) = cli({"worker", "schedule", id, "--clear"});
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("sleep schedule none"), std::string::npos) << out;
  std::tie(rc, out) = cli({"worker", "ack-timeout", id});
  EXPECT_EQ(rc, 1) << out;
  EXPECT_NE(out.find("not timed out"), std::string::npos) << out;
}

}  // namespace
}  // namespace duende::testing
