// Worker: the duende-worker service (spec §10.3, §10.4, §10.7).
//
// Run() registers (if <data-dir>/credentials.json has no identity), signs
// on, starts the outbox flusher, then loops:
//   awake:  outbox backlog > limit → wait; POST /task:
//             200 → run it, then fetch the next one at once (no 3 s pause);
//             204 → wait poll_interval; 406/other → log, wait retry_interval;
//             423 {"status_requested": X} → apply X;
//             network error → wait retry_interval.
//   asleep: every sleep_poll_interval GET /status-change; apply what it says.
// Applying a requested status: asleep → ack asleep, stop fetching;
// awake → ack awake, fetch; shutdown → clean shutdown, exit 0;
// restart → clean shutdown, exit kExitRestart; anything else → log, sleep.
// Clean shutdown (also on `stop`): abort the running command without
// reporting its status, flush the outbox for at most
// shutdown_flush_timeout, POST /sign-off.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include "common/clock.h"
#include "http/http.h"
#include "worker/manager_client.h"
#include "worker/outbox.h"
#include "worker/process.h"
#include "worker/task_runner.h"

namespace duende::worker {

inline constexpr std::string_view kVersion = DUENDE_VERSION;

// Process exit codes of duende-worker.
enum ExitCode : int {
  kExitOk = 0,        // clean shutdown (signal, Manager "shutdown", --single done)
  kExitFailure = 1,   // fatal: registration refused, bad data dir, ...
  kExitUsage = 2,     // bad command-line flags
  kExitRestart = 75,  // the Manager requested "restart" (EX_TEMPFAIL): a
                      // supervisor (systemd RestartForceExitStatus=75) restarts it
};

std::vector<std::string> DefaultTaskTypes();

struct WorkerConfig {
  std::string manager_url;
  std::filesystem::path data_dir;
  std::vector<std::string> task_types = DefaultTaskTypes();
  std::string nickname;  // empty: the host name
  std::string registration_secret;
  bool single = false;  // exit after one task

  // After 204 from POST /task.
  std::chrono::milliseconds poll_interval = std::chrono::seconds(5);
  // POST /task asks the Manager to wait this long for work (header
  // X-Duende-Wait): a Duende Manager answers as soon as a task is there, so
  // a new job starts at once instead of after up to poll_interval. A Manager
  // that does not know the header answers 204 at once and the worker polls
  // as in v2. 0 = never ask. Must stay well under the HTTP timeout (10 s).
  std::chrono::milliseconds long_poll_wait = std::chrono::seconds(5);
  // After a network error, 406 or an unexpected status; also the wait while
  // the outbox backlog is too big (spec §10.4: 10 s).
  std::chrono::milliseconds retry_interval = std::chrono::seconds(10);
  // GET /status-change period while asleep (spec §10.7: 30 s).
  std::chrono::milliseconds sleep_poll_interval = std::chrono::seconds(30);
  // Registration/sign-on back-off: starts at 1 s, doubles up to this (v2
  // retried every 30 s).
  std::chrono::milliseconds startup_retry_max = std::chrono::seconds(30);
  // Upper bound for the final outbox flush at shutdown.
  std::chrono::milliseconds shutdown_flush_timeout = std::chrono::seconds(10);
  // Do not fetch tasks while more updates than this are unsent (spec §10.4).
  int outbox_backlog_limit = 10;

  RunnerOptions runner;
  OutboxOptions outbox;
};

class Worker {
 public:
  // `http`, `launcher` and `clock` must outlive the worker.
  Worker(WorkerConfig config, http::Client& http, ProcessLauncher& launcher, Clock& clock);
  ~Worker();

  // Runs until shutdown; returns the process exit code (ExitCode). On
  // kExitFailure, fatal_error() says why in one line.
  int Run(std::stop_token stop);

  // Local status request (SIGUSR1 → "asleep", SIGUSR2 → "awake"), applied by
  // the main loop as soon as it is between tasks. Thread-safe.
  void RequestStatus(std::string status);

  const std::string& fatal_error() const { return fatal_error_; }
  const WorkerConfig& config() const { return config_; }

 private:
  enum class State { kAwake, kAsleep };
  enum class Step { kOk, kStopped, kFatal };
  struct Applied {
    std::optional<int> exit_code;  // set when the worker must exit
  };

  Step Startup(std::stop_token stop);
  Step Register(std::stop_token stop);
  Step SignOn(std::stop_token stop);
  // Returns the exit code.
  int MainLoop(std::stop_token stop);
  Applied Apply(const std::string& requested);
  void Ack(std::string_view status);
  void Shutdown();
  // Waits `d`; returns early (true) on a local status request, false when stopped.
  bool Wait(std::chrono::milliseconds d, std::stop_token stop);
  bool BackoffWait(std::chrono::milliseconds& delay, std::stop_token stop);
  std::optional<std::string> TakeLocalRequest();
  int Fatal(std::string message);

  WorkerConfig config_;
  http::Client& http_;
  ProcessLauncher& launcher_;
  Clock& clock_;
  ManagerClient manager_;
  std::unique_ptr<Outbox> outbox_;
  std::unique_ptr<TaskRunner> runner_;
  State state_ = State::kAwake;
  bool signed_on_ = false;
  std::string fatal_error_;

  std::mutex local_mu_;
  std::optional<std::string> local_request_;
};

}  // namespace duende::worker
