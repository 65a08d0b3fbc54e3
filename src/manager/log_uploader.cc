#include "manager/log_uploader.h"

#include <spdlog/spdlog.h>

#include <chrono>

namespace duende::manager {

namespace {
// Upload times older than this are forgotten: any push sent after an upload
// is answered from the job side's state after it, so only a push in flight
// during the upload can repeat the request, and pushes take seconds.
constexpr auto kRememberUploads = std::chrono::minutes(10);
}  // namespace

LogUploader::LogUploader(protocol::Upstream& upstream, LogSource source, Clock& clock)
    : upstream_(upstream), source_(std::move(source)), clock_(clock) {}

void LogUploader::Request(const std::vector<protocol::UploadRequest>& requests, SteadyTime asked_at) {
  if (requests.empty()) return;
  bool added = false;
  {
    std::lock_guard lock(mu_);
    const SteadyTime now = clock_.SteadyNow();
    std::erase_if(uploaded_at_, [&](const auto& kv) { return now - kv.second > kRememberUploads; });
    for (const auto& r : requests) {
      if (r.task.empty() || pending_.contains(r.task)) continue;
      auto done = uploaded_at_.find(r.task);
      if (done != uploaded_at_.end() && done->second >= asked_at) continue;  // asked before it arrived
      pending_.insert(r.task);
      queue_.push_back(r);
      added = true;
    }
  }
  if (added) clock_.NotifyAll();
}

bool LogUploader::Next(protocol::UploadRequest& out) {
  std::lock_guard lock(mu_);
  if (queue_.empty()) return false;
  out = std::move(queue_.front());
  queue_.pop_front();
  return true;
}

void LogUploader::Upload(const protocol::UploadRequest& r) {
  Status st = Ok();
  auto gz = source_(r.job, r.task);
  if (gz) {
    st = upstream_.AttachTaskLog(r.job, r.task, *gz);
  } else {
    st = std::unexpected(gz.error());
  }
  std::lock_guard lock(mu_);
  pending_.erase(r.task);
  if (st) {
    uploaded_at_[r.task] = clock_.SteadyNow();
    ++uploads_;
    spdlog::info("uploaded the log of task {} (job {}, {} bytes gzipped)", r.task, r.job, gz->size());
  } else {
    ++failures_;
    spdlog::warn("cannot upload the log of task {}: {}; it is sent when asked again", r.task, st.error().message);
  }
}

void LogUploader::Drain() {
  protocol::UploadRequest r;
  while (Next(r)) Upload(r);
}

void LogUploader::Run(std::stop_token stop) {
  while (!stop.stop_requested()) {
    const uint64_t generation = clock_.Generation();
    protocol::UploadRequest r;
    if (Next(r)) {
      Upload(r);
      continue;
    }
    clock_.WaitUntil(clock_.SteadyNow() + std::chrono::minutes(1), stop, generation);
  }
}

uint64_t LogUploader::uploads() const {
  std::lock_guard lock(mu_);
  return uploads_;
}

uint64_t LogUploader::failures() const {
  std::lock_guard lock(mu_);
  return failures_;
}

}  // namespace duende::manager
