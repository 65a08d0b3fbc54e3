// Housekeeping: the Manager's periodic checks, on one thread, each with its
// own start-up delay and interval (spec §1.3, §6):
//   - timeouts: silent tasks fail (for that worker), then silent workers
//     time out and their tasks go to other workers;
//   - worker cleanup: long-gone workers are removed (off by default);
//   - starvation: tasks no capable worker can run are reported and, after a
//     while, failed; expired blacklist entries are purged;
//   - last seen: workers' last-seen times noted in memory are written.
#pragma once

#include <chrono>
#include <functional>
#include <stop_token>
#include <string>
#include <vector>

#include "common/clock.h"
#include "manager/farm.h"

namespace duende::manager {

struct HousekeepingOptions {
  // v2 waits 5 minutes after start before timing anything out, so workers
  // can reconnect and flush after a Manager restart; then checks every
  // minute.
  std::chrono::milliseconds timeout_startup_grace{std::chrono::minutes(5)};
  std::chrono::milliseconds timeout_check_interval{std::chrono::minutes(1)};
  std::chrono::milliseconds task_timeout{std::chrono::minutes(10)};
  std::chrono::milliseconds worker_timeout{std::chrono::minutes(1)};
  // v2: first after 5 minutes (workers may come back after a Manager
  // outage), then every 30 s. max_age 0 disables cleanup.
  std::chrono::milliseconds worker_cleanup_initial_delay{std::chrono::minutes(5)};
  std::chrono::milliseconds worker_cleanup_interval{std::chrono::seconds(30)};
  std::chrono::milliseconds worker_cleanup_max_age{0};
  std::vector<std::string> worker_cleanup_status{"offline"};
  std::chrono::milliseconds starvation_check_interval{std::chrono::minutes(1)};
  // Workers' last-seen times are kept in memory (a poll needs no write) and
  // written this often; a crash loses at most this much of them.
  std::chrono::milliseconds last_seen_flush_interval{std::chrono::seconds(10)};
  // Called on the housekeeping thread after a check changed something no
  // request announces: "workers" (timed out or removed) or "blacklist"
  // (expired entries purged). Task changes need no hook: they go upstream,
  // which publishes them. May be empty.
  std::function<void(const std::string& what)> on_change;
};

class Housekeeping {
 public:
  Housekeeping(Farm& farm, Clock& clock, HousekeepingOptions options);

  void Run(std::stop_token stop);

  // The individual checks, callable directly (tests).
  void CheckTimeouts();
  void CleanupWorkers();
  void CheckStarvation();
  void FlushLastSeen();

 private:
  void Changed(const std::string& what);
  struct Job {
    const char* name;
    std::chrono::milliseconds initial_delay;
    std::chrono::milliseconds interval;
    std::function<void()> run;
  };

  Farm& farm_;
  Clock& clock_;
  HousekeepingOptions options_;
  std::vector<Job> jobs_;
};

}  // namespace duende::manager
