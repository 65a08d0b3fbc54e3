// WorkerStatusService: what operators (and the sleep scheduler) do to
// workers (spec §2.3 worker-action, §4.3, §9):
//   - request a status (asleep, awake, shutdown, restart), lazy or immediate,
//     for one or several workers; the worker learns it through 423 on
//     POST /task, a may-i-run denial (immediate only) or /status-change;
//   - acknowledge a timeout (timeout → offline, request cleared: fixes v2
//     leaving status_requested behind, spec §15.10);
//   - forget a worker (its active tasks are returned first, its cached
//     credentials dropped);
//   - set, clear and apply sleep schedules.
//
// Schedules live in columns added to the farm's `workers` table by this
// component's own migrations ("worker_schedule"). Every change is one write
// transaction through the farm store. Thread-safe (the store serialises).
#pragma once

#include <functional>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "manager/farm.h"
#include "manager/farm_store.h"
#include "manager/sleep_schedule.h"

namespace duende::manager {

// A worker with its sleep schedule, as the /api shows it.
struct WorkerView {
  WorkerRecord worker;
  SleepSchedule schedule;
};

// The v2 worker JSON plus "sleep_schedule" {schedule_active, days_of_week,
// time_start, time_end, next_check} (times "HH:MM" or null).
nlohmann::json ToJson(const WorkerView& view);

// A schedule as an operator enters it; NormaliseSchedule validates it.
struct ScheduleInput {
  bool active = true;
  std::string days_of_week;  // any case, full names allowed
  std::string time_start;    // "HH:MM" or empty
  std::string time_end;      // "HH:MM", "24:00" or empty
};
Result<SleepSchedule> NormaliseSchedule(const ScheduleInput& input);

class WorkerStatusService {
 public:
  // Called with a worker ID after the worker was deleted.
  using ForgetHook = std::function<void(const std::string& worker_id)>;

  // Applies the "worker_schedule" migrations (after FarmStore::Open created
  // the workers table). All references outlive the service.
  static Result<std::unique_ptr<WorkerStatusService>> Open(FarmStore& store, Farm& farm, TimeZone tz,
                                                           ForgetHook on_forget = {});

  // Stores `status` (asleep, awake, shutdown, restart) as the pending
  // request of every worker in `ids`, all or none: InvalidArgument for
  // another status or an empty list, NotFound for an unknown ID (nothing
  // changes). A worker that already has that status and nothing pending is
  // left alone.
  Result<std::vector<WorkerView>> RequestStatus(const std::vector<std::string>& ids, const std::string& status,
                                                bool lazy);
  // timeout → offline with no pending request. Conflict when the worker is
  // not timed out.
  Result<WorkerView> AckTimeout(const std::string& id);
  // Returns the worker's active tasks ("worker was forgotten"), deletes it
  // and its blacklist entries, then calls the forget hook. NotFound.
  Status Forget(const std::string& id);

  // Saves a normalised schedule, computes its next check and applies it at
  // once (an immediate request when it disagrees with the worker).
  Result<WorkerView> SetSchedule(const std::string& id, const ScheduleInput& input);
  // Removes the schedule; pending requests stay.
  Result<WorkerView> ClearSchedule(const std::string& id);

  Result<WorkerView> Get(const std::string& id);
  Result<std::vector<WorkerView>> List();

  // One scheduler pass: every active schedule whose next check has passed
  // is evaluated (EvaluateSchedule) and its request stored. Returns the
  // number of requests stored.
  Result<int> CheckSchedules();

  const TimeZone& time_zone() const { return tz_; }

 private:
  WorkerStatusService(FarmStore& store, Farm& farm, TimeZone tz, ForgetHook on_forget)
      : store_(store), farm_(farm), tz_(std::move(tz)), on_forget_(std::move(on_forget)) {}

  FarmStore& store_;
  Farm& farm_;
  TimeZone tz_;
  ForgetHook on_forget_;
};

}  // namespace duende::manager
