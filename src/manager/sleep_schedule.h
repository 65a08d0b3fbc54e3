// Sleep schedules (spec §9): pure functions of a schedule, a time and a time
// zone. No I/O, no clock reads: the scheduler passes "now" in.
//
// A schedule puts a worker to sleep between `start` and `end` (local time of
// the Manager) on the listed days, and wakes it otherwise. Differences from
// Flamenco v2, on purpose:
//   - start after end (22:00-07:00) is an overnight window: asleep from the
//     start on a listed day until the end the next morning (v2 never slept);
//   - day tokens shorter than two letters or not a weekday are rejected with
//     a clear error (v2 crashed on them, spec §15.11);
//   - a check acts only when the scheduled status changed at the edge it is
//     due for (see EvaluateSchedule), so a manual wake at 23:00 lasts until
//     the next real edge instead of being undone at midnight.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/result.h"

namespace date {
class time_zone;
}

namespace duende::manager {

// Minutes since local midnight.
inline constexpr int kMinutesPerDay = 24 * 60;

struct SleepSchedule {
  bool active = false;
  // Normalised two-letter names in week order ("mo tu we th fr sa su");
  // empty = every day.
  std::string days_of_week;
  // 0..1439; absent = 00:00.
  std::optional<int> start_minute;
  // 1..1440 (24:00); absent = 24:00 (midnight at the end of the day).
  std::optional<int> end_minute;
  // When the scheduler looks at this worker next; absent = at once.
  std::optional<SystemTime> next_check;

  friend bool operator==(const SleepSchedule&, const SleepSchedule&) = default;
};

// Lower-cases, splits on spaces and commas, truncates each token to two
// letters ("Monday" → "mo"), removes duplicates and returns the days in week
// order. InvalidArgument for a token shorter than two characters or not
// naming a weekday.
Result<std::string> NormaliseDaysOfWeek(std::string_view text);

// "HH:MM" (hour 0-23, or "24:00" when `is_end`) → minutes since midnight.
// InvalidArgument otherwise.
Result<int> ParseTimeOfDay(std::string_view text, bool is_end);
// Minutes since midnight → "HH:MM" ("24:00" for 1440).
std::string FormatTimeOfDay(int minute);

// A time zone of the tz database (Debian's tzdata). Cheap to copy; the zone
// data lives for the whole process.
class TimeZone {
 public:
  // `name` like "Europe/Amsterdam"; empty = the system's zone (/etc/localtime),
  // UTC when the system does not say. InvalidArgument for an unknown name.
  static Result<TimeZone> Load(const std::string& name);
  static TimeZone Utc();

  const std::string& name() const { return name_; }
  const date::time_zone* zone() const { return zone_; }

 private:
  TimeZone(const date::time_zone* zone, std::string name) : zone_(zone), name_(std::move(name)) {}
  const date::time_zone* zone_;
  std::string name_;
};

// "asleep", "awake", or nullopt (no opinion: inactive schedule, or a day not
// listed and not the morning after a listed overnight window).
std::optional<std::string> ScheduledStatus(const SleepSchedule& schedule, SystemTime t, const TimeZone& tz);

// The first instant after `now` at which the scheduled status may change:
// the earliest of the next start, the next end and the next local midnight
// (an absent end counts as midnight the next day, the v2 Dec 2018 fix).
// Each candidate is "today at T" in local time, or tomorrow when that is not
// after `now`. A local time skipped by a DST change maps to the instant of
// the change; a repeated one to its first occurrence.
SystemTime NextCheck(const SleepSchedule& schedule, SystemTime now, const TimeZone& tz);

// What one due check does.
struct ScheduleStep {
  SystemTime next_check;
  // The status to request, or nullopt to leave the worker alone.
  std::optional<std::string> scheduled;
};

// A check at `now` (schedule.next_check absent or <= now). The scheduled
// status is proposed when the schedule has no next_check yet (just saved),
// or when it differs from the status just before the edge the check was due
// for: checks act on edges, so a manual change between edges stands.
ScheduleStep EvaluateSchedule(const SleepSchedule& schedule, SystemTime now, const TimeZone& tz);

// Whether a worker with `status` and pending `requested` needs a request
// for `scheduled`: not when that is already requested or already its status
// with nothing else pending, and "awake" only for a worker that sleeps or
// has another request pending (an offline worker is not woken into a
// request it would only acknowledge).
bool NeedsRequest(std::string_view scheduled, std::string_view status, std::string_view requested);

}  // namespace duende::manager
