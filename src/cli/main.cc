// `duende`: wires the real terminal, HTTP client, clock and Ctrl-C into
// RunCli().
#include <pthread.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <iostream>
#include <stop_token>
#include <thread>

#include "cli/cli.h"
#include "common/clock.h"
#include "http/http.h"

namespace {

// After Ctrl-C, RunCli gets this long to return on its own (`submit --wait`
// does, immediately); otherwise (a slow request) the process just exits.
constexpr auto kInterruptGrace = std::chrono::seconds(1);

}  // namespace

int main(int argc, char** argv) {
  // Signals go to a dedicated thread (blocked everywhere else, inherited by
  // threads created later), where it is safe to request a stop.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  duende::SystemClock clock;
  std::stop_source stop;
  std::thread([&signals, &stop, &clock] {
    int signal = 0;
    if (sigwait(&signals, &signal) != 0) return;
    stop.request_stop();
    clock.WaitFor(kInterruptGrace, std::stop_token());
    std::_Exit(duende::cli::kExitInterrupted);
  }).detach();

  auto client = duende::http::MakeCurlClient("duende-cli");
  duende::cli::CliOptions options;
  options.out_is_tty = isatty(STDOUT_FILENO) == 1;
  options.stop = stop.get_token();
  const int code = duende::cli::RunCli(argc, argv, std::cout, std::cerr, *client, clock, options);
  std::cout.flush();
  std::_Exit(code);  // the signal thread is still parked in sigwait()
}
