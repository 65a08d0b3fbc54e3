// Variables (spec §12.3): `{name}` placeholders in command settings, replaced
// per audience and platform when a task is handed to a worker.
//
// Two-way variables are path prefixes shared by every platform of the farm
// (`render` = `R:\` for Windows artists, `/mnt/render` on Linux workers). A
// job submitted from one platform has its paths turned into placeholders
// (SettingsToPlaceholders), and a task handed to a worker of another
// platform gets them back as that platform's paths (ExpandTaskVariables),
// separators included. Everything here is a pure function.
#pragma once

#include <map>
#include <nlohmann/json_fwd.hpp>
#include <set>
#include <string>
#include <vector>

#include "common/result.h"
#include "protocol/types.h"

namespace duende::manager {

struct VariableValue {
  std::string audience;                // "all" (or empty), "workers", "users"
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

// The variables as one (audience, platform) sees them.
struct ResolvedVariables {
  std::string platform;
  std::map<std::string, std::string> values;  // name -> value
  std::set<std::string> two_way;              // names of two-way variables among `values`
};

// The value of each variable for (audience, platform): platform-specific
// values win over platform-less ones, then audience-specific ones over those
// for all audiences, then the first listed. Two-way values lose trailing
// separators ('/' and '\') when parsed.
ResolvedVariables ResolveVariables(const Variables& vars, const std::string& audience, const std::string& platform);

// True for "windows" in any case: Windows paths compare without case and
// take both '\' and '/' as separators.
bool IsWindowsPlatform(const std::string& platform);

// Rewrites every separator of `path` ('\' and '/') to the convention of
// `platform`: '\' on Windows, '/' elsewhere.
std::string ToPlatformSeparators(const std::string& path, const std::string& platform);

// Replaces every `{name}` of `vars`. When a two-way placeholder was present
// the string is a path: all its separators become `vars.platform`'s.
// Unknown placeholders stay.
std::string ExpandVariables(const std::string& s, const ResolvedVariables& vars);

// A path starting with a two-way variable's value (for `vars.platform`) gets
// that prefix replaced by `{name}`; the rest is kept as written. The prefix
// must end at a separator or at the end of the path ("/render" does not
// match "/renders/x"); the longest matching value wins. On Windows the
// comparison ignores case and takes '\' and '/' as equal. Anything else is
// returned unchanged.
std::string ToPlaceholders(const std::string& path, const ResolvedVariables& vars);

// ToPlaceholders applied to the top-level string settings of a job (lists
// and nested values are left alone, as ExpandTaskVariables leaves them).
// `settings` that is not an object is returned unchanged.
nlohmann::json SettingsToPlaceholders(const nlohmann::json& settings, const ResolvedVariables& vars);

// ExpandVariables applied to the top-level string settings of each command
// (lists and nested values are left alone, as in v2).
void ExpandTaskVariables(protocol::Task& task, const ResolvedVariables& vars);

}  // namespace duende::manager
