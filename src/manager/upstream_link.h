// UpstreamLink: the Manager's side of the seam (spec §1.3, §2.6). Downloads
// the depsgraph into the task cache and pushes the outgoing task-update queue
// in batches, handling the cancellations that come back. The same code runs
// against the in-process job side (standalone) and duende-server (linked).
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <stop_token>

#include "common/clock.h"
#include "manager/farm.h"
#include "manager/farm_store.h"
#include "manager/log_uploader.h"
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
  // KickDownloadThrottled() downloads at most once per this interval.
  std::chrono::milliseconds download_recheck_throttle{std::chrono::seconds(10)};
};

class UpstreamLink final : public FarmListener {
 public:
  UpstreamLink(protocol::Upstream& upstream, Farm& farm, FarmStore& store, Clock& clock, UpstreamLinkOptions options);

  // Runs until `stop`: downloads at start, then on kicks and every
  // download_task_sleep; pushes as configured.
  void Run(std::stop_token stop);

  // Ask for a depsgraph download soon (new job, worker found nothing).
  void KickDownload();
  // KickDownload at most once per download_recheck_throttle (a worker found
  // no task; spec §1.3). Thread-safe.
  void KickDownloadThrottled();
  // Ask upstream for the tasks to cancel (and the log requests) soon, with a
  // push even when no update is queued: standalone mode's job side changed a
  // job's status in the farm's own transaction. Thread-safe.
  void KickCancelFetch();

  // Linked mode: what to tell upstream about this farm (spec §3.5). When
  // set, a notification is sent before a download whenever it differs from
  // the last one delivered (startup first, then updates), so the job side
  // knows the workers' task types and how many tasks this site may claim.
  // Set before Run().
  void SetNotificationSource(std::function<protocol::UpstreamNotification()> source) {
    notification_source_ = std::move(source);
  }

  // Where the log requests of batch responses go (upload_task_file_queue).
  // Without one they are ignored. Set before Run().
  void SetLogUploader(LogUploader* uploader) { log_uploader_ = uploader; }

  // Linked mode (spec §5.1 step 4e): re-validates a cached task with
  // upstream before it is assigned. Returns true when it may be assigned
  // as is. A changed task is stored locally, a removed one canceled; both
  // return false. While the last exchange with upstream failed, answers
  // true without asking (a down Server must not stall scheduling).
  // Thread-safe.
  bool Revalidate(const protocol::Task& task);
  // One download (every chunk) + one push cycle, synchronously (tests,
  // shutdown flush).
  Status SyncOnce();

  // Task updates upstream confirmed handled so far (removed from the queue).
  uint64_t delivered() const { return delivered_.load(std::memory_order_relaxed); }

  // FarmListener
  void OnUpstreamQueued() override;

 private:
  // One depsgraph answer stored; true when the job side has more chunks.
  Result<bool> Download();
  // Pushes one batch; returns the number of updates sent.
  Result<int> Push(bool allow_empty);

  protocol::Upstream& upstream_;
  Farm& farm_;
  FarmStore& store_;
  Clock& clock_;
  UpstreamLinkOptions options_;
  std::function<protocol::UpstreamNotification()> notification_source_;
  std::optional<protocol::UpstreamNotification> notified_;
  LogUploader* log_uploader_ = nullptr;
  std::atomic<bool> upstream_down_{false};
  std::atomic<uint64_t> delivered_{0};
  std::mutex kick_mu_;
  std::optional<SteadyTime> last_kick_;
  std::atomic<bool> download_wanted_{true};
  std::atomic<bool> push_wanted_{true};
  std::atomic<bool> cancel_fetch_wanted_{false};
  SteadyTime last_push_{};
  SteadyTime last_download_{};
};

}  // namespace duende::manager
