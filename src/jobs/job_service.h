// The job side ("server logic"): owns jobs and their authoritative tasks,
// compiles submissions into tasks, derives job status from task updates, and
// serves the farm side through protocol::Upstream.
//
// In standalone mode the Manager calls it in-process; duende-server (later)
// serves the same object over HTTP. Thread-safe.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "jobs/job.h"
#include "protocol/types.h"
#include "protocol/upstream.h"

namespace duende::store {
class SqlConn;
class SqlDatabase;
}  // namespace duende::store

namespace duende::jobs {

class JobTypeRegistry;

struct JobServiceOptions {
  // A job fails once failed tasks reach this percentage of its tasks (§4.2.2).
  int task_fail_job_percentage = 10;
  // The manager ID tasks are assigned to in standalone mode.
  std::string manager_id = "000000000000000000000001";
  // Directory for uploaded task logs (AttachTaskLog), stored as
  // <log_dir>/job-<job id>/task-<task id>.txt.gz. Empty: uploads are
  // refused with kUnavailable.
  std::string log_dir;
  // How long handled task-update IDs are remembered for idempotency. A
  // Manager re-sends an update only until it sees it handled, so a week is
  // ample.
  std::chrono::hours handled_update_retention{24 * 7};
  // Two-way path variables (spec §12.3): returns `settings` with the paths
  // of a submitter on `platform` turned into `{name}` placeholders, so each
  // worker gets them back for its own platform. Called by Submit for
  // submissions that name their platform, before the job is compiled.
  // Unset: settings are stored as submitted.
  std::function<nlohmann::json(const nlohmann::json& settings, const std::string& platform)> settings_to_placeholders;
  // Tasks per depsgraph chunk: a submitted job gets one depsgraph revision
  // per this many tasks, and FetchDepsgraph (the in-process seam) answers
  // about this many at a time, so a big job's first tasks reach the farm
  // while the rest are still being copied. 0 at fetch time: no chunks.
  int depsgraph_chunk_tasks = 2000;
  // Built-in and data-defined job types (must outlive the service). Null:
  // the built-in compilers only (CompileJob).
  const JobTypeRegistry* job_types = nullptr;
  // A Manager's standalone mode: the farm's task table in the same
  // database (JobStoreOptions::reported_fields_table). Its own Manager's
  // updates (ApplyOwnUpdateIn) then write only what the job side decides
  // with: the status, the failures and the starvation marks; an update that
  // changes none of them writes nothing here. Reads take what workers
  // report from the farm's row (newest wins).
  std::string reported_fields_table;
  // With it, the task's full log is on the same Manager: GetTask takes the
  // task's `log` (its last ten lines) from the end of the log this returns
  // (nullopt when the task has no log there: the job side's own lines are
  // shown then).
  std::function<std::optional<std::string>(const std::string& job_id, const std::string& task_id)> log_tail;
};

// A job whose status changed, as committed (tasks_status filled).
struct JobStatusChange {
  Job job;
  protocol::JobStatus previous;
};

// Told about every job status change (derived from task updates or
// requested) after the change has committed: on the thread that made it,
// outside the store's lock, in the order of the changes. Must not block
// (queue slow work elsewhere).
class JobStatusListener {
 public:
  virtual ~JobStatusListener() = default;
  virtual void OnJobStatusChanged(const Job& job, protocol::JobStatus previous) = 0;
};

class JobService : public protocol::Upstream {
 public:
  // `db` must outlive the service; the service applies its own migrations
  // (component "jobs") in Open().
  static Result<std::unique_ptr<JobService>> Open(store::SqlDatabase& db, Clock& clock, JobServiceOptions options);

  // Validates and compiles a submission; stores job + tasks atomically.
  // With a submitter_platform, settings first go through
  // options.settings_to_placeholders.
  // Status `queued` (or `paused` when start_paused). InvalidArgument with a
  // clear message for unknown job types or bad settings; nothing stored.
  Result<Job> Submit(const JobSubmission& submission);
  Result<std::vector<Job>> ListJobs(const JobFilter& filter);
  Result<Job> GetJob(const std::string& job_id);  // NotFound
  Result<std::vector<protocol::Task>> GetTasks(const std::string& job_id);
  Result<protocol::Task> GetTask(const std::string& task_id);

  // Explicit status change with the cascade of §4.2.1 (`cancel-requested`,
  // `requeued`, `paused`, `queued`, `fail-requested`). Invalid transitions
  // are InvalidArgument/Conflict and change nothing.
  Result<Job> ChangeJobStatus(const std::string& job_id, protocol::JobStatus status, const std::string& reason);
  // 1..100; updates job_priority on its tasks (they reach the Manager through
  // the depsgraph).
  Result<Job> ChangeJobPriority(const std::string& job_id, int priority);
  // Deletes a job that is not running (completed, canceled, failed, paused
  // or construction-failed) with its tasks and uploaded logs. Conflict for a
  // job that still runs: cancel it first.
  Status DeleteJob(const std::string& job_id);

  // Asks the Manager owning the task to upload its log: {job, task} is added
  // to a persisted queue returned in every BatchResponse until the log
  // arrives through AttachTaskLog. Idempotent. NotFound for unknown tasks.
  Status RequestTaskLog(const std::string& task_id);
  // Where AttachTaskLog stores the log of a task (the file may not exist).
  std::string TaskLogPath(const std::string& job_id, const std::string& task_id) const;

  // `listener` (may be null) must outlive the service. Set before serving:
  // not synchronised with running calls.
  void SetStatusListener(JobStatusListener* listener);

  // The task types the farm's workers support (from Notify); used by
  // compilers, e.g. create-video only when `video-encoding` is available.
  std::set<std::string> WorkerTaskTypes() const;

  // protocol::Upstream
  //
  // FetchDepsgraph: tokens are decimal depsgraph revisions. Empty (or
  // unparsable) token: the runnable tasks (queued / claimed-by-manager /
  // soft-failed tasks of queued / active / cancel-requested jobs), kNoJobs
  // when there are none. With a token: every task of this Manager whose
  // revision is newer, in any status (so cancellations, pauses and priority
  // changes reach the Manager's cache), kNotModified when none. A task's
  // revision is bumped only when the job side changes it (creation, requeue,
  // cancel, pause/resume, priority) -- never when applying the Manager's own
  // updates, which would send the Manager a stale copy of its own state.
  // Returned `queued` tasks become `claimed-by-manager`. `last_updated` is
  // the current revision.
  //
  // PushTaskUpdates applies spec §4.1.2 in one transaction: update IDs
  // already handled are acknowledged again without being re-applied; unknown
  // tasks and tasks of another Manager are acknowledged and ignored (v2 left
  // the latter in the Manager's queue forever, §15.4); a cancel-requested
  // task only accepts canceled/failed/completed; statuses a Manager cannot
  // report (under-construction, paused, cancel-requested) are ignored, the
  // rest of the update still applies. Progress fields are written when
  // present (v2 zeroed absent ones); log_tail is appended to the task's log
  // tail (last 10 lines kept). A Manager reporting a task of a paused job as
  // queued / claimed-by-manager / soft-failed gets it back as `paused`.
  //
  // AttachTaskLog: NotFound unless the task exists, belongs to `job_id` and
  // to this Manager; InvalidArgument unless the data is gzip; Unavailable
  // when log_dir is unset or not writable.
  Result<protocol::Depsgraph> FetchDepsgraph(const std::string& if_updated_since) override;
  Result<protocol::BatchResponse> PushTaskUpdates(const std::vector<protocol::TaskUpdate>& updates) override;
  Status AttachTaskLog(const std::string& job_id, const std::string& task_id, const std::string& gzipped_log) override;
  Status Notify(const protocol::UpstreamNotification& notification) override;

  // --- several Managers (duende-server). With an empty options.manager_id,
  // submitted jobs and their tasks belong to no Manager until one claims
  // them. The *For variants act as the Upstream methods above for the given
  // Manager; FetchDepsgraphFor also claims up to `claim_limit` (less the
  // tasks the Manager holds unstarted: CountHeldTasks) unassigned
  // `queued` tasks of runnable jobs whose parents have all completed (a
  // Manager counts unknown parents as completed, so a task whose parents run
  // at another site is held back). Claimed tasks become the Manager's,
  // `claimed-by-manager`, and are in the returned depsgraph.
  // With max_tasks > 0 the answer is a chunk: whole revisions, from the
  // oldest, up to about max_tasks tasks (more when one revision holds more,
  // or to bring a task's parents along), `more` set when newer revisions
  // remain and `last_updated` the newest revision covered, so the Manager
  // asks again at once and picks up where this chunk ended.
  Result<protocol::Depsgraph> FetchDepsgraphFor(const std::string& manager_id, const std::string& if_updated_since,
                                                int claim_limit, int max_tasks = 0);
  Result<protocol::BatchResponse> PushTaskUpdatesFor(const std::string& manager_id,
                                                     const std::vector<protocol::TaskUpdate>& updates);

  // --- the Manager's standalone mode, where the farm and the job side share
  // one database. Applies one of this service's own Manager's task updates
  // (as PushTaskUpdates would) inside the write transaction the caller holds
  // on `conn`: the update commits or rolls back with the farm's change, so
  // it needs no queue and no handled-update record. Throws
  // store::StoreError (or returns an error) when the store fails; the caller
  // must then roll back. The returned effects run after the commit.
  struct OwnUpdateEffects {
    bool job_status_changed = false;     // a job changed status: its other tasks may need canceling
    std::function<void()> after_commit;  // announces the job status changes
  };
  //
  // `deferred`: the update is one of a batch of writes sharing one
  // transaction (the farm's store::WriteQueue). The job counts it moves
  // and the job status derivation it calls for are left pending, and
  // FinishOwnUpdates does them once for the batch, before it commits: a
  // batch of updates to one job moves each count once and derives the job
  // once (issue 6). A task that fails or is canceled has its job derived
  // at once, as the failure policy needs the counts at that point.
  // DropPendingOwnUpdates forgets what is pending (a batch starts or its
  // rolled-back write is undone). The three are called from one thread at
  // a time: the batch's writer.
  Result<OwnUpdateEffects> ApplyOwnUpdateIn(store::SqlConn& conn, const protocol::TaskUpdate& update,
                                            bool deferred = false);
  Result<OwnUpdateEffects> FinishOwnUpdates(store::SqlConn& conn);
  void DropPendingOwnUpdates();
  // Task updates applied (first seen) and received again after being
  // handled (a Manager re-sending one whose answer it did not get), since
  // the service started. Each update is applied once whatever the count of
  // duplicates.
  uint64_t updates_applied() const;
  uint64_t updates_duplicate() const;
  // Update IDs remembered as handled (for handled_update_retention).
  Result<int64_t> HandledUpdateCount();
  Status AttachTaskLogFor(const std::string& manager_id, const std::string& job_id, const std::string& task_id,
                          const std::string& gzipped_log);

  ~JobService() override;

 private:
  struct Impl;
  explicit JobService(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace duende::jobs
