// `duende explain` and `duende blacklist`: failure diagnosis (issue 3).
//
//   duende explain TASK_ID                        why a task is (not) running,
//                                                 per worker the rule that excludes it
//   duende blacklist [--worker ID] [--job ID]     blacklist entries
//   duende blacklist forget WORKER JOB TASK_TYPE  remove one entry
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <ostream>
#include <string>

#include "cli/manager_api.h"

namespace CLI {
class App;
}

namespace duende::cli {

class DiagnosticsCommands {
 public:
  // Adds the commands to `app`; the object must outlive parsing.
  explicit DiagnosticsCommands(CLI::App& app);
  bool parsed() const;
  // Output contract and exit codes as cli.h.
  int Run(ManagerApi& api, std::ostream& out, std::ostream& err, bool json_output);

 private:
  CLI::App* explain_ = nullptr;
  CLI::App* blacklist_ = nullptr;
  CLI::App* forget_ = nullptr;
  std::string task_id_, worker_, job_, task_type_;
};

// The text form of GET /api/tasks/{id}/explain. Pure.
std::string ExplanationText(const nlohmann::json& explanation);

}  // namespace duende::cli
