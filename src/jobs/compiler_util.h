// Helpers shared by the job compilers (internal to duende_jobs).
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "jobs/compiler.h"
#include "protocol/types.h"

namespace duende::jobs::internal {

// Typed, validated access to a job's settings object. Every error names the
// setting.
class Settings {
 public:
  explicit Settings(const nlohmann::json& j) : j_(j) {}

  Result<std::string> RequiredString(const char* key, bool allow_empty = false) const;
  Result<std::optional<std::string>> OptionalString(const char* key) const;
  Result<int> RequiredInt(const char* key, int min) const;
  Result<double> RequiredNumber(const char* key, double min) const;
  Result<std::optional<double>> OptionalNumber(const char* key, double min_exclusive) const;
  // Parsed frames from a string ("1-10,15") or a single integer.
  Result<std::vector<int>> RequiredFrames(const char* key) const;
  Result<std::optional<std::vector<std::string>>> OptionalStringList(const char* key) const;

 private:
  const nlohmann::json* Find(const char* key) const;
  const nlohmann::json& j_;
};

// "YYYY-MM-DD_HHMMSS" in UTC, as v2 names intermediate directories.
std::string CompactTimestamp(SystemTime t);

// A task with the common fields filled from the context.
protocol::Task NewTask(const CompileContext& ctx, std::string name, std::string task_type);

}  // namespace duende::jobs::internal
