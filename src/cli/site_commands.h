// `duende managers ...`: the Manager registry of duende-server (issue 8),
// kept apart from cli.cc like the worker commands. Run with --manager
// pointing at the Server.
//
//   duende managers                  list registered Managers
//   duende managers create NAME      register one; prints its ID and token
//                                    (shown only this once)
//   duende managers revoke ID        revoke its token (it gets 401 from now on)
//   duende log-request TASK [--wait S] [--output FILE]
//                                    ask the task's Manager to upload its log
//                                    to the Server; with --wait, wait up to S
//                                    seconds for it and print it (or write it
//                                    to FILE)
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
  int RunLogRequest(ManagerApi& api, std::ostream& out, std::ostream& err);

  CLI::App* managers_ = nullptr;
  CLI::App* create_ = nullptr;
  CLI::App* revoke_ = nullptr;
  CLI::App* log_request_ = nullptr;
  std::string name_;
  std::string id_;
  std::string task_;
  double wait_seconds_ = 0;
  std::string output_;
};

}  // namespace duende::cli
