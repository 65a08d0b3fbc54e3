#include "manager/worker_status.h"

#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "common/timefmt.h"
#include "protocol/status.h"

namespace duende::manager {
namespace {

namespace ws = protocol::worker_status;
using nlohmann::json;

// Own component, own migrations: the farm's migrations create `workers`;
// these only add the schedule columns to it.
const std::vector<std::string> kScheduleMigrations = {
    // 1: sleep schedule per worker (spec §9). Times are minutes since local
    // midnight (NULL = not given); next_check is Unix microseconds.
    R"sql(
ALTER TABLE workers ADD COLUMN sleep_schedule_active INTEGER NOT NULL DEFAULT 0;
ALTER TABLE workers ADD COLUMN sleep_days_of_week TEXT NOT NULL DEFAULT '';
ALTER TABLE workers ADD COLUMN sleep_start_minute INTEGER;
ALTER TABLE workers ADD COLUMN sleep_end_minute INTEGER;
ALTER TABLE workers ADD COLUMN sleep_next_check INTEGER;
CREATE INDEX workers_sleep_due ON workers (sleep_next_check) WHERE sleep_schedule_active = 1;
)sql",
};

// How many times Forget() returns tasks before giving up on a worker that
// keeps fetching new ones in between.
constexpr int kForgetAttempts = 3;

bool IsRequestable(std::string_view s) {
  return s == ws::kAsleep || s == ws::kAwake || s == ws::kShutdown || s == ws::kRestart;
}

std::optional<SleepSchedule> ReadSchedule(store::Conn& c, const std::string& id) {
  auto& q = c.Prepare(
      "SELECT sleep_schedule_active, sleep_days_of_week, sleep_start_minute, sleep_end_minute, sleep_next_check "
      "FROM workers WHERE id = ?1");
  q.Bind(1, id);
  if (!q.Step()) return std::nullopt;
  SleepSchedule s;
  s.active = q.Int(0) != 0;
  s.days_of_week = q.Text(1);
  if (auto v = q.OptInt(2)) s.start_minute = static_cast<int>(*v);
  if (auto v = q.OptInt(3)) s.end_minute = static_cast<int>(*v);
  if (auto v = q.OptInt(4)) s.next_check = FromUnixMicros(*v);
  q.Reset();
  return s;
}

void WriteSchedule(store::Conn& c, const std::string& id, const SleepSchedule& s) {
  auto& q = c.Prepare(
      "UPDATE workers SET sleep_schedule_active = ?2, sleep_days_of_week = ?3, sleep_start_minute = ?4, "
      "sleep_end_minute = ?5, sleep_next_check = ?6 WHERE id = ?1");
  q.Bind(1, id).Bind(2, s.active ? 1 : 0).Bind(3, s.days_of_week).Bind(4, s.start_minute).Bind(5, s.end_minute);
  if (s.next_check) {
    q.Bind(6, ToUnixMicros(*s.next_check));
  } else {
    q.BindNull(6);
  }
  q.Run();
}

Result<WorkerView> Load(store::Conn& c, FarmTx& tx, const std::string& id) {
  auto w = tx.GetWorker(id);
  if (!w) return NotFound("worker " + id + " not found");
  return WorkerView{std::move(*w), ReadSchedule(c, id).value_or(SleepSchedule{})};
}

// Stores the schedule's request when the worker needs it. Returns whether
// something changed.
bool ApplyScheduled(FarmTx& tx, WorkerRecord& w, const std::optional<std::string>& scheduled) {
  if (!scheduled || !NeedsRequest(*scheduled, w.status, w.status_requested)) return false;
  spdlog::info("sleep schedule: requesting status {} for worker {} (status {}, requested '{}')", *scheduled,
               w.Identifier(), w.status, w.status_requested);
  w.status_requested = *scheduled;
  w.lazy_status_request = false;
  tx.UpdateWorker(w);
  return true;
}

json TimeOrNull(const std::optional<int>& minute) {
  if (!minute) return nullptr;
  return FormatTimeOfDay(*minute);
}

}  // namespace

json ToJson(const WorkerView& view) {
  json j = ToJson(view.worker);
  const SleepSchedule& s = view.schedule;
  j["sleep_schedule"] = {
      {"schedule_active", s.active},
      {"days_of_week", s.days_of_week},
      {"time_start", TimeOrNull(s.start_minute)},
      {"time_end", TimeOrNull(s.end_minute)},
      {"next_check", s.next_check ? json(FormatIso8601(*s.next_check)) : json(nullptr)},
  };
  return j;
}

Result<SleepSchedule> NormaliseSchedule(const ScheduleInput& input) {
  SleepSchedule s;
  s.active = input.active;
  auto days = NormaliseDaysOfWeek(input.days_of_week);
  if (!days) return std::unexpected(days.error());
  s.days_of_week = std::move(*days);
  if (!input.time_start.empty()) {
    auto m = ParseTimeOfDay(input.time_start, /*is_end=*/false);
    if (!m) return std::unexpected(m.error().WithContext("time_start"));
    s.start_minute = *m;
  }
  if (!input.time_end.empty()) {
    auto m = ParseTimeOfDay(input.time_end, /*is_end=*/true);
    if (!m) return std::unexpected(m.error().WithContext("time_end"));
    s.end_minute = *m;
  }
  return s;
}

Result<std::unique_ptr<WorkerStatusService>> WorkerStatusService::Open(FarmStore& store, Farm& farm, TimeZone tz,
                                                                       ForgetHook on_forget) {
  if (auto st = store.db().Migrate("worker_schedule", kScheduleMigrations); !st) return std::unexpected(st.error());
  return std::unique_ptr<WorkerStatusService>(
      new WorkerStatusService(store, farm, std::move(tz), std::move(on_forget)));
}

Result<std::vector<WorkerView>> WorkerStatusService::RequestStatus(const std::vector<std::string>& ids,
                                                                   const std::string& status, bool lazy) {
  if (!IsRequestable(status))
    return InvalidArgument("status '" + status + "' cannot be requested; use asleep, awake, shutdown or restart");
  if (ids.empty()) return InvalidArgument("no workers given");
  return store_.db().WriteTx([&](store::Conn& c) -> Result<std::vector<WorkerView>> {
    FarmTx tx = store_.MakeTx(c);
    std::vector<WorkerView> out;
    for (const auto& id : ids) {
      auto view = Load(c, tx, id);
      if (!view) return std::unexpected(view.error());  // rolls back the others
      WorkerRecord& w = view->worker;
      const bool nothing_to_do = w.status_requested.empty() && w.status == status;
      if (!nothing_to_do && (w.status_requested != status || w.lazy_status_request != lazy)) {
        w.status_requested = status;
        w.lazy_status_request = lazy;
        tx.UpdateWorker(w);
        spdlog::info("requested {} status {} for worker {}", lazy ? "lazy" : "immediate", status, w.Identifier());
      }
      out.push_back(std::move(*view));
    }
    return out;
  });
}

Result<WorkerView> WorkerStatusService::AckTimeout(const std::string& id) {
  return store_.db().WriteTx([&](store::Conn& c) -> Result<WorkerView> {
    FarmTx tx = store_.MakeTx(c);
    auto view = Load(c, tx, id);
    if (!view) return view;
    WorkerRecord& w = view->worker;
    if (w.status != ws::kTimeout)
      return Conflict("worker " + id + " is not timed out (status '" + w.status + "'); nothing to acknowledge");
    w.status = std::string(ws::kOffline);
    // v2 left the pre-timeout status here (§15.10), so a worker that came
    // back later was sent to a stale state.
    w.status_requested.clear();
    w.lazy_status_request = false;
    tx.UpdateWorker(w);
    spdlog::info("timeout of worker {} acknowledged; now offline", w.Identifier());
    return view;
  });
}

Status WorkerStatusService::Forget(const std::string& id) {
  for (int attempt = 0; attempt < kForgetAttempts; ++attempt) {
    auto active = store_.Read([&](FarmTx& tx) -> Result<std::optional<std::vector<std::string>>> {
      if (!tx.GetWorker(id)) return std::optional<std::vector<std::string>>();
      return std::optional(tx.ActiveTasksOf(id));
    });
    if (!active) return std::unexpected(active.error());
    if (!*active) return NotFound("worker " + id + " not found");
    for (const auto& task_id : **active)
      if (auto st = farm_.ReturnTask(id, task_id, "worker was forgotten", Seen{}); !st) return st;
    auto deleted = store_.db().WriteTx([&](store::Conn& c) -> Result<bool> {
      FarmTx tx = store_.MakeTx(c);
      auto w = tx.GetWorker(id);
      if (!w) return NotFound("worker " + id + " not found");
      if (!tx.ActiveTasksOf(id).empty()) return false;  // fetched another one meanwhile
      c.Prepare("DELETE FROM worker_blacklist WHERE worker_id = ?1").Bind(1, id).Run();
      c.Prepare("DELETE FROM workers WHERE id = ?1").Bind(1, id).Run();
      spdlog::info("forgot worker {}", w->Identifier());
      return true;
    });
    if (!deleted) return std::unexpected(deleted.error());
    if (*deleted) {
      if (on_forget_) on_forget_(id);
      return Ok();
    }
  }
  return Conflict("worker " + id + " keeps taking tasks; put it to sleep or shut it down first");
}

Result<WorkerView> WorkerStatusService::SetSchedule(const std::string& id, const ScheduleInput& input) {
  auto schedule = NormaliseSchedule(input);
  if (!schedule) return std::unexpected(schedule.error());
  return store_.db().WriteTx([&](store::Conn& c) -> Result<WorkerView> {
    FarmTx tx = store_.MakeTx(c);
    auto view = Load(c, tx, id);
    if (!view) return view;
    // A saved schedule is applied at once: evaluate it as never checked.
    SleepSchedule s = *schedule;
    const ScheduleStep step = EvaluateSchedule(s, tx.now(), tz_);
    s.next_check = step.next_check;
    WriteSchedule(c, id, s);
    ApplyScheduled(tx, view->worker, step.scheduled);
    view->schedule = s;
    return view;
  });
}

Result<WorkerView> WorkerStatusService::ClearSchedule(const std::string& id) {
  return store_.db().WriteTx([&](store::Conn& c) -> Result<WorkerView> {
    FarmTx tx = store_.MakeTx(c);
    auto view = Load(c, tx, id);
    if (!view) return view;
    view->schedule = SleepSchedule{};
    WriteSchedule(c, id, view->schedule);
    return view;
  });
}

Result<WorkerView> WorkerStatusService::Get(const std::string& id) {
  return store_.db().Read([&](store::Conn& c) -> Result<WorkerView> {
    FarmTx tx = store_.MakeTx(c);
    return Load(c, tx, id);
  });
}

Result<std::vector<WorkerView>> WorkerStatusService::List() {
  return store_.db().Read([&](store::Conn& c) -> Result<std::vector<WorkerView>> {
    FarmTx tx = store_.MakeTx(c);
    std::vector<WorkerView> out;
    for (auto& w : tx.ListWorkers()) {
      SleepSchedule s = ReadSchedule(c, w.id).value_or(SleepSchedule{});
      out.push_back({std::move(w), std::move(s)});
    }
    return out;
  });
}

Result<int> WorkerStatusService::CheckSchedules() {
  return store_.db().WriteTx([&](store::Conn& c) -> Result<int> {
    FarmTx tx = store_.MakeTx(c);
    std::vector<std::string> due;
    {
      auto& q = c.Prepare(
          "SELECT id FROM workers WHERE sleep_schedule_active = 1 "
          "AND (sleep_next_check IS NULL OR sleep_next_check <= ?1) ORDER BY id");
      q.Bind(1, ToUnixMicros(tx.now()));
      while (q.Step()) due.push_back(q.Text(0));
    }
    int requested = 0;
    for (const auto& id : due) {
      auto view = Load(c, tx, id);
      if (!view) continue;  // cannot happen inside one transaction
      const ScheduleStep step = EvaluateSchedule(view->schedule, tx.now(), tz_);
      view->schedule.next_check = step.next_check;
      WriteSchedule(c, id, view->schedule);
      if (ApplyScheduled(tx, view->worker, step.scheduled)) ++requested;
    }
    return requested;
  });
}

}  // namespace duende::manager
