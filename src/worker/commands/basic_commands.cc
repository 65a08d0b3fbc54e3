// echo, sleep, exec.
#include <cmath>
#include <nlohmann/json.hpp>

#include "worker/commands/commands_impl.h"
#include "worker/shell_split.h"

namespace duende::worker {
namespace {

class EchoCommand final : public Command {
 public:
  std::string_view name() const override { return "echo"; }
  Status Validate(const nlohmann::json& settings) override {
    auto m = GetStringSetting(settings, "message", /*required=*/true, /*non_empty=*/false);
    if (!m) return std::unexpected(m.error());
    message_ = *m;
    return Ok();
  }
  Status Execute(CommandEnv& env) override {
    env.Log("echo: " + message_);
    return Ok();
  }

 private:
  std::string message_;
};

class SleepCommand final : public Command {
 public:
  std::string_view name() const override { return "sleep"; }
  Status Validate(const nlohmann::json& settings) override {
    auto t = GetNumberSetting(settings, "time_in_seconds", /*required=*/true);
    if (!t) return std::unexpected(t.error());
    if (!std::isfinite(**t) || **t < 0) return InvalidArgument("'time_in_seconds' must be a non-negative number");
    duration_ = std::chrono::milliseconds(static_cast<int64_t>(std::ceil(**t * 1000.0)));
    seconds_ = **t;
    return Ok();
  }
  Status Execute(CommandEnv& env) override {
    env.Log("sleep: sleeping for " + nlohmann::json(seconds_).dump() + " seconds");
    if (!WaitAbortable(env, duration_)) return Internal("sleep aborted");
    return Ok();
  }

 private:
  std::chrono::milliseconds duration_{0};
  double seconds_ = 0;
};

class ExecCommand final : public Command {
 public:
  std::string_view name() const override { return "exec"; }
  Status Validate(const nlohmann::json& settings) override {
    auto cmd = GetStringSetting(settings, "cmd", /*required=*/true);
    if (!cmd) return std::unexpected(cmd.error());
    auto argv = ShellSplit(*cmd);
    if (!argv) return std::unexpected(argv.error().WithContext("'cmd'"));
    if (argv->empty()) return InvalidArgument("'cmd' must not be empty");
    argv_ = std::move(*argv);
    return Ok();
  }
  Status Execute(CommandEnv& env) override { return RunLogged(env, "exec", ProcessSpec{argv_, ""}); }

 private:
  std::vector<std::string> argv_;
};

}  // namespace

std::unique_ptr<Command> MakeEchoCommand() { return std::make_unique<EchoCommand>(); }
std::unique_ptr<Command> MakeSleepCommand() { return std::make_unique<SleepCommand>(); }
std::unique_ptr<Command> MakeExecCommand() { return std::make_unique<ExecCommand>(); }

}  // namespace duende::worker
