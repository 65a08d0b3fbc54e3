// The farm side's store: the Manager's task cache, workers, the outgoing
// task-update queue, the blacklist and small settings (spec §3.1).
//
// Operations are composed inside one transaction through FarmTx, so a status
// change, the queued upstream update and the worker's bookkeeping commit
// together or not at all.
#pragma once

#include <atomic>
#include <bitset>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "manager/sched_index.h"
#include "protocol/types.h"
#include "store/sqlite.h"
#include "store/write_queue.h"

namespace duende::manager {

struct WorkerRecord {
  std::string id;
  std::string secret_hash;  // argon2id, never serialised
  std::string nickname;
  std::string address;
  std::string status;
  std::string platform = "linux";
  std::string current_task;
  std::optional<SystemTime> last_activity;
  std::vector<std::string> supported_task_types;
  std::string software;
  std::string current_task_status;
  std::optional<SystemTime> current_task_updated;
  std::string status_requested;
  bool lazy_status_request = false;
  SystemTime created{};

  // "{address} ({nickname})" or the address alone (spec §3.3).
  std::string Identifier() const;
};

// Worker JSON as v2 returns it (never the secret or its hash).
nlohmann::json ToJson(const WorkerRecord& w);

struct BlacklistEntry {
  std::string worker_id;
  std::string job_id;
  std::string task_type;
  SystemTime created{};
};
nlohmann::json ToJson(const BlacklistEntry& e);

// One change to a task, applied atomically: fields to set, fields to unset
// and failures to add-to-set (the seed's "outer update dict").
struct TaskMutation {
  std::optional<protocol::TaskStatus> status;
  std::optional<std::string> activity;
  std::optional<std::string> worker;     // human identifier
  std::optional<std::string> worker_id;  // set
  bool unset_worker_id = false;          // unset
  std::optional<SystemTime> last_worker_ping;
  std::optional<int> task_progress_percentage;
  std::optional<int> current_command_index;
  std::optional<int> command_progress_percentage;
  std::optional<nlohmann::json> metrics;
  std::vector<protocol::FailedByWorker> add_failed_by_workers;  // add-to-set
};

// One status a task took on this Manager (table task_status_history,
// written by triggers on every change). `from_status` is empty for the
// first; `worker_id` is the task's worker then (for a task taken away: the
// worker it was taken from).
struct TaskStatusChange {
  int64_t seq = 0;
  std::string from_status;
  std::string to_status;
  std::string worker_id;
  std::optional<SystemTime> at;
};

// Workers' last-seen times noted in memory between flushes, so a request
// that changes nothing but the last-seen time (an idle worker's poll) needs
// no write. FarmTx lays these times over every worker it reads, so readers
// (timeouts, cleanup, the dashboard) see the newest last-seen whether or not
// it reached the database yet. A crash loses what was not flushed: the
// worker then looks up to one flush interval older than it was.
// Thread-safe.
class SeenCache {
 public:
  // Records that `worker_id` was seen at `at` (older times are ignored).
  void Note(const std::string& worker_id, SystemTime at);
  // Lays the cached time over `w.last_activity` when it is newer.
  void Apply(WorkerRecord& w) const;
  // A copy of the pending times (to flush).
  std::map<std::string, SystemTime> Pending() const;
  // Drops entries that were flushed with these times (newer ones stay).
  void Flushed(const std::map<std::string, SystemTime>& flushed);
  size_t size() const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, SystemTime> seen_;
};

// The schedulable-task index and its freshness (see SchedIndex). `index`
// and `built` are used only under the store's lock.
struct SchedState {
  SchedIndex index;
  bool built = false;
  // Set when a commit failed after the index followed its writes: the next
  // use rebuilds it from the store.
  std::atomic<bool> stale{false};
};

// A transaction-scoped view of the farm store. Valid only inside
// FarmStore::Write/Read callbacks. Store failures throw inside and are turned
// into an Error by the enclosing transaction.
class FarmTx {
 public:
  // `seen` (may be null) supplies last-seen times newer than the stored ones.
  // `sched` (may be null: SelectTaskFor then runs the SQL query) is the
  // index this transaction's task changes are noted for.
  explicit FarmTx(store::Conn& conn, SystemTime now, const SeenCache* seen = nullptr, SchedState* sched = nullptr,
                  bool batched = false)
      : conn_(conn), now_(now), seen_(seen), sched_(sched), batched_(batched) {}
  SystemTime now() const { return now_; }
  // One of a batch of queued writes (FarmStore::WriteAsync) sharing one
  // transaction, whose BatchHook runs before the commit.
  bool batched() const { return batched_; }
  // The transaction's connection, for a component whose tables share the
  // farm's database (standalone mode's job side: Farm::SetSameStoreUpstream).
  store::Conn& conn() { return conn_; }

  // Runs `fn` once the transaction has committed, in the order added, on the
  // committing caller's thread and outside the store's lock; dropped on
  // rollback. For side effects that must not be undone by a rollback or
  // slow down the writer (task log files, notifications).
  void AfterCommit(std::function<void()> fn) { after_commit_.push_back(std::move(fn)); }
  std::vector<std::function<void()>> TakeAfterCommit() { return std::move(after_commit_); }

  // --- tasks
  std::optional<protocol::Task> GetTask(const std::string& id);
  // Only what a worker's task update checks and names: the id, job, status
  // and worker_id (the other fields are left empty). Failing the task
  // reads it whole (GetTask). Parsing the commands was a tenth of the store
  // writer's time under load, and the other columns most of the rest of
  // this read.
  std::optional<protocol::Task> GetTaskForUpdate(const std::string& id);
  // Whole-document replace of a task from upstream, keeping local-only fields
  // (worker_id, last_worker_ping) of an existing copy.
  void UpsertTask(const protocol::Task& task);
  // Records a change of the task's status in its history (migration 5:
  // this and the upsert are the only statements that change a status).
  void ApplyMutation(const std::string& task_id, const TaskMutation& m);
  // The schedulable task for this worker (§5.1 c), or nullopt. Picked from
  // the in-memory index when the transaction has one.
  std::optional<std::string> SelectTaskFor(const WorkerRecord& worker);
  // The same answer from the scheduling query on the store (the reference
  // the index must agree with).
  std::optional<std::string> SelectTaskForSql(const WorkerRecord& worker);
  // Schedulable task IDs in scheduling order: from the store, and from the
  // index (empty without one). Tests compare them.
  std::vector<std::string> SchedulableIdsSql();
  std::vector<std::string> SchedulableIdsIndexed();
  // Brings the index up to date with this transaction's task changes so
  // far (building it first if needed). FarmStore::Write calls it after a
  // successful transaction function.
  void SyncIndex();
  // The index disagreed with the store: rebuild it before its next use.
  void InvalidateIndex();
  // Whether SyncIndex changed the index during this transaction.
  bool index_synced() const { return index_synced_; }
  // Tasks with status `active` assigned to `worker_id`.
  std::vector<std::string> ActiveTasksOf(const std::string& worker_id);
  // Active tasks whose last ping is older than `cutoff` (or missing).
  std::vector<protocol::Task> ActiveTasksPingedBefore(SystemTime cutoff);
  int64_t CountTasks();
  // The task's status history, oldest first.
  std::vector<TaskStatusChange> StatusHistory(const std::string& task_id);

  // --- failure handling (spec §7)
  // Tasks of (job, type) in failed/soft-failed that `worker_id` failed,
  // other than `except_task`.
  int CountWorkerFailures(const std::string& worker_id, const std::string& job, const std::string& task_type,
                          const std::string& except_task);
  // IDs of `worker_id`'s soft-failed tasks of (job, type).
  std::vector<std::string> SoftFailedTasksOf(const std::string& worker_id, const std::string& job,
                                             const std::string& task_type);
  // Workers that list `task_type`.
  std::vector<WorkerRecord> WorkersWithTaskType(const std::string& task_type);
  // Workers blacklisted for (job, type) by entries created at or after
  // `not_before` (older entries have expired).
  std::set<std::string> BlacklistedFor(const std::string& job, const std::string& task_type, SystemTime not_before);
  void AddBlacklist(const std::string& worker_id, const std::string& job, const std::string& task_type);
  std::vector<BlacklistEntry> ListBlacklist(const std::string& worker_id, const std::string& job,
                                            SystemTime not_before);
  bool RemoveBlacklist(const std::string& worker_id, const std::string& job, const std::string& task_type);
  int PurgeBlacklist(SystemTime before);

  // --- metrics
  std::vector<std::pair<std::string, int64_t>> CountTasksByStatus();
  std::vector<std::pair<std::string, int64_t>> CountWorkersByStatus();
  int64_t UpstreamQueueSize();
  // Schedulable tasks grouped by (job, task type), for starvation checks.
  std::vector<std::pair<std::string, std::string>> SchedulableGroups();
  // Schedulable tasks of (job, type) whose parents are all completed and
  // whose failed_by_workers include every worker in `capable`.
  std::vector<std::string> TasksFailedByAll(const std::string& job, const std::string& task_type,
                                            const std::set<std::string>& capable);
  // When each blocked task was first seen blocked, and why.
  std::map<std::string, std::pair<SystemTime, std::string>> BlockedTasks();
  void SetBlocked(const std::string& task_id, const std::string& reason, SystemTime since);
  void ClearBlocked(const std::string& task_id);
  // Removes a job's cached tasks (parents, failures and marks with them).
  void DeleteTasksOfJob(const std::string& job_id);
  // Removes the worker row and its blacklist entries.
  void DeleteWorker(const std::string& worker_id);

  // --- workers
  std::optional<WorkerRecord> GetWorker(const std::string& id);
  // What a worker's task update reads of the worker: its ID, nickname,
  // address, software and current-task fields, the rest left empty. Write
  // it back with UpdateWorker(before, after) only, which leaves the columns
  // not read as they are.
  std::optional<WorkerRecord> GetWorkerForTaskUpdate(const std::string& id);
  void InsertWorker(const WorkerRecord& w);
  // Every column of the row.
  void UpdateWorker(const WorkerRecord& w);
  // The columns in which `after` differs from `before`, the row as read in
  // this transaction; no statement when none does. A request changes two or
  // three of a worker's columns: the full UPDATE also wrote the task types
  // back as JSON every time.
  void UpdateWorker(const WorkerRecord& before, const WorkerRecord& after);
  std::vector<WorkerRecord> ListWorkers();
  std::vector<WorkerRecord> WorkersSeenBefore(SystemTime cutoff, const std::string& status);
  // Writes last-seen times (never moving one back). Returns rows changed.
  int WriteLastSeen(const std::map<std::string, SystemTime>& seen);

  // --- upstream queue (FIFO)
  void EnqueueUpdate(const protocol::TaskUpdate& update);
  std::vector<protocol::TaskUpdate> PeekUpdates(int max_count);
  void RemoveUpdates(const std::vector<std::string>& ids);
  int64_t QueueSize();

  // --- settings
  std::optional<std::string> GetSetting(const std::string& key);
  void PutSetting(const std::string& key, const std::string& value);

  // --- task logs
  // (job, task id, last_updated) of tasks in a final status (completed,
  // failed, canceled) last updated in [from, to), oldest first.
  std::vector<std::tuple<std::string, std::string, SystemTime>> EndedTasksUpdatedBetween(SystemTime from, SystemTime to,
                                                                                         int limit);

 private:
  WorkerRecord ReadWorkerRow(store::Statement& q) const;
  // The task's status and worker as stored now (nullopt: no such task).
  std::optional<std::pair<std::string, std::optional<std::string>>> StatusAndWorker(const std::string& task_id);
  // One row of task_status_history (`from` unset: the task's first status).
  void RecordStatus(const std::string& task_id, std::optional<std::string_view> from, std::string_view to,
                    const std::optional<std::string>& worker_id);
  // The worker columns UpdateWorker writes, in the order of WriteWorkerColumns.
  static constexpr size_t kWorkerWritableColumns = 12;
  using WorkerColumnSet = std::bitset<kWorkerWritableColumns>;
  // One UPDATE of `w`'s row naming the `columns` set (at least one).
  void WriteWorkerColumns(const WorkerRecord& w, const WorkerColumnSet& columns);
  // Marks a task whose index entry SyncIndex must refresh. `leaves_index`:
  // the change left the task in a status that is never schedulable, so its
  // entry is dropped without reading the row back. The last mark of a task
  // in a transaction decides.
  void Touch(const std::string& task_id, bool leaves_index = false) {
    if (sched_) touched_[task_id] = leaves_index;
  }
  void RebuildIndex();
  // Refreshes (or drops) the index entry of one task from its row.
  void RefreshIndexEntry(const std::string& task_id);

  store::Conn& conn_;
  SystemTime now_;
  const SeenCache* seen_;
  SchedState* sched_;
  bool batched_;
  std::map<std::string, bool> touched_;      // tasks changed since the last SyncIndex (-> leaves_index)
  std::vector<std::string> forgotten_jobs_;  // jobs whose tasks were deleted since then
  bool index_synced_ = false;
  std::vector<std::function<void()>> after_commit_;
};

class FarmStore {
 public:
  // The farm's task table. In standalone mode the job side reads what
  // workers report from it (jobs::JobStoreOptions::reported_fields_table):
  // its activity, worker, metrics, task_progress_percentage,
  // current_command_index, command_progress_percentage and last_updated
  // (microseconds) columns, which every task mutation keeps current.
  static constexpr const char* kTaskTable = "tasks";

  // The farm's schema migrations, in order (component "farm"; tests start
  // from an older schema with the first few).
  static const std::vector<std::string>& Migrations();
  // Applies the farm migrations (component "farm"). `db` outlives the store.
  static Result<std::unique_ptr<FarmStore>> Open(store::Database& db, Clock& clock);

  // Runs fn(FarmTx&) in one write transaction; fn returns Result<T>/Status.
  // The transaction's AfterCommit functions run after a successful commit,
  // before Write returns.
  template <typename F>
  auto Write(F&& fn) {
    std::vector<std::function<void()>> after;
    bool fn_ok = false;
    auto result = db_.WriteTx([&](store::Conn& c) { return RunWrite(c, fn, after, fn_ok); });
    if (result)
      for (auto& f : after) f();
    else if (fn_ok)
      sched_.stale = true;  // the commit failed: the index is ahead of the store
    return result;
  }

  // Write without waiting: queues fn on the store's writer (store::WriteQueue),
  // which runs it in a transaction shared with the other queued writes, and
  // returns at once. done(result) runs after the commit, on the writer's
  // finisher thread (after the AfterCommit functions, in submission order),
  // or with the error that rolled fn back or failed the commit (on the
  // writer thread, before the next batch). fn and done are moved into the
  // queue.
  template <typename F, typename D>
  void WriteAsync(F fn, D done) {
    using R = decltype(fn(std::declval<FarmTx&>()));
    struct State {
      F fn;
      D done;
      std::optional<R> result;
      std::vector<std::function<void()>> after;
      bool fn_ok = false;
    };
    auto s = std::make_shared<State>(State{std::move(fn), std::move(done), std::nullopt, {}, false});
    writer_->Submit(
        [this, s](store::Conn& c) -> Status {
          s->result.emplace(RunWrite(c, s->fn, s->after, s->fn_ok, /*batched=*/true));
          if (!*s->result) return std::unexpected(s->result->error());
          return Ok();
        },
        [this, s](const Status& st) {
          if (st) {
            for (auto& f : s->after) f();
            s->done(std::move(*s->result));
            return;
          }
          if (s->fn_ok) sched_.stale = true;  // the commit failed after the index followed fn
          s->done(R(std::unexpect, st.error()));
        });
  }
  // Work the queued writes of a batch share (store::WriteQueue::BatchHook).
  // Before the first WriteAsync.
  void SetBatchHook(store::WriteQueue::BatchHook hook) { writer_->SetBatchHook(std::move(hook)); }
  // Ends the writer: runs what is queued; later WriteAsync calls fail with
  // kUnavailable at once.
  void StopWriter() { writer_->Stop(); }
  // Writes queued through WriteAsync, and the transactions they took.
  uint64_t queued_writes() const { return writer_->writes(); }
  uint64_t queued_write_batches() const { return writer_->batches(); }
  uint64_t queued_write_reruns() const { return writer_->reruns(); }

  template <typename F>
  auto Read(F&& fn) {
    return db_.Read([&](store::Conn& c) {
      FarmTx tx(c, clock_.Now(), &seen_, &sched_);
      return fn(tx);
    });
  }

  // A FarmTx on `conn` for callers that run their own transaction on db().
  // Without the index: such callers must not change tasks (task changes go
  // through Write, which keeps the index in step).
  FarmTx MakeTx(store::Conn& conn) { return FarmTx(conn, clock_.Now(), &seen_); }

  store::Database& db() { return db_; }
  SeenCache& seen() { return seen_; }

  // Writes the last-seen times noted in memory in one transaction. Returns
  // how many workers it wrote.
  Result<int> FlushSeen();

 private:
  FarmStore(store::Database& db, Clock& clock)
      : db_(db),
        clock_(clock),
        // A batch run again with savepoints: the index followed the first
        // run's writes, which were rolled back.
        writer_(std::make_unique<store::WriteQueue>(db, [this] { sched_.stale = true; })) {}

  // One write transaction's body (Write, WriteAsync): fn on a FarmTx, then
  // the index brought in step while still under the store's lock (the next
  // transaction, maybe in the same commit group, sees the index as this one
  // left the rows). Collects the AfterCommit functions.
  template <typename F>
  auto RunWrite(store::Conn& c, F& fn, std::vector<std::function<void()>>& after, bool& fn_ok, bool batched = false)
      -> decltype(fn(std::declval<FarmTx&>())) {
    FarmTx tx(c, clock_.Now(), &seen_, &sched_, batched);
    auto r = [&]() -> decltype(fn(tx)) {
      try {
        return fn(tx);
      } catch (...) {
        if (tx.index_synced()) sched_.stale = true;
        throw;
      }
    }();
    if (r) {
      tx.SyncIndex();
      fn_ok = true;
    } else if (tx.index_synced()) {
      sched_.stale = true;  // the index followed writes now rolled back
    }
    after = tx.TakeAfterCommit();
    return r;
  }

  store::Database& db_;
  Clock& clock_;
  SeenCache seen_;
  SchedState sched_;
  std::unique_ptr<store::WriteQueue> writer_;  // last: its thread uses the members above
};

}  // namespace duende::manager
