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

}  // namespace

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
  if (text.empty() || job_id.empty()) return Ok();
  const std::string path = PathFor(job_id, task_id);
  std::string buf(text);
  if (buf.back() != '\n') buf.push_back('\n');
  // One mutex for all logs: appends are short, and holding it across the
  // write is what keeps concurrent updates of one task from interleaving
  // and gives followers the text in file order.
  std::lock_guard lock(mu_);
  // The job's directory usually exists: try the open first and create the
  // directories only when it is missing (one syscall per append instead of
  // a stat per path component; this runs for every task update).
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0 && errno == ENOENT) {
    std::error_code ec;
    fs::create_directories(fs::path(path).parent_path(), ec);
    if (ec) return Unavailable("cannot create log directory for " + path + ": " + ec.message());
    fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  }
  if (fd < 0) return Unavailable(Errno("cannot open", path));
  struct stat st {};
  const uint64_t offset = ::fstat(fd, &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
  if (max_bytes_ > 0) buf = FitUnderCap(std::move(buf), offset, path);
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
      return Unavailable(msg);
    }
    off += static_cast<size_t>(n);
  }
  ::close(fd);
  if (auto it = followers_.find(Key(job_id, task_id)); it != followers_.end()) {
    const LogEvent event{LogEvent::Kind::kAppended, offset, buf};
    for (auto& [id, fn] : it->second) fn(event);
  }
  return Ok();
}

std::string TaskLogs::FitUnderCap(std::string buf, uint64_t size, const std::string& path) {
  const std::string notice =
      "\n" + std::string(kCapNotice) + std::to_string(max_bytes_) + " bytes); later lines are not stored ---\n";
  // Text fits while it leaves room for the notice, so the notice always
  // fits too and ends the file exactly at the cap.
  const uint64_t budget = max_bytes_ - notice.size();
  if (size + buf.size() <= budget) return buf;
  if (size >= max_bytes_) {
    // Full (cut before, maybe before a restart): nothing more is written.
    dropped_bytes_ += buf.size();
    return {};
  }
  // Cut mid-line if need be: the notice starts on a line of its own. The
  // text written is then exactly what takes the file to the cap.
  const uint64_t room = size < budget ? budget - size : 0;
  dropped_bytes_ += buf.size() - room;
  ++capped_logs_;
  spdlog::warn("task log {} reached task_log_max_bytes ({} bytes): later lines are dropped", path, max_bytes_);
  buf.resize(static_cast<size_t>(room));
  buf += notice;
  return buf;
}

uint64_t TaskLogs::dropped_bytes() const {
  std::lock_guard lock(mu_);
  return dropped_bytes_;
}

uint64_t TaskLogs::capped_logs() const {
  std::lock_guard lock(mu_);
  return capped_logs_;
}

Status TaskLogs::DeleteJobLogs(const std::string& job_id) {
  // The ID becomes a path component: only ObjectIds are acceptable.
  if (!IsObjectId(job_id)) return InvalidArgument("invalid job ID '" + job_id + "'");
  std::error_code ec;
  std::filesystem::remove_all(root_ + "/job-" + job_id.substr(0, 4) + "/" + job_id, ec);
  if (ec) return Unavailable("cannot delete the logs of job " + job_id + ": " + ec.message());
  return Ok();
}

Status TaskLogs::Rotate(const std::string& job_id, const std::string& task_id) {
  if (job_id.empty()) return Ok();
  const std::string path = PathFor(job_id, task_id);
  std::lock_guard lock(mu_);
  std::error_code ec;
  if (!fs::exists(path, ec)) return Ok();
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
  std::lock_guard lock(mu_);
  struct stat now {};
  if (::stat(plain.c_str(), &now) != 0 || now.st_ino != st.st_ino || now.st_size != st.st_size) {
    if (!already_inside) ::unlink(tmp.c_str());
    return MakeError(ErrorCode::kBusy, plain + " changed while it was being compressed");
  }
  if (!already_inside) {
    if (auto e = crash(CompressStep::kRename)) return std::unexpected(*e);
    if (::rename(tmp.c_str(), gz.c_str()) != 0) return Unavailable(Errno("cannot rename to", gz));
    if (auto e = crash(CompressStep::kSyncDir)) return std::unexpected(*e);
    if (auto s = SyncDir(dir); !s) return std::unexpected(s.error());
  }
  if (auto e = crash(CompressStep::kUnlinkPlain)) return std::unexpected(*e);
  if (::unlink(plain.c_str()) != 0) return Unavailable(Errno("cannot remove", plain));
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
    r.text.resize(static_cast<size_t>(std::min(length, r.total - r.offset)));
    size_t got = 0;
    while (got < r.text.size()) {
      const ssize_t n = ::pread(fd, r.text.data() + got, r.text.size() - got, static_cast<off_t>(r.offset + got));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      got += static_cast<size_t>(n);
    }
    r.text.resize(got);
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

}  // namespace duende::manager
