#include "manager/housekeeping.h"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace duende::manager {

Housekeeping::Housekeeping(Farm& farm, Clock& clock, HousekeepingOptions options)
    : farm_(farm), clock_(clock), options_(std::move(options)) {
  jobs_.push_back(
      {"timeouts", options_.timeout_startup_grace, options_.timeout_check_interval, [this] { CheckTimeouts(); }});
  if (options_.worker_cleanup_max_age.count() > 0 && !options_.worker_cleanup_status.empty())
    jobs_.push_back({"worker cleanup", options_.worker_cleanup_initial_delay, options_.worker_cleanup_interval,
                     [this] { CleanupWorkers(); }});
  jobs_.push_back({"starvation", options_.timeout_startup_grace, options_.starvation_check_interval,
                   [this] { CheckStarvation(); }});
  jobs_.push_back(
      {"last seen", options_.last_seen_flush_interval, options_.last_seen_flush_interval, [this] { FlushLastSeen(); }});
}

void Housekeeping::FlushLastSeen() {
  if (auto n = farm_.FlushLastSeen(); !n)
    spdlog::warn("writing workers' last-seen times failed: {}", n.error().message);
}

void Housekeeping::CheckTimeouts() {
  const SystemTime now = clock_.Now();
  // Tasks first, then workers, as v2 does. A timed-out task times out its
  // worker too.
  int changed = 0;
  if (auto n = farm_.TimeoutTasks(now - options_.task_timeout); !n)
    spdlog::warn("task timeout check failed: {}", n.error().message);
  else
    changed += *n;
  if (auto n = farm_.TimeoutWorkers(now - options_.worker_timeout); !n)
    spdlog::warn("worker timeout check failed: {}", n.error().message);
  else
    changed += *n;
  if (changed > 0) Changed("workers");
}

void Housekeeping::Changed(const std::string& what) {
  if (options_.on_change) options_.on_change(what);
}

void Housekeeping::CleanupWorkers() {
  if (options_.worker_cleanup_max_age.count() <= 0) return;
  auto n =
      farm_.RemoveWorkersSeenBefore(clock_.Now() - options_.worker_cleanup_max_age, options_.worker_cleanup_status);
  if (!n) spdlog::warn("worker cleanup failed: {}", n.error().message);
  if (n && *n > 0) Changed("workers");
}

void Housekeeping::CheckStarvation() {
  if (auto n = farm_.PurgeExpiredBlacklist(); !n) {
    spdlog::warn("blacklist purge failed: {}", n.error().message);
  } else if (*n > 0) {
    Changed("blacklist");
  }
  if (auto n = farm_.CheckStarvation(); !n) spdlog::warn("starvation check failed: {}", n.error().message);
}

void Housekeeping::Run(std::stop_token stop) {
  const SteadyTime start = clock_.SteadyNow();
  std::vector<SteadyTime> next;
  for (const auto& j : jobs_) next.push_back(start + j.initial_delay);
  while (!stop.stop_requested()) {
    for (size_t i = 0; i < jobs_.size(); ++i) {
      if (clock_.SteadyNow() < next[i]) continue;
      jobs_[i].run();
      next[i] = clock_.SteadyNow() + jobs_[i].interval;
    }
    // Kicks from other services wake us early; we only act when due.
    if (!clock_.WaitUntil(*std::min_element(next.begin(), next.end()), stop)) break;
  }
}

}  // namespace duende::manager
