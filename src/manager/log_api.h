// Serving task logs over HTTP:
//   GET /logfile/{job}/{task}           v2 (spec §8.3): head + tail of a plain
//                                       log, the whole file for curl/wget, a
//                                       .gz as an attachment
//   GET /api/tasks/{id}/log             a byte range of the log
//   GET /api/tasks/{id}/log/follow      Server-Sent Events: the log as it grows
// The cost of a request does not depend on the log's size: head and tail are
// read with pread, whole files are sent in chunks from the open file.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "http/http.h"
#include "manager/farm_store.h"
#include "manager/task_logs.h"

namespace duende::manager {

struct LogServingOptions {
  uint64_t head_bytes = 5 * 1024;
  uint64_t tail_bytes = 10 * 1024;
};

// The head/tail page for a plain log of `size` bytes read from `fd`
// (size > head + tail): the first head bytes (cut back so no UTF-8
// character is split), a separator saying how much was skipped and that
// curl/wget get the whole file from `whole_file_url`, then the tail starting
// at the first full line of the last tail bytes. Reads only those bytes.
Result<std::string> HeadAndTail(int fd, uint64_t size, const LogServingOptions& options,
                                std::string_view whole_file_url);
// The same over any source of the log's bytes: `read(offset, length)`.
using LogReader = std::function<Result<std::string>(uint64_t offset, uint64_t length)>;
Result<std::string> HeadAndTail(const LogReader& read, uint64_t size, const LogServingOptions& options,
                                std::string_view whole_file_url);

// GET /logfile/{job}/{task} for already validated IDs.
http::Response ServeLogFile(TaskLogs& logs, const std::string& job_id, const std::string& task_id,
                            std::string_view user_agent, std::string_view host, const LogServingOptions& options);

// Query parameters of the /api log endpoints, parsed by pure functions
// (unit-tested and fuzzed in fuzz/). InvalidArgument (400) otherwise.
//
// GET /api/tasks/{id}/log?offset=&length=: decimal integers, both optional;
// a negative offset counts back from the end; length >= 0.
struct LogRangeRequest {
  std::optional<int64_t> offset;
  std::optional<int64_t> length;
};
Result<LogRangeRequest> ParseLogRange(const std::optional<std::string>& offset,
                                      const std::optional<std::string>& length);
// GET /api/tasks/{id}/log/follow?offset=, else the Last-Event-ID header
// (EventSource reconnects send the last id they saw); nullopt when neither.
Result<std::optional<int64_t>> ParseFollowOffset(const std::optional<std::string>& offset,
                                                 std::string_view last_event_id);
// The first byte a range read of a plain log of `size` bytes returns:
// 0 without an offset, `offset` bytes before the end (at least 0) for a
// negative one, else `offset` (at most `size`).
uint64_t LogRangeStart(std::optional<int64_t> offset, uint64_t size);

// What the /api log endpoints need to know about a task. Owned by the
// consumer; the farm store implements it through FarmTaskLogLookup.
struct TaskLogRef {
  std::string job;
  std::string status;
  bool ended = false;  // completed, failed or canceled
};
class TaskLogLookup {
 public:
  virtual ~TaskLogLookup() = default;
  // NotFound for unknown tasks.
  virtual Result<TaskLogRef> FindTaskLog(const std::string& task_id) = 0;
};

class FarmTaskLogLookup final : public TaskLogLookup {
 public:
  explicit FarmTaskLogLookup(FarmStore& store) : store_(store) {}
  Result<TaskLogRef> FindTaskLog(const std::string& task_id) override;

 private:
  FarmStore& store_;
};

// Live followers of task logs. Each follower is an SSE stream fed by a
// TaskLogs subscription (pushed on Append, never polled). Run() ends the
// streams of tasks that ended and drops followers whose client left.
// Thread-safe.
class LogFollowers {
 public:
  // How often Run() looks for ended tasks and departed clients. A follower
  // sees the end of its task at most this late.
  static constexpr auto kSweepInterval = std::chrono::seconds(1);
  // At most this much existing log is sent when a follow starts; older text
  // is announced with a `skipped` event (use the range endpoint for it).
  static constexpr uint64_t kMaxBacklogBytes = 1024 * 1024;

  LogFollowers(TaskLogs& logs, TaskLogLookup& lookup, Clock& clock, LogServingOptions options)
      : logs_(logs), lookup_(lookup), clock_(clock), options_(options) {}
  ~LogFollowers();

  // Starts following `task_id` from byte `offset` (nullopt: the start of the
  // last tail_bytes, at a line; negative: that many bytes before the end).
  http::Response Follow(const std::string& task_id, const TaskLogRef& ref, std::optional<int64_t> offset);

  void Run(std::stop_token stop);
  // One pass of Run(): ends streams of ended tasks, forgets closed ones.
  void Sweep();
  // Closes every stream (shutdown).
  void CloseAll();
  size_t size() const;

 private:
  struct Follower;
  TaskLogs& logs_;
  TaskLogLookup& lookup_;
  Clock& clock_;
  LogServingOptions options_;
  mutable std::mutex mu_;
  std::vector<std::shared_ptr<Follower>> followers_;
};

void RegisterLogApi(http::Router& router, TaskLogs& logs, TaskLogLookup& lookup, LogFollowers& followers,
                    LogServingOptions options);

}  // namespace duende::manager
