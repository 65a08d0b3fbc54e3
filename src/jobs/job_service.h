// The job side ("server logic"): owns jobs and their authoritative tasks,
// compiles submissions into tasks, derives job status from task updates, and
// serves the farm side through protocol::Upstream.
//
// In standalone mode the Manager calls it in-process; duende-server (later)
// serves the same object over HTTP. Thread-safe.
#pragma once

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
class Database;
}

namespace duende::jobs {

struct JobServiceOptions {
  // A job fails once failed tasks reach this percentage of its tasks (§4.2.2).
  int task_fail_job_percentage = 10;
  // The manager ID tasks are assigned to in standalone mode.
  std::string manager_id = "000000000000000000000001";
};

struct JobFilter {
  std::optional<protocol::JobStatus> status;
  int limit = 1000;
};

class JobService : public protocol::Upstream {
 public:
  // `db` must outlive the service; the service applies its own migrations
  // (component "jobs") in Open().
  static Result<std::unique_ptr<JobService>> Open(store::Database& db, Clock& clock, JobServiceOptions options);

  // Validates and compiles a submission; stores job + tasks atomically.
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

  // The task types the farm's workers support (from Notify); used by
  // compilers, e.g. create-video only when `video-encoding` is available.
  std::set<std::string> WorkerTaskTypes() const;

  // protocol::Upstream
  Result<protocol::Depsgraph> FetchDepsgraph(const std::string& if_updated_since) override;
  Result<protocol::BatchResponse> PushTaskUpdates(const std::vector<protocol::TaskUpdate>& updates) override;
  Status AttachTaskLog(const std::string& job_id, const std::string& task_id,
                       const std::string& gzipped_log) override;
  Status Notify(const protocol::UpstreamNotification& notification) override;

  ~JobService() override;

 private:
  struct Impl;
  explicit JobService(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace duende::jobs
