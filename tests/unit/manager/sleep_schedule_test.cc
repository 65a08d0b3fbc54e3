// Sleep schedule policy (spec §9) as tables: day normalisation, HH:MM,
// scheduled status, next check (incl. DST days in Europe/Amsterdam and the
// seed's implicit-end fix), and the edge-based decision.
#include "manager/sleep_schedule.h"

#include <gtest/gtest.h>

#include "common/timefmt.h"

namespace duende::manager {
namespace {

using std::chrono::days;
using std::chrono::hours;
using std::chrono::minutes;

// An instant given in UTC (the expected values are written out by hand, so
// the tests do not reuse the code's own local-time conversion).
SystemTime Utc(int y, unsigned m, unsigned d, int hh, int mm) {
  return std::chrono::sys_days{std::chrono::year{y} / m / d} + hours(hh) + minutes(mm);
}

const TimeZone& Amsterdam() {
  static const TimeZone tz = *TimeZone::Load("Europe/Amsterdam");
  return tz;
}

SleepSchedule Sched(std::string days, std::optional<int> start, std::optional<int> end, bool active = true) {
  SleepSchedule s;
  s.active = active;
  s.days_of_week = std::move(days);
  s.start_minute = start;
  s.end_minute = end;
  return s;
}

constexpr int H(int h, int m = 0) { return h * 60 + m; }

TEST(SleepScheduleTest, NormalisesDaysOfWeek) {
  struct Case {
    const char* in;
    const char* out;
  } cases[] = {
      {"", ""},
      {"mo tu", "mo tu"},
      {"Monday, TUESDAY", "mo tu"},
      {"su mo", "mo su"},
      {"  fr   fr fri friday ", "fr"},
      {"mo,tu,we,th,fr,sa,su", "mo tu we th fr sa su"},
  };
  for (const auto& c : cases) {
    auto r = NormaliseDaysOfWeek(c.in);
    ASSERT_TRUE(r.has_value()) << c.in << ": " << r.error().message;
    EXPECT_EQ(*r, c.out) << c.in;
  }
}

// v2 crashed on one-letter tokens (spec §15.11); here they are a clear error.
TEST(SleepScheduleTest, ShortOrUnknownDayTokensAreRejectedNotACrash) {
  for (const char* in : {"m", "mo t", "x", "xx", "mo funday"}) {
    auto r = NormaliseDaysOfWeek(in);
    ASSERT_FALSE(r.has_value()) << in;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(r.error().message.find("mo tu we th fr sa su"), std::string::npos) << r.error().message;
  }
}

TEST(SleepScheduleTest, ParsesAndFormatsTimeOfDay) {
  EXPECT_EQ(ParseTimeOfDay("00:00", false).value(), 0);
  EXPECT_EQ(ParseTimeOfDay("07:00", false).value(), H(7));
  EXPECT_EQ(ParseTimeOfDay("7:05", false).value(), H(7, 5));
  EXPECT_EQ(ParseTimeOfDay("23:59", false).value(), H(23, 59));
  EXPECT_EQ(ParseTimeOfDay("24:00", true).value(), kMinutesPerDay);
  for (const char* bad : {"24:00", "24:01", "12:60", "1200", "ab:cd", "", "1:2", "123:00", "-1:00", "12:00 "})
    EXPECT_FALSE(ParseTimeOfDay(bad, false).has_value()) << bad;
  EXPECT_FALSE(ParseTimeOfDay("24:01", true).has_value());
  EXPECT_EQ(FormatTimeOfDay(0), "00:00");
  EXPECT_EQ(FormatTimeOfDay(H(7, 5)), "07:05");
  EXPECT_EQ(FormatTimeOfDay(kMinutesPerDay), "24:00");
}

TEST(SleepScheduleTest, UnknownTimeZoneIsAClearError) {
  auto tz = TimeZone::Load("Mars/Olympus_Mons");
  ASSERT_FALSE(tz.has_value());
  EXPECT_NE(tz.error().message.find("unknown time zone 'Mars/Olympus_Mons'"), std::string::npos);
  EXPECT_TRUE(TimeZone::Load("").has_value()) << "the system's zone (or UTC) always loads";
}

// 2026-01-14 is a Wednesday; Amsterdam is UTC+1 in winter.
struct StatusCase {
  const char* what;
  SleepSchedule schedule;
  SystemTime at;
  std::optional<std::string> expected;
};

TEST(SleepScheduleTest, ScheduledStatusTable) {
  const std::optional<std::string> asleep = "asleep", awake = "awake", none;
  const StatusCase cases[] = {
      {"inactive: no opinion", Sched("", H(9), H(17), false), Utc(2026, 1, 14, 11, 0), none},
      {"neither start nor end: all day asleep", Sched("", {}, {}), Utc(2026, 1, 14, 11, 0), asleep},
      {"start only, before", Sched("", H(22), {}), Utc(2026, 1, 14, 20, 59), awake},
      {"start only, at start", Sched("", H(22), {}), Utc(2026, 1, 14, 21, 0), asleep},
      {"start only, after midnight", Sched("", H(22), {}), Utc(2026, 1, 14, 23, 30), awake},
      {"end only, before end", Sched("", {}, H(7)), Utc(2026, 1, 14, 5, 59), asleep},
      {"end only, at end", Sched("", {}, H(7)), Utc(2026, 1, 14, 6, 0), awake},
      {"both, inside", Sched("", H(9), H(17)), Utc(2026, 1, 14, 8, 0), asleep},
      {"both, at end", Sched("", H(9), H(17)), Utc(2026, 1, 14, 16, 0), awake},
      {"overnight, evening", Sched("", H(22), H(7)), Utc(2026, 1, 14, 22, 0), asleep},
      {"overnight, after midnight", Sched("", H(22), H(7)), Utc(2026, 1, 14, 1, 0), asleep},
      {"overnight, at end", Sched("", H(22), H(7)), Utc(2026, 1, 14, 6, 0), awake},
      {"overnight, afternoon", Sched("", H(22), H(7)), Utc(2026, 1, 14, 14, 0), awake},
      {"listed day", Sched("we", H(9), H(17)), Utc(2026, 1, 14, 10, 0), asleep},
      {"unlisted day: no opinion", Sched("mo tu", H(9), H(17)), Utc(2026, 1, 14, 10, 0), none},
      {"overnight from a listed Tuesday, Wednesday morning", Sched("tu", H(22), H(7)), Utc(2026, 1, 14, 4, 0),
       asleep},
      {"overnight from a listed Tuesday, Wednesday noon", Sched("tu", H(22), H(7)), Utc(2026, 1, 14, 11, 0), awake},
      {"overnight, unlisted Wednesday evening after a listed Tuesday", Sched("tu", H(22), H(7)),
       Utc(2026, 1, 14, 22, 0), awake},
      {"overnight, neither day listed", Sched("fr", H(22), H(7)), Utc(2026, 1, 14, 22, 0), none},
      {"empty window (start == end)", Sched("", H(8), H(8)), Utc(2026, 1, 14, 7, 0), awake},
  };
  for (const auto& c : cases)
    EXPECT_EQ(ScheduledStatus(c.schedule, c.at, Amsterdam()), c.expected) << c.what << " at " << FormatIso8601(c.at);
}

struct NextCase {
  const char* what;
  SleepSchedule schedule;
  SystemTime now;
  SystemTime expected;
};

TEST(SleepScheduleTest, NextCheckTable) {
  const NextCase cases[] = {
      {"neither: midnight next day", Sched("", {}, {}), Utc(2026, 1, 14, 11, 0), Utc(2026, 1, 14, 23, 0)},
      {"start only, before start: the start", Sched("", H(22), {}), Utc(2026, 1, 14, 11, 0),
       Utc(2026, 1, 14, 21, 0)},
      // The seed's fix: after the start, the implicit end is midnight the
      // next day, not tomorrow's start.
      {"start only, after start: implicit end = midnight", Sched("", H(22), {}), Utc(2026, 1, 14, 21, 30),
       Utc(2026, 1, 14, 23, 0)},
      {"start only, exactly at start: not the same instant again", Sched("", H(22), {}), Utc(2026, 1, 14, 21, 0),
       Utc(2026, 1, 14, 23, 0)},
      {"end only, before end: the end", Sched("", {}, H(7)), Utc(2026, 1, 14, 3, 0), Utc(2026, 1, 14, 6, 0)},
      {"end only, after end: midnight", Sched("", {}, H(7)), Utc(2026, 1, 14, 8, 0), Utc(2026, 1, 14, 23, 0)},
      {"both, before start", Sched("", H(9), H(17)), Utc(2026, 1, 14, 7, 0), Utc(2026, 1, 14, 8, 0)},
      {"both, inside: the end", Sched("", H(9), H(17)), Utc(2026, 1, 14, 10, 0), Utc(2026, 1, 14, 16, 0)},
      {"both, after end: midnight", Sched("", H(9), H(17)), Utc(2026, 1, 14, 17, 0), Utc(2026, 1, 14, 23, 0)},
      {"overnight, afternoon: the start", Sched("", H(22), H(7)), Utc(2026, 1, 14, 14, 0), Utc(2026, 1, 14, 21, 0)},
      {"overnight, evening: midnight", Sched("", H(22), H(7)), Utc(2026, 1, 14, 21, 0), Utc(2026, 1, 14, 23, 0)},
      {"overnight, after midnight: the end", Sched("", H(22), H(7)), Utc(2026, 1, 14, 23, 0),
       Utc(2026, 1, 15, 6, 0)},
      {"explicit 24:00 end is midnight", Sched("", H(20), kMinutesPerDay), Utc(2026, 1, 14, 20, 0),
       Utc(2026, 1, 14, 23, 0)},
      {"days do not change the candidates", Sched("sa", H(9), H(17)), Utc(2026, 1, 14, 7, 0),
       Utc(2026, 1, 14, 8, 0)},
      // DST spring forward: Sunday 2026-03-29, 02:00 CET -> 03:00 CEST at 01:00 UTC.
      {"spring forward: the day has 23 hours", Sched("", {}, {}), Utc(2026, 3, 28, 23, 0), Utc(2026, 3, 29, 22, 0)},
      {"spring forward: a skipped start is the moment of the change", Sched("", H(2, 30), {}),
       Utc(2026, 3, 29, 0, 30), Utc(2026, 3, 29, 1, 0)},
      {"spring forward: evening start in summer time", Sched("", H(22), {}), Utc(2026, 3, 29, 12, 0),
       Utc(2026, 3, 29, 20, 0)},
      // DST fall back: Sunday 2026-10-25, 03:00 CEST -> 02:00 CET at 01:00 UTC.
      {"fall back: the day has 25 hours", Sched("", {}, {}), Utc(2026, 10, 24, 22, 0), Utc(2026, 10, 25, 23, 0)},
      {"fall back: a repeated start is its first occurrence", Sched("", H(2, 30), {}), Utc(2026, 10, 24, 23, 0),
       Utc(2026, 10, 25, 0, 30)},
      {"fall back: morning end in winter time", Sched("", H(22), H(7)), Utc(2026, 10, 24, 23, 0),
       Utc(2026, 10, 25, 6, 0)},
  };
  for (const auto& c : cases)
    EXPECT_EQ(FormatIso8601(NextCheck(c.schedule, c.now, Amsterdam())), FormatIso8601(c.expected))
        << c.what << " from " << FormatIso8601(c.now);
}

// A fixed UTC offset would be an hour off after the change.
TEST(SleepScheduleTest, ScheduledStatusFollowsTheDstChange) {
  const SleepSchedule s = Sched("", H(22), H(7));
  // Fall-back morning: 07:00 CET is 06:00 UTC (it was 05:00 UTC the day before).
  EXPECT_EQ(ScheduledStatus(s, Utc(2026, 10, 25, 5, 30), Amsterdam()), "asleep");
  EXPECT_EQ(ScheduledStatus(s, Utc(2026, 10, 25, 6, 0), Amsterdam()), "awake");
  EXPECT_EQ(ScheduledStatus(s, Utc(2026, 10, 24, 5, 0), Amsterdam()), "awake");
  // Spring-forward evening: 22:00 CEST is 20:00 UTC.
  EXPECT_EQ(ScheduledStatus(s, Utc(2026, 3, 29, 19, 59), Amsterdam()), "awake");
  EXPECT_EQ(ScheduledStatus(s, Utc(2026, 3, 29, 20, 0), Amsterdam()), "asleep");
}

TEST(SleepScheduleTest, EvaluateActsOnEdgesOnly) {
  SleepSchedule s = Sched("", H(22), H(7));
  // Just saved: applies whatever the schedule says now.
  auto fresh = EvaluateSchedule(s, Utc(2026, 1, 14, 14, 0), Amsterdam());
  EXPECT_EQ(fresh.scheduled, "awake");
  EXPECT_EQ(fresh.next_check, Utc(2026, 1, 14, 21, 0));
  // The 22:00 edge: awake -> asleep.
  s.next_check = Utc(2026, 1, 14, 21, 0);
  auto start = EvaluateSchedule(s, Utc(2026, 1, 14, 21, 0), Amsterdam());
  EXPECT_EQ(start.scheduled, "asleep");
  EXPECT_EQ(start.next_check, Utc(2026, 1, 14, 23, 0));
  // Midnight inside the window: nothing changed, leave a manual wake alone.
  s.next_check = Utc(2026, 1, 14, 23, 0);
  auto midnight = EvaluateSchedule(s, Utc(2026, 1, 14, 23, 0), Amsterdam());
  EXPECT_EQ(midnight.scheduled, std::nullopt);
  EXPECT_EQ(midnight.next_check, Utc(2026, 1, 15, 6, 0));
  // A check that runs late still sees the edge it missed.
  s.next_check = Utc(2026, 1, 14, 21, 0);
  auto late = EvaluateSchedule(s, Utc(2026, 1, 14, 21, 40), Amsterdam());
  EXPECT_EQ(late.scheduled, "asleep");
  // Inactive: never proposes.
  s.active = false;
  s.next_check.reset();
  EXPECT_EQ(EvaluateSchedule(s, Utc(2026, 1, 14, 21, 0), Amsterdam()).scheduled, std::nullopt);
}

TEST(SleepScheduleTest, NeedsRequestTable) {
  struct Case {
    const char* scheduled;
    const char* status;
    const char* requested;
    bool expected;
  } cases[] = {
      {"asleep", "awake", "", true},        {"asleep", "asleep", "", false},
      {"asleep", "awake", "asleep", false}, {"asleep", "asleep", "awake", true},
      {"asleep", "offline", "", true},      {"awake", "asleep", "", true},
      {"awake", "awake", "", false},        {"awake", "offline", "", false},
      {"awake", "starting", "", false},     {"awake", "awake", "asleep", true},
      {"awake", "asleep", "awake", false},  {"asleep", "awake", "shutdown", true},
  };
  for (const auto& c : cases)
    EXPECT_EQ(NeedsRequest(c.scheduled, c.status, c.requested), c.expected)
        << c.scheduled << " for status " << c.status << " requested '" << c.requested << "'";
}

}  // namespace
}  // namespace duende::manager
