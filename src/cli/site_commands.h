// `duende managers ...`: the Manager registry of duende-server (issue 8),
// kept apart from cli.cc like the worker commands. Run with --manager
// pointing at the Server.
//
//   duende managers                  list registered Managers
//   duende managers create NAME      register one; prints its ID and token
//                                    (shown only this once)
//   duende managers revoke ID        revoke its token (it gets 401 from now on)
#pragma once

#include <ostream>
#include <string>

#include "cli/manager_api.h"

namespace CLI {
class App;
}

namespace duende::cli {

class SiteCommands {
 public:
  // Adds the "managers" command to `app`; the object must outlive parsing.
  explicit SiteCommands(CLI::App& app);
  bool parsed() const;
  // Output contract and exit codes as cli.h.
  int Run(ManagerApi& api, std::ostream& out, std::ostream& err, bool json_output);

 private:
  CLI::App* managers_ = nullptr;
  CLI::App* create_ = nullptr;
  CLI::App* revoke_ = nullptr;
  std::string name_;
  std::string id_;
};

}  // namespace duende::cli
