// Job status policy (spec §4.2): pure functions of their inputs, no I/O.
//
// JobService feeds these with the current state read inside a write
// transaction and persists what they decide.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "protocol/status.h"

namespace duende::jobs {

// Number of tasks of one job per status.
struct TaskStatusCounts {
  std::map<protocol::TaskStatus, int> by_status;
  int Total() const;
  int Of(protocol::TaskStatus s) const;
};

struct JobStatusDecision {
  protocol::JobStatus status;
  std::string reason;  // empty = keep/clear nothing special
};

// (a) §4.2.2: the job's status after one of its tasks became `task_became`.
// `counts` are the job's task counts *after* the change. Returns nullopt when
// the job status does not change.
//
// Rules (v2, with the fixes noted):
//   queued             job completed -> queued
//   claimed-by-manager job active and no task active -> queued
//   active/soft-failed job queued -> active (v2 also re-activated paused,
//                      completed, canceled and failed jobs; a paused job stays
//                      paused here so pausing keeps meaning "do not start more")
//   completed          every task completed -> completed
//   failed             failed tasks >= fail_percentage % of all tasks -> failed
//                      with reason "N of its M tasks (P%) failed"; soft-failed
//                      tasks never count
//   completed/failed/canceled: a queued/active job whose every task has ended,
//                      some failed or canceled -> failed ("nothing is left to
//                      run"); v2 left such a job active forever
//   (any)              job queued -> active for completed/failed that did not
//                      finish the job
//   canceled/failed/completed while the job is cancel-requested/fail-requested:
//                      once no task is cancel-requested any more -> canceled /
//                      failed (v2 only checked this for `canceled`, so a job
//                      whose last cancel-requested task reported completed or
//                      failed stayed cancel-requested forever).
// A `failed` decision must be followed by the explicit cascade for `failed`
// (PlanJobStatusChange) so the remaining tasks get canceled.
std::optional<JobStatusDecision> DeriveJobStatus(protocol::JobStatus job, protocol::TaskStatus task_became,
                                                 const TaskStatusCounts& counts, int fail_percentage);
// Whether DeriveJobStatus looks at the counts for a task that became
// `task_became`. When it does not, the caller may pass empty counts and
// skip counting the job's tasks (an assignment, `active`, is the commonest
// change of a busy farm).
bool DeriveNeedsCounts(protocol::TaskStatus task_became);

struct TaskRef {
  std::string id;
  protocol::TaskStatus status;
};

struct TaskStatusChange {
  std::string id;
  protocol::TaskStatus from;
  protocol::TaskStatus to;
  bool operator==(const TaskStatusChange&) const = default;
};

struct JobStatusPlan {
  protocol::JobStatus final_status;  // the job status to store
  std::vector<TaskStatusChange> task_changes;
  // Requeue clears `failed_by_workers` of the requeued tasks.
  bool clear_failed_by_workers = false;
  // True when nothing changes at all (e.g. cancelling a canceled job).
  bool no_op = false;
};

// (b) §4.2.1: the cascade of an explicit (user/API or policy) job status
// change from `current` to `requested`, given the job's tasks.
//
//   cancel-requested, fail-requested, failed:
//       queued/paused/under-construction tasks -> canceled;
//       active/claimed-by-manager/soft-failed -> cancel-requested.
//       For *-requested, when no task is cancel-requested afterwards the job
//       goes straight to canceled/failed.
//       Allowed from queued, active, paused, and (for cancel) failed /
//       fail-requested. Cancelling a canceled or cancel-requested job and
//       failing a failed or fail-requested job are no-op successes.
//   requeued: from completed all tasks except cancel-requested -> queued;
//       otherwise all tasks except completed/cancel-requested/active ->
//       queued (v2 also requeued active tasks, yanking them from their
//       workers). failed_by_workers cleared. Job -> queued (active when some
//       task is still active). Conflict while cancel-/fail-requested.
//   paused: (better than v2, which changed no task) queued,
//       claimed-by-manager and soft-failed tasks -> paused so the Manager
//       stops scheduling them; active ones finish. From queued/active; no-op
//       from paused.
//   queued (resume): paused tasks -> queued; job -> completed when every task
//       is completed, else queued (active when some task is active). From
//       paused; no-op from queued/active; Conflict otherwise ("use requeued").
//
// Errors: InvalidArgument for statuses that cannot be requested explicitly
// (completed, active, canceled, under-construction, construction-failed);
// Conflict for a valid request the job's current status does not allow.
Result<JobStatusPlan> PlanJobStatusChange(protocol::JobStatus current, protocol::JobStatus requested,
                                          const std::vector<TaskRef>& tasks);

}  // namespace duende::jobs
