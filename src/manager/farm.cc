#include "manager/farm.h"

#include <spdlog/spdlog.h>

#include "common/ids.h"
#include "common/timefmt.h"
#include "manager/failure_policy.h"
#include "manager/worker_auth.h"

namespace duende::manager {

using protocol::Task;
using protocol::TaskStatus;
using protocol::TaskUpdate;
namespace ws = protocol::worker_status;

namespace {

void MarkSeen(WorkerRecord& w, const Seen& seen, SystemTime now) {
  w.last_activity = now;
  if (!seen.address.empty()) w.address = seen.address;
  if (!seen.software.empty()) w.software = seen.software;
}

// True when a request from `seen` would change nothing of `w` but its
// last-seen time, which then goes to the SeenCache instead of a write.
bool OnlySeen(const WorkerRecord& w, const Seen& seen) {
  return (seen.address.empty() || seen.address == w.address) && (seen.software.empty() || seen.software == w.software);
}

// `/task` and `/may-i-run` wake a worker unless it is awake or testing.
void MarkAwake(WorkerRecord& w) {
  if (w.status != ws::kAwake && w.status != ws::kTesting) w.status = std::string(ws::kAwake);
}

std::string LogLine(SystemTime now, std::string_view text) { return FormatIso8601(now) + ": " + std::string(text); }

std::unexpected<Error> UnknownWorker(const std::string& id) { return Forbidden("worker " + id + " does not exist"); }

Result<WorkerRecord> LoadWorker(FarmTx& tx, const std::string& id) {
  auto w = tx.GetWorker(id);
  if (!w) return UnknownWorker(id);
  return *w;
}

TaskUpdate NewUpdate(const Task& task, SystemTime now) {
  TaskUpdate u;
  u.id = NewObjectId();
  u.task_id = task.id;
  u.received_on_manager = now;
  return u;
}

bool WorkerMaySet(TaskStatus s) {
  return s == TaskStatus::kActive || s == TaskStatus::kCompleted || s == TaskStatus::kFailed ||
         s == TaskStatus::kCanceled;
}

}  // namespace

Farm::Farm(FarmStore& store, TaskLogs& logs, Clock& clock, FarmOptions options)
    : store_(store), logs_(logs), clock_(clock), options_(std::move(options)) {}

void Farm::SetSameStoreUpstream(SameStoreUpstream* upstream) {
  same_store_ = upstream;
  if (!upstream) return store_.SetBatchHook({});
  store_.SetBatchHook(
      {[upstream] { upstream->BeginBatch(); }, [upstream](store::Conn& c) { return upstream->FinishBatch(c); }});
}

void Farm::Notify(bool queued) {
  // Standalone mode: Change() queues nothing (SetSameStoreUpstream). A look
  // at an empty queue is not free: its read commits the writer's open group.
  if (queued && listener_ && !same_store_) listener_->OnUpstreamQueued();
}

void Farm::Change(FarmTx& tx, const Task& task, TaskMutation m, TaskUpdate u, bool new_attempt) {
  if (!u.log.empty() || new_attempt) {
    if (u.log_tail.empty()) u.log_tail = protocol::LogTail(u.log);
    // Written after the commit: a rolled-back change leaves no log line, and
    // the file system work stays out of the store's lock.
    tx.AfterCommit([this, job = task.job, id = task.id, log = std::move(u.log), new_attempt] {
      auto st = new_attempt ? logs_.StartAttempt(job, id, log) : logs_.Append(job, id, log);
      if (!st) spdlog::warn("task log: {}", st.error().message);
    });
    u.log.clear();  // the full log stays on the Manager (v2 >= 2.2)
  }
  tx.ApplyMutation(task.id, m);
  if (!same_store_) return tx.EnqueueUpdate(u);
  auto after = same_store_->ApplyInTx(tx.conn(), task.job, u, tx.batched());
  if (!after) throw store::StoreError(SQLITE_ERROR, "job side: " + after.error().message);
  if (*after) tx.AfterCommit(std::move(*after));
}

// --- workers ------------------------------------------------------------------

Result<WorkerRecord> Farm::RegisterWorker(const Registration& reg, const std::string& remote_endpoint,
                                          const std::string& software) {
  if (reg.secret.empty()) return InvalidArgument("field 'secret' must not be empty");
  if (reg.platform.empty()) return InvalidArgument("field 'platform' must not be empty");
  auto hash = HashSecret(reg.secret);
  if (!hash) return std::unexpected(hash.error());
  WorkerRecord w;
  w.id = NewObjectId();
  w.secret_hash = *hash;
  w.nickname = reg.nickname;
  w.address = remote_endpoint;  // at registration v2 stores host:port
  w.platform = reg.platform;
  w.supported_task_types = reg.supported_task_types;
  w.software = software;
  w.created = clock_.Now();
  w.last_activity = w.created;
  auto st = store_.Write([&](FarmTx& tx) -> Status {
    tx.InsertWorker(w);
    return Ok();
  });
  if (!st) return std::unexpected(st.error());
  spdlog::info("registered worker {} ({}) from {}", w.id, w.nickname, remote_endpoint);
  return w;
}

Status Farm::SignOn(const std::string& worker_id, const std::optional<std::vector<std::string>>& task_types,
                    const std::optional<std::string>& nickname, const Seen& seen) {
  return store_.Write([&](FarmTx& tx) -> Status {
    auto w = LoadWorker(tx, worker_id);
    if (!w) return std::unexpected(w.error());
    MarkSeen(*w, seen, tx.now());
    w->status = "starting";
    w->current_task.clear();
    if (nickname && !nickname->empty()) w->nickname = *nickname;
    if (task_types) w->supported_task_types = *task_types;
    tx.UpdateWorker(*w);
    spdlog::info("worker {} signed on from {}", w->Identifier(), seen.address);
    return Ok();
  });
}

Status Farm::SignOff(const std::string& worker_id, const Seen& seen) {
  bool queued = false;
  auto st = store_.Write([&](FarmTx& tx) -> Status {
    auto w = LoadWorker(tx, worker_id);
    if (!w) return std::unexpected(w.error());
    MarkSeen(*w, seen, tx.now());
    for (const auto& task_id : tx.ActiveTasksOf(worker_id)) {
      if (auto t = tx.GetTask(task_id)) {
        ReturnTaskInTx(tx, *t, *w, "worker signed off");
        queued = true;
      }
    }
    // An asleep worker that signs off should sleep again after it signs on,
    // unless it was asked for something else.
    const bool was_asleep = w->status == ws::kAsleep;
    const bool keep_sleeping = was_asleep && (w->status_requested.empty() || w->status_requested == ws::kShutdown ||
                                              w->status_requested == ws::kAsleep);
    w->status = std::string(ws::kOffline);
    w->status_requested = keep_sleeping ? std::string(ws::kAsleep) : std::string();
    w->lazy_status_request = false;
    tx.UpdateWorker(*w);
    spdlog::info("worker {} signed off", w->Identifier());
    return Ok();
  });
  Notify(queued);
  WorkAvailable(st && queued);
  return st;
}

Result<std::optional<std::string>> Farm::StatusChange(const std::string& worker_id, const Seen& seen) {
  // Usually a read: nothing but the last-seen time changes.
  using Answer = std::optional<std::string>;
  auto quick = store_.Read([&](FarmTx& tx) -> Result<std::optional<Answer>> {
    auto w = LoadWorker(tx, worker_id);
    if (!w) return std::unexpected(w.error());
    if (!OnlySeen(*w, seen)) return std::nullopt;
    store_.seen().Note(worker_id, tx.now());
    return w->status_requested.empty() ? Answer() : Answer(w->status_requested);
  });
  if (!quick) return std::unexpected(quick.error());
  if (*quick) return **quick;
  return store_.Write([&](FarmTx& tx) -> Result<std::optional<std::string>> {
    auto w = LoadWorker(tx, worker_id);
    if (!w) return std::unexpected(w.error());
    MarkSeen(*w, seen, tx.now());
    tx.UpdateWorker(*w);
    if (w->status_requested.empty()) return std::optional<std::string>();
    return std::optional<std::string>(w->status_requested);
  });
}

Status Farm::AckStatusChange(const std::string& worker_id, const std::string& status, const Seen& seen) {
  return store_.Write([&](FarmTx& tx) -> Status {
    auto w = LoadWorker(tx, worker_id);
    if (!w) return std::unexpected(w.error());
    MarkSeen(*w, seen, tx.now());
    if (status == ws::kShutdown || status == ws::kRestart) {
      // Never stored as a status: the sign-off that follows makes it offline.
      tx.UpdateWorker(*w);
      return Ok();
    }
    if (!w->status_requested.empty() && w->status_requested != status)
      spdlog::warn("worker {} acknowledged status {} but {} was requested", w->Identifier(), status,
                   w->status_requested);
    w->status = status;
    w->status_requested.clear();
    w->lazy_status_request = false;
    tx.UpdateWorker(*w);
    return Ok();
  });
}

// --- tasks --------------------------------------------------------------------

// Done before the assignment transaction so a slow Server never holds the
// store's write lock. Another worker may take the validated task in between;
// then this one gets the next candidate unvalidated, which is what v2 does
// when the Server cannot be reached (best effort).
void Farm::PrevalidateFor(const std::string& worker_id) {
  for (int attempt = 0; attempt < 3; ++attempt) {
    auto candidate = store_.Read([&](FarmTx& tx) -> Result<std::optional<Task>> {
      auto w = tx.GetWorker(worker_id);
      if (!w || !w->status_requested.empty() || !tx.ActiveTasksOf(worker_id).empty()) return std::nullopt;
      auto id = tx.SelectTaskFor(*w);
      if (!id) return std::nullopt;
      return tx.GetTask(*id);
    });
    if (!candidate || !*candidate || validator_(**candidate)) return;
  }
}

std::optional<TaskOffer> Farm::QuietPoll(FarmTx& tx, const WorkerRecord& w, const Seen& seen) {
  if (!OnlySeen(w, seen) || (w.status != ws::kAwake && w.status != ws::kTesting)) return std::nullopt;
  TaskOffer offer;
  if (!w.status_requested.empty()) {
    offer.kind = TaskOffer::Kind::kStatusRequested;
    offer.status_requested = w.status_requested;
  } else if (w.supported_task_types.empty()) {
    offer.kind = TaskOffer::Kind::kNoTaskTypes;
  } else if (!tx.ActiveTasksOf(w.id).empty() || tx.SelectTaskFor(w)) {
    return std::nullopt;  // a task to hand out: that is a write
  }
  store_.seen().Note(w.id, tx.now());
  return offer;
}

std::optional<Result<TaskOffer>> Farm::QuickOffer(const std::string& worker_id, const Seen& seen) {
  // An idle farm's polls find nothing and change nothing but the worker's
  // last-seen time: they are answered from a read transaction, which takes
  // no fsync and does not wait for a group commit. While polls do find work
  // the read would be wasted (the write repeats it), so it is skipped.
  if (polls_find_work_.load(std::memory_order_relaxed)) return std::nullopt;
  auto quick = store_.Read([&](FarmTx& tx) -> Result<std::optional<TaskOffer>> {
    auto w = LoadWorker(tx, worker_id);
    if (!w) return std::unexpected(w.error());
    return QuietPoll(tx, *w, seen);
  });
  if (!quick) return Result<TaskOffer>(std::unexpect, quick.error());
  if (*quick) return Result<TaskOffer>(std::move(**quick));
  return std::nullopt;
}

Result<TaskOffer> Farm::RequestTask(const std::string& worker_id, const Seen& seen) {
  if (auto quick = QuickOffer(worker_id, seen)) return std::move(*quick);
  return Await<Result<TaskOffer>>([&](auto done) { AssignTaskAsync(worker_id, seen, std::move(done)); });
}

void Farm::AssignTaskAsync(const std::string& worker_id, const Seen& seen,
                           std::function<void(Result<TaskOffer>)> done) {
  if (validator_) PrevalidateFor(worker_id);
  auto queued = std::make_shared<bool>(false);
  auto assign = [this, worker_id, seen, queued](FarmTx& tx) -> Result<TaskOffer> {
    const auto before = LoadWorker(tx, worker_id);
    if (!before) return std::unexpected(before.error());
    auto w = before;
    MarkSeen(*w, seen, tx.now());
    MarkAwake(*w);
    TaskOffer offer;
    if (!w->status_requested.empty()) {
      tx.UpdateWorker(*before, *w);
      offer.kind = TaskOffer::Kind::kStatusRequested;
      offer.status_requested = w->status_requested;
      return offer;
    }
    if (w->supported_task_types.empty()) {
      tx.UpdateWorker(*before, *w);
      offer.kind = TaskOffer::Kind::kNoTaskTypes;
      return offer;
    }
    // A task still active on this worker is served again: the worker may
    // have lost the previous response.
    std::optional<Task> task;
    if (auto active = tx.ActiveTasksOf(worker_id); !active.empty()) task = tx.GetTask(active.front());
    if (!task) {
      auto id = tx.SelectTaskFor(*w);
      if (id) task = tx.GetTask(*id);
      if (id && (!task || !protocol::IsSchedulable(task->status))) {
        // The index was ahead of the store (a commit failed after it had
        // followed the writes): rebuild it and pick again.
        tx.InvalidateIndex();
        id = tx.SelectTaskFor(*w);
        task = id ? tx.GetTask(*id) : std::nullopt;
      }
      if (!id) {
        tx.UpdateWorker(*before, *w);
        return offer;  // kNoTask
      }
      if (!task) return Internal("selected task " + *id + " vanished");
      TaskMutation m;
      m.status = TaskStatus::kActive;
      m.worker = w->Identifier();
      m.worker_id = w->id;
      m.last_worker_ping = tx.now();
      TaskUpdate u = NewUpdate(*task, tx.now());
      u.task_status = TaskStatus::kActive;
      u.worker = w->Identifier();
      u.log = LogLine(tx.now(), "Manager assigned task " + task->id + " to worker " + w->Identifier());
      Change(tx, *task, std::move(m), std::move(u), /*new_attempt=*/true);
      *queued = true;
      task->status = TaskStatus::kActive;
      task->worker = w->Identifier();
    }
    w->current_task = task->id;
    w->current_task_status = std::string(protocol::ToString(task->status));
    w->current_task_updated = tx.now();
    tx.UpdateWorker(*before, *w);
    ExpandTaskVariables(*task, ResolveVariables(options_.variables, "workers", w->platform));
    offer.kind = TaskOffer::Kind::kTask;
    offer.task = std::move(*task);
    return offer;
  };
  store_.WriteAsync(std::move(assign), [this, queued, done = std::move(done)](Result<TaskOffer> offer) {
    Notify(*queued);
    if (offer) polls_find_work_.store(offer->kind == TaskOffer::Kind::kTask, std::memory_order_relaxed);
    done(std::move(offer));
  });
}

Status Farm::UpdateTask(const std::string& worker_id, const std::string& task_id, const TaskUpdate& update,
                        const Seen& seen) {
  return Await<Status>([&](auto done) { UpdateTaskAsync(worker_id, task_id, update, seen, std::move(done)); });
}

void Farm::UpdateTaskAsync(const std::string& worker_id, const std::string& task_id, TaskUpdate update,
                           const Seen& seen, std::function<void(Status)> done) {
  if (update.task_status && !WorkerMaySet(*update.task_status))
    return done(InvalidArgument("a worker may not set task status '" +
                                std::string(protocol::ToString(*update.task_status)) + "'"));
  auto new_status = std::make_shared<std::optional<TaskStatus>>();
  auto apply = [this, worker_id, task_id, update = std::move(update), seen, new_status](FarmTx& tx) -> Status {
    const auto before = tx.GetWorkerForTaskUpdate(worker_id);
    if (!before) return UnknownWorker(worker_id);
    auto w = before;
    MarkSeen(*w, seen, tx.now());
    auto task = tx.GetTaskForUpdate(task_id);
    if (!task) return NotFound("task " + task_id + " not found");
    // Only a task held by *another* worker is refused. A task nobody holds
    // any more (returned, signed off, cancelled) still takes the late logs
    // of the worker that ran it: the v2 worker keeps pushing its last lines
    // ("stopped running this task ...", timings) after it was told to stop,
    // and drops them for good on a 409.
    const bool held_by_other = !task->worker_id.empty() && task->worker_id != worker_id;
    // Refused before anything is written: a failed write's changes would be
    // rolled back anyway, and one that fails after changing rows makes the
    // store's writer run its whole batch again (store::WriteQueue).
    if (held_by_other) return Conflict("task " + task_id + " is assigned to another worker");
    TaskUpdate u = update;
    u.id = NewObjectId();
    u.task_id = task_id;
    u.received_on_manager = tx.now();
    // A late update does not make the sender the task's worker again.
    if (task->worker_id == worker_id) u.worker = w->Identifier();
    // Only a running task takes status and activity from its worker; late
    // logs of a task that moved on are still kept.
    if (task->status != TaskStatus::kActive) {
      u.task_status.reset();
      u.activity.reset();
    }
    if (u.task_status == TaskStatus::kActive) u.task_status.reset();  // already active
    TaskMutation m;
    m.last_worker_ping = tx.now();
    m.status = u.task_status;
    m.activity = u.activity;
    m.task_progress_percentage = u.task_progress_percentage;
    m.current_command_index = u.current_command_index;
    m.command_progress_percentage = u.command_progress_percentage;
    m.metrics = u.metrics;
    if (u.task_status == TaskStatus::kFailed) {
      // Failing it weighs the workers that failed it before: the whole task.
      auto whole = tx.GetTask(task_id);
      if (!whole) return NotFound("task " + task_id + " not found");
      FailTaskInTx(tx, *whole, *w, m, u);
    }
    *new_status = u.task_status;
    Change(tx, *task, std::move(m), std::move(u));
    w->current_task_updated = tx.now();
    if (update.task_status) w->current_task_status = std::string(protocol::ToString(*update.task_status));
    tx.UpdateWorker(*before, *w);
    return Ok();
  };
  store_.WriteAsync(std::move(apply), [this, task_id, new_status, done = std::move(done)](Status st) {
    if (st) {
      Notify(true);
      if (*new_status && listener_) listener_->OnTaskStatus(task_id, **new_status);
      WorkAvailable(new_status->has_value());
    }
    done(std::move(st));
  });
}

void Farm::ReturnTaskInTx(FarmTx& tx, const Task& task, const WorkerRecord& worker, const std::string& reason) {
  const std::string activity = "Re-queued task after unassigning from worker " + worker.Identifier() + ": " + reason;
  TaskMutation m;
  m.status = TaskStatus::kClaimedByManager;
  m.worker = "-";
  m.unset_worker_id = true;
  m.activity = activity;
  TaskUpdate u = NewUpdate(task, tx.now());
  u.task_status = TaskStatus::kClaimedByManager;
  u.worker = "-";
  u.activity = activity;
  u.log = LogLine(tx.now(), activity);
  Change(tx, task, std::move(m), std::move(u));
  spdlog::info("task {} returned by {}: {}", task.id, worker.Identifier(), reason);
}

Status Farm::ReturnTask(const std::string& worker_id, const std::string& task_id, const std::string& reason,
                        const Seen& seen) {
  bool queued = false;
  auto st = store_.Write([&](FarmTx& tx) -> Status {
    auto w = LoadWorker(tx, worker_id);
    if (!w) return std::unexpected(w.error());
    MarkSeen(*w, seen, tx.now());
    tx.UpdateWorker(*w);
    auto task = tx.GetTask(task_id);
    if (!task) return NotFound("task " + task_id + " not found");
    if (task->worker_id != worker_id || task->status != TaskStatus::kActive) return Ok();  // no-op
    ReturnTaskInTx(tx, *task, *w, reason);
    queued = true;
    return Ok();
  });
  Notify(queued);
  WorkAvailable(st && queued);
  return st;
}

Result<MayKeepRunning> Farm::MayIRun(const std::string& worker_id, const std::string& task_id, const Seen& seen) {
  return Await<Result<MayKeepRunning>>([&](auto done) { MayIRunAsync(worker_id, task_id, seen, std::move(done)); });
}

void Farm::MayIRunAsync(const std::string& worker_id, const std::string& task_id, const Seen& seen,
                        std::function<void(Result<MayKeepRunning>)> done) {
  auto check = [worker_id, task_id, seen](FarmTx& tx) -> Result<MayKeepRunning> {
    auto w = LoadWorker(tx, worker_id);
    if (!w) return std::unexpected(w.error());
    MarkSeen(*w, seen, tx.now());
    MarkAwake(*w);
    MayKeepRunning r;
    r.status_requested = w->status_requested;
    auto task = tx.GetTask(task_id);
    if (!task) {
      r.may_keep_running = false;
      r.reason = "task " + task_id + " is unknown";
    } else if (task->worker_id != worker_id) {
      r.may_keep_running = false;
      r.reason = "task " + task_id + " reassigned to another worker";
    } else if (task->status != TaskStatus::kActive) {
      r.may_keep_running = false;
      r.reason = "task " + task_id + " in non-runnable status " + std::string(protocol::ToString(task->status));
    } else if (!w->status_requested.empty() && !w->lazy_status_request && w->status_requested != ws::kAwake &&
               w->status_requested != ws::kTesting) {
      r.may_keep_running = false;
      r.reason = "worker status change to " + w->status_requested + " requested";
    } else {
      TaskMutation m;
      m.last_worker_ping = tx.now();
      tx.ApplyMutation(task_id, m);
      w->current_task_updated = tx.now();
    }
    tx.UpdateWorker(*w);
    return r;
  };
  store_.WriteAsync(std::move(check), std::move(done));
}

// --- upstream -------------------------------------------------------------------

Status Farm::ApplyDepsgraph(const std::vector<Task>& tasks, const std::function<void(FarmTx&)>& in_same_tx) {
  if (tasks.empty() && !in_same_tx) return Ok();
  auto st = store_.Write([&](FarmTx& tx) -> Status {
    for (const auto& t : tasks) tx.UpsertTask(t);
    if (in_same_tx) in_same_tx(tx);
    return Ok();
  });
  WorkAvailable(st.has_value() && !tasks.empty());
  return st;
}

Status Farm::CancelTasks(const std::vector<std::string>& task_ids) {
  if (task_ids.empty()) return Ok();
  bool queued = false, queued_unknown = false;
  auto st = store_.Write([&](FarmTx& tx) -> Status {
    queued_unknown = false;
    for (const auto& id : task_ids) {
      auto task = tx.GetTask(id);
      if (!task) {
        // Unknown here: tell upstream it is canceled so it stops asking.
        TaskUpdate u;
        u.id = NewObjectId();
        u.task_id = id;
        u.received_on_manager = tx.now();
        u.task_status = TaskStatus::kCanceled;
        tx.EnqueueUpdate(u);  // in both modes: there is no task here to change
        queued_unknown = true;
        continue;
      }
      if (task->status == TaskStatus::kActive) {
        // The worker learns through may-i-run, stops and returns the task;
        // the next push cycle then cancels it for real.
        TaskMutation m;
        m.status = TaskStatus::kCancelRequested;
        tx.ApplyMutation(id, m);
        continue;
      }
      TaskUpdate u = NewUpdate(*task, tx.now());
      TaskMutation m;
      if (protocol::IsFinal(task->status)) {
        u.task_status = task->status;  // tell upstream how it really ended
      } else {
        const std::string activity = "Manager cancelled task by request of the job side";
        u.task_status = TaskStatus::kCanceled;
        u.activity = activity;
        u.log = LogLine(tx.now(), activity);
        m.status = TaskStatus::kCanceled;
        m.activity = activity;
        m.unset_worker_id = true;
      }
      Change(tx, *task, std::move(m), std::move(u));
      queued = true;
    }
    return Ok();
  });
  Notify(queued);
  if (st && queued_unknown && listener_) listener_->OnUpstreamQueued();
  return st;
}

// --- timeouts -------------------------------------------------------------------

Result<int> Farm::TimeoutWorkers(SystemTime cutoff) {
  int count = 0;
  std::vector<WorkerRecord> timed_out;
  auto st = store_.Write([&](FarmTx& tx) -> Status {
    for (auto& w : tx.WorkersSeenBefore(cutoff, std::string(ws::kAwake))) {
      spdlog::warn("worker {} timed out (not seen since {})", w.Identifier(),
                   w.last_activity ? FormatIso8601(*w.last_activity) : "never");
      for (const auto& task_id : tx.ActiveTasksOf(w.id))
        if (auto t = tx.GetTask(task_id)) ReturnTaskInTx(tx, *t, w, "worker " + w.Identifier() + " timed out");
      if (w.status_requested.empty()) w.status_requested = w.status;
      w.status = std::string(ws::kTimeout);
      tx.UpdateWorker(w);
      timed_out.push_back(w);
      ++count;
    }
    return Ok();
  });
  if (!st) return std::unexpected(st.error());
  Notify(count > 0);
  WorkAvailable(count > 0);
  AnnounceTimeouts(timed_out);
  return count;
}

void Farm::AnnounceTimeouts(const std::vector<WorkerRecord>& workers) {
  if (!listener_) return;
  for (const auto& w : workers) listener_->OnWorkerTimedOut(w);
}

Result<int> Farm::TimeoutTasks(SystemTime cutoff) {
  int count = 0;
  std::vector<WorkerRecord> timed_out;
  auto st = store_.Write([&](FarmTx& tx) -> Status {
    for (const auto& task : tx.ActiveTasksPingedBefore(cutoff)) {
      std::optional<WorkerRecord> w;
      if (!task.worker_id.empty()) w = tx.GetWorker(task.worker_id);
      WorkerRecord who = w.value_or(WorkerRecord{});
      if (!w) who.address = "-";
      spdlog::warn("task {} timed out on worker {}", task.id, who.Identifier());
      if (w && w->status == ws::kAwake) {
        // The worker is silent too: it times out and its other tasks go to
        // other workers (spec §6).
        if (w->status_requested.empty()) w->status_requested = w->status;
        w->status = std::string(ws::kTimeout);
        tx.UpdateWorker(*w);
        timed_out.push_back(*w);
        for (const auto& other : tx.ActiveTasksOf(w->id))
          if (other != task.id)
            if (auto t = tx.GetTask(other)) ReturnTaskInTx(tx, *t, *w, "worker " + who.Identifier() + " timed out");
      }
      // Unlike v2 (§15.2) a timeout is a failure *by that worker*: the task
      // is soft-failed and retried elsewhere when someone else can run it.
      const std::string activity = "Task timed out on worker " + who.Identifier();
      TaskMutation m;
      m.activity = activity;
      m.worker = "-";
      m.unset_worker_id = true;
      TaskUpdate u = NewUpdate(task, tx.now());
      u.task_status = TaskStatus::kFailed;
      u.activity = activity;
      u.worker = "-";
      u.log = LogLine(tx.now(), activity);
      if (w) {
        FailTaskInTx(tx, task, *w, m, u);
      } else {
        m.status = TaskStatus::kClaimedByManager;
        u.task_status = TaskStatus::kClaimedByManager;
      }
      Change(tx, task, std::move(m), std::move(u));
      ++count;
    }
    return Ok();
  });
  if (!st) return std::unexpected(st.error());
  Notify(count > 0);
  WorkAvailable(count > 0);
  AnnounceTimeouts(timed_out);
  return count;
}

// --- failure handling -------------------------------------------------------------

std::set<std::string> Farm::CapableWorkers(FarmTx& tx, const std::string& job, const std::string& task_type) {
  const auto blacklisted = tx.BlacklistedFor(job, task_type, tx.now() - options_.blacklist_expiry);
  std::set<std::string> out;
  for (const auto& w : tx.WorkersWithTaskType(task_type)) {
    if (blacklisted.count(w.id)) continue;
    if (!CountsAsCapable(w.status, w.last_activity, tx.now(), options_.worker_gone_grace)) continue;
    out.insert(w.id);
  }
  return out;
}

void Farm::FailTaskInTx(FarmTx& tx, const Task& task, const WorkerRecord& worker, TaskMutation& m, TaskUpdate& u) {
  FailureFacts facts;
  facts.worker = worker.id;
  facts.earlier_failures = tx.CountWorkerFailures(worker.id, task.job, task.task_type, task.id);
  facts.capable_workers = CapableWorkers(tx, task.job, task.task_type);
  for (const auto& f : task.failed_by_workers) facts.failed_by.insert(f.id);
  facts.failed_by.insert(worker.id);
  facts.blacklist_threshold = options_.blacklist_threshold;
  facts.task_fail_after_softfail_count = options_.task_fail_after_softfail_count;
  const FailureDecision d = DecideFailure(facts);

  // Record who failed it; the scheduler never hands it to them again.
  const protocol::FailedByWorker f{worker.id, worker.Identifier()};
  m.add_failed_by_workers.push_back(f);
  auto all = task.failed_by_workers;
  if (std::find(all.begin(), all.end(), f) == all.end()) all.push_back(f);
  u.failed_by_workers = all;
  m.status = d.task_status;
  u.task_status = d.task_status;
  if (d.task_status == TaskStatus::kSoftFailed) {
    const std::string note = LogLine(tx.now(), "Manager soft-failed task: another worker will try it (failed by " +
                                                   std::to_string(all.size()) + " worker(s) so far)");
    u.log = u.log.empty() ? note : u.log + "\n" + note;
  }
  if (!d.blacklist_worker) return;

  tx.AddBlacklist(worker.id, task.job, task.task_type);
  spdlog::warn("worker {} blacklisted for job {} task type {}", worker.Identifier(), task.job, task.task_type);
  auto capable = facts.capable_workers;
  capable.erase(worker.id);
  for (const auto& id : tx.SoftFailedTasksOf(worker.id, task.job, task.task_type)) {
    if (id == task.id) continue;
    auto other = tx.GetTask(id);
    if (!other) continue;
    std::set<std::string> failed_by;
    for (const auto& fb : other->failed_by_workers) failed_by.insert(fb.id);
    const TaskStatus to = StatusAfterBlacklist(capable, failed_by);
    const std::string activity = to == TaskStatus::kFailed
                                     ? "Manager hard-failed task after blacklisting worker " + worker.Identifier() +
                                           ": no other worker can run it"
                                     : "Manager requeued task after blacklisting worker " + worker.Identifier();
    TaskMutation om;
    om.status = to;
    om.activity = activity;
    TaskUpdate ou = NewUpdate(*other, tx.now());
    ou.task_status = to;
    ou.activity = activity;
    ou.log = LogLine(tx.now(), activity);
    if (to == TaskStatus::kFailed) {
      om.task_progress_percentage = 0;
      ou.task_progress_percentage = 0;
    }
    Change(tx, *other, std::move(om), std::move(ou));
  }
}

// --- housekeeping -----------------------------------------------------------------

Result<int> Farm::RemoveWorkersSeenBefore(SystemTime cutoff, const std::vector<std::string>& statuses) {
  int count = 0;
  auto st = store_.Write([&](FarmTx& tx) -> Status {
    for (const auto& status : statuses) {
      for (const auto& w : tx.WorkersSeenBefore(cutoff, status)) {
        for (const auto& task_id : tx.ActiveTasksOf(w.id))
          if (auto t = tx.GetTask(task_id)) ReturnTaskInTx(tx, *t, w, "worker is being auto-removed");
        tx.DeleteWorker(w.id);
        spdlog::info("auto-removed worker {} ({}, not seen since {})", w.Identifier(), w.status,
                     w.last_activity ? FormatIso8601(*w.last_activity) : "never");
        ++count;
      }
    }
    return Ok();
  });
  if (!st) return std::unexpected(st.error());
  Notify(count > 0);
  WorkAvailable(count > 0);
  return count;
}

Result<int> Farm::CheckStarvation() {
  int blocked_count = 0;
  bool queued = false;
  auto st = store_.Write([&](FarmTx& tx) -> Status {
    std::map<std::string, std::pair<std::string, bool>> blocked;  // task -> (reason, may fail)
    for (const auto& [job, type] : tx.SchedulableGroups()) {
      const auto supporters = tx.WorkersWithTaskType(type);
      const auto capable = CapableWorkers(tx, job, type);
      std::string reason;
      if (supporters.empty()) {
        reason = "no worker supports task type `" + type + "`";
      } else if (capable.empty()) {
        reason = "every worker with task type `" + type + "` is blacklisted for this job or gone";
      } else {
        reason = "every worker with task type `" + type + "` failed it or is blacklisted";
      }
      // With no capable worker every runnable task of the group is blocked;
      // otherwise those that every capable worker failed.
      for (const auto& id : tx.TasksFailedByAll(job, type, capable)) blocked[id] = {reason, !supporters.empty()};
    }
    const auto previous = tx.BlockedTasks();
    for (const auto& [id, prev] : previous) {
      if (blocked.count(id)) continue;
      tx.ClearBlocked(id);
      if (auto t = tx.GetTask(id)) {
        TaskUpdate u = NewUpdate(*t, tx.now());
        u.blocked_reason = "";
        Change(tx, *t, TaskMutation{}, std::move(u));
        queued = true;
      }
    }
    for (const auto& [id, info] : blocked) {
      const auto& [reason, may_fail] = info;
      auto t = tx.GetTask(id);
      if (!t) continue;
      auto prev = previous.find(id);
      const SystemTime since = prev == previous.end() ? tx.now() : prev->second.first;
      ++blocked_count;
      const bool expired =
          may_fail && options_.starvation_fail_after.count() > 0 && tx.now() - since >= options_.starvation_fail_after;
      if (expired) {
        const std::string activity =
            "Failed: no worker could run it for " +
            FormatDuration(std::chrono::duration_cast<std::chrono::milliseconds>(tx.now() - since)) + " (" + reason +
            ")";
        TaskMutation m;
        m.status = TaskStatus::kFailed;
        m.activity = activity;
        TaskUpdate u = NewUpdate(*t, tx.now());
        u.task_status = TaskStatus::kFailed;
        u.activity = activity;
        u.blocked_reason = "";
        u.log = LogLine(tx.now(), activity);
        Change(tx, *t, std::move(m), std::move(u));
        tx.ClearBlocked(id);
        queued = true;
        continue;
      }
      if (prev != previous.end() && prev->second.second == reason) continue;  // already reported
      tx.SetBlocked(id, reason, since);
      const std::string activity = "Cannot run: " + reason;
      TaskMutation m;
      m.activity = activity;
      TaskUpdate u = NewUpdate(*t, tx.now());
      u.activity = activity;
      u.blocked_reason = reason;
      u.log = LogLine(tx.now(), activity);
      Change(tx, *t, std::move(m), std::move(u));
      queued = true;
    }
    return Ok();
  });
  if (!st) return std::unexpected(st.error());
  Notify(queued);
  return blocked_count;
}

Status Farm::ForgetJob(const std::string& job_id) {
  return store_.Write([&](FarmTx& tx) -> Status {
    tx.DeleteTasksOfJob(job_id);
    return Ok();
  });
}

Result<int> Farm::PurgeExpiredBlacklist() {
  return store_.Write(
      [&](FarmTx& tx) -> Result<int> { return tx.PurgeBlacklist(tx.now() - options_.blacklist_expiry); });
}

// --- blacklist and diagnostics ----------------------------------------------------

Result<std::vector<BlacklistEntry>> Farm::ListBlacklist(const std::string& worker_id, const std::string& job_id) {
  return store_.Read([&](FarmTx& tx) -> Result<std::vector<BlacklistEntry>> {
    return tx.ListBlacklist(worker_id, job_id, tx.now() - options_.blacklist_expiry);
  });
}

Status Farm::ForgetBlacklist(const std::string& worker_id, const std::string& job_id, const std::string& task_type) {
  auto st = store_.Write([&](FarmTx& tx) -> Status {
    if (!tx.RemoveBlacklist(worker_id, job_id, task_type))
      return NotFound("no blacklist entry for worker " + worker_id + ", job " + job_id + ", task type " + task_type);
    return Ok();
  });
  WorkAvailable(st.has_value());
  return st;
}

Result<TaskExplanation> Farm::Explain(const std::string& task_id) {
  return store_.Read([&](FarmTx& tx) -> Result<TaskExplanation> {
    auto task = tx.GetTask(task_id);
    if (!task) return NotFound("task " + task_id + " is not known to this Manager");
    TaskExplanation e;
    e.task = *task;
    const bool schedulable = protocol::IsSchedulable(task->status);
    if (task->status == TaskStatus::kActive) {
      e.task_reasons.push_back("it is running on " + task->worker);
    } else if (task->status == TaskStatus::kPaused) {
      e.task_reasons.push_back("its job is paused");
    } else if (!schedulable) {
      e.task_reasons.push_back("its status is " + std::string(protocol::ToString(task->status)) +
                               ", which is not schedulable");
    }
    for (const auto& parent : task->parents) {
      auto p = tx.GetTask(parent);
      if (p && p->status != TaskStatus::kCompleted)
        e.task_reasons.push_back("parent " + p->name + " (" + p->id + ") is " +
                                 std::string(protocol::ToString(p->status)));
    }
    const auto blacklisted = tx.BlacklistedFor(task->job, task->task_type, tx.now() - options_.blacklist_expiry);
    std::set<std::string> failed_by;
    for (const auto& f : task->failed_by_workers) failed_by.insert(f.id);
    int could_run = 0;
    for (const auto& w : tx.ListWorkers()) {
      WorkerVerdict v{w.id, w.Identifier(), w.status, false, ""};
      const auto& types = w.supported_task_types;
      if (std::find(types.begin(), types.end(), task->task_type) == types.end()) {
        v.reason = "does not support task type " + task->task_type;
      } else if (blacklisted.count(w.id)) {
        v.reason = "is blacklisted for this job and task type";
      } else if (failed_by.count(w.id)) {
        v.reason = "failed this task before";
      } else if (w.status == ws::kOffline || w.status == ws::kTimeout || w.status == ws::kAsleep ||
                 w.status == ws::kError || w.status.empty()) {
        v.reason = "is " + (w.status.empty() ? std::string("not signed on") : w.status);
      } else if (!w.status_requested.empty() && w.status_requested != ws::kAwake) {
        v.reason = "has a pending status change to " + w.status_requested;
      } else if (auto active = tx.ActiveTasksOf(w.id); !active.empty() && active.front() != task->id) {
        v.reason = "is busy with task " + active.front();
      } else {
        v.could_run = true;
        v.reason = "could run it";
        ++could_run;
      }
      e.workers.push_back(std::move(v));
    }
    if (task->status == TaskStatus::kActive) {
      e.summary = "running on " + task->worker;
    } else if (!e.task_reasons.empty()) {
      e.summary = "not runnable: " + e.task_reasons.front();
    } else if (could_run == 0) {
      e.summary = "waiting: no worker can run it right now";
    } else {
      e.summary = "waiting for a free worker: " + std::to_string(could_run) +
                  " worker(s) could run it, higher-priority tasks go first";
    }
    return e;
  });
}

// --- reads ------------------------------------------------------------------------

Result<std::vector<WorkerRecord>> Farm::ListWorkers() {
  return store_.Read([&](FarmTx& tx) -> Result<std::vector<WorkerRecord>> { return tx.ListWorkers(); });
}

Result<std::optional<std::string>> Farm::SecretHashOf(const std::string& worker_id) {
  return store_.Read([&](FarmTx& tx) -> Result<std::optional<std::string>> {
    auto w = tx.GetWorker(worker_id);
    if (!w) return std::optional<std::string>();
    return std::optional<std::string>(w->secret_hash);
  });
}

}  // namespace duende::manager
