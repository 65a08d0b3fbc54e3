// FileSlice and Stream: response bodies that are not one in-memory string.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "http/http.h"

namespace duende::http {

FileSlice::~FileSlice() {
  if (fd_ >= 0) ::close(fd_);
}

Result<std::shared_ptr<FileSlice>> FileSlice::Open(const std::string& path, uint64_t offset,
                                                   std::optional<uint64_t> length) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT || err == ENOTDIR) return NotFound(path + " does not exist");
    return Unavailable("cannot open " + path + ": " + std::strerror(err));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return Unavailable("cannot stat " + path + ": " + std::strerror(err));
  }
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  const uint64_t start = std::min(offset, size);
  uint64_t len = size - start;
  if (length) len = std::min(len, *length);
  return std::make_shared<FileSlice>(fd, start, len);
}

bool Stream::Write(std::string_view data) {
  std::function<void()> wake;
  {
    std::unique_lock lock(mu_);
    if (closed_) return false;
    if (pending_.size() + data.size() > max_pending_) {
      // The client does not keep up: end its stream rather than buffer
      // without bound. It can reconnect from the last offset it saw.
      closed_ = true;
      wake = std::move(wake_);
      wake_ = nullptr;
      FireOnClose(lock);
      if (wake) wake();
      return false;
    }
    pending_.append(data);
    wake = std::move(wake_);
    wake_ = nullptr;
  }
  if (wake) wake();
  return true;
}

void Stream::Prepend(std::string_view data) {
  std::lock_guard lock(mu_);
  pending_.insert(0, data);
}

void Stream::Close() {
  std::function<void()> wake;
  std::unique_lock lock(mu_);
  if (closed_) return;
  closed_ = true;
  wake = std::move(wake_);
  wake_ = nullptr;
  FireOnClose(lock);
  if (wake) wake();
}

bool Stream::closed() const {
  std::lock_guard lock(mu_);
  return closed_;
}

void Stream::OnClose(std::function<void()> fn) {
  std::unique_lock lock(mu_);
  if (closed_) {
    lock.unlock();
    if (fn) fn();
    return;
  }
  on_close_ = std::move(fn);
}

// Runs the close callback once, outside the lock; returns with the lock
// released.
void Stream::FireOnClose(std::unique_lock<std::mutex>& lock) {
  std::function<void()> fn;
  if (!on_close_fired_ && on_close_) {
    on_close_fired_ = true;
    fn = std::move(on_close_);
    on_close_ = nullptr;
  }
  lock.unlock();
  if (fn) fn();
}

Stream::Taken Stream::Take(std::function<void()> wake) {
  std::lock_guard lock(mu_);
  Taken t;
  t.data.swap(pending_);
  t.closed = closed_;
  if (t.data.empty() && !closed_) wake_ = std::move(wake);
  return t;
}

bool Deferred::Complete(Response response) {
  std::function<void(Response)> sink;
  {
    std::lock_guard lock(mu_);
    if (completed_) return false;
    completed_ = true;
    if (!sink_) {
      pending_ = std::make_unique<Response>(std::move(response));
      return true;
    }
    sink.swap(sink_);
  }
  sink(std::move(response));
  return true;
}

void Deferred::SetSink(std::function<void(Response)> sink) {
  std::unique_ptr<Response> ready;
  {
    std::lock_guard lock(mu_);
    if (!pending_) {
      sink_ = std::move(sink);
      return;
    }
    ready.swap(pending_);
  }
  sink(std::move(*ready));
}

}  // namespace duende::http
