// duende-manager: parses flags, loads the config, runs the Manager until
// SIGINT/SIGTERM.
#include <signal.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "common/clock.h"
#include "common/fd_limit.h"
#include "common/logging.h"
#include "manager/access.h"
#include "manager/app.h"
#include "manager/config.h"
#include "manager/dashboard.h"
#include "manager/worker_auth.h"

int main(int argc, char** argv) {
  CLI::App cli{"Duende Manager: schedules render tasks to workers"};
  std::string listen;
  std::string data_dir;
  std::string config_path;
  std::string log_level;
  std::string web_dir;
  cli.add_option("--listen", listen, "HOST:PORT to listen on (default from config, else 127.0.0.1:8080)");
  cli.add_option("--data-dir", data_dir, "Directory for the database and task logs (required to run)");
  bool hash_password = false, new_token = false;
  cli.add_flag("--hash-password", hash_password,
               "Read a password from stdin, print its argon2id hash for the config's users list, and exit");
  cli.add_flag("--new-token", new_token,
               "Print a new random API token and its argon2id hash (for a user's token_hash), and exit");
  cli.add_option("--config", config_path, "YAML configuration file (Flamenco v2 key names)");
  std::string upstream, manager_id, manager_token;
  cli.add_option("--upstream", upstream, "Linked mode: the duende-server URL to get jobs from (config key 'flamenco')");
  cli.add_option("--manager-id", manager_id, "Linked mode: this Manager's ID on the Server (config 'manager_id')");
  cli.add_option("--manager-token", manager_token,
                 "Linked mode: this Manager's token on the Server (config 'manager_secret'; also "
                 "DUENDE_MANAGER_TOKEN)");
  std::string tls_cert, tls_key, upstream_ca;
  cli.add_option("--tls-cert", tls_cert,
                 "Serve HTTPS with this PEM certificate chain (config 'tlscert'; needs --tls-key)");
  cli.add_option("--tls-key", tls_key, "The PEM private key of --tls-cert (config 'tlskey')");
  cli.add_option("--upstream-ca", upstream_ca,
                 "Linked mode over HTTPS: CA file or directory that signed the Server's certificate (config "
                 "'upstream_ca_path'; default: the system's CA store)");
  cli.add_option("--log-level", log_level, "debug, info, warn or error");
  cli.add_option("--web-dir", web_dir,
                 "Directory of the built web dashboard (default: ../share/duende/web next to the binary, else the "
                 "source tree's web/dist)");
  try {
    cli.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return cli.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "duende-manager: error: " << e.what() << "\n";
    return 2;
  }

  if (hash_password) {
    std::string password;
    std::getline(std::cin, password);
    if (password.empty()) {
      std::cerr << "duende-manager: error: no password on stdin\n";
      return 2;
    }
    auto hash = duende::manager::HashPassword(password);
    if (!hash) {
      std::cerr << "duende-manager: error: " << hash.error().message << "\n";
      return 1;
    }
    std::cout << *hash << "\n";
    return 0;
  }
  if (new_token) {
    const std::string token = duende::manager::NewToken();
    auto hash = duende::manager::HashSecret(token);
    if (!hash) {
      std::cerr << "duende-manager: error: " << hash.error().message << "\n";
      return 1;
    }
    std::cout << "token: " << token << "\ntoken_hash: " << *hash << "\n";
    return 0;
  }
  if (data_dir.empty()) {
    std::cerr << "duende-manager: error: --data-dir is required\n";
    return 2;
  }

  auto config = config_path.empty() ? duende::manager::ParseConfig("", data_dir)
                                    : duende::manager::LoadConfigFile(config_path, data_dir);
  if (!config) {
    std::cerr << "duende-manager: error: " << config.error().message << "\n";
    return 2;
  }
  if (!listen.empty()) config->listen = listen;
  if (!upstream.empty()) config->upstream_url = upstream;
  if (!manager_id.empty()) config->manager_id = manager_id;
  if (manager_token.empty()) {
    // Keeps the token out of `ps` output.
    if (const char* env = std::getenv("DUENDE_MANAGER_TOKEN")) manager_token = env;
  }
  if (!manager_token.empty()) config->manager_secret = manager_token;
  if (!log_level.empty()) config->log_level = log_level;
  if (!tls_cert.empty()) config->tls_cert = tls_cert;
  if (!tls_key.empty()) config->tls_key = tls_key;
  if (!upstream_ca.empty()) config->upstream_ca_path = upstream_ca;
  if (config->tls_cert.empty() != config->tls_key.empty()) {
    std::cerr << "duende-manager: error: HTTPS needs both a certificate and a key (--tls-cert and --tls-key)\n";
    return 2;
  }
  config->web_dir = web_dir.empty() ? duende::manager::DefaultWebDir() : web_dir;
  duende::SetupLogging(config->log_level);
  spdlog::info("effective configuration:\n{}", duende::manager::DescribeConfig(*config));
  // A descriptor per connection: idle keep-alive workers add up.
  if (auto fds = duende::RaiseFdLimit()) {
    spdlog::info("open-file limit: {} (was {})", fds->now, fds->before);
  } else {
    spdlog::warn("{}", fds.error().message);
  }

  // Block the stop signals in every thread; the main thread waits for them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  duende::SystemClock clock;
  duende::manager::ManagerApp app(*config, clock);
  auto port = app.Start();
  if (!port) {
    std::cerr << "duende-manager: error: " << port.error().message << "\n";
    return 1;
  }
  {
    // Lets scripts and tests find an ephemeral port.
    auto host = config->listen.substr(0, config->listen.rfind(':'));
    if (host.empty() || host == "0.0.0.0") host = "127.0.0.1";
    std::ofstream(config->data_dir + "/manager.url.tmp")
        << (config->tls_cert.empty() ? "http://" : "https://") << host << ":" << *port << "\n";
    std::rename((config->data_dir + "/manager.url.tmp").c_str(), (config->data_dir + "/manager.url").c_str());
  }
  int sig = 0;
  sigwait(&signals, &sig);
  spdlog::info("received signal {}, shutting down", sig);
  app.Stop();
  spdlog::info("stopped");
  return 0;
}
