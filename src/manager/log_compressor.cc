#include "manager/log_compressor.h"

#include <spdlog/spdlog.h>

namespace duende::manager {

Result<std::vector<EndedTask>> FarmEndedTaskSource::TasksEndedBetween(SystemTime from, SystemTime to, int limit) {
  return store_.Read([&](FarmTx& tx) -> Result<std::vector<EndedTask>> {
    std::vector<EndedTask> out;
    for (auto& [job, id, when] : tx.EndedTasksUpdatedBetween(from, to, limit)) out.push_back({job, id, when});
    return out;
  });
}

Result<int> LogCompressor::RunOnce() {
  if (options_.compress_after.count() <= 0) return 0;
  const SystemTime cutoff = clock_.Now() - options_.compress_after;
  SystemTime from = done_before_;
  int compressed = 0;
  bool all_done = true;
  for (;;) {
    auto batch = source_.TasksEndedBetween(from, cutoff, kBatch);
    if (!batch) return std::unexpected(batch.error().WithContext("listing ended tasks"));
    for (const auto& t : *batch) {
      auto done = logs_.Compress(t.job, t.id, options_.step_hook);
      if (!done) {
        all_done = false;
        spdlog::warn("task log of {} not compressed: {}", t.id, done.error().message);
      } else if (*done) {
        ++compressed;
      }
    }
    if (static_cast<int>(batch->size()) < kBatch) break;
    // Page on by time. Tasks sharing the last timestamp are seen again,
    // which is harmless: a compressed log has no plain file left.
    const SystemTime next = batch->back().ended;
    if (next == from) break;  // more than kBatch tasks with one timestamp: next pass
    from = next;
  }
  // Failures (a log that grew, a full disk) are retried from the same point.
  if (all_done) done_before_ = cutoff;
  return compressed;
}

void LogCompressor::Run(std::stop_token stop) {
  if (options_.compress_after.count() <= 0) return;
  if (!clock_.WaitFor(kInitialDelay, stop)) return;
  do {
    auto n = RunOnce();
    if (!n)
      spdlog::warn("task log compression: {}", n.error().message);
    else if (*n > 0)
      spdlog::info("compressed {} task logs", *n);
  } while (clock_.WaitFor(kInterval, stop));
}

}  // namespace duende::manager
