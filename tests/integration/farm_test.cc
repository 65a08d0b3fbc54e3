// Integration tests: the real duende-manager and duende-worker binaries on
// loopback, with temp directories.
#include "support/farm.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "support/temp_dir.h"

namespace duende::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

json SleepJob(const std::string& frames, double seconds) {
  return {{"name", "nap"},
          {"job_type", "sleep"},
          {"settings", {{"frames", frames}, {"chunk_size", 1}, {"time_in_seconds", seconds}}}};
}

// Poll faster than the shortest worker timeout used here (2 s).
std::vector<std::string> WorkerArgs() {
  return {"--task-types", "sleep debug", "--may-i-run-interval", "1s", "--poll-interval", "500ms"};
}

TEST(FarmIntegrationTest, JobCompletesOnTwoWorkers) {
  TempDir dir;
  ManagerProcess manager(dir / "manager");
  ASSERT_FALSE(manager.url().empty()) << manager.process().Log();
  WorkerProcess w1(manager.url(), dir / "w1", "w1", WorkerArgs());
  WorkerProcess w2(manager.url(), dir / "w2", "w2", WorkerArgs());
  const std::string job = manager.SubmitJob(SleepJob("1-8", 0.2));
  ASSERT_FALSE(job.empty());
  ASSERT_TRUE(manager.WaitForJobStatus(job, "completed", 60s)) << manager.Get("/api/jobs/" + job).dump() << "\n"
                                                               << w1.process().Log();
  auto tasks = manager.Get("/api/jobs/" + job + "/tasks")["tasks"];
  ASSERT_EQ(tasks.size(), 8u);
  std::set<std::string> workers_used;
  for (const auto& t : tasks) {
    EXPECT_EQ(t["status"], "completed");
    workers_used.insert(t["worker"].get<std::string>());
  }
  EXPECT_EQ(manager.Get("/api/jobs/" + job)["tasks_status"]["completed"], 8);
  auto workers = manager.Get("/api/workers")["workers"];
  EXPECT_EQ(workers.size(), 2u);
  // Every task's log on the Manager holds what its worker said.
  for (const auto& t : tasks) {
    const std::string id = t["_id"];
    const std::string log = manager.TaskLog(id);
    EXPECT_NE(log.find("Manager assigned task"), std::string::npos) << id;
    EXPECT_NE(log.find("sleep"), std::string::npos) << log;
  }
}

TEST(FarmIntegrationTest, KilledWorkersTaskIsFinishedByTheOther) {
  TempDir dir;
  ManagerProcess manager(dir / "manager",
                         "active_worker_timeout_interval: 2s\n"
                         "timeout_startup_grace: 0\n"
                         "timeout_check_interval: 250ms\n");
  ASSERT_FALSE(manager.url().empty()) << manager.process().Log();
  const std::string job = manager.SubmitJob(SleepJob("1-2", 2));
  WorkerProcess doomed(manager.url(), dir / "doomed", "doomed", WorkerArgs());
  std::string victim_task;
  ASSERT_TRUE(WaitFor(
      [&] {
        const auto tasks = manager.Get("/api/jobs/" + job + "/tasks");  // keep the temporary alive
        for (const auto& t : tasks["tasks"])
          if (t["status"] == "active") {
            victim_task = t["_id"];
            return true;
          }
        return false;
      },
      30s))
      << doomed.process().Log();
  doomed.process().Kill();
  WorkerProcess survivor(manager.url(), dir / "survivor", "survivor", WorkerArgs());
  ASSERT_TRUE(manager.WaitForJobStatus(job, "completed", 60s)) << manager.Get("/api/jobs/" + job + "/tasks").dump();
  auto task = manager.Get("/api/tasks/" + victim_task);
  EXPECT_EQ(task["status"], "completed");
  EXPECT_NE(task["worker"].get<std::string>().find("survivor"), std::string::npos) << task.dump();
  // The doomed worker's run is kept as the run before the survivor's.
  const std::string log = manager.TaskLog(victim_task, 1);
  EXPECT_NE(log.find("(doomed) timed out"), std::string::npos) << log;
  auto workers = manager.Get("/api/workers")["workers"];
  bool doomed_timed_out = false;
  for (const auto& w : workers)
    if (w["nickname"] == "doomed") doomed_timed_out = w["status"] == "timeout";
  EXPECT_TRUE(doomed_timed_out) << workers.dump();
}

TEST(FarmIntegrationTest, ManagerKilledAndRestartedMidJobLosesNothing) {
  TempDir dir;
  auto manager = std::make_unique<ManagerProcess>(dir / "manager");
  ASSERT_FALSE(manager->url().empty()) << manager->process().Log();
  const uint16_t port = manager->port();
  const std::string url = manager->url();
  const std::string job = manager->SubmitJob(SleepJob("1-10", 0.5));
  WorkerProcess w1(url, dir / "w1", "w1", WorkerArgs());
  WorkerProcess w2(url, dir / "w2", "w2", WorkerArgs());
  ASSERT_TRUE(WaitFor(
      [&] {
        auto j = manager->Get("/api/jobs/" + job);
        return j.is_object() && j["tasks_status"].value("completed", 0) >= 3;
      },
      60s));
  manager->Kill();
  std::this_thread::sleep_for(1500ms);  // the workers keep going, queueing updates in their outboxes
  manager = std::make_unique<ManagerProcess>(dir / "manager", "", port);
  ASSERT_EQ(manager->url(), url) << manager->process().Log();
  ASSERT_TRUE(manager->WaitForJobStatus(job, "completed", 90s))
      << manager->Get("/api/jobs/" + job + "/tasks").dump() << "\n"
      << w1.process().Log();
  auto tasks = manager->Get("/api/jobs/" + job + "/tasks")["tasks"];
  ASSERT_EQ(tasks.size(), 10u);
  for (const auto& t : tasks) EXPECT_EQ(t["status"], "completed") << t.dump();
  EXPECT_TRUE(w1.process().running());
  EXPECT_TRUE(w2.process().running());
}

TEST(FarmIntegrationTest, CanceledJobStopsItsRunningTask) {
  TempDir dir;
  ManagerProcess manager(dir / "manager");
  ASSERT_FALSE(manager.url().empty());
  const std::string job = manager.SubmitJob(SleepJob("1-3", 60));
  WorkerProcess w1(manager.url(), dir / "w1", "w1", WorkerArgs());
  ASSERT_TRUE(WaitFor(
      [&] {
        auto j = manager.Get("/api/jobs/" + job);
        return j.is_object() && j["tasks_status"].value("active", 0) == 1;
      },
      30s));
  EXPECT_EQ(manager.Post("/api/jobs/" + job + "/status", {{"status", "cancel-requested"}}).status, 200);
  ASSERT_TRUE(manager.WaitForJobStatus(job, "canceled", 30s)) << manager.Get("/api/jobs/" + job + "/tasks").dump();
  const auto tasks = manager.Get("/api/jobs/" + job + "/tasks");
  for (const auto& t : tasks["tasks"]) EXPECT_EQ(t["status"], "canceled");
}

TEST(FarmIntegrationTest, ManagerRejectsBadConfigWithOneLine) {
  TempDir dir;
  std::ofstream(dir / "bad.yaml") << "no_such_key: 1\n";
  Process p({BinPath("duende-manager"), "--data-dir", dir / "data", "--config", dir / "bad.yaml"}, dir / "out.log");
  auto status = p.Wait(10s);
  ASSERT_TRUE(status.has_value());
  EXPECT_NE(*status, 0);
  const std::string out = p.Log();
  EXPECT_NE(out.find("unknown config key 'no_such_key'"), std::string::npos) << out;
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
}

}  // namespace
}  // namespace duende::testing
