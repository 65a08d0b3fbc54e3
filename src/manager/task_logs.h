// Task log files on the Manager (spec §8.2):
//   {root}/job-{first 4 of job id}/{job id}/task-{task id}.txt
// appended as updates arrive and rotated to .txt.1, .txt.2, ... whenever the
// task becomes active again. Thread-safe: appends to one file never
// interleave partial lines.
#pragma once

#include <mutex>
#include <string>
#include <string_view>

#include "common/result.h"

namespace duende::manager {

class TaskLogs {
 public:
  explicit TaskLogs(std::string root) : root_(std::move(root)) {}

  std::string PathFor(const std::string& job_id, const std::string& task_id) const;

  // Appends `text`, adding a trailing newline if missing. Empty text is a
  // no-op. Tasks without a job are not logged (as v2).
  Status Append(const std::string& job_id, const std::string& task_id, std::string_view text);

  // Renames the current log to .txt.1 (older ones shift up). Only plain text
  // logs take part; a compressed .txt.gz is left alone (fixes v2 quirk §15.9).
  Status Rotate(const std::string& job_id, const std::string& task_id);

 private:
  std::string root_;
  std::mutex mu_;
};

}  // namespace duende::manager
