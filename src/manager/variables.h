// Variables (spec §12.3): `{name}` placeholders in command settings, replaced
// per audience and platform when a task is handed to a worker.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "common/result.h"
#include "protocol/types.h"

namespace duende::manager {

struct VariableValue {
  std::string audience;  // "all" (or empty), "workers", "users"
  std::vector<std::string> platforms;  // empty = every platform
  std::string value;
};

struct Variable {
  std::string direction = "oneway";  // or "twoway" (path prefixes)
  std::vector<VariableValue> values;
};

using Variables = std::map<std::string, Variable>;

// `blender` and `ffmpeg` resolve to the executables on the worker's PATH.
Variables DefaultVariables();

// Parses the v2 `variables` mapping from JSON (converted from YAML).
Result<Variables> VariablesFromJson(const nlohmann::json& j);
nlohmann::json ToJson(const Variables& vars);

// The value of each variable for (audience, platform); platform-specific
// values win over platform-less ones. Two-way values lose a trailing '/'.
std::map<std::string, std::string> ResolveVariables(const Variables& vars, const std::string& audience,
                                                     const std::string& platform);

// Replaces every `{name}` in the top-level string settings of each command
// (lists and nested values are left alone, as in v2).
void ExpandTaskVariables(protocol::Task& task, const std::map<std::string, std::string>& values);

}  // namespace duende::manager
