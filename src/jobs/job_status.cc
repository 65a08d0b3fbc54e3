#include "jobs/job_status.h"

#include <algorithm>

namespace duende::jobs {

using protocol::JobStatus;
using protocol::TaskStatus;

int TaskStatusCounts::Total() const {
  int total = 0;
  for (const auto& [_, n] : by_status) total += n;
  return total;
}

int TaskStatusCounts::Of(TaskStatus s) const {
  auto it = by_status.find(s);
  return it == by_status.end() ? 0 : it->second;
}

namespace {

bool IsRequested(JobStatus s) { return s == JobStatus::kCancelRequested || s == JobStatus::kFailRequested; }

// A cancel-/fail-requested job finishes once no task waits for its worker to
// stop any more.
std::optional<JobStatusDecision> ResolveRequested(JobStatus job, const TaskStatusCounts& counts) {
  if (counts.Of(TaskStatus::kCancelRequested) > 0) return std::nullopt;
  return JobStatusDecision{job == JobStatus::kCancelRequested ? JobStatus::kCanceled : JobStatus::kFailed, ""};
}

std::optional<JobStatusDecision> QueuedToActive(JobStatus job) {
  if (job == JobStatus::kQueued) return JobStatusDecision{JobStatus::kActive, ""};
  return std::nullopt;
}

// Beyond v2: a running job whose every task has ended, some of them failed
// or canceled, has nothing left to run. v2 left it `active` forever; it
// fails, saying why, and a requeue brings it back.
std::optional<JobStatusDecision> NothingLeftToRun(JobStatus job, const TaskStatusCounts& counts) {
  if (job != JobStatus::kQueued && job != JobStatus::kActive) return std::nullopt;
  const int total = counts.Total();
  const int failed = counts.Of(TaskStatus::kFailed);
  const int canceled = counts.Of(TaskStatus::kCanceled);
  if (total == 0 || failed + canceled == 0 || counts.Of(TaskStatus::kCompleted) + failed + canceled < total)
    return std::nullopt;
  return JobStatusDecision{JobStatus::kFailed, std::to_string(failed + canceled) + " of its " + std::to_string(total) +
                                                   " tasks failed or were canceled and nothing is left to run"};
}

}  // namespace

std::optional<JobStatusDecision> DeriveJobStatus(JobStatus job, TaskStatus task_became, const TaskStatusCounts& counts,
                                                 int fail_percentage) {
  const int total = counts.Total();
  switch (task_became) {
    case TaskStatus::kQueued:
      if (job == JobStatus::kCompleted) return JobStatusDecision{JobStatus::kQueued, ""};
      return std::nullopt;
    case TaskStatus::kClaimedByManager:
      if (job == JobStatus::kActive && counts.Of(TaskStatus::kActive) == 0)
        return JobStatusDecision{JobStatus::kQueued, ""};
      return std::nullopt;
    case TaskStatus::kActive:
    case TaskStatus::kSoftFailed:
      return QueuedToActive(job);
    case TaskStatus::kCompleted:
      if (total > 0 && counts.Of(TaskStatus::kCompleted) == total) {
        if (job == JobStatus::kCompleted) return std::nullopt;
        return JobStatusDecision{JobStatus::kCompleted, ""};
      }
      if (IsRequested(job)) return ResolveRequested(job, counts);
      if (auto d = NothingLeftToRun(job, counts)) return d;
      return QueuedToActive(job);
    case TaskStatus::kFailed: {
      if (IsRequested(job)) return ResolveRequested(job, counts);
      // Only a job that is still meant to run can be failed by its tasks; a
      // canceled job whose last task reports `failed` stays canceled.
      if (job != JobStatus::kQueued && job != JobStatus::kActive && job != JobStatus::kPaused) return std::nullopt;
      const int failed = counts.Of(TaskStatus::kFailed);
      if (total > 0 && static_cast<long>(failed) * 100 >= static_cast<long>(fail_percentage) * total) {
        const int pct = static_cast<int>(static_cast<long>(failed) * 100 / total);
        return JobStatusDecision{JobStatus::kFailed, std::to_string(failed) + " of its " + std::to_string(total) +
                                                         " tasks (" + std::to_string(pct) + "%) failed"};
      }
      if (auto d = NothingLeftToRun(job, counts)) return d;
      return QueuedToActive(job);
    }
    case TaskStatus::kCanceled:
      if (IsRequested(job)) return ResolveRequested(job, counts);
      return NothingLeftToRun(job, counts);
    case TaskStatus::kCancelRequested:
    case TaskStatus::kPaused:
    case TaskStatus::kUnderConstruction:
      return std::nullopt;
  }
  return std::nullopt;
}

bool DeriveNeedsCounts(TaskStatus task_became) {
  switch (task_became) {
    case TaskStatus::kQueued:
    case TaskStatus::kActive:
    case TaskStatus::kSoftFailed:
    case TaskStatus::kCancelRequested:
    case TaskStatus::kPaused:
    case TaskStatus::kUnderConstruction:
      return false;
    case TaskStatus::kClaimedByManager:
    case TaskStatus::kCompleted:
    case TaskStatus::kFailed:
    case TaskStatus::kCanceled:
      return true;
  }
  return true;
}

namespace {

std::unexpected<Error> NotAllowed(JobStatus current, JobStatus requested, std::string_view hint = "") {
  std::string msg = "cannot change job status from '" + std::string(ToString(current)) + "' to '" +
                    std::string(ToString(requested)) + "'";
  if (!hint.empty()) msg += "; " + std::string(hint);
  return Conflict(std::move(msg));
}

void Change(JobStatusPlan& plan, const TaskRef& t, TaskStatus to) {
  if (t.status != to) plan.task_changes.push_back({t.id, t.status, to});
}

bool AnyTaskEndsIn(const std::vector<TaskRef>& tasks, const JobStatusPlan& plan, TaskStatus status) {
  for (const auto& t : tasks) {
    TaskStatus s = t.status;
    for (const auto& c : plan.task_changes)
      if (c.id == t.id) s = c.to;
    if (s == status) return true;
  }
  return false;
}

bool AllTasksEndIn(const std::vector<TaskRef>& tasks, const JobStatusPlan& plan, TaskStatus status) {
  for (const auto& t : tasks) {
    TaskStatus s = t.status;
    for (const auto& c : plan.task_changes)
      if (c.id == t.id) s = c.to;
    if (s != status) return false;
  }
  return true;
}

JobStatusPlan NoOp(JobStatus current) {
  JobStatusPlan plan{current, {}, false, true};
  return plan;
}

Result<JobStatusPlan> PlanCancelOrFail(JobStatus current, JobStatus requested, const std::vector<TaskRef>& tasks) {
  const bool cancel = requested == JobStatus::kCancelRequested;
  if (cancel && (current == JobStatus::kCanceled || current == JobStatus::kCancelRequested)) return NoOp(current);
  if (!cancel && (current == JobStatus::kFailed || current == JobStatus::kFailRequested)) {
    // fail-requested -> failed is how the policy finishes a fail request.
    if (!(requested == JobStatus::kFailed && current == JobStatus::kFailRequested)) return NoOp(current);
  }
  bool allowed = current == JobStatus::kQueued || current == JobStatus::kActive || current == JobStatus::kPaused;
  if (cancel && (current == JobStatus::kFailed || current == JobStatus::kFailRequested)) allowed = true;
  if (requested == JobStatus::kFailed && current == JobStatus::kFailRequested) allowed = true;
  if (!allowed) return NotAllowed(current, requested);

  JobStatusPlan plan{requested, {}, false, false};
  for (const auto& t : tasks) {
    switch (t.status) {
      case TaskStatus::kQueued:
      case TaskStatus::kPaused:
      case TaskStatus::kUnderConstruction:
        Change(plan, t, TaskStatus::kCanceled);
        break;
      case TaskStatus::kActive:
      case TaskStatus::kClaimedByManager:
      case TaskStatus::kSoftFailed:
        Change(plan, t, TaskStatus::kCancelRequested);
        break;
      default:
        break;
    }
  }
  if (requested != JobStatus::kFailed && !AnyTaskEndsIn(tasks, plan, TaskStatus::kCancelRequested))
    plan.final_status = cancel ? JobStatus::kCanceled : JobStatus::kFailed;
  return plan;
}

JobStatus QueuedOrActive(const std::vector<TaskRef>& tasks, const JobStatusPlan& plan) {
  return AnyTaskEndsIn(tasks, plan, TaskStatus::kActive) ? JobStatus::kActive : JobStatus::kQueued;
}

}  // namespace

Result<JobStatusPlan> PlanJobStatusChange(JobStatus current, JobStatus requested, const std::vector<TaskRef>& tasks) {
  switch (requested) {
    case JobStatus::kCancelRequested:
    case JobStatus::kFailRequested:
    case JobStatus::kFailed:
      return PlanCancelOrFail(current, requested, tasks);

    case JobStatus::kRequeued: {
      if (current == JobStatus::kCancelRequested || current == JobStatus::kFailRequested)
        return NotAllowed(current, requested, "wait until its tasks have stopped");
      if (current == JobStatus::kUnderConstruction || current == JobStatus::kConstructionFailed)
        return NotAllowed(current, requested);
      JobStatusPlan plan{JobStatus::kQueued, {}, true, false};
      for (const auto& t : tasks) {
        if (t.status == TaskStatus::kCancelRequested) continue;
        if (current != JobStatus::kCompleted && (t.status == TaskStatus::kCompleted || t.status == TaskStatus::kActive))
          continue;
        // A claimed task is already runnable on the Manager; leave it be.
        if (t.status == TaskStatus::kClaimedByManager) continue;
        Change(plan, t, TaskStatus::kQueued);
      }
      plan.final_status = QueuedOrActive(tasks, plan);
      return plan;
    }

    case JobStatus::kPaused: {
      if (current == JobStatus::kPaused) return NoOp(current);
      if (current != JobStatus::kQueued && current != JobStatus::kActive) return NotAllowed(current, requested);
      JobStatusPlan plan{JobStatus::kPaused, {}, false, false};
      for (const auto& t : tasks) {
        if (t.status == TaskStatus::kQueued || t.status == TaskStatus::kClaimedByManager ||
            t.status == TaskStatus::kSoftFailed)
          Change(plan, t, TaskStatus::kPaused);
      }
      return plan;
    }

    case JobStatus::kQueued: {
      if (current == JobStatus::kQueued || current == JobStatus::kActive) return NoOp(current);
      if (current != JobStatus::kPaused) return NotAllowed(current, requested, "use 'requeued' to run it again");
      JobStatusPlan plan{JobStatus::kQueued, {}, false, false};
      for (const auto& t : tasks)
        if (t.status == TaskStatus::kPaused) Change(plan, t, TaskStatus::kQueued);
      plan.final_status =
          AllTasksEndIn(tasks, plan, TaskStatus::kCompleted) ? JobStatus::kCompleted : QueuedOrActive(tasks, plan);
      return plan;
    }

    case JobStatus::kUnderConstruction:
    case JobStatus::kConstructionFailed:
    case JobStatus::kActive:
    case JobStatus::kCompleted:
    case JobStatus::kCanceled:
      break;
  }
  return InvalidArgument("job status '" + std::string(ToString(requested)) +
                         "' cannot be requested; use one of cancel-requested, fail-requested, requeued, paused, "
                         "queued");
}

}  // namespace duende::jobs
