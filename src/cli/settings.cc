#include "cli/settings.h"

#include <nlohmann/json.hpp>

namespace duende::cli {

nlohmann::json SettingValue(std::string_view value) {
  // A JSON string is deliberately not unwrapped: `--set name="x"` reaches us
  // as "x" without quotes anyway, and anything that only parses as a string
  // is meant literally.
  auto parsed = nlohmann::json::parse(value, nullptr, /*allow_exceptions=*/false);
  if (!parsed.is_discarded() && !parsed.is_string()) return parsed;
  return nlohmann::json(std::string(value));
}

std::expected<std::pair<std::string, nlohmann::json>, std::string> ParseSetting(std::string_view arg) {
  const size_t eq = arg.find('=');
  if (eq == std::string_view::npos) return std::unexpected("--set expects key=value, got '" + std::string(arg) + "'");
  if (eq == 0) return std::unexpected("--set needs a key before '=', got '" + std::string(arg) + "'");
  return std::pair{std::string(arg.substr(0, eq)), SettingValue(arg.substr(eq + 1))};
}

std::expected<nlohmann::json, std::string> SettingsFromArgs(const std::vector<std::string>& args) {
  nlohmann::json settings = nlohmann::json::object();
  for (const auto& arg : args) {
    auto setting = ParseSetting(arg);
    if (!setting) return std::unexpected(setting.error());
    settings[setting->first] = std::move(setting->second);
  }
  return settings;
}

}  // namespace duende::cli
