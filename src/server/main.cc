// duende-server: parses flags, runs the Server until SIGINT/SIGTERM.
#include <signal.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>

#include "common/clock.h"
#include "common/fd_limit.h"
#include "common/logging.h"
#include "http/server_limits.h"
#include "manager/dashboard.h"
#include "server/app.h"

int main(int argc, char** argv) {
  CLI::App cli{"Duende Server: owns jobs for several linked Managers (sites)"};
  duende::server::ServerConfig config;
  std::string log_level = "info";
  cli.add_option("--listen", config.listen, "HOST:PORT to listen on")->capture_default_str();
  cli.add_option("--data-dir", config.data_dir, "Directory for the database and uploaded task logs")->required();
  cli.add_option("--database", config.database,
                 "PostgreSQL connection URL (postgresql://user@host/db); default: SQLite in --data-dir")
      ->envname("DUENDE_DATABASE");
  cli.add_option("--tasks-per-worker", config.tasks_per_worker,
                 "Unassigned tasks a Manager claims per depsgraph download, per worker it has")
      ->capture_default_str()
      ->check(CLI::Range(1, 10000));
  cli.add_option("--task-fail-job-percentage", config.task_fail_job_percentage,
                 "A job fails once this percentage of its tasks failed")
      ->capture_default_str()
      ->check(CLI::Range(1, 100));
  cli.add_option("--log-level", log_level, "debug, info, warn or error")->capture_default_str();
  cli.add_option("--tls-cert", config.tls_cert, "Serve HTTPS with this PEM certificate chain (needs --tls-key)")
      ->envname("DUENDE_TLS_CERT");
  cli.add_option("--tls-key", config.tls_key, "The PEM private key of --tls-cert")->envname("DUENDE_TLS_KEY");
  // The Manager's connection-limit config keys, as flags with dashes.
  for (const auto& limit : duende::http::ServerLimits()) {
    std::string flag = "--" + std::string(limit.key);
    std::replace(flag.begin(), flag.end(), '_', '-');
    cli.add_option_function<std::string>(
        flag,
        [&config, key = limit.key, flag](const std::string& value) {
          if (auto st = duende::http::SetServerLimit(config.limits, key, value); !st)
            throw CLI::ValidationError(flag, st.error().message);
        },
        std::string(limit.help) + " (default " + duende::http::ServerLimitValue(config.limits, limit.key) + ")");
  }
  std::string web_dir;
  cli.add_option("--web-dir", web_dir, "Directory of the web dashboard (default: the installed or built one)");
  try {
    cli.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return cli.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "duende-server: error: " << e.what() << "\n";
    return 2;
  }
  if (config.tls_cert.empty() != config.tls_key.empty()) {
    std::cerr << "duende-server: error: HTTPS needs both a certificate and a key (--tls-cert and --tls-key)\n";
    return 2;
  }
  duende::SetupLogging(log_level);
  // A descriptor per connection (and per Manager's keep-alive link).
  if (auto fds = duende::RaiseFdLimit()) {
    spdlog::info("open-file limit: {} (was {})", fds->now, fds->before);
  } else {
    spdlog::warn("{}", fds.error().message);
  }
  config.web_dir = web_dir.empty() ? duende::manager::DefaultWebDir() : web_dir;

  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  duende::SystemClock clock;
  duende::server::ServerApp app(config, clock);
  auto port = app.Start();
  if (!port) {
    std::cerr << "duende-server: error: " << port.error().message << "\n";
    return 1;
  }
  {
    // Lets scripts and tests find an ephemeral port.
    auto host = config.listen.substr(0, config.listen.rfind(':'));
    if (host.empty() || host == "0.0.0.0") host = "127.0.0.1";
    std::ofstream(config.data_dir + "/server.url.tmp")
        << (config.tls_cert.empty() ? "http://" : "https://") << host << ":" << *port << "\n";
    std::rename((config.data_dir + "/server.url.tmp").c_str(), (config.data_dir + "/server.url").c_str());
  }
  int sig = 0;
  sigwait(&signals, &sig);
  spdlog::info("received signal {}, shutting down", sig);
  app.Stop();
  return 0;
}
