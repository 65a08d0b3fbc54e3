// `duende worker ...`: operator actions on workers (issue 4), kept apart
// from cli.cc so the job commands and these grow independently.
//
//   duende worker sleep ID... [--lazy]      request asleep
//   duende worker wake ID...                request awake
//   duende worker shutdown ID... [--lazy]   request shutdown (signs off, exits 0)
//   duende worker restart ID... [--lazy]    request restart (exits 75 for a supervisor)
//   duende worker ack-timeout ID...         timeout → offline
//   duende worker forget ID...              delete (its tasks are re-queued)
//   duende worker show ID                   details and sleep schedule
//   duende worker schedule ID [--days "mo tu"] [--start HH:MM] [--end HH:MM] [--inactive]
//   duende worker schedule ID --clear
//   duende worker schedule ID               show the schedule
//
// --lazy: after the worker's current task; otherwise the running task is
// stopped and re-queued for another worker.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <ostream>
#include <string>
#include <vector>

#include "cli/manager_api.h"

namespace CLI {
class App;
}

namespace duende::cli {

class WorkerCommands {
 public:
  // Adds the "worker" command and its subcommands to `app`; the object must
  // outlive parsing (CLI11 writes into its members).
  explicit WorkerCommands(CLI::App& app);

  // Whether the command line chose `worker ...`.
  bool parsed() const;
  // Runs the chosen subcommand; output contract and exit codes as cli.h.
  int Run(ManagerApi& api, std::ostream& out, std::ostream& err, bool json_output);

 private:
  int RequestStatus(ManagerApi& api, std::ostream& out, std::ostream& err, bool json_output, const std::string& status);
  int PerWorker(ManagerApi& api, std::ostream& out, std::ostream& err, bool json_output, const std::string& suffix,
                const std::string& done);
  int Schedule(ManagerApi& api, std::ostream& out, std::ostream& err, bool json_output);

  CLI::App* worker_ = nullptr;
  std::vector<std::pair<CLI::App*, std::string>> status_commands_;
  CLI::App* ack_timeout_ = nullptr;
  CLI::App* forget_ = nullptr;
  CLI::App* show_ = nullptr;
  CLI::App* schedule_ = nullptr;
  std::vector<std::string> ids_;
  std::string id_;
  bool lazy_ = false;
  std::string days_, start_, end_;
  bool inactive_ = false;
  bool clear_ = false;
};

// "Key: value" lines for one worker of GET /api/workers/{id}, its sleep
// schedule included. Pure.
std::string WorkerDetails(const nlohmann::json& worker);
// One line describing a worker's "sleep_schedule" object, e.g.
// "active, mo tu, 22:00-07:00, next check 2027-01-15 21:00:00" or "none".
std::string ScheduleSummary(const nlohmann::json& schedule);

}  // namespace duende::cli
