// Sleep schedules (spec §9): the body of PUT /api/workers/{id}/sleep-schedule
// (days of the week, start and end times), then what the scheduler computes
// from the normalised schedule at a time and in a time zone taken from the
// input. Also the status-request bodies of the same API. The first byte picks
// ('0'..'2').
#include <cstring>

#include "fuzz_util.h"
#include "manager/sleep_schedule.h"
#include "manager/worker_status.h"
#include "manager/worker_status_api.h"

namespace {

using namespace duende;
using manager::TimeZone;

const TimeZone& ZoneFor(size_t i) {
  // Zones with DST gaps and overlaps on both hemispheres, and a half-hour one.
  static const auto* zones = new std::vector<TimeZone>{
      TimeZone::Utc(),
      *TimeZone::Load("Europe/Amsterdam"),
      *TimeZone::Load("America/New_York"),
      *TimeZone::Load("Australia/Lord_Howe"),
      *TimeZone::Load("Asia/Kolkata"),
  };
  return (*zones)[i % zones->size()];
}

void CheckSchedule(const manager::ScheduleInput& input, uint64_t seed) {
  auto schedule = manager::NormaliseSchedule(input);
  if (!schedule) {
    FUZZ_CHECK(fuzz::IsClearError(schedule.error()));
    return;
  }
  // Normalising is idempotent.
  manager::ScheduleInput again{schedule->active, schedule->days_of_week,
                               schedule->start_minute ? manager::FormatTimeOfDay(*schedule->start_minute) : "",
                               schedule->end_minute ? manager::FormatTimeOfDay(*schedule->end_minute) : ""};
  auto renormalised = manager::NormaliseSchedule(again);
  FUZZ_CHECK(renormalised.has_value() && *renormalised == *schedule);

  // Any time between 2000 and 2100, in one of the zones.
  const auto now = SystemTime(std::chrono::seconds(946'684'800 + static_cast<int64_t>(seed % 3'155'760'000)));
  const TimeZone& tz = ZoneFor(seed / 3'155'760'000);
  const auto next = manager::NextCheck(*schedule, now, tz);
  FUZZ_CHECK(next > now && next - now <= std::chrono::hours(26));
  const auto status = manager::ScheduledStatus(*schedule, now, tz);
  if (status) FUZZ_CHECK(*status == "asleep" || *status == "awake");
  schedule->next_check = now - std::chrono::minutes(1);
  const auto step = manager::EvaluateSchedule(*schedule, now, tz);
  FUZZ_CHECK(step.next_check == next);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::Reader in(fuzz::AsText(data, size));
  switch (in.Kind(3)) {
    case 0: {
      // Plain fields, one per line: days, start, end, then 8 bytes of time.
      manager::ScheduleInput input;
      input.days_of_week = std::string(in.Line());
      input.time_start = std::string(in.Line());
      input.time_end = std::string(in.Line());
      uint64_t seed = 0;
      std::memcpy(&seed, in.Rest().data(), std::min<size_t>(sizeof seed, in.Rest().size()));
      CheckSchedule(input, seed);
      break;
    }
    case 1: {
      auto input = manager::ParseScheduleInput(in.Rest());
      if (!input) {
        FUZZ_CHECK(fuzz::IsClearError(input.error()));
        return 0;
      }
      CheckSchedule(*input, size * 7919);
      break;
    }
    default: {
      const bool many = size % 2 == 0;
      auto req = manager::ParseWorkerStatusRequest(in.Rest(), many);
      if (!req) {
        FUZZ_CHECK(fuzz::IsClearError(req.error()) || fuzz::IsClearError(req.error(), ErrorCode::kNotFound));
        return 0;
      }
      FUZZ_CHECK(!req->status.empty());
      if (many) FUZZ_CHECK(!req->workers.empty());
      break;
    }
  }
  return 0;
}
