// ProcessLauncher: the seam between commands and real subprocesses.
//
// Contract of every launcher (spec §10.8 "Subprocess rules"):
//   - the child runs in its own process group, stdin is /dev/null, stderr is
//     merged into stdout, LD_LIBRARY_PATH is removed from its environment;
//   - output is delivered line by line ('\n' or '\r' terminated, terminator
//     stripped, empty lines dropped) to `on_line` on the calling thread;
//   - when `abort` is requested: SIGTERM to the whole group, then, if the
//     group leader has not exited within the grace period (measured on the
//     injected Clock), SIGKILL to the group;
//   - when the group leader exits, members it left behind in its group are
//     killed too, so no command leaks processes onto the render node.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/result.h"

namespace duende::worker {

struct ProcessSpec {
  // argv[0] is looked up in PATH when it contains no '/'.
  std::vector<std::string> argv;
  // Empty: inherit the worker's working directory.
  std::string working_dir;
};

struct ProcessExit {
  int pid = 0;
  int exit_code = 0;     // meaningful when signal == 0
  int signal = 0;        // non-zero when the process was killed by a signal
  bool aborted = false;  // `abort` was requested while it ran
};

// Called with the child's pid and one output line.
using LineSink = std::function<void(int pid, std::string_view line)>;

class ProcessLauncher {
 public:
  virtual ~ProcessLauncher() = default;
  // Runs `spec` to completion (or abort) and reports how it ended. Errors:
  // kNotFound when the program cannot be started, kInternal for pipe/spawn
  // failures. A non-zero exit is *not* an error here; see CheckExit.
  // Thread-safe: several Run() calls may proceed concurrently.
  virtual Result<ProcessExit> Run(const ProcessSpec& spec, const LineSink& on_line, std::stop_token abort) = 0;
};

// posix_spawn-based launcher. `grace` is the SIGTERM → SIGKILL delay.
std::unique_ptr<ProcessLauncher> MakePosixProcessLauncher(Clock& clock,
                                                          std::chrono::milliseconds grace = std::chrono::seconds(5));

// Ok for exit status 0; otherwise an error (kInternal) "<what> exited with
// status N" or "<what> terminated by signal N".
Status CheckExit(const ProcessExit& e, std::string_view what);

// Resolves `program` like execvp would (PATH search when it has no '/').
// Returns the path of an executable regular file, or kNotFound.
Result<std::string> FindExecutable(std::string_view program);

}  // namespace duende::worker
