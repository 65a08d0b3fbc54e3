// TaskRunner: executes one task (spec §10.4 step 5, §10.6, §10.8).
//
//  1. pushes `task_status: active`;
//  2. validates every command's settings (unknown command or bad settings →
//     "Error in settings: ..." in the log, task `failed`);
//  3. runs the commands in order with "<cmd>: Starting"/"<cmd>: Finished"
//     log lines, activity, current_command_idx, command and task progress,
//     and per-command timing in metrics.timing;
//  4. success → `completed` ("Task completed"); a command error → `failed`
//     with the error as activity.
//
// Meanwhile a monitor thread asks GET /may-i-run/{task} every
// `may_i_run_interval` (unreachable Manager → ignored). A "no" makes the
// runner silent (only logs from then on), aborts the running command, logs
// "Worker <nickname> stopped running this task, no longer allowed to run by
// Manager", flushes the outbox once and POSTs /tasks/{id}/return.
//
// When `shutdown` is requested the command is aborted and no status is
// reported (the Manager re-queues the task at sign-off).
#pragma once

#include <chrono>
#include <stop_token>
#include <string>

#include "common/clock.h"
#include "protocol/types.h"
#include "worker/manager_client.h"
#include "worker/outbox.h"
#include "worker/process.h"
#include "worker/task_reporter.h"

namespace duende::worker {

struct RunnerOptions {
  // How often a running task asks whether it may keep running (spec: 5 s).
  std::chrono::milliseconds may_i_run_interval = std::chrono::seconds(5);
  // At most one POST /output-produced per this interval (spec: 30 s); the
  // latest path produced in between is sent when the window opens.
  std::chrono::milliseconds output_produced_interval = std::chrono::seconds(30);
  ReporterOptions reporter;
  // Used in the "Worker <name> stopped running this task" log line.
  std::string worker_name = "worker";
};

enum class TaskOutcome {
  kCompleted,
  kFailed,
  kStoppedByManager,  // may-i-run said no; the task was returned
  kShutdown,          // the worker is shutting down; nothing reported
};

struct TaskResult {
  TaskOutcome outcome = TaskOutcome::kFailed;
  std::string error;             // for kFailed
  std::string status_requested;  // from a may-i-run denial, to apply next
};

std::string_view ToString(TaskOutcome o);

class TaskRunner {
 public:
  // All references must outlive the runner. Not thread-safe: one task at a time.
  TaskRunner(ManagerClient& manager, Outbox& outbox, ProcessLauncher& launcher, Clock& clock,
             RunnerOptions options = {});

  TaskResult Run(const protocol::Task& task, std::stop_token shutdown);

 private:
  ManagerClient& manager_;
  Outbox& outbox_;
  ProcessLauncher& launcher_;
  Clock& clock_;
  RunnerOptions options_;
};

}  // namespace duende::worker
