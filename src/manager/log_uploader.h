// LogUploader: answers the job side's log requests (spec §2.6
// upload_task_file_queue). The job side owns the queue of requests: every
// task-update batch response repeats it until the log has arrived, and this
// Manager keeps no record of it across restarts. Each request is uploaded
// once, gzipped, by a background thread (a large log never delays task-update
// pushes); a task whose log does not exist here gets a log saying so, so the
// job side stops asking.
//
// A request repeated by a response to a push that was sent before this
// Manager finished uploading that log is the same request seen again, not a
// new one: it is skipped rather than uploaded twice.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <stop_token>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "protocol/upstream.h"

namespace duende::manager {

class LogUploader {
 public:
  // The gzipped log of a task (TaskLogs::GzipForUpload: a missing log reads
  // as a short text saying so).
  using LogSource = std::function<Result<std::string>(const std::string& job, const std::string& task)>;

  LogUploader(protocol::Upstream& upstream, LogSource source, Clock& clock);

  // Queues the requests of a batch response to a push sent at `asked_at`.
  // Thread-safe.
  void Request(const std::vector<protocol::UploadRequest>& requests, SteadyTime asked_at);
  // Uploads queued requests until `stop`.
  void Run(std::stop_token stop);
  // Uploads everything queued now, synchronously (tests, shutdown).
  void Drain();

  uint64_t uploads() const;   // successful uploads
  uint64_t failures() const;  // failed uploads (asked again by the next response)

 private:
  // Takes the next request off the queue; false when it is empty.
  bool Next(protocol::UploadRequest& out);
  void Upload(const protocol::UploadRequest& r);

  protocol::Upstream& upstream_;
  LogSource source_;
  Clock& clock_;
  mutable std::mutex mu_;
  std::deque<protocol::UploadRequest> queue_;
  std::set<std::string> pending_;                  // task IDs queued or uploading
  std::map<std::string, SteadyTime> uploaded_at_;  // task ID -> upload finished
  uint64_t uploads_ = 0;
  uint64_t failures_ = 0;
};

}  // namespace duende::manager
