// Crash consistency (issue 9 §1): a real Manager and 20 real workers on a job
// of 10,000 tiny tasks, while the Manager (or a worker) is killed with SIGKILL
// at random moments and restarted on the same data directory and port.
// Afterwards the Manager's database and task logs are audited
// (support/farm_audit.h): every task completed exactly once, none active, no
// acknowledged update missing, integrity_check ok.
//
// The random moments come from a seeded generator; the seed is printed, and
// DUENDE_CRASH_SEED=N replays it. DUENDE_CRASH_ROUNDS and DUENDE_CRASH_TASKS
// make a bigger run (docs/reliability.md has the figures and commands).
#include <gtest/gtest.h>
#include <signal.h>

#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <random>
#include <thread>

#include "support/farm.h"
#include "support/farm_audit.h"
#include "support/temp_dir.h"

namespace duende::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

// Fast polling and retries so restarts are noticed within a fraction of a
// second; debug logs for the acknowledged updates the audit reads.
std::vector<std::string> WorkerArgs() {
  return {"--task-types",     "sleep", "--poll-interval",  "200ms", "--may-i-run-interval", "1s",
          "--retry-interval", "200ms", "--outbox-backoff", "200ms", "--log-level",          "debug"};
}

class CrashTest : public ::testing::Test {
 protected:
  void SetUp() override {
    seed_ = static_cast<uint32_t>(EnvInt("DUENDE_CRASH_SEED", static_cast<int>(std::random_device{}() >> 1)));
    rounds_ = EnvInt("DUENDE_CRASH_ROUNDS", 20);
    // Enough that most rounds hit a running job: with 5,000, a faster
    // Manager sometimes finished the job within 8 of the 20 Manager crash
    // rounds; with 10,000, 15-20 (three runs).
    tasks_ = EnvInt("DUENDE_CRASH_TASKS", 10000);
    rng_.seed(seed_);
    std::cout << "crash test: seed " << seed_ << " (DUENDE_CRASH_SEED), " << rounds_ << " rounds, " << tasks_
              << " tasks\n";
    StartManager(0);
    ASSERT_FALSE(manager_->url().empty()) << manager_->process().Log();
    port_ = manager_->port();
    url_ = manager_->url();
    job_ = manager_->SubmitJob(
        {{"name", "many small things"},
         {"job_type", "sleep"},
         {"settings", {{"frames", "1-" + std::to_string(tasks_)}, {"chunk_size", 1}, {"time_in_seconds", 0}}}});
    ASSERT_FALSE(job_.empty());
    for (int i = 0; i < kWorkers; ++i) StartWorker(i);
    ASSERT_TRUE(
        WaitFor([&] { return manager_->Get("/api/workers")["workers"].size() == static_cast<size_t>(kWorkers); }, 60s));
  }

  void StartManager(uint16_t port) { manager_ = std::make_unique<ManagerProcess>(dir_ / "manager", "", port); }
  void StartWorker(int i) {
    workers_[i] = std::make_unique<WorkerProcess>(url_, WorkerDir(i), Nickname(i), WorkerArgs());
  }
  std::string Nickname(int i) const { return "w" + std::to_string(i); }
  std::string WorkerDir(int i) const { return dir_ / Nickname(i); }

  // Milliseconds in [lo, hi], from the seeded generator.
  std::chrono::milliseconds Random(int lo, int hi) {
    return std::chrono::milliseconds(std::uniform_int_distribution<int>(lo, hi)(rng_));
  }

  std::string Replay() const {
    return "seed " + std::to_string(seed_) + " (rerun with DUENDE_CRASH_SEED=" + std::to_string(seed_) + ")";
  }

  int Completed() {
    const auto j = manager_->Get("/api/jobs/" + job_);
    return j.is_object() ? j["tasks_status"].value("completed", 0) : -1;
  }

  // Waits for the job, stops everything cleanly and audits the data.
  void FinishAndAudit(int rounds_during_job) {
    const bool done = manager_->WaitForJobStatus(job_, "completed", std::chrono::seconds(60 + tasks_ / 20));
    const std::string job = manager_->Get("/api/jobs/" + job_).dump();
    for (auto& w : workers_) w->process().Signal(SIGTERM);
    for (auto& w : workers_) w->process().Wait(15s);
    manager_.reset();  // SIGTERM: the final push to the job side
    std::map<std::string, std::string> logs;
    for (int i = 0; i < kWorkers; ++i) logs[Nickname(i)] = WorkerDir(i) + "/worker.log";
    const FarmAudit audit = AuditFarm(dir_ / "manager", job_, logs);
    std::cout << "crash test: " << rounds_during_job << " of " << rounds_ << " rounds while the job ran; "
              << audit.Summary() << "\n";
    ASSERT_TRUE(done) << job;
    EXPECT_TRUE(audit.Clean(tasks_)) << audit.Summary();
    EXPECT_GT(audit.acknowledged_completions, 0);
    EXPECT_GE(rounds_during_job, rounds_ / 2) << "the job finished before the crashes could hit it";
  }

  static constexpr int kWorkers = 20;
  TempDir dir_;
  uint32_t seed_ = 0;
  int rounds_ = 0;
  int tasks_ = 0;
  std::mt19937 rng_;
  std::unique_ptr<ManagerProcess> manager_;
  std::unique_ptr<WorkerProcess> workers_[kWorkers];
  uint16_t port_ = 0;
  std::string url_;
  std::string job_;
};

TEST_F(CrashTest, ManagerKilledAtRandomMomentsLosesNothing) {
  SCOPED_TRACE(Replay());
  int during_job = 0;
  for (int round = 0; round < rounds_; ++round) {
    std::this_thread::sleep_for(Random(100, 700));
    during_job += Completed() < tasks_;
    manager_->Kill();
    std::this_thread::sleep_for(Random(0, 300));  // the workers carry on into their outboxes
    StartManager(port_);
    ASSERT_EQ(manager_->url(), url_) << "round " << round << ": restart failed\n" << manager_->process().Log();
  }
  FinishAndAudit(during_job);
}

TEST_F(CrashTest, WorkersKilledAtRandomMomentsLoseNothing) {
  SCOPED_TRACE(Replay());
  int during_job = 0;
  for (int round = 0; round < rounds_; ++round) {
    std::this_thread::sleep_for(Random(50, 300));
    during_job += Completed() < tasks_;
    const int victim = std::uniform_int_distribution<int>(0, kWorkers - 1)(rng_);
    workers_[victim]->process().Kill();
    std::this_thread::sleep_for(Random(0, 150));
    StartWorker(victim);  // same data directory: same credentials and outbox
  }
  FinishAndAudit(during_job);
}

}  // namespace
}  // namespace duende::testing
