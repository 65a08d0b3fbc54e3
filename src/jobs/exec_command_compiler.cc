// `exec-command` jobs (spec §11.2): run one shell command on one worker.
#include <nlohmann/json.hpp>

#include "jobs/compiler.h"
#include "jobs/compiler_util.h"

namespace duende::jobs {
namespace {

// The worker shell-splits `cmd`; an unbalanced quote would only fail there,
// after the job was accepted, so reject it up front.
bool QuotesBalanced(const std::string& cmd) {
  char quote = 0;
  bool escaped = false;
  for (char c : cmd) {
    if (escaped) {
      escaped = false;
    } else if (c == '\\' && quote != '\'') {
      escaped = true;
    } else if (quote) {
      if (c == quote) quote = 0;
    } else if (c == '"' || c == '\'') {
      quote = c;
    }
  }
  return quote == 0 && !escaped;
}

}  // namespace

Result<std::vector<protocol::Task>> CompileExecCommand(const nlohmann::json& settings, const CompileContext& ctx) {
  internal::Settings s(settings);
  auto cmd = s.RequiredString("cmd");
  if (!cmd) return std::unexpected(cmd.error());
  if (cmd->find_first_not_of(" \t\r\n") == std::string::npos) return InvalidArgument("setting 'cmd' must not be blank");
  if (!QuotesBalanced(*cmd)) return InvalidArgument("setting 'cmd' has an unbalanced quote");
  auto t = internal::NewTask(ctx, "exec-command", "debug");
  t.commands.push_back({"exec", {{"cmd", *cmd}}});
  return std::vector<protocol::Task>{std::move(t)};
}

}  // namespace duende::jobs
