#include "manager/task_logs.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <optional>

#include "common/gzip.h"
#include "common/ids.h"

namespace duende::manager {

namespace fs = std::filesystem;

namespace {

std::string Errno(std::string_view what, const std::string& path) {
  return std::string(what) + " " + path + ": " + std::strerror(errno);
}

Status SyncDir(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Unavailable(Errno("cannot open directory", dir));
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return Unavailable(Errno("cannot fsync directory", dir));
  return Ok();
}

// Identifies one incarnation of a plain log: a .gz made from it carries
// this in its header, so a Compress interrupted after the rename knows the
// plain file is already inside the .gz.
std::string SourceTag(const struct stat& st) {
  return "duende-source ino=" + std::to_string(st.st_ino) + " size=" + std::to_string(st.st_size) +
         " mtime=" + std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec);
}

Status ReadFdTo(int fd, const std::string& path, uint64_t length, const std::function<Status(std::string_view)>& sink) {
  std::string buf(64 * 1024, '\0');
  uint64_t off = 0;
  while (off < length) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(buf.size(), length - off));
    const ssize_t n = ::pread(fd, buf.data(), want, static_cast<off_t>(off));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Unavailable(Errno("cannot read", path));
    }
    if (n == 0) break;
    if (auto st = sink(std::string_view(buf.data(), static_cast<size_t>(n))); !st) return st;
    off += static_cast<uint64_t>(n);
  }
  return Ok();
}

// Up to `length` bytes of the file open as `fd` from `offset` (fewer at
// its end or on a read error).
std::string PreadText(int fd, uint64_t offset, uint64_t length) {
  std::string text(static_cast<size_t>(length), '\0');
  size_t got = 0;
  while (got < text.size()) {
    const ssize_t n = ::pread(fd, text.data() + got, text.size() - got, static_cast<off_t>(offset + got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  text.resize(got);
  return text;
}

// Writes the gzip of [older .gz text] + [first `plain_size` bytes of the
// plain log] to `out`. The older .gz is left out when absent or when it was
// made from this very plain file (`tag`).
Status WriteCombined(const std::string& gz_path, int plain_fd, const std::string& plain_path, uint64_t plain_size,
                     const std::string& tag, GzipWriter& out) {
  std::error_code ec;
  if (fs::exists(gz_path, ec)) {
    auto comment = GzipComment(gz_path);
    if (!comment) return std::unexpected(comment.error());
    if (*comment != tag) {
      if (auto st = GunzipFile(gz_path, [&out](std::string_view s) { return out.Write(s); }); !st) return st;
    }
  }
  if (auto st = ReadFdTo(plain_fd, plain_path, plain_size, [&out](std::string_view s) { return out.Write(s); }); !st)
    return st;
  return out.Finish();
}

// Bytes of the log files under `dir` (0 when it does not exist): what the
// directory cap counts. Temp files of a compression in progress are left
// out (Compress counts its .gz when it is renamed into place).
uint64_t MeasureTree(const std::string& dir) {
  uint64_t total = 0;
  std::error_code ec;
  fs::recursive_directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec);
  for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    std::error_code file_ec;
    if (!it->is_regular_file(file_ec) || it->path().filename().string().ends_with(".tmp")) continue;
    const uint64_t size = it->file_size(file_ec);
    if (!file_ec) total += size;
  }
  return total;
}

uint64_t SizeOr0(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

// Whether the file open as `fd` (of `size` bytes) ends with `text`.
bool EndsWith(int fd, uint64_t size, std::string_view text) {
  if (size < text.size()) return false;
  std::string tail(text.size(), '\0');
  const ssize_t n = ::pread(fd, tail.data(), tail.size(), static_cast<off_t>(size - text.size()));
  return n == static_cast<ssize_t>(tail.size()) && tail == text;
}

}  // namespace

AppendPlan PlanAppend(const LogCaps& caps, uint64_t task_notice_size, uint64_t log_size, uint64_t dir_total,
                      uint64_t text_size) {
  AppendPlan plan;
  uint64_t log_room = text_size;
  bool log_cut = false;
  if (caps.max_bytes > 0) {
    // Full (cut before, maybe before a restart): nothing more is written.
    if (log_size >= caps.max_bytes) return plan;
    const uint64_t budget = caps.max_bytes - task_notice_size;
    if (log_size + text_size > budget) {
      log_room = log_size < budget ? budget - log_size : 0;
      log_cut = true;
    }
  }
  if (caps.max_total_bytes > 0) {
    const uint64_t dir_room = dir_total < caps.max_total_bytes ? caps.max_total_bytes - dir_total : 0;
    if (dir_room < log_room) {
      plan.keep = dir_room;
      plan.total_cap_notice = true;
      return plan;
    }
  }
  plan.keep = log_room;
  plan.task_cap_notice = log_cut;
  return plan;
}

TaskLogs::TaskLogs(std::string root, uint64_t max_bytes, uint64_t max_total_bytes)
    : root_(std::move(root)),
      caps_{max_bytes, max_total_bytes},
      task_notice_("\n" + std::string(kCapNotice) + std::to_string(max_bytes) +
                   " bytes); later lines are not stored ---\n"),
      total_notice_("\n" + std::string(kTotalCapNotice) + std::to_string(max_total_bytes) +
                    " bytes); lines are dropped until space is freed ---\n"),
      total_bytes_(MeasureTree(root_)) {}

std::string_view ToString(CompressStep step) {
  switch (step) {
    case CompressStep::kWriteTemp:
      return "write-temp";
    case CompressStep::kSyncTemp:
      return "sync-temp";
    case CompressStep::kRename:
      return "rename";
    case CompressStep::kSyncDir:
      return "sync-dir";
    case CompressStep::kUnlinkPlain:
      return "unlink-plain";
  }
  return "?";
}

std::string TaskLogs::PathFor(const std::string& job_id, const std::string& task_id) const {
  return root_ + "/job-" + job_id.substr(0, 4) + "/" + job_id + "/task-" + task_id + ".txt";
}

std::string TaskLogs::GzPathFor(const std::string& job_id, const std::string& task_id) const {
  return PathFor(job_id, task_id) + ".gz";
}

Status TaskLogs::Append(const std::string& job_id, const std::string& task_id, std::string_view text) {
  return Write(job_id, task_id, text, false);
}

Status TaskLogs::StartAttempt(const std::string& job_id, const std::string& task_id, std::string_view text) {
  if (text.empty()) return Rotate(job_id, task_id);
  return Write(job_id, task_id, text, true);
}

Status TaskLogs::Write(const std::string& job_id, const std::string& task_id, std::string_view text, bool new_attempt) {
  if (text.empty() || job_id.empty()) return Ok();
  const std::string path = PathFor(job_id, task_id);
  std::string buf(text);
  if (buf.back() != '\n') buf.push_back('\n');
  // One mutex for all logs: appends are short, and holding it across the
  // write is what keeps concurrent updates of one task from interleaving
  // and gives followers the text in file order.
  std::unique_lock lock(mu_);
  WaitWhileCompressing(lock, job_id, task_id);
  // The job's directory usually exists: try the open first and create the
  // directories only when it is missing (one syscall per append instead of
  // a stat per path component; this runs for every task update).
  // Read-write: at the directory cap, the log's last bytes tell whether it
  // already ends with the notice.
  const int flags = O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC | (new_attempt ? O_EXCL : 0);
  int fd = ::open(path.c_str(), flags, 0644);
  if (fd < 0 && errno == ENOENT) {
    std::error_code ec;
    fs::create_directories(fs::path(path).parent_path(), ec);
    if (ec) return Unavailable("cannot create log directory for " + path + ": " + ec.message());
    fd = ::open(path.c_str(), flags, 0644);
  }
  // A new attempt's log made by the O_EXCL open is empty: no fstat needed.
  const bool created = new_attempt && fd >= 0;
  if (fd < 0 && new_attempt && errno == EEXIST) {
    // An earlier run's log: rotated away, and this run's starts anew.
    if (auto st = RotateLocked(job_id, task_id, path); !st) return st;
    fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  }
  if (fd < 0) return Unavailable(Errno("cannot open", path));
  struct stat st {};
  const uint64_t offset = created || ::fstat(fd, &st) != 0 ? 0 : static_cast<uint64_t>(st.st_size);
  if (caps_.max_bytes > 0 || caps_.max_total_bytes > 0) buf = FitUnderCaps(std::move(buf), fd, offset, path);
  if (buf.empty()) {
    ::close(fd);
    return Ok();
  }
  size_t off = 0;
  while (off < buf.size()) {
    const ssize_t n = ::write(fd, buf.data() + off, buf.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      const std::string msg = Errno("cannot write", path);
      ::close(fd);
      total_bytes_ += off;
      return Unavailable(msg);
    }
    off += static_cast<size_t>(n);
  }
  ::close(fd);
  total_bytes_ += buf.size();
  if (auto it = followers_.find(Key(job_id, task_id)); it != followers_.end()) {
    const LogEvent event{LogEvent::Kind::kAppended, offset, buf};
    for (auto& [id, fn] : it->second) fn(event);
  }
  return Ok();
}

std::string TaskLogs::FitUnderCaps(std::string buf, int fd, uint64_t size, const std::string& path) {
  const AppendPlan plan = PlanAppend(caps_, task_notice_.size(), size, total_bytes_, buf.size());
  const uint64_t dropped = buf.size() - plan.keep;
  // Cut mid-line if need be: a notice starts on a line of its own.
  buf.resize(static_cast<size_t>(plan.keep));
  if (plan.total_cap_notice) {
    total_cap_dropped_bytes_ += dropped;
    if (!dir_full_) {
      dir_full_ = true;
      spdlog::warn(
          "the task-log directory {} reached task_logs_max_total_bytes ({} bytes): log text that does not fit is "
          "dropped (task updates are still accepted) until space is freed by deleting jobs or compressing logs",
          root_, caps_.max_total_bytes);
    }
    // One notice per gap in a log, not one per dropped update.
    if (plan.keep > 0 || !EndsWith(fd, size, total_notice_)) buf += total_notice_;
    return buf;
  }
  dropped_bytes_ += dropped;
  if (plan.task_cap_notice) {
    ++capped_logs_;
    spdlog::warn("task log {} reached task_log_max_bytes ({} bytes): later lines are dropped", path, caps_.max_bytes);
    buf += task_notice_;
  }
  return buf;
}

void TaskLogs::NoteFreed() {
  if (!dir_full_ || total_bytes_ > caps_.max_total_bytes / 10 * 9) return;
  dir_full_ = false;
  spdlog::info("the task-log directory {} is under 90% of task_logs_max_total_bytes again ({} of {} bytes)", root_,
               total_bytes_, caps_.max_total_bytes);
}

uint64_t TaskLogs::dropped_bytes() const {
  std::lock_guard lock(mu_);
  return dropped_bytes_;
}

uint64_t TaskLogs::capped_logs() const {
  std::lock_guard lock(mu_);
  return capped_logs_;
}

uint64_t TaskLogs::total_bytes() const {
  std::lock_guard lock(mu_);
  return total_bytes_;
}

uint64_t TaskLogs::total_cap_dropped_bytes() const {
  std::lock_guard lock(mu_);
  return total_cap_dropped_bytes_;
}

Status TaskLogs::DeleteJobLogs(const std::string& job_id) {
  // The ID becomes a path component: only ObjectIds are acceptable.
  if (!IsObjectId(job_id)) return InvalidArgument("invalid job ID '" + job_id + "'");
  const std::string dir = root_ + "/job-" + job_id.substr(0, 4) + "/" + job_id;
  // Under the lock, so no append or compression of this job moves the
  // total between measuring and removing (a deleted job is not running, so
  // appends do not wait here in practice).
  std::lock_guard lock(mu_);
  const uint64_t before = MeasureTree(dir);
  std::error_code ec;
  fs::remove_all(dir, ec);
  const uint64_t after = ec ? MeasureTree(dir) : 0;
  total_bytes_ -= std::min(total_bytes_, before - std::min(before, after));
  NoteFreed();
  if (ec) return Unavailable("cannot delete the logs of job " + job_id + ": " + ec.message());
  return Ok();
}

void TaskLogs::WaitWhileCompressing(std::unique_lock<std::mutex>& lock, const std::string& job_id,
                                    const std::string& task_id) {
  if (compressing_.empty()) return;  // the usual case: no key to build
  const std::string key = Key(job_id, task_id);
  compressed_cv_.wait(lock, [&] { return !compressing_.contains(key); });
}

Status TaskLogs::Rotate(const std::string& job_id, const std::string& task_id) {
  if (job_id.empty()) return Ok();
  const std::string path = PathFor(job_id, task_id);
  std::unique_lock lock(mu_);
  WaitWhileCompressing(lock, job_id, task_id);
  std::error_code ec;
  if (!fs::exists(path, ec)) return Ok();
  return RotateLocked(job_id, task_id, path);
}

Status TaskLogs::RotateLocked(const std::string& job_id, const std::string& task_id, const std::string& path) {
  std::error_code ec;
  // Only task-X.txt.N with a number N: task-X.txt.gz and temp files are
  // not part of the chain.
  int highest = 0;
  while (fs::exists(path + "." + std::to_string(highest + 1), ec)) ++highest;
  for (int n = highest; n >= 1; --n) {
    fs::rename(path + "." + std::to_string(n), path + "." + std::to_string(n + 1), ec);
    if (ec) return Unavailable("cannot rotate " + path + ": " + ec.message());
  }
  fs::rename(path, path + ".1", ec);
  if (ec) return Unavailable("cannot rotate " + path + ": " + ec.message());
  if (auto it = followers_.find(Key(job_id, task_id)); it != followers_.end()) {
    const LogEvent event{LogEvent::Kind::kRotated, 0, {}};
    for (auto& [id, fn] : it->second) fn(event);
  }
  return Ok();
}

TaskLogs::Subscription TaskLogs::Subscribe(const std::string& job_id, const std::string& task_id,
                                           LogListener listener) {
  std::lock_guard lock(mu_);
  Subscription sub;
  sub.id = next_subscription_++;
  struct stat st {};
  if (::stat(PathFor(job_id, task_id).c_str(), &st) == 0) sub.size = static_cast<uint64_t>(st.st_size);
  followers_[Key(job_id, task_id)].emplace_back(sub.id, std::move(listener));
  return sub;
}

void TaskLogs::Unsubscribe(uint64_t id) {
  std::lock_guard lock(mu_);
  for (auto it = followers_.begin(); it != followers_.end(); ++it) {
    std::erase_if(it->second, [id](const auto& p) { return p.first == id; });
    if (it->second.empty()) {
      followers_.erase(it);
      return;
    }
  }
}

size_t TaskLogs::FollowerCount() const {
  std::lock_guard lock(mu_);
  size_t n = 0;
  for (const auto& [key, list] : followers_) n += list.size();
  return n;
}

Result<bool> TaskLogs::Compress(const std::string& job_id, const std::string& task_id, const CompressStepHook& hook) {
  const std::string plain = PathFor(job_id, task_id);
  const std::string gz = plain + ".gz";
  const std::string tmp = gz + ".tmp";
  const std::string dir = fs::path(plain).parent_path().string();
  auto crash = [&](CompressStep step) -> std::optional<Error> {
    if (hook && !hook(step))
      return Error{ErrorCode::kInternal, "simulated crash before " + std::string(ToString(step))};
    return std::nullopt;
  };

  // Open the plain log first: from here on we read this incarnation even if
  // it is renamed or unlinked meanwhile.
  const int fd = ::open(plain.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return false;
    return Unavailable(Errno("cannot open", plain));
  }
  struct FdCloser {
    int fd;
    ~FdCloser() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) return Unavailable(Errno("cannot stat", plain));
  const std::string tag = SourceTag(st);

  std::error_code ec;
  bool already_inside = false;
  if (fs::exists(gz, ec)) {
    auto comment = GzipComment(gz);
    already_inside = comment && *comment == tag;
  }
  if (!already_inside) {
    if (auto e = crash(CompressStep::kWriteTemp)) return std::unexpected(*e);
    const int out = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out < 0) return Unavailable(Errno("cannot create", tmp));
    GzipWriter writer(out, 9, tag);
    Status written = WriteCombined(gz, fd, plain, static_cast<uint64_t>(st.st_size), tag, writer);
    if (written) {
      if (auto e = crash(CompressStep::kSyncTemp)) {
        ::close(out);
        return std::unexpected(*e);
      }
      if (::fsync(out) != 0) written = Unavailable(Errno("cannot fsync", tmp));
    }
    ::close(out);
    if (!written) {
      ::unlink(tmp.c_str());
      return std::unexpected(written.error().WithContext("compressing " + plain));
    }
  }

  // The rename and unlink happen under the log lock, after checking that no
  // late line was appended while we compressed (it would be lost).
  std::unique_lock lock(mu_);
  struct stat now {};
  if (::stat(plain.c_str(), &now) != 0 || now.st_ino != st.st_ino || now.st_size != st.st_size) {
    if (!already_inside) ::unlink(tmp.c_str());
    return MakeError(ErrorCode::kBusy, plain + " changed while it was being compressed");
  }
  // From here until the plain log is gone, this task's appends and
  // rotations wait (a line written to the plain log now would be lost with
  // it); the lock itself is released for the directory fsync, which can
  // take milliseconds, so every other log and the answers behind it go on.
  const std::string key = Key(job_id, task_id);
  compressing_.insert(key);
  struct Release {
    TaskLogs& logs;
    const std::string& key;
    bool done = false;
    // Clears the mark and wakes the task's waiters. Under mu_: every return
    // before the explicit call below holds the lock.
    void Now() {
      if (done) return;
      done = true;
      logs.compressing_.erase(key);
      logs.compressed_cv_.notify_all();
    }
    ~Release() { Now(); }
  } release{*this, key};
  if (!already_inside) {
    if (auto e = crash(CompressStep::kRename)) return std::unexpected(*e);
    const uint64_t old_gz = SizeOr0(gz);
    const uint64_t new_gz = SizeOr0(tmp);
    if (::rename(tmp.c_str(), gz.c_str()) != 0) return Unavailable(Errno("cannot rename to", gz));
    total_bytes_ = total_bytes_ + new_gz - std::min(total_bytes_ + new_gz, old_gz);
    lock.unlock();
    std::optional<Error> failed = crash(CompressStep::kSyncDir);
    if (!failed) {
      if (auto s = SyncDir(dir); !s) failed = s.error();
    }
    lock.lock();
    if (failed) return std::unexpected(*failed);
  }
  if (auto e = crash(CompressStep::kUnlinkPlain)) return std::unexpected(*e);
  if (::unlink(plain.c_str()) != 0) return Unavailable(Errno("cannot remove", plain));
  total_bytes_ -= std::min(total_bytes_, static_cast<uint64_t>(now.st_size));
  NoteFreed();
  release.Now();  // the task's appends may go on (to a new plain log)
  lock.unlock();
  // Makes the unlink durable; nothing waits for it. (Lost to a crash, the
  // plain log comes back and the next pass removes it: the .gz says it was
  // made from it.)
  if (auto s = SyncDir(dir); !s) return std::unexpected(s.error());
  return true;
}

Result<std::string> TaskLogs::GzipForUpload(const std::string& job_id, const std::string& task_id) {
  const std::string plain = PathFor(job_id, task_id);
  const std::string gz = plain + ".gz";
  if (job_id.empty()) return InvalidArgument("task " + task_id + " has no job, so it has no log");
  std::error_code ec;
  if (!fs::exists(plain, ec) && !fs::exists(gz, ec)) {
    if (auto st = Append(job_id, task_id, kMissingLogText); !st) return std::unexpected(st.error());
  }
  std::string out;
  GzipWriter writer(
      [&out](std::string_view d) -> Status {
        out.append(d);
        return Ok();
      },
      9);
  const int fd = ::open(plain.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    // Only the compressed log: it is what we upload.
    if (errno != ENOENT) return Unavailable(Errno("cannot open", plain));
    auto comment = GzipComment(gz);  // validates it is gzip
    if (!comment) return std::unexpected(comment.error());
    std::string bytes;
    const int gfd = ::open(gz.c_str(), O_RDONLY | O_CLOEXEC);
    if (gfd < 0) return Unavailable(Errno("cannot open", gz));
    struct stat gst {};
    ::fstat(gfd, &gst);
    Status st = ReadFdTo(gfd, gz, static_cast<uint64_t>(gst.st_size), [&bytes](std::string_view s) {
      bytes.append(s);
      return Ok();
    });
    ::close(gfd);
    if (!st) return std::unexpected(st.error());
    return bytes;
  }
  struct stat st {};
  ::fstat(fd, &st);
  Status written = WriteCombined(gz, fd, plain, static_cast<uint64_t>(st.st_size), SourceTag(st), writer);
  ::close(fd);
  if (!written) return std::unexpected(written.error());
  return out;
}

Result<TaskLogs::Range> TaskLogs::ReadRange(const std::string& job_id, const std::string& task_id, uint64_t offset,
                                            uint64_t length) const {
  const std::string plain = PathFor(job_id, task_id);
  Range r;
  r.offset = offset;
  const int fd = ::open(plain.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    struct stat st {};
    ::fstat(fd, &st);
    r.total = static_cast<uint64_t>(st.st_size);
    r.offset = std::min(offset, r.total);
    r.text = PreadText(fd, r.offset, std::min(length, r.total - r.offset));
    ::close(fd);
    return r;
  }
  if (errno != ENOENT) return Unavailable(Errno("cannot open", plain));
  r.compressed = true;
  uint64_t pos = 0;
  const Error kDone{ErrorCode::kConflict, "done"};
  Status st = GunzipFile(plain + ".gz", [&](std::string_view s) -> Status {
    const uint64_t end = pos + s.size();
    if (end > offset && r.text.size() < length) {
      const uint64_t from = offset > pos ? offset - pos : 0;
      const uint64_t take = std::min<uint64_t>(s.size() - from, length - r.text.size());
      r.text.append(s.substr(static_cast<size_t>(from), static_cast<size_t>(take)));
    }
    pos = end;
    if (r.text.size() >= length) return std::unexpected(kDone);
    return Ok();
  });
  if (!st && st.error().code != ErrorCode::kConflict) {
    if (st.error().code == ErrorCode::kNotFound) return NotFound("task " + task_id + " has no log");
    return std::unexpected(st.error());
  }
  r.offset = std::min(offset, pos);
  return r;
}

std::optional<std::string> TaskLogs::Tail(const std::string& job_id, const std::string& task_id,
                                          uint64_t max_bytes) const {
  std::string text;
  bool cut = false;  // the text starts after the log's start
  const std::string plain = PathFor(job_id, task_id);
  const int fd = ::open(plain.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    struct stat st {};
    const uint64_t size = ::fstat(fd, &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
    const uint64_t from = size > max_bytes ? size - max_bytes : 0;
    cut = from > 0;
    text = PreadText(fd, from, size - from);
    ::close(fd);
  } else {
    if (errno != ENOENT) return std::nullopt;
    const Status st = GunzipFile(plain + ".gz", [&](std::string_view s) -> Status {
      text.append(s);
      if (text.size() > 2 * max_bytes) {
        text.erase(0, text.size() - max_bytes);
        cut = true;
      }
      return Ok();
    });
    if (!st) return std::nullopt;
    if (text.size() > max_bytes) {
      text.erase(0, text.size() - max_bytes);
      cut = true;
    }
  }
  // A line cut at the front is left out.
  if (cut) {
    const size_t nl = text.find('\n');
    text.erase(0, nl == std::string::npos ? text.size() : nl + 1);
  }
  return text;
}

}  // namespace duende::manager
