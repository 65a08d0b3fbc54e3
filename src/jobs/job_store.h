// Persistence of the job side: jobs, their authoritative tasks, the
// depsgraph revision counter, handled task-update IDs and log-upload
// requests. Owned by JobService (consumer-owned interface); the SQLite
// implementation (SQLite and PostgreSQL) lives in sql_job_store.cc.
//
// All access goes through a transaction: Write() runs a function atomically
// (one SQLite write transaction), Read() in a consistent snapshot. Inside the
// function the JobStoreTx methods may throw store::StoreError; Write/Read
// turn that (and any other exception) into an error Status and roll back.
// JobStoreTx references must not escape the function.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "jobs/job.h"
#include "jobs/job_status.h"
#include "protocol/types.h"
#include "protocol/upstream.h"

namespace duende::store {
class SqlConn;
class SqlDatabase;
}  // namespace duende::store

namespace duende::jobs {

struct StoredTask {
  protocol::Task task;
  // Depsgraph revision: the value of the global counter when the job side
  // last changed this task in a way the Manager must learn about.
  int64_t revision = 0;
  // The status as the store held it when this copy was read (set by the
  // store's readers): UpdateTask moves the job's task counts from it
  // instead of reading it again. Write back only a copy read in the same
  // transaction.
  std::optional<std::string> stored_status;
};

// What a Manager's task update needs of the stored task (spec §4.1.2): who
// it belongs to, its status and revision, and the two fields an update adds
// to rather than replaces, read only when asked for.
struct TaskForUpdate {
  std::string id;
  std::string job;
  std::string manager;
  std::string stored_status;  // as stored (the counts move from it)
  int64_t revision = 0;
  std::string log;                                    // with_log
  nlohmann::json metrics = nlohmann::json::object();  // with_metrics
};

// The change a Manager's task update makes: only the fields set are
// written. The priorities, etag and commands stay as stored, and so do
// their index entries.
struct TaskStateChange {
  std::string id;
  std::string job;
  std::string stored_status;                   // TaskForUpdate::stored_status
  std::optional<protocol::TaskStatus> status;  // written (and counted) only when it differs
  std::optional<int64_t> revision;             // a bump: the Manager must learn of the change
  std::optional<std::string> log;
  std::optional<std::string> activity;
  std::optional<std::string> worker;
  std::optional<std::vector<protocol::FailedByWorker>> failed_by_workers;
  std::optional<nlohmann::json> metrics;
  std::optional<int> task_progress_percentage;
  std::optional<int> current_command_index;
  std::optional<int> command_progress_percentage;
  std::optional<SystemTime> updated;
  // The caller moves the job's counts itself (AdjustCount), once for many
  // changes: UpdateTaskState leaves them alone.
  bool count_later = false;
};

class JobStoreTx {
 public:
  virtual ~JobStoreTx() = default;

  // Jobs. GetJob/ListJobs leave Job::tasks_status empty.
  virtual std::optional<Job> GetJob(const std::string& id) = 0;
  // Only the job's status (no settings to parse): deriving it after each
  // task update needs no more.
  virtual std::optional<protocol::JobStatus> GetJobStatus(const std::string& id) = 0;
  // Newest first.
  virtual std::vector<Job> ListJobs(const JobFilter& filter) = 0;
  virtual void InsertJob(const Job& job) = 0;
  // Writes status, status_reason, priority and updated.
  virtual void UpdateJob(const Job& job) = 0;
  // Deletes the job with its tasks and log requests.
  virtual void DeleteJob(const std::string& id) = 0;
  virtual TaskStatusCounts CountTasks(const std::string& job_id) = 0;
  // Adds `delta` to the count of the job's tasks in `status` (a stored
  // status string): for changes written with TaskStateChange::count_later.
  virtual void AdjustCount(const std::string& job_id, const std::string& status, int64_t delta) = 0;
  // Starvation marks from the Manager (TaskUpdate::blocked_reason): set or
  // clear ("") a task's mark; count the job's schedulable marked tasks and
  // give one of their reasons.
  virtual void SetBlockedReason(const std::string& task_id, const std::string& reason) = 0;
  virtual std::pair<int, std::string> BlockedSummary(const std::string& job_id) = 0;

  // Tasks. `seq` orders a job's tasks (compiler order).
  virtual std::optional<StoredTask> GetTask(const std::string& id) = 0;
  // The Manager's stream of task updates reads only this: the log tail and
  // the metrics (JSON to parse) only when the update adds to them.
  virtual std::optional<TaskForUpdate> GetTaskForUpdate(const std::string& id, bool with_log, bool with_metrics) = 0;
  virtual std::vector<StoredTask> TasksOfJob(const std::string& job_id) = 0;
  // Inserts a job's new tasks in order: tasks[i] gets seq i and revision
  // first_revision + i / tasks_per_revision (a big job spread over several
  // revisions can be downloaded in chunks; see NthRevision). One statement
  // reused for all, the job's counts updated once.
  virtual void InsertTasks(const std::vector<protocol::Task>& tasks, int64_t first_revision,
                           int tasks_per_revision) = 0;
  // Writes every mutable field (status, priorities, log, activity, worker,
  // failed_by_workers, metrics, progress, etag, revision).
  virtual void UpdateTask(const StoredTask& task) = 0;
  // Writes what a Manager's task update changes, and only that (see
  // TaskStateChange); moves the job's counts when the status changed.
  virtual void UpdateTaskState(const TaskStateChange& change) = 0;
  // Sets these `queued` tasks of `job_id` to claimed-by-manager (tasks in
  // another status are left alone) without a revision bump: the Manager's
  // own claim. Cheaper than UpdateTask per task for a big depsgraph.
  virtual void ClaimTasks(const std::string& job_id, const std::vector<std::string>& task_ids) = 0;
  // Tasks of `manager` in queued/claimed-by-manager/soft-failed whose job is
  // queued/active/cancel-requested, with revision <= `max_revision`;
  // highest job priority first.
  virtual std::vector<StoredTask> RunnableTasks(const std::string& manager, int64_t max_revision) = 0;
  // Tasks of `manager` with `revision` < revision <= `max_revision`, any
  // status, in revision order.
  virtual std::vector<StoredTask> TasksChangedSince(const std::string& manager, int64_t revision,
                                                    int64_t max_revision) = 0;
  // The revision of the task at 0-based position `n` in revision order
  // among what RunnableTasks (`since` unset) or TasksChangedSince(since)
  // would return; nullopt when there are n or fewer. Where a chunked
  // depsgraph download cuts.
  virtual std::optional<int64_t> NthRevision(const std::string& manager, std::optional<int64_t> since, int n) = 0;
  // The revision of task `id` of `manager`; nullopt when there is none.
  virtual std::optional<int64_t> RevisionOf(const std::string& id, const std::string& manager) = 0;
  virtual std::vector<std::string> TaskIdsInStatus(const std::string& manager, protocol::TaskStatus status) = 0;
  // Tasks of no Manager (manager "") in `queued` whose job is queued/active,
  // in depsgraph order (highest job priority first).
  virtual std::vector<StoredTask> UnassignedQueuedTasks() = 0;
  // Tasks of `manager` it has not started yet (queued, claimed-by-manager,
  // soft-failed): what it already holds when it asks for more.
  virtual int CountHeldTasks(const std::string& manager) = 0;
  virtual void AssignTaskManager(const std::string& task_id, const std::string& manager) = 0;

  // The global depsgraph revision counter.
  virtual int64_t CurrentRevision() = 0;
  // Increments and returns the counter.
  virtual int64_t NextRevision() = 0;

  // Task-update IDs already applied (idempotency of PushTaskUpdates).
  virtual bool IsUpdateHandled(const std::string& update_id) = 0;
  virtual void MarkUpdateHandled(const std::string& update_id, SystemTime now) = 0;
  virtual void ForgetHandledUpdatesBefore(SystemTime cutoff) = 0;
  virtual int64_t CountHandledUpdates() = 0;

  // Log-upload requests, oldest first. Adding an existing one is a no-op.
  virtual void AddLogRequest(const protocol::UploadRequest& request, const std::string& manager, SystemTime now) = 0;
  virtual void RemoveLogRequest(const std::string& task_id) = 0;
  virtual std::vector<protocol::UploadRequest> LogRequests(const std::string& manager) = 0;

  // Small key/value settings (e.g. the farm's worker task types).
  virtual std::optional<std::string> GetMeta(const std::string& key) = 0;
  virtual void SetMeta(const std::string& key, const std::string& value) = 0;
};

class JobStore {
 public:
  virtual ~JobStore() = default;
  virtual Status Write(const std::function<Status(JobStoreTx&)>& fn) = 0;
  virtual Status Read(const std::function<Status(JobStoreTx&)>& fn) = 0;
  // Runs `fn` inside a write transaction the caller already holds on this
  // store's own database (`conn`), without taking the database's lock or
  // committing: the change commits or rolls back with the caller's. For the
  // Manager's standalone mode, where the farm's writes and the job side
  // share one database. A store::StoreError from `fn` propagates.
  virtual Status WriteIn(store::SqlConn& conn, const std::function<Status(JobStoreTx&)>& fn) = 0;
};

struct JobStoreOptions {
  // A Manager's standalone mode, where the farm's tables share the job
  // side's database: the farm's task table, which keeps what workers report
  // (activity, worker, metrics and the three progress fields) and the time
  // of its last change (`last_updated`, microseconds like `updated_us`).
  // The job side then keeps only the statuses (and failures) of its own
  // Manager's updates, and every read of a task takes each reported field
  // from that table's row when it changed after the job side last changed
  // the task: the newer copy wins. A job-side change (a requeue, a
  // cancellation) writes back the copy it read, so it keeps what the workers
  // reported and what it changed itself wins. Empty: the job side keeps
  // every field it is sent (duende-server, a linked Manager).
  std::string reported_fields_table;
};

// Applies the "jobs" migrations to `db` (SQLite or PostgreSQL) and returns a
// store on it. `db` must outlive the store.
Result<std::unique_ptr<JobStore>> OpenSqlJobStore(store::SqlDatabase& db, const JobStoreOptions& options = {});

}  // namespace duende::jobs
