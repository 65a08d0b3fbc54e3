// Jobs as the job side ("server logic") sees them (spec §3.7, §4.2).
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "protocol/status.h"

namespace duende::jobs {

// Counts of a job's tasks per status name, plus "count" (total).
using TasksStatus = std::map<std::string, int>;

struct Job {
  std::string id;
  std::string name;
  std::string job_type;
  int priority = 50;  // 1..100
  protocol::JobStatus status = protocol::JobStatus::kQueued;
  std::string status_reason;
  nlohmann::json settings = nlohmann::json::object();
  std::string submitter;
  std::string manager;
  bool start_paused = false;
  SystemTime created{};
  SystemTime updated{};
  TasksStatus tasks_status;  // filled by reads
};

// v2 field names: `_id`, `name`, `job_type`, `priority`, `status`,
// `status_reason`, `settings`, `user` (submitter), `manager`,
// `start_paused`, `_created`, `_updated`, `tasks_status`.
nlohmann::json ToJson(const Job& job);

struct JobFilter {
  std::optional<protocol::JobStatus> status;
  int limit = 1000;
};

struct JobSubmission {
  std::string name;
  std::string job_type;
  int priority = 50;
  nlohmann::json settings = nlohmann::json::object();
  bool start_paused = false;
  std::string submitter;
  // The platform the job was submitted from ("windows", "darwin", "linux"):
  // its paths are translated with that platform's two-way variables. Empty:
  // the settings are taken as they are.
  std::string submitter_platform;
};

// Validates the JSON body of POST /api/jobs: `name` (non-empty string),
// `job_type` (string), `priority` (int 1..100, default 50), `settings`
// (object), `start_paused` (bool), `submitter` (string, optional; v2's
// name `user` is accepted as an alias), `submitter_platform` (string,
// optional). Unknown top-level fields are
// rejected with InvalidArgument naming them.
Result<JobSubmission> JobSubmissionFromJson(const nlohmann::json& j);

}  // namespace duende::jobs
