#include "manager/task_logs.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <optional>
#include <unordered_map>

#include "common/file_io.h"
#include "common/gzip.h"
#include "common/ids.h"
#include "manager/log_pack.h"

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
std::string PreadText(int fd, uint64_t offset, uint64_t length) { return ReadAt(fd, offset, length).value_or(""); }

// Writes `text` to `fd` (retried on EINTR and short writes); returns how
// many bytes were written, fewer than asked on an error (errno says which).
size_t WriteFully(int fd, std::string_view text) {
  size_t off = 0;
  while (off < text.size()) {
    const ssize_t n = ::write(fd, text.data() + off, text.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    off += static_cast<size_t>(n);
  }
  return off;
}

// The whole of a file, as it is now.
Result<std::string> ReadWholeFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Unavailable(Errno("cannot open", path));
  struct stat st {};
  ::fstat(fd, &st);
  std::string bytes = PreadText(fd, 0, static_cast<uint64_t>(st.st_size));
  ::close(fd);
  return bytes;
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

// --- the index -----------------------------------------------------------------

// One run of a task's log.
struct TaskLogs::Run {
  uint32_t number = 0;   // 1, 2, ... in order; 0 is a log from before the pack (task-X.txt)
  bool in_file = false;  // in its own file (RunPath); else in the pack
  uint64_t size = 0;     // bytes of a packed run (a file's size is read from it)
  uint64_t end = 0;      // pack offset after the run's last record (identifies a packed run)
  std::vector<std::pair<uint64_t, uint64_t>> extents;  // packed: (pack offset, bytes), in order
};

struct TaskLogs::TaskIndex {
  uint32_t last_run = 0;  // the highest run number used
  bool has_gz = false;    // task-X.txt.gz exists
  std::vector<Run> runs;  // not yet compressed, oldest first: back() is the current log
};

struct TaskLogs::JobIndex {
  int fd = -1;             // the pack, open for appending (-1: none yet)
  uint64_t pack_size = 0;  // bytes of the pack
  std::string pack_id;     // random, from the pack's header: tells packs apart in .gz tags
  std::unordered_map<std::string, TaskIndex> tasks;
  size_t with_runs = 0;  // tasks with runs; at 0 the pack holds nothing readable and is removed
  uint64_t used = 0;     // TaskLogs::use_clock_ at the last use
  JobIndex() = default;
  JobIndex(const JobIndex&) = delete;
  JobIndex& operator=(const JobIndex&) = delete;
  ~JobIndex() {
    if (fd >= 0) ::close(fd);
  }
};

struct TaskLogs::Snapshot {
  struct Part {
    std::string text;  // a packed run
    std::string path;  // a run in its own file: its first `size` bytes
    uint64_t size = 0;
  };
  std::string tag;  // names exactly these runs (the .gz header of their compression)
  bool has_gz = false;
  std::vector<Part> parts;
};

namespace {

constexpr std::string_view kPackName = "logs.pack";

// Parses "ID" or "ID.run-N" (the name between "task-" and ".txt").
bool ParseRunName(std::string_view name, std::string* task, uint32_t* run) {
  *run = 0;
  if (const size_t dot = name.find(".run-"); dot != std::string_view::npos) {
    const std::string_view digits = name.substr(dot + 5);
    if (digits.empty() || digits.size() > 9) return false;
    for (char c : digits) {
      if (c < '0' || c > '9') return false;
      *run = *run * 10 + static_cast<uint32_t>(c - '0');
    }
    name = name.substr(0, dot);
  }
  if (name.empty()) return false;
  *task = std::string(name);
  return true;
}

}  // namespace

TaskLogs::TaskLogs(std::string root, uint64_t max_bytes, uint64_t max_total_bytes, uint64_t pack_max_bytes)
    : root_(std::move(root)),
      caps_{max_bytes, max_total_bytes},
      pack_max_bytes_(pack_max_bytes),
      task_notice_("\n" + std::string(kCapNotice) + std::to_string(max_bytes) +
                   " bytes); later lines are not stored ---\n"),
      total_notice_("\n" + std::string(kTotalCapNotice) + std::to_string(max_total_bytes) +
                    " bytes); lines are dropped until space is freed ---\n"),
      total_bytes_(MeasureTree(root_)) {}

TaskLogs::~TaskLogs() = default;

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

std::string TaskLogs::JobDir(const std::string& job_id) const {
  return root_ + "/job-" + job_id.substr(0, 4) + "/" + job_id;
}

std::string TaskLogs::RunPath(const std::string& job_id, const std::string& task_id, uint32_t run) const {
  std::string path = JobDir(job_id) + "/task-" + task_id;
  if (run > 0) path += ".run-" + std::to_string(run);
  return path + ".txt";
}

std::string TaskLogs::GzPathFor(const std::string& job_id, const std::string& task_id) const {
  return JobDir(job_id) + "/task-" + task_id + ".txt.gz";
}

Result<TaskLogs::JobIndex*> TaskLogs::Job(const std::string& job_id) {
  if (auto it = jobs_.find(job_id); it != jobs_.end()) {
    it->second->used = ++use_clock_;
    return it->second.get();
  }
  // Bounded memory and open files: the least recently used jobs' indexes
  // go (they are read again from their packs when needed).
  while (!jobs_.empty() && (indexed_tasks_ > kMaxIndexedTasks || jobs_.size() >= kMaxIndexedJobs)) {
    auto lru = jobs_.begin();
    for (auto it = jobs_.begin(); it != jobs_.end(); ++it)
      if (it->second->used < lru->second->used) lru = it;
    indexed_tasks_ -= std::min<uint64_t>(indexed_tasks_, lru->second->tasks.size());
    jobs_.erase(lru);
  }
  auto job = std::make_unique<JobIndex>();
  if (auto st = LoadJob(job_id, *job); !st) return std::unexpected(st.error());
  job->used = ++use_clock_;
  indexed_tasks_ += job->tasks.size();
  return jobs_.emplace(job_id, std::move(job)).first->second.get();
}

Status TaskLogs::LoadJob(const std::string& job_id, JobIndex& job) {
  const std::string dir = JobDir(job_id);
  // The files: logs from before the pack, runs in their own files, .gz.
  std::map<std::string, std::map<uint32_t, uint64_t>> files;  // task -> run -> bytes
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    std::string_view rest(name);
    if (!rest.starts_with("task-")) continue;
    rest.remove_prefix(5);
    if (rest.ends_with(".txt.gz")) {
      job.tasks[std::string(rest.substr(0, rest.size() - 7))].has_gz = true;
      continue;
    }
    if (!rest.ends_with(".txt")) continue;
    rest.remove_suffix(4);
    std::string task;
    uint32_t run = 0;
    std::error_code size_ec;
    const uint64_t size = it->file_size(size_ec);
    if (ParseRunName(rest, &task, &run) && !size_ec) files[task][run] = size;
  }
  if (ec && ec != std::errc::no_such_file_or_directory)
    return Unavailable("cannot list the logs of job " + job_id + ": " + ec.message());

  // The pack.
  const std::string pack = dir + "/" + std::string(kPackName);
  std::map<std::string, uint32_t> covered;  // task -> highest run inside its .gz
  const int fd = ::open(pack.c_str(), O_RDWR | O_APPEND | O_CLOEXEC);
  if (fd < 0 && errno != ENOENT) return Unavailable(Errno("cannot open", pack));
  if (fd >= 0) {
    job.fd = fd;
    struct stat st {};
    if (::fstat(fd, &st) != 0) return Unavailable(Errno("cannot stat", pack));
    const uint64_t size = static_cast<uint64_t>(st.st_size);
    auto scanned = log_pack::Scan(fd, size, [&](const log_pack::Record& r) {
      TaskIndex& t = job.tasks[std::string(r.task_id)];
      t.last_run = std::max(t.last_run, r.run);
      if (r.kind == log_pack::Kind::kCompressed) {
        t.runs.clear();
        t.has_gz = true;
        covered[std::string(r.task_id)] = r.run;
        return;
      }
      const bool current = !t.runs.empty() && t.runs.back().number == r.run;
      if (r.kind == log_pack::Kind::kSpilled) {
        if (!current) t.runs.push_back(Run{r.run, true, 0, r.end, {}});
        t.runs.back().in_file = true;
        t.runs.back().extents.clear();
        return;
      }
      if (!current) t.runs.push_back(Run{r.run, false, 0, r.end, {}});
      Run& run = t.runs.back();
      if (run.in_file) return;  // never written so: ignored
      if (r.text_size > 0) run.extents.emplace_back(r.text_at, r.text_size);
      run.size += r.text_size;
      run.end = r.end;
    });
    if (!scanned) return std::unexpected(scanned.error().WithContext(pack));
    job.pack_id = scanned->id;
    const uint64_t at = scanned->end;
    if (at != size) {
      // A record cut by a crash (or a pack cut before its header): the next
      // append must start at a record boundary.
      spdlog::warn("task log pack {}: {} bytes of a cut record at its end removed", pack, size - at);
      if (::ftruncate(fd, static_cast<off_t>(at)) != 0) return Unavailable(Errno("cannot truncate", pack));
      total_bytes_ -= std::min(total_bytes_, size - at);
    }
    job.pack_size = at;
    if (at == 0) {
      ::close(fd);
      job.fd = -1;
      ::unlink(pack.c_str());
    }
  }

  // Files the pack does not name: logs from before it (kept as runs), or
  // left by a crash inside a compression or a move (removed: their text is
  // in the .gz, or still in the pack).
  for (auto& [task_id, runs] : files) {
    TaskIndex& t = job.tasks[task_id];
    const auto cov = covered.find(task_id);
    for (const auto& [number, size] : runs) {
      auto run = std::find_if(t.runs.begin(), t.runs.end(), [n = number](const Run& r) { return r.number == n; });
      if (run != t.runs.end() && run->in_file) continue;
      if (run != t.runs.end() || (cov != covered.end() && number <= cov->second)) {
        if (::unlink(RunPath(job_id, task_id, number).c_str()) == 0) total_bytes_ -= std::min(total_bytes_, size);
        continue;
      }
      auto pos = std::find_if(t.runs.begin(), t.runs.end(), [n = number](const Run& r) { return r.number > n; });
      t.runs.insert(pos, Run{number, true, 0, 0, {}});
      t.last_run = std::max(t.last_run, number);
    }
  }
  for (auto& [task_id, t] : job.tasks) {
    // A run the pack says moved to a file that is gone has nothing to read.
    std::erase_if(t.runs, [&, &id = task_id](const Run& r) {
      auto f = files.find(id);
      return r.in_file && (f == files.end() || !f->second.contains(r.number));
    });
    if (!t.runs.empty()) ++job.with_runs;
  }
  if (job.with_runs == 0 && job.fd >= 0) {
    // Every task is compressed: the pack holds nothing more to read.
    ::close(job.fd);
    job.fd = -1;
    if (::unlink(pack.c_str()) == 0) total_bytes_ -= std::min(total_bytes_, job.pack_size);
    job.pack_size = 0;
  }
  return Ok();
}

Result<uint64_t> TaskLogs::AppendRecord(JobIndex& job, const std::string& job_id, log_pack::Kind kind,
                                        const std::string& task_id, uint32_t run, std::string_view text) {
  if (job.fd < 0) {
    const std::string dir = JobDir(job_id);
    const std::string path = dir + "/" + std::string(kPackName);
    auto pack = log_pack::Create(path);
    if (!pack && !fs::exists(dir)) {
      std::error_code ec;
      fs::create_directories(dir, ec);
      if (ec) return Unavailable("cannot create log directory " + dir + ": " + ec.message());
      pack = log_pack::Create(path);
    }
    if (!pack) return std::unexpected(pack.error());
    job.fd = pack->fd;
    job.pack_id = pack->id;
    job.pack_size = pack->size;
    total_bytes_ += pack->size;
  }
  auto text_at = log_pack::Append(job.fd, job.pack_size, kind, task_id, run, text);
  if (!text_at) return std::unexpected(text_at.error().WithContext("the task logs of job " + job_id));
  const uint64_t bytes = log_pack::RecordSize(task_id, text.size());
  job.pack_size += bytes;
  total_bytes_ += bytes;
  return text_at;
}

Result<std::string> TaskLogs::Gather(const JobIndex& job, const Run& run) const {
  std::string text;
  text.reserve(static_cast<size_t>(run.size));
  for (const auto& [at, n] : run.extents) {
    const std::string part = PreadText(job.fd, at, n);
    if (part.size() != n) return Unavailable("cannot read the log pack: " + std::string(std::strerror(errno)));
    text += part;
  }
  return text;
}

// --- writing -------------------------------------------------------------------

Status TaskLogs::Append(const std::string& job_id, const std::string& task_id, std::string_view text) {
  return Write(job_id, task_id, text, false);
}

Status TaskLogs::Rotate(const std::string& job_id, const std::string& task_id) {
  return Write(job_id, task_id, {}, true);
}

Status TaskLogs::StartAttempt(const std::string& job_id, const std::string& task_id, std::string_view text) {
  return Write(job_id, task_id, text, true);
}

void TaskLogs::Notify(const std::string& job_id, const std::string& task_id, const LogEvent& event) {
  if (followers_.empty()) return;
  if (auto it = followers_.find(Key(job_id, task_id)); it != followers_.end()) {
    for (auto& [id, fn] : it->second) fn(event);
  }
}

Status TaskLogs::Write(const std::string& job_id, const std::string& task_id, std::string_view text, bool new_attempt) {
  if (job_id.empty() || (text.empty() && !new_attempt)) return Ok();
  std::string buf(text);
  if (!buf.empty() && buf.back() != '\n') buf.push_back('\n');
  // One mutex for all logs: appends are short, and holding it across the
  // write is what keeps concurrent updates of one task from interleaving
  // and gives followers the text in log order.
  std::unique_lock lock(mu_);
  WaitWhileCompressing(lock, job_id, task_id);
  auto found = Job(job_id);
  if (!found) return std::unexpected(found.error());
  JobIndex& job = **found;
  auto [it, inserted] = job.tasks.try_emplace(task_id);
  if (inserted) ++indexed_tasks_;
  TaskIndex& t = it->second;
  const bool capped = caps_.max_bytes > 0 || caps_.max_total_bytes > 0;

  if (new_attempt || t.runs.empty()) {
    if (buf.empty() && t.runs.empty()) return Ok();  // nothing to rotate
    if (new_attempt && !t.runs.empty()) Notify(job_id, task_id, LogEvent{LogEvent::Kind::kRotated, 0, {}});
    if (capped)
      buf = FitUnderCaps(
          std::move(buf), 0, [](std::string_view) { return false; }, task_id);
    // A new run: its first record starts it, even without text.
    Run run{t.last_run + 1, false, 0, 0, {}};
    if (pack_max_bytes_ > 0 && buf.size() <= pack_max_bytes_) {
      auto at = AppendRecord(job, job_id, log_pack::Kind::kText, task_id, run.number, buf);
      if (!at) return std::unexpected(at.error());
      if (!buf.empty()) run.extents.emplace_back(*at, buf.size());
      run.size = buf.size();
      run.end = job.pack_size;
    } else {
      uint64_t offset = 0;
      if (auto st = WriteToFile(RunPath(job_id, task_id, run.number), buf, false, &offset); !st) return st;
      if (auto at = AppendRecord(job, job_id, log_pack::Kind::kSpilled, task_id, run.number, {}); !at)
        return std::unexpected(at.error());
      run.in_file = true;
    }
    t.last_run = run.number;
    if (t.runs.empty()) ++job.with_runs;
    t.runs.push_back(std::move(run));
    if (!buf.empty()) Notify(job_id, task_id, LogEvent{LogEvent::Kind::kAppended, 0, buf});
    return Ok();
  }

  Run& run = t.runs.back();
  uint64_t offset = run.size;
  if (run.in_file) {
    if (auto st = WriteToFile(RunPath(job_id, task_id, run.number), buf, capped, &offset); !st) return st;
  } else {
    if (capped) {
      buf = FitUnderCaps(
          std::move(buf), run.size,
          [&](std::string_view end) {
            if (run.size < end.size()) return false;
            auto all = Gather(job, run);
            return all && std::string_view(*all).ends_with(end);
          },
          task_id);
    }
    if (buf.empty()) return Ok();
    if (pack_max_bytes_ > 0 && run.size + buf.size() > pack_max_bytes_) {
      if (auto st = Spill(job_id, task_id, job, run, buf); !st) return st;
    } else {
      auto at = AppendRecord(job, job_id, log_pack::Kind::kText, task_id, run.number, buf);
      if (!at) return std::unexpected(at.error());
      run.extents.emplace_back(*at, buf.size());
      run.size += buf.size();
      run.end = job.pack_size;
    }
  }
  if (!buf.empty()) Notify(job_id, task_id, LogEvent{LogEvent::Kind::kAppended, offset, buf});
  return Ok();
}

Status TaskLogs::WriteToFile(const std::string& path, std::string& buf, bool capped, uint64_t* offset) {
  const int flags = O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC;
  int fd = ::open(path.c_str(), flags, 0644);
  if (fd < 0 && errno == ENOENT) {
    std::error_code ec;
    fs::create_directories(fs::path(path).parent_path(), ec);
    if (ec) return Unavailable("cannot create log directory for " + path + ": " + ec.message());
    fd = ::open(path.c_str(), flags, 0644);
  }
  if (fd < 0) return Unavailable(Errno("cannot open", path));
  struct stat st {};
  *offset = ::fstat(fd, &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
  if (capped) {
    buf = FitUnderCaps(
        std::move(buf), *offset, [fd, size = *offset](std::string_view end) { return EndsWith(fd, size, end); }, path);
  }
  const size_t written = WriteFully(fd, buf);
  const std::string msg = written == buf.size() ? "" : Errno("cannot write", path);
  ::close(fd);
  total_bytes_ += written;
  if (written != buf.size()) return Unavailable(msg);
  return Ok();
}

Status TaskLogs::Spill(const std::string& job_id, const std::string& task_id, JobIndex& job, Run& run,
                       const std::string& buf) {
  auto text = Gather(job, run);
  if (!text) return std::unexpected(text.error());
  *text += buf;
  // The copy is made durable before the record that points readers at it:
  // the pack's copy of the text is freed with the pack.
  const std::string path = RunPath(job_id, task_id, run.number);
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Unavailable(Errno("cannot create", path));
  const bool written = WriteFully(fd, *text) == text->size() && ::fdatasync(fd) == 0;
  const std::string msg = written ? "" : Errno("cannot write", path);
  ::close(fd);
  if (!written) {
    ::unlink(path.c_str());
    return Unavailable(msg);
  }
  if (auto at = AppendRecord(job, job_id, log_pack::Kind::kSpilled, task_id, run.number, {}); !at) {
    ::unlink(path.c_str());
    return std::unexpected(at.error());
  }
  total_bytes_ += text->size();
  run.in_file = true;
  run.extents = {};
  run.size = 0;
  return Ok();
}

std::string TaskLogs::FitUnderCaps(std::string buf, uint64_t size,
                                   const std::function<bool(std::string_view)>& ends_with, const std::string& name) {
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
    if (plan.keep > 0 || !ends_with(total_notice_)) buf += total_notice_;
    return buf;
  }
  dropped_bytes_ += dropped;
  if (plan.task_cap_notice) {
    ++capped_logs_;
    spdlog::warn("task log {} reached task_log_max_bytes ({} bytes): later lines are dropped", name, caps_.max_bytes);
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
  const std::string dir = JobDir(job_id);
  // Under the lock, so no append or compression of this job moves the
  // total between measuring and removing (a deleted job is not running, so
  // appends do not wait here in practice).
  std::lock_guard lock(mu_);
  if (auto it = jobs_.find(job_id); it != jobs_.end()) {
    indexed_tasks_ -= std::min<uint64_t>(indexed_tasks_, it->second->tasks.size());
    jobs_.erase(it);
  }
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

// --- followers -----------------------------------------------------------------

TaskLogs::Subscription TaskLogs::Subscribe(const std::string& job_id, const std::string& task_id,
                                           LogListener listener) {
  std::lock_guard lock(mu_);
  Subscription sub;
  sub.id = next_subscription_++;
  if (auto job = Job(job_id)) {
    auto t = (*job)->tasks.find(task_id);
    if (t != (*job)->tasks.end() && !t->second.runs.empty()) {
      const Run& run = t->second.runs.back();
      sub.size = run.in_file ? SizeOr0(RunPath(job_id, task_id, run.number)) : run.size;
    }
  }
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

// --- compression and upload ----------------------------------------------------

Result<TaskLogs::Snapshot> TaskLogs::Take(const std::string& job_id, const std::string& task_id, TaskIndex& task,
                                          JobIndex& job, bool with_text) {
  Snapshot s;
  s.has_gz = task.has_gz;
  s.tag = "duende-runs";
  for (const Run& run : task.runs) {
    Snapshot::Part part;
    if (run.in_file) {
      part.path = RunPath(job_id, task_id, run.number);
      struct stat st {};
      if (::stat(part.path.c_str(), &st) != 0) return Unavailable(Errno("cannot stat", part.path));
      part.size = static_cast<uint64_t>(st.st_size);
      s.tag += " f" + std::to_string(run.number) + ":" + SourceTag(st);
    } else {
      if (with_text) {
        auto text = Gather(job, run);
        if (!text) return std::unexpected(text.error());
        part.text = std::move(*text);
      }
      s.tag += " p" + std::to_string(run.number) + "@" + job.pack_id + ":" + std::to_string(run.end);
    }
    s.parts.push_back(std::move(part));
  }
  return s;
}

Status TaskLogs::WriteSnapshot(const std::string& gz_path, const Snapshot& snapshot, GzipWriter& out) {
  auto sink = [&out](std::string_view s) { return out.Write(s); };
  if (snapshot.has_gz) {
    if (auto st = GunzipFile(gz_path, sink); !st) return st;
  }
  for (const Snapshot::Part& part : snapshot.parts) {
    if (part.path.empty()) {
      if (auto st = out.Write(part.text); !st) return st;
      continue;
    }
    const int fd = ::open(part.path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return Unavailable(Errno("cannot open", part.path));
    const Status st = ReadFdTo(fd, part.path, part.size, sink);
    ::close(fd);
    if (!st) return st;
  }
  return out.Finish();
}

Result<bool> TaskLogs::Compress(const std::string& job_id, const std::string& task_id, const CompressStepHook& hook) {
  const std::string gz = GzPathFor(job_id, task_id);
  const std::string tmp = gz + ".tmp";
  const std::string dir = JobDir(job_id);
  auto crash = [&](CompressStep step) -> std::optional<Error> {
    if (hook && !hook(step))
      return Error{ErrorCode::kInternal, "simulated crash before " + std::string(ToString(step))};
    return std::nullopt;
  };
  // The task's runs as they are now; read outside the lock.
  auto take = [&](bool with_text) -> Result<std::optional<Snapshot>> {
    auto job = Job(job_id);
    if (!job) return std::unexpected(job.error());
    auto t = (*job)->tasks.find(task_id);
    if (t == (*job)->tasks.end() || t->second.runs.empty()) return std::nullopt;
    auto s = Take(job_id, task_id, t->second, **job, with_text);
    if (!s) return std::unexpected(s.error());
    return std::optional<Snapshot>(std::move(*s));
  };
  std::unique_lock lock(mu_);
  auto before = take(true);
  if (!before) return std::unexpected(before.error());
  if (!*before) return false;
  const Snapshot& snap = **before;
  lock.unlock();

  std::error_code ec;
  bool already_inside = false;
  if (snap.has_gz) {
    auto comment = GzipComment(gz);
    already_inside = comment && *comment == snap.tag;
  }
  if (!already_inside) {
    if (auto e = crash(CompressStep::kWriteTemp)) return std::unexpected(*e);
    const int out = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out < 0) return Unavailable(Errno("cannot create", tmp));
    GzipWriter writer(out, 9, snap.tag);
    Status written = WriteSnapshot(gz, snap, writer);
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
      return std::unexpected(written.error().WithContext("compressing the log of task " + task_id));
    }
  }

  // The rename and the record happen under the log lock, after checking
  // that no late line was appended while we compressed (it would be lost).
  lock.lock();
  auto now = take(false);
  if (!now || !*now || (*now)->tag != snap.tag) {
    if (!already_inside) ::unlink(tmp.c_str());
    if (!now) return std::unexpected(now.error());
    return MakeError(ErrorCode::kBusy, "the log of task " + task_id + " changed while it was being compressed");
  }
  // From here until the record is written, this task's appends wait (a
  // line written to a run now would be marked as compressed with it); the
  // lock itself is released for the directory fsync, which can take
  // milliseconds, so every other log and the answers behind it go on.
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
  // The index may have been dropped while the lock was released.
  auto job = Job(job_id);
  if (!job) return std::unexpected(job.error());
  JobIndex& j = **job;
  auto found = j.tasks.find(task_id);
  // Its job deleted meanwhile (appends wait, so nothing else empties it).
  if (found == j.tasks.end() || found->second.runs.empty())
    return MakeError(ErrorCode::kBusy, "the logs of task " + task_id + " were deleted while being compressed");
  TaskIndex& t = found->second;
  if (auto at = AppendRecord(j, job_id, log_pack::Kind::kCompressed, task_id, t.last_run, {}); !at)
    return std::unexpected(at.error());
  for (const Run& run : t.runs) {
    if (!run.in_file) continue;
    const std::string path = RunPath(job_id, task_id, run.number);
    const uint64_t size = SizeOr0(path);
    if (::unlink(path.c_str()) == 0) total_bytes_ -= std::min(total_bytes_, size);
  }
  --j.with_runs;
  t.runs.clear();
  t.has_gz = true;
  if (j.with_runs == 0 && j.fd >= 0) {
    // Every task of the job is compressed: its pack holds nothing to read.
    ::close(j.fd);
    j.fd = -1;
    if (::unlink((dir + "/" + std::string(kPackName)).c_str()) == 0)
      total_bytes_ -= std::min(total_bytes_, j.pack_size);
    j.pack_size = 0;
  }
  NoteFreed();
  release.Now();  // the task's appends may go on (to a new run)
  lock.unlock();
  // Makes the removals durable; nothing waits for it. (Lost to a crash, a
  // run's file comes back and the next start removes it: the pack says it
  // is inside the .gz.)
  if (auto s = SyncDir(dir); !s) return std::unexpected(s.error());
  return true;
}

Result<std::string> TaskLogs::GzipForUpload(const std::string& job_id, const std::string& task_id) {
  if (job_id.empty()) return InvalidArgument("task " + task_id + " has no job, so it has no log");
  const std::string gz = GzPathFor(job_id, task_id);
  auto take = [&]() -> Result<Snapshot> {
    std::lock_guard lock(mu_);
    auto job = Job(job_id);
    if (!job) return std::unexpected(job.error());
    auto t = (*job)->tasks.find(task_id);
    if (t == (*job)->tasks.end()) return Snapshot{};
    return Take(job_id, task_id, t->second, **job, true);
  };
  auto snap = take();
  if (!snap) return std::unexpected(snap.error());
  if (snap->parts.empty() && !snap->has_gz) {
    if (auto st = Append(job_id, task_id, kMissingLogText); !st) return std::unexpected(st.error());
    snap = take();
    if (!snap) return std::unexpected(snap.error());
  }
  bool inside = snap->parts.empty();
  if (!inside && snap->has_gz) {
    auto comment = GzipComment(gz);
    inside = comment && *comment == snap->tag;
  }
  if (inside) {
    // Only the compressed log (or runs already inside it): it is what we
    // upload.
    auto comment = GzipComment(gz);  // validates it is gzip
    if (!comment) return std::unexpected(comment.error());
    return ReadWholeFile(gz);
  }
  std::string out;
  GzipWriter writer(
      [&out](std::string_view d) -> Status {
        out.append(d);
        return Ok();
      },
      9);
  if (auto st = WriteSnapshot(gz, *snap, writer); !st) return std::unexpected(st.error());
  return out;
}

// --- reading -------------------------------------------------------------------

Result<LogSource> TaskLogs::Locate(const std::string& job_id, const std::string& task_id) {
  std::lock_guard lock(mu_);
  LogSource src;
  auto job = Job(job_id);
  if (!job) return std::unexpected(job.error());
  auto t = (*job)->tasks.find(task_id);
  if (t == (*job)->tasks.end()) return src;
  if (t->second.runs.empty()) {
    if (t->second.has_gz) {
      src.kind = LogSource::Kind::kCompressed;
      src.path = GzPathFor(job_id, task_id);
    }
    return src;
  }
  const Run& run = t->second.runs.back();
  if (run.in_file) {
    src.kind = LogSource::Kind::kFile;
    src.path = RunPath(job_id, task_id, run.number);
    src.size = SizeOr0(src.path);
    return src;
  }
  auto text = Gather(**job, run);
  if (!text) return std::unexpected(text.error());
  src.kind = LogSource::Kind::kPacked;
  src.text = std::move(*text);
  src.size = src.text.size();
  return src;
}

namespace {

// Whole-text sources of the reading functions: the current log, located,
// with one retry when its file went away meanwhile (compressed).
template <typename Fn>
auto WithLocated(TaskLogs& logs, const std::string& job_id, const std::string& task_id, Fn fn)
    -> decltype(fn(std::declval<const LogSource&>(), -1)) {
  for (int attempt = 0;; ++attempt) {
    auto src = logs.Locate(job_id, task_id);
    if (!src) return std::unexpected(src.error());
    int fd = -1;
    if (src->kind == LogSource::Kind::kFile) {
      fd = ::open(src->path.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0 && errno == ENOENT && attempt == 0) continue;
      if (fd < 0) return Unavailable(Errno("cannot open", src->path));
    }
    auto result = fn(*src, fd);
    if (fd >= 0) ::close(fd);
    return result;
  }
}

}  // namespace

Result<TaskLogs::Range> TaskLogs::ReadRange(const std::string& job_id, const std::string& task_id, uint64_t offset,
                                            uint64_t length) {
  return WithLocated(*this, job_id, task_id, [&](const LogSource& src, int fd) -> Result<Range> {
    Range r;
    r.offset = offset;
    switch (src.kind) {
      case LogSource::Kind::kNone:
        return NotFound("task " + task_id + " has no log");
      case LogSource::Kind::kPacked:
        r.total = src.text.size();
        r.offset = std::min(offset, r.total);
        r.text =
            src.text.substr(static_cast<size_t>(r.offset), static_cast<size_t>(std::min(length, r.total - r.offset)));
        return r;
      case LogSource::Kind::kFile: {
        struct stat st {};
        ::fstat(fd, &st);
        r.total = static_cast<uint64_t>(st.st_size);
        r.offset = std::min(offset, r.total);
        r.text = PreadText(fd, r.offset, std::min(length, r.total - r.offset));
        return r;
      }
      case LogSource::Kind::kCompressed:
        break;
    }
    r.compressed = true;
    uint64_t pos = 0;
    const Error kDone{ErrorCode::kConflict, "done"};
    Status st = GunzipFile(src.path, [&](std::string_view s) -> Status {
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
  });
}

Result<std::string> TaskLogs::Text(const std::string& job_id, const std::string& task_id, unsigned earlier) {
  if (earlier == 0) {
    auto all = ReadRange(job_id, task_id, 0, UINT64_MAX);
    if (!all) return std::unexpected(all.error());
    return std::move(all->text);
  }
  std::string path;
  {
    std::lock_guard lock(mu_);
    auto job = Job(job_id);
    if (!job) return std::unexpected(job.error());
    auto t = (*job)->tasks.find(task_id);
    if (t == (*job)->tasks.end() || t->second.runs.size() <= earlier)
      return NotFound("task " + task_id + " has no log " + std::to_string(earlier) + " runs back");
    const Run& run = t->second.runs[t->second.runs.size() - 1 - earlier];
    if (!run.in_file) return Gather(**job, run);
    path = RunPath(job_id, task_id, run.number);
  }
  return ReadWholeFile(path);
}

std::optional<std::string> TaskLogs::Tail(const std::string& job_id, const std::string& task_id, uint64_t max_bytes) {
  auto tail = WithLocated(*this, job_id, task_id, [&](const LogSource& src, int fd) -> Result<std::string> {
    std::string text;
    bool cut = false;  // the text starts after the log's start
    switch (src.kind) {
      case LogSource::Kind::kNone:
        return NotFound("no log");
      case LogSource::Kind::kPacked: {
        const size_t from = src.text.size() > max_bytes ? static_cast<size_t>(src.text.size() - max_bytes) : 0;
        cut = from > 0;
        text = src.text.substr(from);
        break;
      }
      case LogSource::Kind::kFile: {
        struct stat st {};
        const uint64_t size = ::fstat(fd, &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
        const uint64_t from = size > max_bytes ? size - max_bytes : 0;
        cut = from > 0;
        text = PreadText(fd, from, size - from);
        break;
      }
      case LogSource::Kind::kCompressed: {
        const Status st = GunzipFile(src.path, [&](std::string_view s) -> Status {
          text.append(s);
          if (text.size() > 2 * max_bytes) {
            text.erase(0, text.size() - max_bytes);
            cut = true;
          }
          return Ok();
        });
        if (!st) return std::unexpected(st.error());
        if (text.size() > max_bytes) {
          text.erase(0, text.size() - max_bytes);
          cut = true;
        }
        break;
      }
    }
    // A line cut at the front is left out.
    if (cut) {
      const size_t nl = text.find('\n');
      text.erase(0, nl == std::string::npos ? text.size() : nl + 1);
    }
    return text;
  });
  if (!tail) return std::nullopt;
  return std::move(*tail);
}

}  // namespace duende::manager
