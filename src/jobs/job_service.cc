#include "jobs/job_service.h"

#include <spdlog/spdlog.h>

#include <atomic>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>

#include "common/ids.h"
#include "jobs/compiler.h"
#include "jobs/job_status.h"
#include "jobs/job_store.h"
#include "jobs/job_types.h"

namespace duende::jobs {

using nlohmann::json;
using protocol::JobStatus;
using protocol::TaskStatus;

namespace {

constexpr char kWorkerTaskTypesKey[] = "worker_task_types";
constexpr char kManagerUrlKey[] = "manager_url";
constexpr char kNrOfWorkersKey[] = "nr_of_workers";
constexpr size_t kLogTailLines = 10;

TasksStatus ToTasksStatus(const TaskStatusCounts& counts) {
  TasksStatus out;
  out["count"] = counts.Total();
  for (const auto& [status, n] : counts.by_status) out[std::string(ToString(status))] = n;
  return out;
}

// Statuses a Manager may report for a task (§4.1.1). It never reports
// under-construction or paused, and cancel-requested is only ever local to
// the Manager.
bool ManagerMayReport(TaskStatus s) {
  switch (s) {
    case TaskStatus::kQueued:
    case TaskStatus::kClaimedByManager:
    case TaskStatus::kActive:
    case TaskStatus::kCompleted:
    case TaskStatus::kFailed:
    case TaskStatus::kSoftFailed:
    case TaskStatus::kCanceled:
      return true;
    default:
      return false;
  }
}

std::optional<int64_t> ParseRevision(const std::string& token) {
  int64_t v = 0;
  auto [ptr, ec] = std::from_chars(token.data(), token.data() + token.size(), v);
  if (ec != std::errc() || ptr != token.data() + token.size() || v < 0) return std::nullopt;
  return v;
}

// The newest revision among the parents of `tasks` that `manager` has and
// that are not covered by revisions up to `upper`; `upper` when none.
int64_t LatestParentRevision(JobStoreTx& tx, const std::string& manager, const std::vector<StoredTask>& tasks,
                             int64_t upper) {
  int64_t needed = upper;
  std::set<std::string_view> in_chunk;
  for (const auto& t : tasks) in_chunk.insert(t.task.id);
  for (const auto& t : tasks)
    for (const auto& p : t.task.parents) {
      if (in_chunk.contains(p)) continue;
      if (auto rev = tx.RevisionOf(p, manager); rev && *rev > needed) needed = *rev;
    }
  return needed;
}

// What one write transaction does besides writing rows: it allocates one
// depsgraph revision (every task the job side changes in the same atomic
// step shares it) and collects the job status changes to announce once it
// has committed.
class TxEffects {
 public:
  // One per run of a transaction function: what an earlier, rolled-back run
  // collected is dropped.
  TxEffects(JobStoreTx& tx, std::vector<JobStatusChange>& status_changes) : tx_(tx), status_changes_(status_changes) {
    status_changes_.clear();
  }
  int64_t Revision() {
    if (rev_ == 0) rev_ = tx_.NextRevision();
    return rev_;
  }
  // A job's status changed; `announce` with the listener's copy.
  void JobStatusChanged() { job_status_changed_ = true; }
  void Announce(Job job, JobStatus previous) { status_changes_.push_back({std::move(job), previous}); }
  bool job_status_changed() const { return job_status_changed_; }

 private:
  JobStoreTx& tx_;
  std::vector<JobStatusChange>& status_changes_;
  int64_t rev_ = 0;
  bool job_status_changed_ = false;
};

}  // namespace

struct JobService::Impl {
  Impl(Clock& c, JobServiceOptions o, std::unique_ptr<JobStore> s)
      : clock(c), options(std::move(o)), store(std::move(s)) {}

  Clock& clock;
  JobServiceOptions options;
  std::unique_ptr<JobStore> store;
  mutable std::mutex mu;  // guards worker_task_types
  std::set<std::string> worker_task_types;
  std::atomic<uint64_t> updates_applied{0};
  std::atomic<uint64_t> updates_duplicate{0};
  JobStatusListener* status_listener = nullptr;  // set before serving

  // Writes the outcome of a job status plan (explicit change or the
  // policy failing a job). Every changed task reaches the Manager.
  void ApplyPlan(JobStoreTx& tx, Job& job, const JobStatusPlan& plan, const std::string& reason, TxEffects& fx) {
    for (const auto& change : plan.task_changes) {
      auto st = tx.GetTask(change.id);
      if (!st) continue;
      st->task.status = change.to;
      if ((change.to == TaskStatus::kCanceled || change.to == TaskStatus::kCancelRequested) &&
          st->task.activity.empty())
        st->task.activity =
            "Server cancelled this task because the job got status " + std::string(ToString(plan.final_status));
      if (plan.clear_failed_by_workers && change.to == TaskStatus::kQueued) st->task.failed_by_workers.clear();
      st->task.etag = NewObjectId();
      st->task.last_updated = clock.Now();
      st->revision = fx.Revision();
      tx.UpdateTask(*st);
    }
    if (job.status != plan.final_status) {
      spdlog::info("job {}: status {} -> {}{}", job.id, ToString(job.status), ToString(plan.final_status),
                   reason.empty() ? "" : " (" + reason + ")");
    }
    const JobStatus previous = job.status;
    job.status = plan.final_status;
    job.status_reason = reason;
    job.updated = clock.Now();
    SaveJob(tx, job, previous, fx);
  }

  // Stores `job`; a status that differs from `previous` is announced to the
  // listener once the transaction has committed.
  void SaveJob(JobStoreTx& tx, Job& job, JobStatus previous, TxEffects& fx) {
    tx.UpdateJob(job);
    if (job.status == previous) return;
    fx.JobStatusChanged();
    if (!status_listener) return;
    Job announced = job;
    announced.tasks_status = ToTasksStatus(tx.CountTasks(job.id));
    fx.Announce(std::move(announced), previous);
  }

  // Tells the listener about committed status changes (outside the store's
  // lock, on the caller's thread).
  void Announce(const std::vector<JobStatusChange>& changes) {
    if (!status_listener) return;
    for (const auto& c : changes) status_listener->OnJobStatusChanged(c.job, c.previous);
  }

  // §4.2.2 after a task of `job_id` became `became`.
  void DeriveJob(JobStoreTx& tx, const std::string& job_id, TaskStatus became, TxEffects& fx) {
    const auto status = tx.GetJobStatus(job_id);
    if (!status) return;
    const auto counts = DeriveNeedsCounts(became) ? tx.CountTasks(job_id) : TaskStatusCounts{};
    auto decision = DeriveJobStatus(*status, became, counts, options.task_fail_job_percentage);
    if (!decision || decision->status == *status) return;
    auto job = tx.GetJob(job_id);
    if (!job) return;
    if (decision->status == JobStatus::kFailed && job->status != JobStatus::kFailRequested) {
      // Failing a running job cancels what is left of it.
      std::vector<TaskRef> refs;
      for (const auto& t : tx.TasksOfJob(job_id)) refs.push_back({t.task.id, t.task.status});
      auto plan = PlanJobStatusChange(job->status, JobStatus::kFailed, refs);
      if (plan) {
        ApplyPlan(tx, *job, *plan, decision->reason, fx);
        return;
      }
    }
    spdlog::info("job {}: status {} -> {}", job->id, ToString(job->status), ToString(decision->status));
    const JobStatus previous = job->status;
    job->status = decision->status;
    if (!decision->reason.empty()) job->status_reason = decision->reason;
    job->updated = clock.Now();
    SaveJob(tx, *job, previous, fx);
  }

  // Applies one Manager task update (§4.1.2). Returns true when the task
  // exists and belongs to this Manager.
  // Job status derivation counts the job's tasks by status (a scan of the
  // job), so it is done once per (job, status reached) per batch instead of
  // once per update: with a 100,000-task job, per-update derivation made a
  // busy farm quadratic (issue 6). `derive` keeps the pairs in the order of
  // their last occurrence, so the final derivation sees the latest change.
  using DeriveList = std::vector<std::pair<std::string, TaskStatus>>;
  static void DeriveLater(DeriveList& derive, const std::string& job, TaskStatus became) {
    std::erase_if(derive, [&](const auto& p) { return p.first == job && p.second == became; });
    derive.emplace_back(job, became);
  }

  // What deferred own updates left for FinishOwnUpdates: count changes per
  // (job, stored status) and the derivations.
  struct Pending {
    std::map<std::pair<std::string, std::string>, int64_t> counts;
    DeriveList derive;
  };
  Pending pending;  // the farm's writer thread only (see ApplyOwnUpdateIn)

  // Writes the count changes `p` holds.
  static void FlushCounts(JobStoreTx& tx, Pending& p) {
    for (const auto& [key, delta] : p.counts)
      if (delta != 0) tx.AdjustCount(key.first, key.second, delta);
    p.counts.clear();
  }

  // `pending` (may be null): moves the job's counts and defers the
  // derivation there instead of doing them now.
  // `decisive_only`: the update is this Manager's own in standalone mode,
  // whose farm keeps what workers report (JobServiceOptions::
  // reported_fields_table): only the status, the failures and the
  // starvation mark are written, and nothing when none of them changes.
  bool ApplyUpdate(JobStoreTx& tx, const std::string& manager, const protocol::TaskUpdate& u, TxEffects& fx,
                   DeriveList& derive, Pending* pending = nullptr, bool decisive_only = false) {
    const std::string_view tail = decisive_only ? std::string_view() : !u.log_tail.empty() ? u.log_tail : u.log;
    const bool metrics = !decisive_only && u.metrics && u.metrics->is_object();
    auto t = tx.GetTaskForUpdate(u.task_id, /*with_log=*/!tail.empty(), /*with_metrics=*/metrics);
    if (!t) {
      spdlog::warn("task update {} for unknown task {} ignored", u.id, u.task_id);
      return false;
    }
    if (t->manager != manager) {
      spdlog::warn("task update {} for task {} of another manager ({}) ignored", u.id, u.task_id, t->manager);
      return false;
    }
    // Only what the update sets is written: a progress update rewrites
    // neither the log tail nor the metrics (issue 6).
    TaskStateChange c;
    c.id = t->id;
    c.job = t->job;
    c.stored_status = t->stored_status;
    // v2: the task's _updated becomes the time the Manager received this.
    c.updated = u.received_on_manager.value_or(clock.Now());
    const TaskStatus was = protocol::TaskStatusFromString(t->stored_status).value_or(TaskStatus::kQueued);
    if (u.task_status && *u.task_status != was) {
      const TaskStatus to = *u.task_status;
      const bool accepted =
          ManagerMayReport(to) && (was != TaskStatus::kCancelRequested || to == TaskStatus::kCanceled ||
                                   to == TaskStatus::kFailed || to == TaskStatus::kCompleted);
      if (accepted) {
        c.status = to;
        if (to == TaskStatus::kQueued || to == TaskStatus::kClaimedByManager || to == TaskStatus::kSoftFailed) {
          // A paused job must not have schedulable tasks; tell the Manager.
          // The etag, like the revision, changes only when the job side
          // changes the task: a linked Manager re-validates its cached copy
          // by etag before assigning it (spec §2.6), and its own updates
          // must not make that copy look stale.
          auto job = tx.GetJob(t->job);
          if (job && job->status == JobStatus::kPaused) {
            c.status = TaskStatus::kPaused;
            c.revision = fx.Revision();
          }
        }
      } else {
        spdlog::info("task {}: status {} -> {} from manager ignored", t->id, t->stored_status, ToString(to));
      }
    }
    if (u.failed_by_workers) c.failed_by_workers = *u.failed_by_workers;
    if (u.blocked_reason) tx.SetBlockedReason(t->id, *u.blocked_reason);
    if (decisive_only) {
      if (!c.status && !c.failed_by_workers) return true;
      // The task's time stays the job side's last change of it: the farm's
      // row is newer and is what reads show (JobStoreOptions).
      c.updated.reset();
    } else {
      if (u.activity) c.activity = *u.activity;
      if (u.worker) c.worker = *u.worker;
      if (u.task_progress_percentage) c.task_progress_percentage = *u.task_progress_percentage;
      if (u.current_command_index) c.current_command_index = *u.current_command_index;
      if (u.command_progress_percentage) c.command_progress_percentage = *u.command_progress_percentage;
    }
    if (metrics) {
      if (!t->metrics.is_object()) t->metrics = json::object();
      t->metrics.update(*u.metrics);
      c.metrics = std::move(t->metrics);
    }
    if (!tail.empty()) c.log = protocol::LogTail(t->log + "\n" + std::string(tail), kLogTailLines);
    c.count_later = pending != nullptr;
    tx.UpdateTaskState(c);
    if (c.status && *c.status != was) {
      if (pending) {
        pending->counts[{t->job, t->stored_status}] -= 1;
        pending->counts[{t->job, std::string(ToString(*c.status))}] += 1;
      }
      if (*c.status == TaskStatus::kFailed || *c.status == TaskStatus::kCanceled) {
        // Failure handling depends on the counts at this point: not batched.
        if (pending) FlushCounts(tx, *pending);
        DeriveJob(tx, t->job, *c.status, fx);
        CheckRunnability(tx, t->job, fx);
      } else {
        DeriveLater(pending ? pending->derive : derive, t->job, *c.status);
      }
    }
    return true;
  }

  Result<Job> LoadJob(JobStoreTx& tx, const std::string& job_id) {
    auto job = tx.GetJob(job_id);
    if (!job) return NotFound("job " + job_id + " not found");
    job->tasks_status = ToTasksStatus(tx.CountTasks(job_id));
    // Starvation is shown on a running job as its status reason, derived
    // from the Manager's marks at read time (never stored over a real one).
    if (job->status == JobStatus::kQueued || job->status == JobStatus::kActive) {
      const auto [blocked, reason] = tx.BlockedSummary(job_id);
      if (blocked > 0)
        job->status_reason =
            std::to_string(blocked) + (blocked == 1 ? " task cannot" : " tasks cannot") + " run: " + reason;
    }
    return *job;
  }

  // Runnability (§4.2.2, done when it can change rather than periodically):
  // tasks waiting for a failed or canceled parent will never run, so the
  // job is failed with a reason saying how many.
  void CheckRunnability(JobStoreTx& tx, const std::string& job_id, TxEffects& fx) {
    auto job = tx.GetJob(job_id);
    if (!job || (job->status != JobStatus::kQueued && job->status != JobStatus::kActive)) return;
    const auto tasks = tx.TasksOfJob(job_id);
    std::map<std::string, TaskStatus> status_of;
    for (const auto& t : tasks) status_of[t.task.id] = t.task.status;
    int stuck = 0;
    std::vector<TaskRef> refs;
    for (const auto& t : tasks) {
      refs.push_back({t.task.id, t.task.status});
      if (!protocol::IsSchedulable(t.task.status) && t.task.status != TaskStatus::kPaused) continue;
      for (const auto& p : t.task.parents) {
        auto it = status_of.find(p);
        if (it != status_of.end() && (it->second == TaskStatus::kFailed || it->second == TaskStatus::kCanceled)) {
          ++stuck;
          break;
        }
      }
    }
    if (stuck == 0) return;
    auto plan = PlanJobStatusChange(job->status, JobStatus::kFailRequested, refs);
    if (!plan || plan->no_op) return;
    ApplyPlan(tx, *job, *plan,
              std::to_string(stuck) + (stuck == 1 ? " task has" : " tasks have") +
                  " a failed/cancelled parent and will not be able to run",
              fx);
  }
};

JobService::JobService(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
JobService::~JobService() = default;

Result<std::unique_ptr<JobService>> JobService::Open(store::SqlDatabase& db, Clock& clock, JobServiceOptions options) {
  if (options.task_fail_job_percentage < 1 || options.task_fail_job_percentage > 100)
    return InvalidArgument("task_fail_job_percentage must be 1..100");
  auto store = OpenSqlJobStore(db, JobStoreOptions{options.reported_fields_table});
  if (!store) return std::unexpected(store.error().WithContext("opening job store"));
  auto impl = std::make_unique<Impl>(clock, std::move(options), std::move(*store));
  std::set<std::string> types;
  auto st = impl->store->Read([&](JobStoreTx& tx) -> Status {
    if (auto v = tx.GetMeta(kWorkerTaskTypesKey)) {
      json j = json::parse(*v, nullptr, false);
      if (j.is_array())
        for (const auto& e : j)
          if (e.is_string()) types.insert(e.get<std::string>());
    }
    return Ok();
  });
  if (!st) return std::unexpected(st.error());
  impl->worker_task_types = std::move(types);
  return std::unique_ptr<JobService>(new JobService(std::move(impl)));
}

Result<Job> JobService::Submit(const JobSubmission& submission) {
  if (submission.name.empty()) return InvalidArgument("job name must not be empty");
  if (submission.priority < 1 || submission.priority > 100)
    return InvalidArgument("job priority must be from 1 to 100, got " + std::to_string(submission.priority));
  Job job;
  job.id = NewObjectId();
  job.name = submission.name;
  job.job_type = submission.job_type;
  job.priority = submission.priority;
  job.status = submission.start_paused ? JobStatus::kPaused : JobStatus::kQueued;
  job.settings = submission.settings;
  if (!submission.submitter_platform.empty() && impl_->options.settings_to_placeholders)
    job.settings = impl_->options.settings_to_placeholders(job.settings, submission.submitter_platform);
  job.submitter = submission.submitter;
  job.manager = impl_->options.manager_id;
  job.start_paused = submission.start_paused;
  job.created = job.updated = impl_->clock.Now();

  CompileContext ctx;
  ctx.job_id = job.id;
  ctx.job_type = job.job_type;
  ctx.job_priority = job.priority;
  ctx.manager_id = job.manager;
  ctx.created = job.created;
  ctx.start_paused = job.start_paused;
  ctx.worker_task_types = WorkerTaskTypes();
  Result<CompiledJob> compiled = CompiledJob{job.settings, {}};
  if (impl_->options.job_types) {
    compiled = impl_->options.job_types->Compile(job.settings, ctx);
  } else if (auto built = CompileJob(job.settings, ctx)) {
    compiled->tasks = std::move(*built);
  } else {
    compiled = std::unexpected(built.error());
  }
  if (!compiled) return std::unexpected(compiled.error().WithContext("invalid job"));
  // Data-defined types fill in the defaults of absent settings.
  job.settings = std::move(compiled->settings);
  auto* tasks = &compiled->tasks;

  TaskStatusCounts counts;
  for (auto& t : *tasks) {
    t.etag = NewObjectId();
    t.last_updated = job.created;
    ++counts.by_status[t.status];
  }
  // A big job gets one depsgraph revision per chunk of tasks, so the farm
  // can download it chunk by chunk and start on the first tasks while the
  // rest are still being copied (FetchDepsgraph).
  const int per_revision = std::max(impl_->options.depsgraph_chunk_tasks, 1);
  const int64_t revisions =
      std::max<int64_t>(1, (static_cast<int64_t>(tasks->size()) + per_revision - 1) / per_revision);
  auto st = impl_->store->Write([&](JobStoreTx& tx) -> Status {
    const int64_t first_rev = tx.NextRevision();
    for (int64_t i = 1; i < revisions; ++i) tx.NextRevision();
    tx.InsertJob(job);
    tx.InsertTasks(*tasks, first_rev, per_revision);
    return Ok();
  });
  if (!st) return std::unexpected(st.error().WithContext("storing job"));
  job.tasks_status = ToTasksStatus(counts);
  spdlog::info("job {} '{}' ({}) submitted with {} tasks", job.id, job.name, job.job_type, tasks->size());
  return job;
}

Result<std::vector<Job>> JobService::ListJobs(const JobFilter& filter) {
  std::vector<Job> jobs;
  auto st = impl_->store->Read([&](JobStoreTx& tx) -> Status {
    jobs = tx.ListJobs(filter);
    for (auto& j : jobs) j.tasks_status = ToTasksStatus(tx.CountTasks(j.id));
    return Ok();
  });
  if (!st) return std::unexpected(st.error());
  return jobs;
}

Result<Job> JobService::GetJob(const std::string& job_id) {
  Job job;
  auto st = impl_->store->Read([&](JobStoreTx& tx) -> Status {
    auto j = impl_->LoadJob(tx, job_id);
    if (!j) return std::unexpected(j.error());
    job = std::move(*j);
    return Ok();
  });
  if (!st) return std::unexpected(st.error());
  return job;
}

Result<std::vector<protocol::Task>> JobService::GetTasks(const std::string& job_id) {
  std::vector<protocol::Task> tasks;
  auto st = impl_->store->Read([&](JobStoreTx& tx) -> Status {
    if (!tx.GetJob(job_id)) return NotFound("job " + job_id + " not found");
    for (auto& t : tx.TasksOfJob(job_id)) tasks.push_back(std::move(t.task));
    return Ok();
  });
  if (!st) return std::unexpected(st.error());
  return tasks;
}

Result<protocol::Task> JobService::GetTask(const std::string& task_id) {
  protocol::Task task;
  auto st = impl_->store->Read([&](JobStoreTx& tx) -> Status {
    auto t = tx.GetTask(task_id);
    if (!t) return NotFound("task " + task_id + " not found");
    task = std::move(t->task);
    return Ok();
  });
  if (!st) return std::unexpected(st.error());
  if (impl_->options.log_tail) {
    if (auto log = impl_->options.log_tail(task.job, task.id)) task.log = protocol::LogTail(*log, kLogTailLines);
  }
  return task;
}

Result<Job> JobService::ChangeJobStatus(const std::string& job_id, JobStatus status, const std::string& reason) {
  Job result;
  std::vector<JobStatusChange> changes;
  auto st = impl_->store->Write([&](JobStoreTx& tx) -> Status {
    auto job = tx.GetJob(job_id);
    if (!job) return NotFound("job " + job_id + " not found");
    std::vector<TaskRef> refs;
    for (const auto& t : tx.TasksOfJob(job_id)) refs.push_back({t.task.id, t.task.status});
    auto plan = PlanJobStatusChange(job->status, status, refs);
    if (!plan) return std::unexpected(plan.error());
    if (!plan->no_op) {
      TxEffects fx(tx, changes);
      impl_->ApplyPlan(tx, *job, *plan, reason, fx);
    }
    auto loaded = impl_->LoadJob(tx, job_id);
    if (!loaded) return std::unexpected(loaded.error());
    result = std::move(*loaded);
    return Ok();
  });
  if (!st) return std::unexpected(st.error());
  impl_->Announce(changes);
  return result;
}

Status JobService::DeleteJob(const std::string& job_id) {
  auto st = impl_->store->Write([&](JobStoreTx& tx) -> Status {
    auto job = tx.GetJob(job_id);
    if (!job) return NotFound("job " + job_id + " not found");
    switch (job->status) {
      case JobStatus::kCompleted:
      case JobStatus::kCanceled:
      case JobStatus::kFailed:
      case JobStatus::kPaused:
      case JobStatus::kConstructionFailed:
        break;
      default:
        return Conflict("job " + job_id + " is " + std::string(ToString(job->status)) +
                        "; cancel it before deleting it");
    }
    if (job->status == JobStatus::kPaused) {
      for (const auto& t : tx.TasksOfJob(job_id))
        if (t.task.status == TaskStatus::kActive)
          return Conflict("job " + job_id + " still has running tasks; cancel it before deleting it");
    }
    tx.DeleteJob(job_id);
    return Ok();
  });
  if (!st) return st;
  if (!impl_->options.log_dir.empty() && IsObjectId(job_id)) {
    std::error_code ec;
    std::filesystem::remove_all(std::filesystem::path(impl_->options.log_dir) / ("job-" + job_id), ec);
  }
  spdlog::info("job {} deleted", job_id);
  return Ok();
}

Result<Job> JobService::ChangeJobPriority(const std::string& job_id, int priority) {
  if (priority < 1 || priority > 100)
    return InvalidArgument("job priority must be from 1 to 100, got " + std::to_string(priority));
  Job result;
  auto st = impl_->store->Write([&](JobStoreTx& tx) -> Status {
    auto job = tx.GetJob(job_id);
    if (!job) return NotFound("job " + job_id + " not found");
    if (job->priority != priority) {
      job->priority = priority;
      job->updated = impl_->clock.Now();
      tx.UpdateJob(*job);
      std::vector<JobStatusChange> none;  // a priority is not a status
      TxEffects fx(tx, none);
      for (auto& t : tx.TasksOfJob(job_id)) {
        t.task.job_priority = priority;
        // Finished tasks are of no interest to the Manager's scheduler.
        if (!protocol::IsFinal(t.task.status)) {
          t.revision = fx.Revision();
          t.task.etag = NewObjectId();
          t.task.last_updated = impl_->clock.Now();
        }
        tx.UpdateTask(t);
      }
    }
    auto loaded = impl_->LoadJob(tx, job_id);
    if (!loaded) return std::unexpected(loaded.error());
    result = std::move(*loaded);
    return Ok();
  });
  if (!st) return std::unexpected(st.error());
  return result;
}

Status JobService::RequestTaskLog(const std::string& task_id) {
  return impl_->store->Write([&](JobStoreTx& tx) -> Status {
    auto t = tx.GetTask(task_id);
    if (!t) return NotFound("task " + task_id + " not found");
    if (t->task.manager.empty())
      return Conflict("task " + task_id + " has not been handed to a Manager yet, so there is no log to upload");
    tx.AddLogRequest({t->task.job, t->task.id}, t->task.manager, impl_->clock.Now());
    return Ok();
  });
}

std::string JobService::TaskLogPath(const std::string& job_id, const std::string& task_id) const {
  return (std::filesystem::path(impl_->options.log_dir) / ("job-" + job_id) / ("task-" + task_id + ".txt.gz")).string();
}

void JobService::SetStatusListener(JobStatusListener* listener) { impl_->status_listener = listener; }

std::set<std::string> JobService::WorkerTaskTypes() const {
  std::lock_guard lock(impl_->mu);
  return impl_->worker_task_types;
}

Result<protocol::Depsgraph> JobService::FetchDepsgraph(const std::string& if_updated_since) {
  return FetchDepsgraphFor(impl_->options.manager_id, if_updated_since, 0, impl_->options.depsgraph_chunk_tasks);
}

Result<protocol::Depsgraph> JobService::FetchDepsgraphFor(const std::string& manager,
                                                          const std::string& if_updated_since, int claim_limit,
                                                          int max_tasks) {
  protocol::Depsgraph out;
  const auto since = if_updated_since.empty() ? std::nullopt : ParseRevision(if_updated_since);
  if (!if_updated_since.empty() && !since)
    spdlog::warn("depsgraph: unparsable token '{}', sending the full depsgraph", if_updated_since);
  if (since && claim_limit <= 0) {
    // Nothing changed since the token, and nothing to claim: answered by a
    // read. The standalone link asks every few seconds; a write there could
    // be the one waiting while another process holds the database's write
    // lock, and make the workers' writes fail meanwhile.
    bool unchanged = false;
    auto st = impl_->store->Read([&](JobStoreTx& tx) -> Status {
      const int64_t current = tx.CurrentRevision();
      unchanged = current <= *since;
      out.last_updated = std::to_string(current);
      return Ok();
    });
    if (!st) return std::unexpected(st.error());
    if (unchanged) {
      out.kind = protocol::Depsgraph::Kind::kNotModified;
      return out;
    }
  }
  auto st = impl_->store->Write([&](JobStoreTx& tx) -> Status {
    const int64_t current = tx.CurrentRevision();
    // The revisions this answer covers: all, or (chunked) whole revisions
    // up to the one holding the max_tasks-th task, and at least one.
    int64_t upper = current;
    if (max_tasks > 0) {
      if (auto cut = tx.NthRevision(manager, since, max_tasks)) {
        const auto first = tx.NthRevision(manager, since, 0);
        upper = first && *cut > *first ? *cut - 1 : *cut;
      }
    }
    std::vector<StoredTask> tasks;
    for (;;) {
      tasks = since ? tx.TasksChangedSince(manager, *since, upper) : tx.RunnableTasks(manager, upper);
      if (upper == current) break;
      // A Manager counts a parent it does not know as completed: a chunk
      // must not hold a task whose parent comes in a later one. Compilers
      // list parents first, so this only widens a chunk when a parent was
      // changed after its child.
      const int64_t needed = LatestParentRevision(tx, manager, tasks, upper);
      if (needed <= upper) break;
      upper = needed;
    }
    out.more = upper < current;
    if (claim_limit > 0) {
      // Unassigned tasks (duende-server) go to the Manager asking, a few at
      // a time so every site gets a share, and only once their parents have
      // completed: a Manager counts a parent it does not know as completed,
      // so a task whose parents run elsewhere must not be handed out yet.
      // What the Manager still holds unstarted counts against its share:
      // a site that cannot keep up must not hoard the job.
      const int budget = claim_limit - tx.CountHeldTasks(manager);
      int claimed = 0;
      for (auto& t : budget > 0 ? tx.UnassignedQueuedTasks() : std::vector<StoredTask>{}) {
        if (claimed >= budget) break;
        bool parents_done = true;
        for (const auto& p : t.task.parents) {
          auto parent = tx.GetTask(p);
          if (parent && parent->task.status != TaskStatus::kCompleted) {
            parents_done = false;
            break;
          }
        }
        if (!parents_done) continue;
        tx.AssignTaskManager(t.task.id, manager);
        t.task.manager = manager;
        tasks.push_back(std::move(t));
        ++claimed;
      }
    }
    out.last_updated = std::to_string(upper);
    if (tasks.empty()) {
      out.kind = since ? protocol::Depsgraph::Kind::kNotModified : protocol::Depsgraph::Kind::kNoJobs;
      return Ok();
    }
    out.kind = protocol::Depsgraph::Kind::kTasks;
    // Claiming is the Manager's own doing: no revision bump, or the task
    // would come back on the next incremental fetch. Claimed per job, in one
    // statement per task (a big job's download claims 100,000 at once).
    std::map<std::string, std::vector<std::string>> to_claim;
    out.tasks.reserve(tasks.size());
    for (auto& t : tasks) {
      if (t.task.status == TaskStatus::kQueued) {
        t.task.status = TaskStatus::kClaimedByManager;
        to_claim[t.task.job].push_back(t.task.id);
      }
      out.tasks.push_back(std::move(t.task));
    }
    for (const auto& [job, ids] : to_claim) tx.ClaimTasks(job, ids);
    return Ok();
  });
  if (!st) return std::unexpected(st.error());
  return out;
}

Result<protocol::BatchResponse> JobService::PushTaskUpdates(const std::vector<protocol::TaskUpdate>& updates) {
  return PushTaskUpdatesFor(impl_->options.manager_id, updates);
}

Result<protocol::BatchResponse> JobService::PushTaskUpdatesFor(const std::string& manager,
                                                               const std::vector<protocol::TaskUpdate>& updates) {
  protocol::BatchResponse resp;
  if (updates.empty()) {
    // A Manager asking only for its cancellations and log requests (its
    // standalone link does so after every job status change): a read.
    auto st = impl_->store->Read([&](JobStoreTx& tx) -> Status {
      resp.cancel_task_ids = tx.TaskIdsInStatus(manager, TaskStatus::kCancelRequested);
      resp.upload_task_file_queue = tx.LogRequests(manager);
      return Ok();
    });
    if (!st) return std::unexpected(st.error());
    return resp;
  }
  uint64_t applied = 0, duplicate = 0;
  std::vector<JobStatusChange> changes;
  auto st = impl_->store->Write([&](JobStoreTx& tx) -> Status {
    applied = duplicate = 0;
    const SystemTime now = impl_->clock.Now();
    tx.ForgetHandledUpdatesBefore(now - impl_->options.handled_update_retention);
    TxEffects fx(tx, changes);
    Impl::DeriveList derive;
    for (const auto& u : updates) {
      if (!u.id.empty() && tx.IsUpdateHandled(u.id)) {
        resp.handled_update_ids.push_back(u.id);
        ++duplicate;
        continue;
      }
      ++applied;
      if (impl_->ApplyUpdate(tx, manager, u, fx, derive)) ++resp.modified_count;
      if (!u.id.empty()) {
        tx.MarkUpdateHandled(u.id, now);
        resp.handled_update_ids.push_back(u.id);
      }
    }
    for (const auto& [job, became] : derive) impl_->DeriveJob(tx, job, became, fx);
    resp.cancel_task_ids = tx.TaskIdsInStatus(manager, TaskStatus::kCancelRequested);
    resp.upload_task_file_queue = tx.LogRequests(manager);
    return Ok();
  });
  if (!st) return std::unexpected(st.error());
  impl_->updates_applied += applied;
  impl_->updates_duplicate += duplicate;
  impl_->Announce(changes);
  return resp;
}

Result<JobService::OwnUpdateEffects> JobService::ApplyOwnUpdateIn(store::SqlConn& conn,
                                                                  const protocol::TaskUpdate& update, bool deferred) {
  std::vector<JobStatusChange> changes;
  OwnUpdateEffects out;
  auto st = impl_->store->WriteIn(conn, [&](JobStoreTx& tx) -> Status {
    TxEffects fx(tx, changes);
    Impl::DeriveList derive;
    impl_->ApplyUpdate(tx, impl_->options.manager_id, update, fx, derive, deferred ? &impl_->pending : nullptr,
                       /*decisive_only=*/!impl_->options.reported_fields_table.empty());
    for (const auto& [job, became] : derive) impl_->DeriveJob(tx, job, became, fx);
    out.job_status_changed = fx.job_status_changed();
    return Ok();
  });
  if (!st) return std::unexpected(st.error());
  out.after_commit = [impl = impl_.get(), changes = std::move(changes)] {
    ++impl->updates_applied;
    impl->Announce(changes);
  };
  return out;
}

Result<JobService::OwnUpdateEffects> JobService::FinishOwnUpdates(store::SqlConn& conn) {
  OwnUpdateEffects out;
  Impl::Pending& p = impl_->pending;
  if (p.counts.empty() && p.derive.empty()) return out;
  std::vector<JobStatusChange> changes;
  auto st = impl_->store->WriteIn(conn, [&](JobStoreTx& tx) -> Status {
    TxEffects fx(tx, changes);
    Impl::FlushCounts(tx, p);
    for (const auto& [job, became] : p.derive) impl_->DeriveJob(tx, job, became, fx);
    out.job_status_changed = fx.job_status_changed();
    return Ok();
  });
  // Done or failed, nothing stays pending: a failure fails the batch, whose
  // writes are then run again.
  p = Impl::Pending{};
  if (!st) return std::unexpected(st.error());
  if (!changes.empty())
    out.after_commit = [impl = impl_.get(), changes = std::move(changes)] { impl->Announce(changes); };
  return out;
}

void JobService::DropPendingOwnUpdates() { impl_->pending = Impl::Pending{}; }

Result<int64_t> JobService::HandledUpdateCount() {
  int64_t n = 0;
  auto st = impl_->store->Read([&](JobStoreTx& tx) -> Status {
    n = tx.CountHandledUpdates();
    return Ok();
  });
  if (!st) return std::unexpected(st.error());
  return n;
}

uint64_t JobService::updates_applied() const { return impl_->updates_applied.load(); }
uint64_t JobService::updates_duplicate() const { return impl_->updates_duplicate.load(); }

Status JobService::AttachTaskLog(const std::string& job_id, const std::string& task_id,
                                 const std::string& gzipped_log) {
  return AttachTaskLogFor(impl_->options.manager_id, job_id, task_id, gzipped_log);
}

Status JobService::AttachTaskLogFor(const std::string& manager, const std::string& job_id, const std::string& task_id,
                                    const std::string& gzipped_log) {
  // IDs become path components: only ObjectIds are acceptable.
  if (!IsObjectId(job_id) || !IsObjectId(task_id))
    return NotFound("task " + task_id + " of job " + job_id + " not found");
  auto st = impl_->store->Read([&](JobStoreTx& tx) -> Status {
    auto t = tx.GetTask(task_id);
    if (!t || t->task.job != job_id || t->task.manager != manager)
      return NotFound("task " + task_id + " of job " + job_id + " not found");
    return Ok();
  });
  if (!st) return st;
  if (gzipped_log.size() < 2 || static_cast<unsigned char>(gzipped_log[0]) != 0x1f ||
      static_cast<unsigned char>(gzipped_log[1]) != 0x8b)
    return InvalidArgument("task log must be gzip-compressed");
  if (impl_->options.log_dir.empty()) return Unavailable("task log storage is not configured (log_dir)");

  namespace fs = std::filesystem;
  const fs::path path = TaskLogPath(job_id, task_id);
  const fs::path tmp = path.string() + ".tmp";
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  if (ec) return Unavailable("cannot create " + path.parent_path().string() + ": " + ec.message());
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    f.write(gzipped_log.data(), static_cast<std::streamsize>(gzipped_log.size()));
    f.flush();
    if (!f) return Unavailable("cannot write " + tmp.string());
  }
  fs::rename(tmp, path, ec);  // atomic: readers see the old or the new log
  if (ec) return Unavailable("cannot store " + path.string() + ": " + ec.message());

  return impl_->store->Write([&](JobStoreTx& tx) -> Status {
    tx.RemoveLogRequest(task_id);
    return Ok();
  });
}

Status JobService::Notify(const protocol::UpstreamNotification& notification) {
  std::set<std::string> types(notification.worker_task_types.begin(), notification.worker_task_types.end());
  auto st = impl_->store->Write([&](JobStoreTx& tx) -> Status {
    tx.SetMeta(kWorkerTaskTypesKey, json(types).dump());
    tx.SetMeta(kManagerUrlKey, notification.manager_url);
    tx.SetMeta(kNrOfWorkersKey, std::to_string(notification.nr_of_workers));
    return Ok();
  });
  if (!st) return st;
  std::lock_guard lock(impl_->mu);
  impl_->worker_task_types = std::move(types);
  return Ok();
}

}  // namespace duende::jobs
