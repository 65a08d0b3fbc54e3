// Flamenco v2 wire types (spec §3) and their JSON mapping.
//
// Field names on the wire are v2's verbatim (`_id`, `task_status`,
// `failed_by_workers`, ...). Local-only fields (worker_id, last_worker_ping,
// last_updated) are never serialised to workers.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "protocol/status.h"

namespace duende::protocol {

struct Command {
  std::string name;
  nlohmann::json settings = nlohmann::json::object();
};

struct FailedByWorker {
  std::string id;
  std::string identifier;
  bool operator==(const FailedByWorker&) const = default;
};

struct Task {
  std::string id;
  std::string etag;
  std::string job;
  std::string manager;
  std::string project;
  std::string user;
  std::string name;
  TaskStatus status = TaskStatus::kQueued;
  int priority = 50;
  int job_priority = 50;
  std::string job_type;
  std::string task_type;
  std::vector<Command> commands;
  std::string log;  // log tail (last lines), not the full log
  std::string activity;
  std::vector<std::string> parents;
  std::string worker;  // human identifier of the (last) worker, "-" when unassigned
  std::vector<FailedByWorker> failed_by_workers;
  nlohmann::json metrics = nlohmann::json::object();
  int task_progress_percentage = 0;
  int current_command_index = 0;
  int command_progress_percentage = 0;

  // Local only (Manager): never on the wire to workers.
  std::string worker_id;
  std::optional<SystemTime> last_worker_ping;
  std::optional<SystemTime> last_updated;
};

// What a worker receives from POST /task, and the depsgraph's task form.
nlohmann::json ToJson(const Task& t);
// The same, moving the task's strings and settings into the document.
nlohmann::json ToJson(Task&& t);
Result<Task> TaskFromJson(const nlohmann::json& j);

// A task update. The worker form (POST /tasks/{id}/update) uses a subset;
// the Manager form (upstream queue, task-update-batch) adds the rest.
struct TaskUpdate {
  std::string id;  // idempotency key, new ObjectId per update (Manager form)
  std::string task_id;
  std::optional<TaskStatus> task_status;
  std::optional<SystemTime> received_on_manager;
  std::optional<std::string> activity;
  std::optional<int> task_progress_percentage;
  std::optional<int> current_command_index;
  std::optional<int> command_progress_percentage;
  std::string log;       // worker form: newline-joined timestamped lines
  std::string log_tail;  // Manager form: last 10 lines of `log`
  std::optional<std::string> worker;
  std::optional<std::vector<FailedByWorker>> failed_by_workers;
  std::optional<nlohmann::json> metrics;
  // Duende extension (Manager form only): why no worker can run the task
  // (starvation detection); "" clears it. Absent = unchanged.
  std::optional<std::string> blocked_reason;
};

// Worker form: only the fields a worker may send. Unknown task status
// strings are rejected (InvalidArgument). Accepts both `current_command_idx`
// and `current_command_index`.
Result<TaskUpdate> WorkerTaskUpdateFromJson(const nlohmann::json& j);
nlohmann::json ToWorkerJson(const TaskUpdate& u);
// Manager form (queue and batch push).
nlohmann::json ToJson(const TaskUpdate& u);
Result<TaskUpdate> TaskUpdateFromJson(const nlohmann::json& j);

// Returns the last `n` lines of `text`, whitespace-trimmed, '\n'-terminated.
std::string LogTail(std::string_view text, size_t n = 10);

}  // namespace duende::protocol
