// Job settings given on the command line as `--set key=value`.
#pragma once

#include <expected>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace duende::cli {

// The JSON value of a `--set` value: the parsed JSON when `value` is a JSON
// number, bool, array, object or null ("4" → 4, "true" → true, "[1,2]" →
// [1,2]); otherwise the text itself as a string ("1-24" → "1-24",
// "\"x\"" → "\"x\"", "" → "").
nlohmann::json SettingValue(std::string_view value);

// Parses "key=value" (split at the first '='; the key must be non-empty).
// Error: a one-line usage message.
std::expected<std::pair<std::string, nlohmann::json>, std::string> ParseSetting(std::string_view arg);

// Builds the settings object from `--set` arguments in order; a repeated key
// takes its last value.
std::expected<nlohmann::json, std::string> SettingsFromArgs(const std::vector<std::string>& args);

}  // namespace duende::cli
