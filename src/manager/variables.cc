#include "manager/variables.h"

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>
#include <string_view>

namespace duende::manager {

using nlohmann::json;

Variables DefaultVariables() {
  Variables v;
  v["blender"] = Variable{"oneway", {{"all", {}, "blender"}}};
  v["ffmpeg"] = Variable{"oneway", {{"all", {}, "ffmpeg"}}};
  return v;
}

Result<Variables> VariablesFromJson(const json& j) {
  if (!j.is_object()) return InvalidArgument("'variables' must be a mapping of name to {direction, values}");
  Variables out;
  for (const auto& [name, def] : j.items()) {
    const std::string where = "variable '" + name + "'";
    if (!def.is_object()) return InvalidArgument(where + " must be a mapping");
    Variable var;
    for (const auto& [key, value] : def.items()) {
      if (key == "direction") {
        if (!value.is_string() || (value != "oneway" && value != "twoway"))
          return InvalidArgument(where + ": direction must be 'oneway' or 'twoway'");
        var.direction = value.get<std::string>();
      } else if (key == "values") {
        if (!value.is_array()) return InvalidArgument(where + ": 'values' must be a list");
        for (const auto& v : value) {
          if (!v.is_object()) return InvalidArgument(where + ": each value must be a mapping");
          VariableValue vv;
          for (const auto& [vk, vval] : v.items()) {
            if (vk == "audience") {
              if (!vval.is_string() || (vval != "all" && vval != "workers" && vval != "users" && vval != ""))
                return InvalidArgument(where + ": audience must be all, workers or users");
              vv.audience = vval.get<std::string>();
            } else if (vk == "platform") {
              if (!vval.is_string()) return InvalidArgument(where + ": platform must be a string");
              vv.platforms.push_back(vval.get<std::string>());
            } else if (vk == "platforms") {
              if (!vval.is_array()) return InvalidArgument(where + ": platforms must be a list");
              for (const auto& p : vval) {
                if (!p.is_string()) return InvalidArgument(where + ": platforms must be strings");
                vv.platforms.push_back(p.get<std::string>());
              }
            } else if (vk == "value") {
              if (!vval.is_string()) return InvalidArgument(where + ": value must be a string");
              vv.value = vval.get<std::string>();
            } else {
              return InvalidArgument(where + ": unknown key '" + vk + "'");
            }
          }
          if (var.direction == "twoway")
            while (vv.value.size() > 1 && (vv.value.back() == '/' || vv.value.back() == '\\')) vv.value.pop_back();
          var.values.push_back(std::move(vv));
        }
      } else {
        return InvalidArgument(where + ": unknown key '" + key + "'");
      }
    }
    out[name] = std::move(var);
  }
  return out;
}

json ToJson(const Variables& vars) {
  json out = json::object();
  for (const auto& [name, var] : vars) {
    json values = json::array();
    for (const auto& v : var.values) {
      json e = {{"value", v.value}};
      if (!v.audience.empty()) e["audience"] = v.audience;
      if (v.platforms.size() == 1) e["platform"] = v.platforms[0];
      if (v.platforms.size() > 1) e["platforms"] = v.platforms;
      values.push_back(std::move(e));
    }
    out[name] = {{"direction", var.direction}, {"values", values}};
  }
  return out;
}

ResolvedVariables ResolveVariables(const Variables& vars, const std::string& audience, const std::string& platform) {
  ResolvedVariables out;
  out.platform = platform;
  for (const auto& [name, var] : vars) {
    // A value for this very platform beats a platform-less one; among
    // those, one for this very audience beats one for all; then the first.
    int best = -1;
    for (const auto& v : var.values) {
      const bool for_everyone = v.audience.empty() || v.audience == "all";
      if (!for_everyone && v.audience != audience) continue;
      int score = for_everyone ? 0 : 1;
      if (!v.platforms.empty()) {
        bool match = false;
        for (const auto& p : v.platforms) match = match || p == platform || p == "all";
        if (!match) continue;
        score += 2;
      }
      if (score > best) {
        best = score;
        out.values[name] = v.value;
      }
    }
    if (best >= 0 && var.direction == "twoway") out.two_way.insert(name);
  }
  return out;
}

bool IsWindowsPlatform(const std::string& platform) {
  static constexpr std::string_view kWindows = "windows";
  if (platform.size() != kWindows.size()) return false;
  for (size_t i = 0; i < platform.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(platform[i])) != kWindows[i]) return false;
  return true;
}

std::string ToPlatformSeparators(const std::string& path, const std::string& platform) {
  const bool windows = IsWindowsPlatform(platform);
  std::string out = path;
  std::replace(out.begin(), out.end(), windows ? '/' : '\\', windows ? '\\' : '/');
  return out;
}

std::string ExpandVariables(const std::string& s, const ResolvedVariables& vars) {
  if (s.find('{') == std::string::npos) return s;
  // One left-to-right pass: a value that itself contains "{x}" is not
  // expanded again.
  std::string out;
  bool path = false;
  size_t pos = 0;
  while (pos < s.size()) {
    const size_t open = s.find('{', pos);
    const size_t close = open == std::string::npos ? std::string::npos : s.find('}', open + 1);
    if (close == std::string::npos) break;
    out.append(s, pos, open - pos);
    const std::string name = s.substr(open + 1, close - open - 1);
    if (auto it = vars.values.find(name); it != vars.values.end()) {
      out += it->second;
      path = path || vars.two_way.contains(name);
      pos = close + 1;
    } else {
      // Not a variable: keep the '{' and look for a placeholder after it.
      out += '{';
      pos = open + 1;
    }
  }
  out.append(s, pos);
  return path ? ToPlatformSeparators(out, vars.platform) : out;
}

namespace {

bool IsSeparator(char c, bool windows) { return c == '/' || (windows && c == '\\'); }

// Whether `path` starts with `value` and the match ends at a path boundary.
bool HasPathPrefix(const std::string& path, const std::string& value, bool windows) {
  if (value.empty() || path.size() < value.size()) return false;
  for (size_t i = 0; i < value.size(); ++i) {
    const char a = path[i], b = value[i];
    if (a == b) continue;
    if (!windows) return false;
    if (IsSeparator(a, true) && IsSeparator(b, true)) continue;
    if (std::tolower(static_cast<unsigned char>(a)) != std::tolower(static_cast<unsigned char>(b))) return false;
  }
  return path.size() == value.size() || IsSeparator(value.back(), windows) || IsSeparator(path[value.size()], windows);
}

}  // namespace

std::string ToPlaceholders(const std::string& path, const ResolvedVariables& vars) {
  const bool windows = IsWindowsPlatform(vars.platform);
  const std::string* best_name = nullptr;
  size_t best_size = 0;
  for (const auto& name : vars.two_way) {
    auto it = vars.values.find(name);
    if (it == vars.values.end() || it->second.size() <= best_size) continue;
    if (!HasPathPrefix(path, it->second, windows)) continue;
    best_name = &name;
    best_size = it->second.size();
  }
  if (!best_name) return path;
  return "{" + *best_name + "}" + path.substr(best_size);
}

json SettingsToPlaceholders(const json& settings, const ResolvedVariables& vars) {
  json out = settings;
  if (!out.is_object() || vars.two_way.empty()) return out;
  for (auto& [key, setting] : out.items())
    if (setting.is_string()) setting = ToPlaceholders(setting.get<std::string>(), vars);
  return out;
}

void ExpandTaskVariables(protocol::Task& task, const ResolvedVariables& vars) {
  if (vars.values.empty()) return;
  for (auto& cmd : task.commands) {
    if (!cmd.settings.is_object()) continue;
    for (auto& [key, setting] : cmd.settings.items())
      if (setting.is_string()) setting = ExpandVariables(setting.get<std::string>(), vars);
  }
}

}  // namespace duende::manager
