#include "manager/sleep_schedule.h"

#include <date/tz.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>
#include <exception>

#include "protocol/status.h"

namespace duende::manager {
namespace {

namespace ws = protocol::worker_status;
using std::chrono::days;
using std::chrono::minutes;
using std::chrono::seconds;

// Week order, Monday first, as the dashboard and v2 write them.
constexpr std::array<std::string_view, 7> kDays = {"mo", "tu", "we", "th", "fr", "sa", "su"};

// date::weekday counts from Sunday = 0.
std::string_view DayName(date::weekday wd) { return kDays[(wd.c_encoding() + 6) % 7]; }

bool Listed(const SleepSchedule& s, date::weekday wd) {
  if (s.days_of_week.empty()) return true;
  const std::string_view name = DayName(wd);
  // Normalised: space-separated two-letter tokens.
  for (size_t i = 0; i + 1 < s.days_of_week.size(); i += 3)
    if (std::string_view(s.days_of_week).substr(i, 2) == name) return true;
  return false;
}

struct LocalTime {
  date::local_days day;
  int minute;  // since local midnight
};

LocalTime ToLocal(const TimeZone& tz, SystemTime t) {
  const auto local = tz.zone()->to_local(std::chrono::floor<seconds>(t));
  const auto day = std::chrono::floor<days>(local);
  return {day, static_cast<int>(std::chrono::floor<minutes>(local - day).count())};
}

// `minute` (0..1440) on local `day` as an instant. A skipped local time
// (spring forward) is the instant of the change; a repeated one (fall back)
// its first occurrence.
SystemTime AtLocal(const TimeZone& tz, date::local_days day, int minute) {
  const date::local_seconds local = day + minutes(minute);
  return std::chrono::time_point_cast<SystemTime::duration>(tz.zone()->to_sys(local, date::choose::earliest));
}

}  // namespace

Result<std::string> NormaliseDaysOfWeek(std::string_view text) {
  std::array<bool, 7> seen{};
  size_t i = 0;
  while (i < text.size()) {
    if (text[i] == ' ' || text[i] == ',' || text[i] == '\t') {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < text.size() && text[j] != ' ' && text[j] != ',' && text[j] != '\t') ++j;
    const std::string_view token = text.substr(i, j - i);
    if (token.size() < 2)
      return InvalidArgument("day of week '" + std::string(token) +
                             "' is too short; use two letters or more: mo tu we th fr sa su");
    std::string prefix;
    for (char c : token.substr(0, 2)) prefix.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    auto it = std::find(kDays.begin(), kDays.end(), prefix);
    if (it == kDays.end())
      return InvalidArgument("'" + std::string(token) + "' is not a day of the week; use mo tu we th fr sa su");
    seen[static_cast<size_t>(it - kDays.begin())] = true;
    i = j;
  }
  std::string out;
  for (size_t d = 0; d < kDays.size(); ++d) {
    if (!seen[d]) continue;
    if (!out.empty()) out += ' ';
    out += kDays[d];
  }
  return out;
}

Result<int> ParseTimeOfDay(std::string_view text, bool is_end) {
  auto bad = [&] {
    return InvalidArgument("time '" + std::string(text) + "' is not HH:MM (00:00 to " + (is_end ? "24:00" : "23:59") +
                           ")");
  };
  const size_t colon = text.find(':');
  if (colon == std::string_view::npos || colon == 0 || colon > 2 || text.size() != colon + 3) return bad();
  int hour = 0;
  int minute = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    if (i == colon) continue;
    if (!std::isdigit(static_cast<unsigned char>(text[i]))) return bad();
    int& field = i < colon ? hour : minute;
    field = field * 10 + (text[i] - '0');
  }
  if (minute > 59) return bad();
  if (hour == 24 && minute == 0 && is_end) return kMinutesPerDay;
  if (hour > 23) return bad();
  return hour * 60 + minute;
}

std::string FormatTimeOfDay(int minute) {
  minute = std::clamp(minute, 0, kMinutesPerDay);
  char buf[16];
  std::snprintf(buf, sizeof buf, "%02d:%02d", minute / 60, minute % 60);
  return buf;
}

Result<TimeZone> TimeZone::Load(const std::string& name) {
  // The date library reports problems by throwing; keep that inside.
  try {
    if (!name.empty()) return TimeZone(date::locate_zone(name), name);
  } catch (const std::exception& e) {
    return InvalidArgument("unknown time zone '" + name + "' (expected a tz database name like Europe/Amsterdam)");
  }
  try {
    const date::time_zone* zone = date::current_zone();
    return TimeZone(zone, std::string(zone->name()));
  } catch (const std::exception&) {
    return Utc();
  }
}

TimeZone TimeZone::Utc() {
  try {
    return TimeZone(date::locate_zone("Etc/UTC"), "Etc/UTC");
  } catch (const std::exception&) {
    // Without a tz database there is no schedule to keep; fail loudly.
    std::terminate();
  }
}

std::optional<std::string> ScheduledStatus(const SleepSchedule& s, SystemTime t, const TimeZone& tz) {
  if (!s.active) return std::nullopt;
  const LocalTime local = ToLocal(tz, t);
  const date::weekday today{local.day};
  const date::weekday yesterday{local.day - days(1)};
  const int start = s.start_minute.value_or(0);
  const int end = s.end_minute.value_or(kMinutesPerDay);
  const std::string asleep(ws::kAsleep), awake(ws::kAwake);
  if (start <= end) {
    if (!Listed(s, today)) return std::nullopt;
    return start <= local.minute && local.minute < end ? asleep : awake;
  }
  // Overnight window: it belongs to the day it starts on.
  if (local.minute >= start && Listed(s, today)) return asleep;
  if (local.minute < end && Listed(s, yesterday)) return asleep;
  if (Listed(s, today) || Listed(s, yesterday)) return awake;
  return std::nullopt;
}

SystemTime NextCheck(const SleepSchedule& s, SystemTime now, const TimeZone& tz) {
  const LocalTime local = ToLocal(tz, now);
  auto candidate = [&](int minute) {
    SystemTime c = AtLocal(tz, local.day, minute);
    if (c <= now) c = AtLocal(tz, local.day + days(1), minute);
    return c;
  };
  SystemTime next = candidate(kMinutesPerDay);  // midnight, also the implicit end
  if (s.start_minute) next = std::min(next, candidate(*s.start_minute));
  if (s.end_minute) next = std::min(next, candidate(*s.end_minute));
  return next;
}

ScheduleStep EvaluateSchedule(const SleepSchedule& s, SystemTime now, const TimeZone& tz) {
  ScheduleStep step;
  step.next_check = NextCheck(s, now, tz);
  if (!s.active) return step;
  auto scheduled = ScheduledStatus(s, now, tz);
  if (!s.next_check) {
    step.scheduled = std::move(scheduled);
    return step;
  }
  const SystemTime edge = std::min(*s.next_check, now);
  if (ScheduledStatus(s, edge - seconds(1), tz) != scheduled) step.scheduled = std::move(scheduled);
  return step;
}

bool NeedsRequest(std::string_view scheduled, std::string_view status, std::string_view requested) {
  if (scheduled == requested) return false;
  if (requested.empty() && scheduled == status) return false;
  if (scheduled == ws::kAwake && requested.empty() && status != ws::kAsleep) return false;
  return true;
}

}  // namespace duende::manager
