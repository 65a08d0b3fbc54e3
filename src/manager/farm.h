// Farm: the task state machine and worker registry of the farm side.
//
// Every task and worker status change of the Manager goes through here: it
// validates the transition, persists it together with the upstream update in
// one transaction, writes the task log, and notifies listeners. HTTP handlers
// only translate between the wire and these calls.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "manager/farm_store.h"
#include "manager/task_logs.h"
#include "manager/variables.h"
#include "protocol/types.h"

namespace duende::manager {

struct FarmOptions {
  Variables variables = DefaultVariables();
  int blacklist_threshold = 3;
  int task_fail_after_softfail_count = 3;
  // Blacklist entries older than this no longer apply (v2: 7-day TTL).
  std::chrono::milliseconds blacklist_expiry{std::chrono::hours(24 * 7)};
  // Offline and timed-out workers still count as able to run a task for
  // this long after their last contact; after that they do not keep tasks
  // soft-failed or out of the starvation report.
  std::chrono::milliseconds worker_gone_grace{std::chrono::minutes(10)};
  // A task no capable worker can run fails after this long (0 = never).
  // Not applied while the farm has no worker at all for its task type.
  std::chrono::milliseconds starvation_fail_after{std::chrono::hours(1)};
};

// Why a task is (not) running: per worker, the first rule that excludes it.
struct WorkerVerdict {
  std::string worker_id;
  std::string identifier;
  std::string status;
  bool could_run = false;
  std::string reason;
};
struct TaskExplanation {
  protocol::Task task;
  std::string summary;
  std::vector<std::string> task_reasons;  // reasons that apply to every worker
  std::vector<WorkerVerdict> workers;
};

// Who is calling, recorded as the worker's "seen" info on every request.
struct Seen {
  std::string address;   // remote host
  std::string software;  // User-Agent
};

struct Registration {
  std::string secret;
  std::string platform;
  std::vector<std::string> supported_task_types;
  std::string nickname;
};

struct TaskOffer {
  enum class Kind { kTask, kNoTask, kNoTaskTypes, kStatusRequested };
  Kind kind = Kind::kNoTask;
  protocol::Task task;  // variables expanded for the worker's platform
  std::string status_requested;
};

struct MayKeepRunning {
  bool may_keep_running = true;
  std::string reason;
  std::string status_requested;
};

// Listeners hear about changes after they are committed.
class FarmListener {
 public:
  virtual ~FarmListener() = default;
  // An update was added to the upstream queue.
  virtual void OnUpstreamQueued() {}
  // A task changed status (for dashboards/metrics).
  virtual void OnTaskStatus(const std::string& /*task_id*/, protocol::TaskStatus /*status*/) {}
  // An awake worker stopped reporting and was marked `timeout` (the
  // timeout housekeeping); `worker` is its record as committed. Called
  // after the commit, on the housekeeping thread.
  virtual void OnWorkerTimedOut(const WorkerRecord& /*worker*/) {}
};

// Standalone mode: the job side keeps its tasks in the farm's own database,
// so it takes each task update inside the farm's write transaction instead of
// through the upstream queue (UpstreamLink then only fetches cancellations
// and log requests). Everything is applied or nothing: ApplyInTx throws
// store::StoreError or returns an error to roll the farm's change back. What
// it returns runs after the commit, on the committing thread.
//
// `batched`: the change is one of a batch of the store's queued writes
// (FarmStore::WriteAsync), which share one transaction. The job side may
// then leave work the batch's updates share (counts, job status
// derivation) pending: FinishBatch does it before the batch commits, and
// BeginBatch drops it when a batch starts or a write of it is rolled back
// (store::WriteQueue::BatchHook). All three run on the store's writer.
class SameStoreUpstream {
 public:
  virtual ~SameStoreUpstream() = default;
  virtual Result<std::function<void()>> ApplyInTx(store::SqlConn& conn, const std::string& job_id,
                                                  const protocol::TaskUpdate& update, bool batched) = 0;
  virtual void BeginBatch() = 0;
  virtual Result<std::function<void()>> FinishBatch(store::SqlConn& conn) = 0;
};

class Farm {
 public:
  Farm(FarmStore& store, TaskLogs& logs, Clock& clock, FarmOptions options);
  void SetListener(FarmListener* listener) { listener_ = listener; }
  // Called (after commit, on the caller's thread or the store's writer
  // thread) whenever a task may have become runnable: new tasks, a status
  // change, a returned task, a lifted blacklist. Long-polling workers ask
  // again then. Set before serving.
  void SetWorkAvailableHook(std::function<void()> hook) { work_available_ = std::move(hook); }
  // Linked mode (spec §5.1 step 4e): before a worker is given a new task,
  // `validator` re-validates the candidate with upstream (true: assign it;
  // false: it changed or is gone, try the next one; up to 3 candidates).
  // Runs outside the store's write transaction. Set before serving.
  void SetTaskValidator(std::function<bool(const protocol::Task&)> validator) { validator_ = std::move(validator); }
  // Standalone mode: task updates go to `upstream` in the same transaction
  // (see SameStoreUpstream) rather than to the upstream queue. Set before
  // serving; null (the default) queues them.
  // Before serving. Hooks `upstream` into the store's queued writes.
  void SetSameStoreUpstream(SameStoreUpstream* upstream);

  // --- worker lifecycle (spec §2.2)
  Result<WorkerRecord> RegisterWorker(const Registration& reg, const std::string& remote_endpoint,
                                      const std::string& software);
  Status SignOn(const std::string& worker_id, const std::optional<std::vector<std::string>>& task_types,
                const std::optional<std::string>& nickname, const Seen& seen);
  Status SignOff(const std::string& worker_id, const Seen& seen);
  Result<std::optional<std::string>> StatusChange(const std::string& worker_id, const Seen& seen);
  Status AckStatusChange(const std::string& worker_id, const std::string& status, const Seen& seen);

  // --- tasks (spec §5)
  Result<TaskOffer> RequestTask(const std::string& worker_id, const Seen& seen);
  // RequestTask in two halves, for callers that must not block on the
  // store (the HTTP handlers). QuickOffer answers from a read when the poll
  // changes nothing but the worker's last-seen time, else nullopt.
  // AssignTaskAsync queues the write on the store's writer and returns;
  // done(offer) runs on the writer's finisher thread after the commit.
  std::optional<Result<TaskOffer>> QuickOffer(const std::string& worker_id, const Seen& seen);
  void AssignTaskAsync(const std::string& worker_id, const Seen& seen, std::function<void(Result<TaskOffer>)> done);
  // NotFound for unknown tasks, Conflict when assigned to another worker,
  // InvalidArgument for statuses a worker may not set.
  Status UpdateTask(const std::string& worker_id, const std::string& task_id, const protocol::TaskUpdate& update,
                    const Seen& seen);
  // UpdateTask without blocking: done(status) runs after the commit, on the
  // store writer's finisher thread (at once, on this thread, for a refused
  // status).
  void UpdateTaskAsync(const std::string& worker_id, const std::string& task_id, protocol::TaskUpdate update,
                       const Seen& seen, std::function<void(Status)> done);
  Status ReturnTask(const std::string& worker_id, const std::string& task_id, const std::string& reason,
                    const Seen& seen);
  Result<MayKeepRunning> MayIRun(const std::string& worker_id, const std::string& task_id, const Seen& seen);
  // MayIRun without blocking: done(answer) runs after the commit, on the
  // store writer's finisher thread (a running worker asks every 5 s).
  void MayIRunAsync(const std::string& worker_id, const std::string& task_id, const Seen& seen,
                    std::function<void(Result<MayKeepRunning>)> done);

  // --- upstream (the seam)
  // `in_same_tx` (optional) runs in the transaction that stores the tasks:
  // the link saves its depsgraph token there, so a crash cannot leave the
  // tasks stored under the old token (the next download would then bring
  // the old copies back over what workers did with them meanwhile).
  Status ApplyDepsgraph(const std::vector<protocol::Task>& tasks,
                        const std::function<void(FarmTx&)>& in_same_tx = nullptr);
  // Spec §4.1.3.
  Status CancelTasks(const std::vector<std::string>& task_ids);

  // --- timeouts (spec §6)
  // Awake workers not seen since `cutoff` go to `timeout`; their tasks are
  // returned. Returns the number of workers timed out.
  Result<int> TimeoutWorkers(SystemTime cutoff);
  // Active tasks without a ping since `cutoff`: their worker times out and
  // the task is returned for another worker.
  Result<int> TimeoutTasks(SystemTime cutoff);

  // --- housekeeping
  // Removes workers in one of `statuses` not seen since `cutoff`, returning
  // their active tasks first. Returns how many were removed.
  Result<int> RemoveWorkersSeenBefore(SystemTime cutoff, const std::vector<std::string>& statuses);
  // Finds schedulable tasks no capable worker can run, marks them (activity
  // and the upstream `blocked_reason`), clears marks that no longer apply,
  // and fails tasks blocked longer than starvation_fail_after. Returns the
  // number of blocked tasks.
  Result<int> CheckStarvation();
  Result<int> PurgeExpiredBlacklist();
  // Writes the workers' last-seen times noted in memory (see SeenCache).
  // Returns how many workers' times it wrote.
  Result<int> FlushLastSeen() { return store_.FlushSeen(); }
  // Drops the cached tasks of a job deleted upstream.
  Status ForgetJob(const std::string& job_id);

  // --- blacklist and diagnostics
  Result<std::vector<BlacklistEntry>> ListBlacklist(const std::string& worker_id, const std::string& job_id);
  // NotFound when there is no such entry.
  Status ForgetBlacklist(const std::string& worker_id, const std::string& job_id, const std::string& task_type);
  Result<TaskExplanation> Explain(const std::string& task_id);

  // --- reads
  Result<std::vector<WorkerRecord>> ListWorkers();
  Result<std::optional<std::string>> SecretHashOf(const std::string& worker_id);

 private:
  // Queues an upstream update and applies the local mutation in the caller's
  // transaction. `new_attempt`: the task starts a new run, so its log is
  // rotated before the update's lines (TaskLogs::StartAttempt).
  void Change(FarmTx& tx, const protocol::Task& task, TaskMutation m, protocol::TaskUpdate u, bool new_attempt = false);
  void ReturnTaskInTx(FarmTx& tx, const protocol::Task& task, const WorkerRecord& worker, const std::string& reason);
  // Applies a failure of `task` by `worker` (spec §7): blacklisting,
  // requeue or hard-fail of the worker's other soft-failed tasks, and the
  // soft-failed/failed decision for `task`. Fills `m` and `u`.
  void FailTaskInTx(FarmTx& tx, const protocol::Task& task, const WorkerRecord& worker, TaskMutation& m,
                    protocol::TaskUpdate& u);
  // Workers able to run (job, type) now: the type, not blacklisted, not gone.
  std::set<std::string> CapableWorkers(FarmTx& tx, const std::string& job, const std::string& task_type);
  void Notify(bool queued);
  // Tells the listener about workers a commit marked `timeout`.
  void AnnounceTimeouts(const std::vector<WorkerRecord>& workers);
  void WorkAvailable(bool maybe) {
    if (maybe) polls_find_work_.store(true, std::memory_order_relaxed);
    if (maybe && work_available_) work_available_();
  }
  // RequestTask's answer when it needs no write (nothing to hand out, the
  // worker's record unchanged but for last-seen), else nullopt.
  std::optional<TaskOffer> QuietPoll(FarmTx& tx, const WorkerRecord& w, const Seen& seen);

  FarmStore& store_;
  TaskLogs& logs_;
  Clock& clock_;
  FarmOptions options_;
  FarmListener* listener_ = nullptr;
  std::function<void()> work_available_;
  std::function<bool(const protocol::Task&)> validator_;
  SameStoreUpstream* same_store_ = nullptr;
  // Whether the last poll got a task (or work has appeared since): then
  // RequestTask goes straight to its write transaction. Only a hint.
  std::atomic<bool> polls_find_work_{true};
  void PrevalidateFor(const std::string& worker_id);
  // Calls start(done) and waits until done(result) has run (on any thread).
  template <typename R, typename Start>
  static R Await(Start&& start) {
    std::promise<R> promise;
    auto future = promise.get_future();
    start([&promise](R r) { promise.set_value(std::move(r)); });
    return future.get();
  }
};

}  // namespace duende::manager
