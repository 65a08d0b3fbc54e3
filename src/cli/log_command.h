// `duende log TASK_ID [--follow]`: prints a task's log from the Manager.
// Without --follow the whole log is fetched in byte ranges
// (GET /api/tasks/{id}/log); with --follow the existing log and then new
// lines are printed as the task writes them, until it ends
// (GET /api/tasks/{id}/log/follow, Server-Sent Events) or Ctrl-C.
#pragma once

#include <ostream>
#include <string>

#include "cli/cli.h"
#include "http/http.h"

namespace CLI {
class App;
}

namespace duende::cli {

class LogCommand {
 public:
  // Registers the subcommand on `app`.
  explicit LogCommand(CLI::App& app);
  bool parsed() const;
  // Exit codes: kExitOk; kExitFailed (unknown task, no log, HTTP error);
  // kExitUnreachable; kExitInterrupted (Ctrl-C while following).
  int Run(http::Client& client, const std::string& manager_url, const CliOptions& options, std::ostream& out,
          std::ostream& err) const;

 private:
  CLI::App* sub_ = nullptr;
  std::string task_id_;
  bool follow_ = false;
  int earlier_ = 0;  // runs back (GET /api/tasks/{id}/log?earlier=)
};

}  // namespace duende::cli
