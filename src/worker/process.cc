#include "worker/process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <thread>

extern char** environ;

namespace duende::worker {
namespace {

// Lines longer than this are delivered in pieces rather than buffering an
// unbounded amount of output without a newline.
constexpr size_t kMaxLineBytes = 64 * 1024;

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() { Reset(); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  void Reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

struct Pipe {
  Fd read, write;
};

Result<Pipe> MakePipe(int flags) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC | flags) != 0) return Internal(std::string("pipe2: ") + std::strerror(errno));
  return Pipe{Fd(fds[0]), Fd(fds[1])};
}

// Splits a byte stream into lines on '\n' and '\r'.
class LineSplitter {
 public:
  LineSplitter(int pid, const LineSink& sink) : pid_(pid), sink_(sink) {}
  void Feed(std::string_view data) {
    for (char c : data) {
      if (c == '\n' || c == '\r') {
        Emit();
      } else {
        buf_.push_back(c);
        if (buf_.size() >= kMaxLineBytes) Emit();
      }
    }
  }
  void Finish() { Emit(); }

 private:
  void Emit() {
    if (!buf_.empty() && sink_) sink_(pid_, buf_);
    buf_.clear();
  }
  int pid_;
  const LineSink& sink_;
  std::string buf_;
};

class PosixProcessLauncher final : public ProcessLauncher {
 public:
  PosixProcessLauncher(Clock& clock, std::chrono::milliseconds grace) : clock_(clock), grace_(grace) {}

  Result<ProcessExit> Run(const ProcessSpec& spec, const LineSink& on_line, std::stop_token abort) override {
    if (spec.argv.empty()) return InvalidArgument("empty command line");
    auto out = MakePipe(0);
    if (!out) return std::unexpected(out.error());
    // Self-pipe: the abort request and the grace timer wake poll() through it,
    // so the read loop never needs a timeout of its own.
    auto wake = MakePipe(O_NONBLOCK);
    if (!wake) return std::unexpected(wake.error());

    auto pid = Spawn(spec, out->write.get());
    if (!pid) return std::unexpected(pid.error());
    out->write.Reset();  // only the child writes; EOF once it (and its group) closed it
    ProcessExit result;
    result.pid = *pid;

    // A pidfd tells us when the group leader exits even if a member it left
    // behind still holds the pipe open.
    Fd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, *pid, 0)));

    const int wake_fd = wake->write.get();
    std::stop_callback on_abort(abort, [wake_fd] {
      const char b = 'a';
      [[maybe_unused]] auto n = ::write(wake_fd, &b, 1);
    });
    // Started on abort: waits `grace_` on the injected clock, then pokes the
    // loop to escalate to SIGKILL.
    std::atomic<bool> grace_expired{false};
    std::jthread grace_timer;
    bool term_sent = false;
    bool kill_sent = false;
    bool leader_exited = false;
    int wait_status = 0;
    LineSplitter lines(*pid, on_line);
    char buf[8192];

    auto signal_group = [&](int sig) {
      // The leader is not reaped yet (zombie at worst), so its pid, which is
      // the group id, cannot have been reused.
      ::kill(-*pid, sig);
    };
    // Reads what is already in the pipe without waiting for EOF (a member of
    // the group may still hold the write end).
    auto drain = [&] {
      if (!out->read.valid()) return;
      ::fcntl(out->read.get(), F_SETFL, O_NONBLOCK);
      for (;;) {
        const ssize_t n = ::read(out->read.get(), buf, sizeof buf);
        if (n > 0) {
          lines.Feed(std::string_view(buf, static_cast<size_t>(n)));
          continue;
        }
        if (n < 0 && errno == EINTR) continue;
        break;  // EOF, EAGAIN or error
      }
    };

    while (!leader_exited) {
      pollfd fds[3];
      int nfds = 0;
      int out_i = -1, pid_i = -1, wake_i = -1;
      if (out->read.valid()) {
        fds[nfds] = {out->read.get(), POLLIN, 0};
        out_i = nfds++;
      }
      if (pidfd.valid()) {
        fds[nfds] = {pidfd.get(), POLLIN, 0};
        pid_i = nfds++;
      }
      fds[nfds] = {wake->read.get(), POLLIN, 0};
      wake_i = nfds++;
      if (out_i < 0 && pid_i < 0) {
        // No pidfd (old kernel) and output closed: just reap.
        while (::waitpid(*pid, &wait_status, 0) < 0 && errno == EINTR) {
        }
        break;
      }
      if (::poll(fds, static_cast<nfds_t>(nfds), -1) < 0) {
        if (errno == EINTR) continue;
        signal_group(SIGKILL);
        ::waitpid(*pid, &wait_status, 0);
        return Internal(std::string("poll: ") + std::strerror(errno));
      }
      if (wake_i >= 0 && (fds[wake_i].revents & POLLIN)) {
        char tmp[16];
        while (::read(wake->read.get(), tmp, sizeof tmp) > 0) {
        }
        if (abort.stop_requested() && !term_sent) {
          term_sent = true;
          result.aborted = true;
          signal_group(SIGTERM);
          const SteadyTime deadline = clock_.SteadyNow() + grace_;
          grace_timer = std::jthread([this, deadline, wake_fd, &grace_expired](std::stop_token st) {
            while (clock_.SteadyNow() < deadline) {
              if (!clock_.WaitUntil(deadline, st)) return;
            }
            grace_expired.store(true);
            const char b = 'k';
            [[maybe_unused]] auto n = ::write(wake_fd, &b, 1);
          });
        } else if (grace_expired.load() && !kill_sent) {
          kill_sent = true;
          signal_group(SIGKILL);
        }
      }
      if (out_i >= 0 && (fds[out_i].revents & (POLLIN | POLLHUP | POLLERR))) {
        const ssize_t n = ::read(out->read.get(), buf, sizeof buf);
        if (n > 0) {
          lines.Feed(std::string_view(buf, static_cast<size_t>(n)));
        } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
          out->read.Reset();  // EOF
        }
      }
      if (pid_i >= 0 && (fds[pid_i].revents & POLLIN)) {
        leader_exited = true;
        drain();
        signal_group(SIGKILL);  // whatever the leader left behind in its group
        while (::waitpid(*pid, &wait_status, 0) < 0 && errno == EINTR) {
        }
      }
    }
    lines.Finish();
    grace_timer = std::jthread();  // stop and join the timer, if any
    if (WIFSIGNALED(wait_status)) {
      result.signal = WTERMSIG(wait_status);
    } else if (WIFEXITED(wait_status)) {
      result.exit_code = WEXITSTATUS(wait_status);
    }
    return result;
  }

 private:
  static Result<int> Spawn(const ProcessSpec& spec, int out_fd) {
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_init(&attr);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, out_fd, 1);
    posix_spawn_file_actions_adddup2(&actions, out_fd, 2);
    if (!spec.working_dir.empty()) posix_spawn_file_actions_addchdir_np(&actions, spec.working_dir.c_str());
    // New process group (so abort reaches grandchildren); an empty signal
    // mask and default dispositions, because the worker blocks its shutdown
    // signals for its signal-handling thread and children must not inherit that.
    sigset_t empty, defaults;
    sigemptyset(&empty);
    sigemptyset(&defaults);
    for (int sig : {SIGINT, SIGTERM, SIGUSR1, SIGUSR2, SIGPIPE, SIGHUP, SIGQUIT}) sigaddset(&defaults, sig);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setsigmask(&attr, &empty);
    posix_spawnattr_setsigdefault(&attr, &defaults);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

    std::vector<std::string> env_strings;
    for (char** e = environ; e && *e; ++e) {
      std::string_view kv(*e);
      if (kv.starts_with("LD_LIBRARY_PATH=")) continue;
      env_strings.emplace_back(kv);
    }
    std::vector<char*> envp;
    for (auto& s : env_strings) envp.push_back(s.data());
    envp.push_back(nullptr);
    std::vector<std::string> args = spec.argv;
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);

    pid_t pid = 0;
    const int rc = ::posix_spawnp(&pid, argv[0], &actions, &attr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) {
      const std::string msg = "cannot run " + spec.argv[0] + ": " + std::strerror(rc);
      if (rc == ENOENT || rc == EACCES || rc == ENOEXEC) return NotFound(msg);
      return Internal(msg);
    }
    return static_cast<int>(pid);
  }

  Clock& clock_;
  std::chrono::milliseconds grace_;
};

}  // namespace

std::unique_ptr<ProcessLauncher> MakePosixProcessLauncher(Clock& clock, std::chrono::milliseconds grace) {
  return std::make_unique<PosixProcessLauncher>(clock, grace);
}

Status CheckExit(const ProcessExit& e, std::string_view what) {
  if (e.signal != 0) return Internal(std::string(what) + " terminated by signal " + std::to_string(e.signal));
  if (e.exit_code != 0) return Internal(std::string(what) + " exited with status " + std::to_string(e.exit_code));
  return Ok();
}

Result<std::string> FindExecutable(std::string_view program) {
  if (program.empty()) return NotFound("empty program name");
  auto is_exec = [](const std::string& p) {
    struct stat st;
    return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(p.c_str(), X_OK) == 0;
  };
  if (program.find('/') != std::string_view::npos) {
    std::string p(program);
    if (is_exec(p)) return p;
    return NotFound("executable " + p + " does not exist");
  }
  const char* path_env = std::getenv("PATH");
  std::string_view path = path_env ? path_env : "/usr/local/bin:/usr/bin:/bin";
  while (true) {
    const size_t colon = path.find(':');
    std::string dir(path.substr(0, colon));
    if (dir.empty()) dir = ".";
    std::string candidate = dir + "/" + std::string(program);
    if (is_exec(candidate)) return candidate;
    if (colon == std::string_view::npos) break;
    path.remove_prefix(colon + 1);
  }
  return NotFound("executable " + std::string(program) + " not found in PATH");
}

}  // namespace duende::worker
