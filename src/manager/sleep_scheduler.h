// SleepScheduler (spec §9): periodically applies the workers' sleep
// schedules. Event based: WorkerStatusService::CheckSchedules only looks at
// workers whose next check has passed, so the interval only bounds how late
// an edge is acted on.
#pragma once

#include <chrono>
#include <functional>
#include <stop_token>

#include "common/clock.h"
#include "manager/worker_status.h"

namespace duende::manager {

struct SleepSchedulerOptions {
  // v2 waits a little after start so workers that were connected before a
  // Manager restart can come back (and sign on) before being told anything.
  std::chrono::milliseconds initial_delay{std::chrono::seconds(10)};
  // v2 checks every minute: schedule times have minute resolution.
  std::chrono::milliseconds interval{std::chrono::minutes(1)};
  // Called on the scheduler's thread after a pass stored status requests
  // (to tell the dashboard and wake long-polling workers). May be empty.
  std::function<void()> on_requests;
};

class SleepScheduler {
 public:
  // `service` and `clock` outlive the scheduler.
  SleepScheduler(WorkerStatusService& service, Clock& clock, SleepSchedulerOptions options)
      : service_(service), clock_(clock), options_(options) {}

  // Runs until `stop`; waits on the clock between checks.
  void Run(std::stop_token stop);
  // One pass (logs failures).
  void CheckOnce();

 private:
  WorkerStatusService& service_;
  Clock& clock_;
  SleepSchedulerOptions options_;
};

}  // namespace duende::manager
