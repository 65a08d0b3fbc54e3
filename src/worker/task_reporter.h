// TaskReporter: turns a running task's log lines and progress into task
// updates queued in the outbox (spec §8.1, §10.5).
//
// - Log lines get an ISO-8601 UTC timestamp prefix ("<ts>: <text>") and are
//   buffered. The buffer is pushed (a log-only update) when it holds more than
//   `push_log_max_entries` lines, or when `push_log_max_interval` has passed
//   since the last push (checked on each Log() and on Tick()), and it rides
//   along with every status/activity push.
// - Activity fields merge into one activity document. A status change pushes
//   at once; other changes push at most every `push_act_max_interval`, with
//   a delayed push on Tick() for the last change.
// - After SetSilent() only logs are pushed (the Manager took the task away,
//   or the worker is shutting down: its status must not be reported).
//
// Thread-safe: commands log from the subprocess reader while the monitor
// thread calls Tick().
#pragma once

#include <chrono>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "protocol/status.h"
#include "worker/outbox.h"

namespace duende::worker {

struct ReporterOptions {
  size_t push_log_max_entries = 1000;
  // Buffered log text is also pushed once it holds this many bytes, so one
  // update stays far below the Manager's request body limit (10 MiB by
  // default) even when a command prints long lines: an update the Manager
  // refuses as too large could never be delivered.
  size_t push_log_max_bytes = 1024 * 1024;
  // Longer log lines are cut to this many bytes (and say so).
  size_t log_line_max_bytes = 64 * 1024;
  std::chrono::milliseconds push_log_max_interval = std::chrono::seconds(30);
  std::chrono::milliseconds push_act_max_interval = std::chrono::seconds(15);
};

// A partial activity update; unset fields keep their current value.
struct ActivityChange {
  std::optional<std::string> activity;
  std::optional<int> current_command_idx;
  std::optional<int> command_progress_percentage;
  std::optional<int> task_progress_percentage;
  std::optional<nlohmann::json> timing;  // becomes metrics.timing
};

class TaskReporter {
 public:
  TaskReporter(std::string task_id, UpdateSink& sink, Clock& clock, ReporterOptions options = {});

  void Log(std::string_view text);
  void Update(const ActivityChange& change);
  // Pushes immediately with the given status (unless silent).
  void SetStatus(protocol::TaskStatus status, const ActivityChange& change = {});
  void SetSilent();
  bool silent() const;
  // Pushes what is due: a delayed activity push, a log push by interval.
  void Tick();
  // When Tick() has something to do next (SteadyTime::max() if nothing).
  SteadyTime NextDeadline() const;
  // Pushes everything pending now (activity unless silent, logs).
  void Flush();

  const std::string& task_id() const { return task_id_; }

 private:
  void PushLocked(bool with_activity, std::optional<protocol::TaskStatus> status);
  void MergeLocked(const ActivityChange& change);

  const std::string task_id_;
  const std::string path_;
  UpdateSink& sink_;
  Clock& clock_;
  const ReporterOptions options_;

  mutable std::mutex mu_;
  bool silent_ = false;
  nlohmann::json activity_ = nlohmann::json::object();
  bool activity_dirty_ = false;
  std::vector<std::string> lines_;
  size_t lines_bytes_ = 0;
  SteadyTime last_activity_push_;
  SteadyTime last_log_push_;
};

// Replaces invalid UTF-8 sequences with U+FFFD so log text is valid JSON.
std::string SanitizeUtf8(std::string_view text);

}  // namespace duende::worker
