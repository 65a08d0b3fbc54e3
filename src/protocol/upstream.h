// The seam between the farm side (Manager) and the job side ("server
// logic"), mirroring the Flamenco v2 Manager -> Server protocol (spec §2.6).
//
// In standalone mode the job side implements this in-process
// (jobs::JobService); in linked mode an HTTP client to duende-server does.
// The Manager's outgoing task-update queue, batching, cancellation handling
// and log requests are the same code in both modes.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "protocol/types.h"

namespace duende::protocol {

struct Depsgraph {
  // kTasks: `tasks` holds new or changed tasks (200); kNoJobs: nothing
  // runnable (204); kNotModified: nothing changed since the token (304).
  enum class Kind { kTasks, kNoJobs, kNotModified };
  Kind kind = Kind::kNoJobs;
  std::vector<Task> tasks;
  // Opaque token to pass back as `if_updated_since` (X-Flamenco-Last-Updated).
  std::string last_updated;
  // The answer is one chunk of a bigger change (in-process job side only):
  // fetch again at once with `last_updated` for the next one.
  bool more = false;
};

struct UploadRequest {
  std::string job;
  std::string task;
  bool operator==(const UploadRequest&) const = default;
};

struct BatchResponse {
  int modified_count = 0;
  std::vector<std::string> handled_update_ids;
  std::vector<std::string> cancel_task_ids;
  std::vector<UploadRequest> upload_task_file_queue;
};

struct UpstreamNotification {
  std::string manager_url;
  nlohmann::json variables = nlohmann::json::object();
  int nr_of_workers = 0;
  std::vector<std::string> worker_task_types;
};

// Outcome of re-validating one cached task by etag (spec §2.6 RefetchTask).
struct TaskCheck {
  // kUnchanged: 304 (also network errors and 5xx: assume unchanged);
  // kChanged: 200 with the job side's current `task`; kGone: 204/4xx.
  enum class Kind { kUnchanged, kChanged, kGone };
  Kind kind = Kind::kUnchanged;
  Task task;
};

nlohmann::json ToJson(const BatchResponse& r);
Result<BatchResponse> BatchResponseFromJson(const nlohmann::json& j);
// {_meta:{version:2}, manager_url, variables, nr_of_workers,
// worker_task_types} (spec §3.5). FromJson: InvalidArgument when
// nr_of_workers or worker_task_types is missing or mistyped.
nlohmann::json ToJson(const UpstreamNotification& n);
Result<UpstreamNotification> UpstreamNotificationFromJson(const nlohmann::json& j);

class Upstream {
 public:
  virtual ~Upstream() = default;
  // Runnable tasks, incremental after `if_updated_since` (empty = all).
  // Tasks handed out become `claimed-by-manager` on the job side.
  virtual Result<Depsgraph> FetchDepsgraph(const std::string& if_updated_since) = 0;
  // Applies a batch of task updates (spec §4.1.2) and answers which were
  // handled, which tasks to cancel and which logs to upload.
  virtual Result<BatchResponse> PushTaskUpdates(const std::vector<TaskUpdate>& updates) = 0;
  // Stores a gzipped task log.
  virtual Status AttachTaskLog(const std::string& job_id, const std::string& task_id,
                               const std::string& gzipped_log) = 0;
  // Startup / worker task types changed.
  virtual Status Notify(const UpstreamNotification& notification) = 0;
  // Re-validates a cached task before it is assigned (linked mode). The
  // in-process job side never needs it: its depsgraph is always current.
  virtual TaskCheck RefetchTask(const std::string& /*task_id*/, const std::string& /*etag*/) { return TaskCheck{}; }
};

}  // namespace duende::protocol
