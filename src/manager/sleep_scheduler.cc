#include "manager/sleep_scheduler.h"

#include <spdlog/spdlog.h>

namespace duende::manager {

void SleepScheduler::CheckOnce() {
  auto n = service_.CheckSchedules();
  if (!n) {
    spdlog::warn("sleep schedule check failed: {}", n.error().message);
  } else if (*n > 0) {
    spdlog::info("sleep schedule: {} status request(s) stored", *n);
    if (options_.on_requests) options_.on_requests();
  }
}

void SleepScheduler::Run(std::stop_token stop) {
  SteadyTime next = clock_.SteadyNow() + options_.initial_delay;
  while (!stop.stop_requested()) {
    // Other services' kicks wake us early; only act when due.
    if (clock_.SteadyNow() >= next) {
      CheckOnce();
      next = clock_.SteadyNow() + options_.interval;
    }
    if (!clock_.WaitUntil(next, stop)) break;
  }
}

}  // namespace duende::manager
