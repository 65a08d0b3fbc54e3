// LogCompressor: the background service that gzips the logs of tasks that
// ended at least `compress_after` ago (config `task_log_compress_after`;
// 0 disables it). See TaskLogs::Compress for the crash-safe steps.
#pragma once

#include <chrono>
#include <stop_token>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "manager/farm_store.h"
#include "manager/task_logs.h"

namespace duende::manager {

// A task in a final status (completed, failed, canceled).
struct EndedTask {
  std::string job;
  std::string id;
  SystemTime ended{};  // when it last changed
};

// What the compressor needs from the farm store (consumer-owned).
class EndedTaskSource {
 public:
  virtual ~EndedTaskSource() = default;
  // Tasks in a final status last changed in [from, to), oldest first, at
  // most `limit`.
  virtual Result<std::vector<EndedTask>> TasksEndedBetween(SystemTime from, SystemTime to, int limit) = 0;
};

// The farm store's answer.
class FarmEndedTaskSource final : public EndedTaskSource {
 public:
  explicit FarmEndedTaskSource(FarmStore& store) : store_(store) {}
  Result<std::vector<EndedTask>> TasksEndedBetween(SystemTime from, SystemTime to, int limit) override;

 private:
  FarmStore& store_;
};

struct LogCompressorOptions {
  std::chrono::milliseconds compress_after{0};  // 0 = never
  CompressStepHook step_hook;                   // tests: simulated crashes
};

class LogCompressor {
 public:
  // Tasks handled per store query, so one pass never holds a huge list.
  static constexpr int kBatch = 500;
  // Wait after start before the first pass: lets a restarted Manager settle
  // before it spends I/O on old logs.
  static constexpr auto kInitialDelay = std::chrono::seconds(30);
  // Between passes: compression is about age in hours or days; a minute of
  // extra delay does not matter and keeps the store queries rare.
  static constexpr auto kInterval = std::chrono::minutes(1);

  LogCompressor(TaskLogs& logs, EndedTaskSource& source, Clock& clock, LogCompressorOptions options)
      : logs_(logs), source_(source), clock_(clock), options_(std::move(options)) {}

  void Run(std::stop_token stop);

  // One pass: compresses the logs of tasks that ended before now -
  // compress_after and after the previous pass's cutoff (failed ones are
  // retried on the next pass). Returns how many logs were compressed.
  Result<int> RunOnce();

 private:
  TaskLogs& logs_;
  EndedTaskSource& source_;
  Clock& clock_;
  LogCompressorOptions options_;
  SystemTime done_before_{};  // every task that ended before this is handled
};

}  // namespace duende::manager
