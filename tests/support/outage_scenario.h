// Issue 9 §2: the workers keep their outboxes through a Manager outage and
// deliver everything after. One scenario, two sizes: tests/long/ runs a
// minutes-long outage (label long), tests/e2e/ a seconds-long sibling.
// Header-only: each test executable includes it once.
#pragma once

#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <deque>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <thread>

#include "store/sqlite.h"
#include "support/farm.h"
#include "support/farm_audit.h"
#include "support/temp_dir.h"

namespace duende::testing {

// Updates waiting in a worker's outbox (read beside the running worker).
inline int64_t OutboxSize(const std::string& worker_dir) {
  auto db = store::Database::Open(worker_dir + "/outbox.sqlite");
  if (!db) return -1;
  auto n = (*db)->Read([](store::Conn& c) -> Result<int64_t> {
    auto& q = c.Prepare("SELECT COUNT(*) FROM outbox");
    return q.Step() ? q.Int(0) : 0;
  });
  return n.value_or(-1);
}

// Each worker's outbox size and the end of its log, for a failure message.
inline std::string WorkerLogTails(const TempDir& dir, int workers) {
  std::string out;
  for (int i = 0; i < workers; ++i) {
    const std::string nick = "w" + std::to_string(i);
    out += nick + ": outbox " + std::to_string(OutboxSize(dir / nick)) + ", log ends:\n";
    std::ifstream in(dir / (nick + "/worker.log"));
    std::deque<std::string> lines;
    for (std::string line; std::getline(in, line);) {
      lines.push_back(line);
      if (lines.size() > 25) lines.pop_front();
    }
    for (const auto& line : lines) out += "  " + line + "\n";
  }
  return out;
}

// Four workers on 2-second tasks; the Manager is killed while they run and
// stays down for `outage`, then restarts on the same port. Default worker
// settings (5 s outbox back-off) and Manager timeouts: what a farm runs.
inline void RunManagerOutage(std::chrono::seconds outage) {
  using namespace std::chrono_literals;
  constexpr int kWorkers = 4;
  constexpr int kTasks = 12;
  TempDir dir;
  auto manager = std::make_unique<ManagerProcess>(dir / "manager");
  ASSERT_FALSE(manager->url().empty()) << manager->process().Log();
  const uint16_t port = manager->port();
  const std::string url = manager->url();
  const std::string job = manager->SubmitJob(
      {{"name", "outage"},
       {"job_type", "sleep"},
       {"settings", {{"frames", "1-" + std::to_string(kTasks)}, {"chunk_size", 1}, {"time_in_seconds", 2}}}});
  ASSERT_FALSE(job.empty());
  std::vector<std::unique_ptr<WorkerProcess>> workers;
  std::map<std::string, std::string> logs;
  for (int i = 0; i < kWorkers; ++i) {
    const std::string nick = "w" + std::to_string(i);
    workers.push_back(
        std::make_unique<WorkerProcess>(url, dir / nick, nick,
                                        std::vector<std::string>{"--task-types", "sleep", "--poll-interval", "500ms",
                                                                 "--retry-interval", "1s", "--log-level", "debug"}));
    logs[nick] = dir / (nick + "/worker.log");
  }
  // Kill while every worker is in the middle of a task.
  nlohmann::json job_at_kill;
  ASSERT_TRUE(WaitFor(
      [&] {
        auto j = manager->Get("/api/jobs/" + job);
        job_at_kill = j;
        return j.is_object() && j["tasks_status"].value("active", 0) == kWorkers &&
               j["tasks_status"].value("completed", 0) >= kWorkers;
      },
      60s));
  // The job shows a task active once its assignment commits; the answer
  // that gives the worker its task goes out just after. The four second
  // tasks start together (the first four ended together), so the job can
  // show them all active while some answers are still on their way: a
  // worker killed out of its answer has no task to finish, and nothing for
  // its outbox. The tasks take 2 s; 300 ms lets every answer arrive.
  std::this_thread::sleep_for(300ms);
  manager->Kill();
  const auto down_at = std::chrono::steady_clock::now();
  // The running tasks end during the outage: their updates wait in the
  // outboxes.
  int64_t waiting = 0;
  ASSERT_TRUE(WaitFor(
      [&] {
        waiting = 0;
        for (int i = 0; i < kWorkers; ++i) waiting += OutboxSize(dir / ("w" + std::to_string(i)));
        return waiting >= kWorkers;
      },
      outage))
      << waiting << " updates waiting in the outboxes " << outage.count()
      << " s after the kill; job then: " << job_at_kill.dump() << "\n"
      << WorkerLogTails(dir, kWorkers);
  std::this_thread::sleep_until(down_at + outage);
  int64_t at_restart = 0;
  for (int i = 0; i < kWorkers; ++i) at_restart += OutboxSize(dir / ("w" + std::to_string(i)));
  for (auto& w : workers) ASSERT_TRUE(w->process().running()) << "a worker gave up during the outage";
  manager = std::make_unique<ManagerProcess>(dir / "manager", "", port);
  ASSERT_EQ(manager->url(), url) << manager->process().Log();
  const auto up_at = std::chrono::steady_clock::now();
  ASSERT_TRUE(WaitFor(
      [&] {
        int64_t n = 0;
        for (int i = 0; i < kWorkers; ++i) n += OutboxSize(dir / ("w" + std::to_string(i)));
        return n == 0;
      },
      60s));
  const auto drained_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - up_at).count();
  ASSERT_TRUE(manager->WaitForJobStatus(job, "completed", 300s)) << manager->Get("/api/jobs/" + job).dump();
  for (auto& w : workers) w->process().Signal(SIGTERM);
  for (auto& w : workers) w->process().Wait(15s);
  manager.reset();
  const FarmAudit audit = AuditFarm(dir / "manager", job, logs);
  std::cout << "outage " << outage.count() << " s: " << at_restart << " updates waited in the outboxes, delivered "
            << drained_s << " s after the restart; " << audit.Summary() << "\n";
  EXPECT_GE(at_restart, kWorkers);
  EXPECT_TRUE(audit.Clean(kTasks)) << audit.Summary();
}

}  // namespace duende::testing
