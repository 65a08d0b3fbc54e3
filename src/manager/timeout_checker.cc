#include "manager/timeout_checker.h"

#include <spdlog/spdlog.h>

namespace duende::manager {

void TimeoutChecker::CheckOnce() {
  const SystemTime now = clock_.Now();
  if (auto n = farm_.TimeoutTasks(now - options_.task_timeout); !n)
    spdlog::warn("task timeout check failed: {}", n.error().message);
  if (auto n = farm_.TimeoutWorkers(now - options_.worker_timeout); !n)
    spdlog::warn("worker timeout check failed: {}", n.error().message);
}

void TimeoutChecker::Run(std::stop_token stop) {
  SteadyTime next = clock_.SteadyNow() + options_.initial_delay;
  while (!stop.stop_requested()) {
    // Kicks from other services wake us early; only act when due.
    if (clock_.SteadyNow() >= next) {
      CheckOnce();
      next = clock_.SteadyNow() + options_.interval;
    }
    if (!clock_.WaitUntil(next, stop)) break;
  }
}

}  // namespace duende::manager
