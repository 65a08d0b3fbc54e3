// `duende job-types`: the job types a Manager knows and their settings.
//
//   duende job-types              built-in and data-defined types
//   duende job-types show NAME    one type's description and settings
//   duende job-types reload       re-read the Manager's job types directory
//                                 (admin); exit 1 when a file was skipped
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <ostream>
#include <string>

#include "cli/manager_api.h"

namespace CLI {
class App;
}

namespace duende::cli {

class JobTypeCommands {
 public:
  // Adds the commands to `app`; the object must outlive parsing.
  explicit JobTypeCommands(CLI::App& app);
  bool parsed() const;
  // Output contract and exit codes as cli.h.
  int Run(ManagerApi& api, std::ostream& out, std::ostream& err, bool json_output);

 private:
  CLI::App* list_ = nullptr;
  CLI::App* show_ = nullptr;
  CLI::App* reload_ = nullptr;
  std::string name_;
};

// Text views of GET /api/job-types/{name} and POST /api/job-types/reload.
// Pure.
std::string JobTypeText(const nlohmann::json& schema);
std::string ReloadReportText(const nlohmann::json& report);

}  // namespace duende::cli
