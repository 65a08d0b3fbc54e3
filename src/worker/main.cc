// duende-worker: flags → WorkerConfig, signals → stop/status requests, run.
//
// Exit codes: 0 clean shutdown, 1 fatal error (one line on stderr),
// 2 bad flags, 75 the Manager asked for a restart.
#include <signal.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <sstream>
#include <thread>

#include "common/clock.h"
#include "common/logging.h"
#include "common/timefmt.h"
#include "http/http.h"
#include "worker/process.h"
#include "worker/worker.h"

namespace {

using duende::worker::ExitCode;

// A duration flag ("5s", "500ms", "1m"), parsed after CLI11 is done.
struct DurationFlag {
  std::string text;
  std::chrono::milliseconds* target;
};

}  // namespace

int main(int argc, char** argv) {
  duende::worker::WorkerConfig config;
  std::string task_types;
  std::string log_level = "info";
  std::string data_dir;

  CLI::App app{"Duende render farm worker (Flamenco v2 compatible)", "duende-worker"};
  app.set_version_flag("--version", std::string(duende::worker::kVersion));
  app.add_option("--manager", config.manager_url, "Manager URL, e.g. http://manager:8080")->required();
  app.add_option("--data-dir", data_dir, "Directory for credentials.json and outbox.sqlite")->required();
  app.add_option("--task-types", task_types,
                 "Space-separated task types (default: sleep blender-render file-management exr-merge "
                 "video-encoding debug)");
  app.add_option("--nickname", config.nickname, "Name shown in the Manager (default: host name)");
  // Also from the environment: keeps the secret out of `ps` (the packaged
  // systemd unit passes it that way).
  app.add_option("--registration-secret", config.registration_secret, "Pre-shared secret for registration (HS256 JWT)")
      ->envname("DUENDE_REGISTRATION_SECRET");
  app.add_flag("--single,-1", config.single, "Exit after running one task");
  app.add_option("--log-level", log_level, "debug, info, warn or error")->capture_default_str();
  std::string ca_cert;
  app.add_option("--ca-cert", ca_cert,
                 "https:// Managers: CA file or directory that signed the Manager's certificate (default: the "
                 "system's CA store)")
      ->envname("DUENDE_CA_CERT");

  std::vector<DurationFlag> durations = {
      {"", &config.runner.may_i_run_interval},
      {"", &config.poll_interval},
      {"", &config.long_poll_wait},
      {"", &config.retry_interval},
      {"", &config.sleep_poll_interval},
      {"", &config.outbox.backoff},
      {"", &config.runner.reporter.push_log_max_interval},
      {"", &config.runner.reporter.push_act_max_interval},
      {"", &config.shutdown_flush_timeout},
  };
  const char* names[] = {"--may-i-run-interval", "--poll-interval",          "--long-poll-wait",
                         "--retry-interval",     "--sleep-poll-interval",    "--outbox-backoff",
                         "--push-log-interval",  "--push-activity-interval", "--shutdown-flush-timeout"};
  const char* help[] = {"GET /may-i-run period while running a task (5s)",
                        "wait after POST /task answered 204 (5s)",
                        "ask a Duende Manager to hold POST /task this long for work (5s; 0s = off)",
                        "wait after network errors and unexpected answers (10s)",
                        "GET /status-change period while asleep (30s)",
                        "outbox back-off after a failed delivery (5s)",
                        "push buffered log lines at least this often (30s)",
                        "push activity at most this often (15s)",
                        "longest final outbox flush at shutdown (10s)"};
  for (size_t i = 0; i < durations.size(); ++i) app.add_option(names[i], durations[i].text, help[i]);
  app.add_option("--push-log-max-entries", config.runner.reporter.push_log_max_entries,
                 "push the log buffer when it holds more lines (1000)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : duende::worker::kExitUsage;
  }
  for (size_t i = 0; i < durations.size(); ++i) {
    if (durations[i].text.empty()) continue;
    auto d = duende::ParseDuration(durations[i].text);
    if (!d) {
      std::fprintf(stderr, "duende-worker: %s: %s\n", names[i], d.error().message.c_str());
      return duende::worker::kExitUsage;
    }
    *durations[i].target = *d;
  }
  if (!task_types.empty()) {
    std::istringstream in(task_types);
    config.task_types.clear();
    for (std::string t; in >> t;) config.task_types.push_back(t);
  }
  if (config.manager_url.find("://") == std::string::npos) {
    std::fprintf(stderr, "duende-worker: --manager must be a URL like http://host:port\n");
    return duende::worker::kExitUsage;
  }
  if (!ca_cert.empty()) {
    if (auto st = duende::http::CheckCaPath(ca_cert); !st) {
      std::fprintf(stderr, "duende-worker: %s\n", st.error().message.c_str());
      return duende::worker::kExitUsage;
    }
  }
  config.data_dir = data_dir;
  duende::SetupLogging(log_level);

  // Signals are handled on one thread with sigwait; block them everywhere
  // else before any thread starts (subprocesses get a clean mask back).
  sigset_t set;
  sigemptyset(&set);
  for (int sig : {SIGINT, SIGTERM, SIGUSR1, SIGUSR2}) sigaddset(&set, sig);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);

  duende::SystemClock clock;
  auto http = duende::http::MakeCurlClient("Duende-Worker/" + std::string(duende::worker::kVersion),
                                           duende::http::ClientOptions{ca_cert});
  auto launcher = duende::worker::MakePosixProcessLauncher(clock);
  duende::worker::Worker worker(config, *http, *launcher, clock);
  std::stop_source stop;

  std::atomic<bool> exiting{false};
  std::thread signals([&set, &stop, &worker, &exiting] {
    for (;;) {
      int sig = 0;
      if (sigwait(&set, &sig) != 0) continue;
      if (exiting.load()) return;
      if (sig == SIGUSR1) {
        worker.RequestStatus("asleep");
      } else if (sig == SIGUSR2) {
        worker.RequestStatus("awake");
      } else {
        stop.request_stop();
      }
    }
  });

  const int code = worker.Run(stop.get_token());
  // Release the signal thread (it only returns once `exiting` is set).
  exiting.store(true);
  pthread_kill(signals.native_handle(), SIGTERM);
  signals.join();
  if (code == duende::worker::kExitFailure) std::fprintf(stderr, "duende-worker: %s\n", worker.fatal_error().c_str());
  return code;
}
