// TimeoutChecker (spec §6): after an initial grace period, periodically
// times out silent tasks, then silent workers, returning their tasks so
// another worker finishes them.
#pragma once

#include <chrono>
#include <stop_token>

#include "common/clock.h"
#include "manager/farm.h"

namespace duende::manager {

struct TimeoutOptions {
  std::chrono::milliseconds initial_delay{std::chrono::minutes(5)};
  std::chrono::milliseconds interval{std::chrono::minutes(1)};
  std::chrono::milliseconds task_timeout{std::chrono::minutes(10)};
  std::chrono::milliseconds worker_timeout{std::chrono::minutes(1)};
};

class TimeoutChecker {
 public:
  TimeoutChecker(Farm& farm, Clock& clock, TimeoutOptions options) : farm_(farm), clock_(clock), options_(options) {}

  void Run(std::stop_token stop);
  // One check (tasks first, then workers, as v2).
  void CheckOnce();

 private:
  Farm& farm_;
  Clock& clock_;
  TimeoutOptions options_;
};

}  // namespace duende::manager
