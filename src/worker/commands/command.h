// Commands: the units of work inside a task (spec §10.8).
//
// A Command first validates its settings (pure checks of types and values,
// plus "does this executable exist"), then executes against a CommandEnv.
// The task runner validates every command of a task before running the
// first one, so a typo in the last command fails the task before any work
// is done.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "worker/process.h"

namespace duende::worker {

// What a running command may do. Implemented by the task runner; tests use
// a recording fake. Thread-safe (commands call it from subprocess readers).
class CommandEnv {
 public:
  virtual ~CommandEnv() = default;
  // One task log line (the timestamp is added by the reporter). Commands
  // prefix their own messages with "<command name>: ".
  virtual void Log(std::string_view line) = 0;
  virtual void SetActivity(std::string activity) = 0;
  // 0..100 for the current command.
  virtual void SetProgress(int command_percentage) = 0;
  // A file the command produced (offered to the Manager's latest-image view).
  virtual void OutputProduced(std::string path) = 0;
  virtual Clock& clock() = 0;
  virtual ProcessLauncher& launcher() = 0;
  // Requested when the command must stop (Manager revoked the task, or the
  // worker shuts down). Long-running commands must honour it.
  virtual std::stop_token abort_token() = 0;
};

class Command {
 public:
  virtual ~Command() = default;
  virtual std::string_view name() const = 0;
  // Parses `settings` into the command. Error messages are meant for
  // "Error in settings: <message>".
  virtual Status Validate(const nlohmann::json& settings) = 0;
  // Runs the command; an error fails the task with its message as activity.
  virtual Status Execute(CommandEnv& env) = 0;
};

// Creates the command called `name`; kInvalidArgument for unknown names.
Result<std::unique_ptr<Command>> MakeCommand(std::string_view name);

// Names MakeCommand knows, sorted.
std::vector<std::string> CommandNames();

// --- helpers shared by the command implementations ------------------------

// Settings accessors. `required` → missing is an error; present values must
// have the right type. Strings marked non_empty must not be "".
Result<std::string> GetStringSetting(const nlohmann::json& settings, std::string_view key, bool required,
                                     bool non_empty = true);
Result<std::optional<double>> GetNumberSetting(const nlohmann::json& settings, std::string_view key, bool required);

// Runs a subprocess for a command: logs the command line, logs each output
// line as "pid=<N> > <line>" and hands it to `on_line` (may be empty),
// honours env.abort_token(). Errors: cannot start; aborted ("<what>
// aborted"); non-zero exit / signal (see CheckExit).
Status RunLogged(CommandEnv& env, std::string_view what, const ProcessSpec& spec,
                 const std::function<void(std::string_view line)>& on_line = {});

// Waits `d` on env.clock(); false when aborted first.
bool WaitAbortable(CommandEnv& env, std::chrono::milliseconds d);

}  // namespace duende::worker
