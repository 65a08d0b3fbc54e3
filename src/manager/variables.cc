#include "manager/variables.h"

#include <nlohmann/json.hpp>

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

std::map<std::string, std::string> ResolveVariables(const Variables& vars, const std::string& audience,
                                                     const std::string& platform) {
  std::map<std::string, std::string> out;
  for (const auto& [name, var] : vars) {
    int best = -1;
    for (const auto& v : var.values) {
      const bool audience_ok = v.audience.empty() || v.audience == "all" || v.audience == audience;
      if (!audience_ok) continue;
      int score;
      if (v.platforms.empty()) {
        score = 0;
      } else {
        bool match = false;
        for (const auto& p : v.platforms) match = match || p == platform || p == "all";
        if (!match) continue;
        score = 1;
      }
      if (score > best) {
        best = score;
        out[name] = v.value;
      }
    }
  }
  return out;
}

void ExpandTaskVariables(protocol::Task& task, const std::map<std::string, std::string>& values) {
  if (values.empty()) return;
  for (auto& cmd : task.commands) {
    if (!cmd.settings.is_object()) continue;
    for (auto& [key, setting] : cmd.settings.items()) {
      if (!setting.is_string()) continue;
      std::string s = setting.get<std::string>();
      if (s.find('{') == std::string::npos) continue;
      for (const auto& [name, value] : values) {
        const std::string placeholder = "{" + name + "}";
        for (size_t pos = s.find(placeholder); pos != std::string::npos;
             pos = s.find(placeholder, pos + value.size()))
          s.replace(pos, placeholder.size(), value);
      }
      setting = s;
    }
  }
}

}  // namespace duende::manager
