// UpstreamLink: the Manager's side of the seam (spec §1.3, §2.6). Downloads
// the depsgraph into the task cache and pushes the outgoing task-update queue
// in batches, handling the cancellations that come back. The same code runs
// against the in-process job side (standalone) and duende-server (linked).
#pragma once

#include <atomic>
#include <chrono>
#include <stop_token>

#include "common/clock.h"
#include "manager/farm.h"
#include "manager/farm_store.h"
#include "protocol/upstream.h"

namespace duende::manager {

struct UpstreamLinkOptions {
  std::chrono::milliseconds download_task_sleep{std::chrono::minutes(10)};
  // Push when this long has passed since the last successful push (0 =
  // push as soon as anything is queued; the standalone default).
  std::chrono::milliseconds push_max_interval{std::chrono::seconds(5)};
  int push_max_count = 3000;
  // An empty push to learn about cancellations after this long.
  std::chrono::milliseconds cancel_fetch_max_interval{std::chrono::seconds(10)};
  // Retry delay after a failed exchange.
  std::chrono::milliseconds retry_delay{std::chrono::seconds(1)};
};

class UpstreamLink final : public FarmListener {
 public:
  UpstreamLink(protocol::Upstream& upstream, Farm& farm, FarmStore& store, Clock& clock,
               UpstreamLinkOptions options);

  // Runs until `stop`: downloads at start, then on kicks and every
  // download_task_sleep; pushes as configured.
  void Run(std::stop_token stop);

  // Ask for a depsgraph download soon (new job, worker found nothing).
  void KickDownload();
  // One download + one push cycle, synchronously (tests, shutdown flush).
  Status SyncOnce();

  // FarmListener
  void OnUpstreamQueued() override;

 private:
  Status Download();
  // Pushes one batch; returns the number of updates sent.
  Result<int> Push(bool allow_empty);

  protocol::Upstream& upstream_;
  Farm& farm_;
  FarmStore& store_;
  Clock& clock_;
  UpstreamLinkOptions options_;
  std::atomic<bool> download_wanted_{true};
  std::atomic<bool> push_wanted_{true};
  SteadyTime last_push_{};
  SteadyTime last_download_{};
};

}  // namespace duende::manager
