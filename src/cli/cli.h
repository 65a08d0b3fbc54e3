// The `duende` command-line client: submit and watch jobs, list jobs, tasks
// and workers, change job status and priority, all through the Manager's
// /api/ endpoints (api/openapi.yaml).
//
// RunCli() is the whole program minus process wiring, so tests run it
// in-process against a fake manager with a fake clock.
//
// Output contract:
//   - results go to `out`; with --json, `out` gets the server's JSON instead
//     of tables/text, for scripts;
//   - every failure is exactly one line on `err`, starting "duende: error: ";
//   - exit codes are the kExit* constants below.
#pragma once

#include <optional>
#include <ostream>
#include <stop_token>
#include <string>

#include "common/clock.h"
#include "http/http.h"

namespace duende::cli {

inline constexpr int kExitOk = 0;
// The operation failed (HTTP 4xx/5xx), or a waited-for job did not complete.
inline constexpr int kExitFailed = 1;
// Bad command line (unknown command/flag, missing or invalid argument).
inline constexpr int kExitUsage = 2;
// Network error: the manager could not be reached.
inline constexpr int kExitUnreachable = 3;
// Interrupted (Ctrl-C) while waiting for a job; the job keeps running.
inline constexpr int kExitInterrupted = 130;

struct CliOptions {
  // When true, `submit --wait` redraws one progress line with '\r';
  // otherwise it prints one line per change.
  bool out_is_tty = false;
  // Requested stop (Ctrl-C): `submit --wait` returns kExitInterrupted.
  std::stop_token stop;
  // Manager URL used when --manager is absent. nullopt: $DUENDE_MANAGER,
  // else http://127.0.0.1:8080.
  std::optional<std::string> default_manager;
  // API token sent as "Authorization: Bearer" (set by RunCli from --token,
  // $DUENDE_TOKEN, --token-file or $DUENDE_TOKEN_FILE; empty: none).
  std::string token;
  // CA file or directory for https:// Managers (set by RunCli from
  // --ca-cert or $DUENDE_CA_CERT; empty: the system's CA store).
  std::string ca_path;
};

// Runs one command. `argv[0]` is the program name. `client` and `clock` must
// outlive the call; the clock paces `submit --wait` polling (every 0.5 s) and
// gives "now" for ages such as a worker's LAST SEEN. Never throws.
int RunCli(int argc, const char* const* argv, std::ostream& out, std::ostream& err, http::Client& client, Clock& clock,
           const CliOptions& options);

// Same with default options: not a TTY, never interrupted, manager from the
// environment.
int RunCli(int argc, const char* const* argv, std::ostream& out, std::ostream& err, http::Client& client, Clock& clock);

}  // namespace duende::cli
