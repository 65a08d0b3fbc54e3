#include "worker/commands/command.h"

#include <algorithm>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>

#include "worker/commands/commands_impl.h"
#include "worker/shell_split.h"

namespace duende::worker {
namespace {

using Factory = std::function<std::unique_ptr<Command>()>;

const std::map<std::string, Factory, std::less<>>& Registry() {
  static const auto* registry = new std::map<std::string, Factory, std::less<>>{
      {"echo", MakeEchoCommand},
      {"sleep", MakeSleepCommand},
      {"exec", MakeExecCommand},
      {"blender_render", MakeBlenderRenderCommand},
      {"create_video", MakeCreateVideoCommand},
      {"move_out_of_way", MakeMoveOutOfWayCommand},
      {"move_to_final", MakeMoveToFinalCommand},
      {"copy_file", MakeCopyFileCommand},
      {"remove_tree", MakeRemoveTreeCommand},
      {"remove_file", MakeRemoveFileCommand},
      {"create_python_file", MakeCreatePythonFileCommand},
  };
  return *registry;
}

}  // namespace

Result<std::unique_ptr<Command>> MakeCommand(std::string_view name) {
  const auto& r = Registry();
  auto it = r.find(name);
  if (it == r.end()) return InvalidArgument("unknown command '" + std::string(name) + "'");
  return it->second();
}

std::vector<std::string> CommandNames() {
  std::vector<std::string> names;
  for (const auto& [name, f] : Registry()) names.push_back(name);
  return names;
}

Result<std::string> GetStringSetting(const nlohmann::json& settings, std::string_view key, bool required,
                                     bool non_empty) {
  const std::string k(key);
  auto it = settings.find(k);
  if (it == settings.end() || it->is_null()) {
    if (required) return InvalidArgument("missing '" + k + "'");
    return std::string();
  }
  if (!it->is_string()) return InvalidArgument("'" + k + "' must be a string, not " + it->type_name());
  std::string v = it->get<std::string>();
  if (non_empty && v.empty() && required) return InvalidArgument("'" + k + "' must not be empty");
  return v;
}

Result<std::optional<double>> GetNumberSetting(const nlohmann::json& settings, std::string_view key, bool required) {
  const std::string k(key);
  auto it = settings.find(k);
  if (it == settings.end() || it->is_null()) {
    if (required) return InvalidArgument("missing '" + k + "'");
    return std::optional<double>();
  }
  if (!it->is_number()) return InvalidArgument("'" + k + "' must be a number, not " + it->type_name());
  return std::optional<double>(it->get<double>());
}

Status RunLogged(CommandEnv& env, std::string_view what, const ProcessSpec& spec,
                 const std::function<void(std::string_view line)>& on_line) {
  env.Log(std::string(what) + ": running " + ShellJoin(spec.argv));
  auto exit = env.launcher().Run(
      spec,
      [&](int pid, std::string_view line) {
        env.Log("pid=" + std::to_string(pid) + " > " + std::string(line));
        if (on_line) on_line(line);
      },
      env.abort_token());
  if (!exit) return std::unexpected(exit.error().WithContext(std::string(what)));
  if (exit->aborted) return Internal(std::string(what) + " aborted");
  return CheckExit(*exit, what);
}

bool WaitAbortable(CommandEnv& env, std::chrono::milliseconds d) {
  const SteadyTime deadline = env.clock().SteadyNow() + d;
  while (env.clock().SteadyNow() < deadline) {
    if (!env.clock().WaitUntil(deadline, env.abort_token())) return false;
  }
  return !env.abort_token().stop_requested();
}

}  // namespace duende::worker
