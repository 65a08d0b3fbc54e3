#include "manager/task_logs.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace duende::manager {

namespace fs = std::filesystem;

std::string TaskLogs::PathFor(const std::string& job_id, const std::string& task_id) const {
  return root_ + "/job-" + job_id.substr(0, 4) + "/" + job_id + "/task-" + task_id + ".txt";
}

Status TaskLogs::Append(const std::string& job_id, const std::string& task_id, std::string_view text) {
  if (text.empty() || job_id.empty()) return Ok();
  const std::string path = PathFor(job_id, task_id);
  std::string buf(text);
  if (buf.back() != '\n') buf.push_back('\n');
  // One mutex for all logs: appends are short, and holding it across the
  // write is what keeps concurrent updates of one task from interleaving.
  std::lock_guard lock(mu_);
  std::error_code ec;
  fs::create_directories(fs::path(path).parent_path(), ec);
  if (ec) return Unavailable("cannot create log directory for " + path + ": " + ec.message());
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return Unavailable("cannot open " + path + ": " + std::strerror(errno));
  size_t off = 0;
  while (off < buf.size()) {
    const ssize_t n = ::write(fd, buf.data() + off, buf.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      return Unavailable("cannot write " + path + ": " + std::strerror(err));
    }
    off += static_cast<size_t>(n);
  }
  ::close(fd);
  return Ok();
}

Status TaskLogs::Rotate(const std::string& job_id, const std::string& task_id) {
  if (job_id.empty()) return Ok();
  const std::string path = PathFor(job_id, task_id);
  std::lock_guard lock(mu_);
  std::error_code ec;
  if (!fs::exists(path, ec)) return Ok();
  int highest = 0;
  while (fs::exists(path + "." + std::to_string(highest + 1), ec)) ++highest;
  for (int n = highest; n >= 1; --n) {
    fs::rename(path + "." + std::to_string(n), path + "." + std::to_string(n + 1), ec);
    if (ec) return Unavailable("cannot rotate " + path + ": " + ec.message());
  }
  fs::rename(path, path + ".1", ec);
  if (ec) return Unavailable("cannot rotate " + path + ": " + ec.message());
  return Ok();
}

}  // namespace duende::manager
