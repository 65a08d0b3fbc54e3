// The job types a job side knows: the built-in compilers (compiler.h) and
// the data-defined types loaded from a directory of definitions
// (job_type_def.h), with the settings schema of each for the API.
//
// Loading never fails as a whole: a file that cannot be read or parsed, or
// that uses the name of a built-in or of an earlier file, is reported with
// its path and reason and skipped. Thread-safe: LoadDirectory replaces the
// data-defined types atomically while jobs are being compiled.
#pragma once

#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "jobs/compiler.h"
#include "jobs/job_type_def.h"

namespace duende::jobs {

// Files bigger than this are refused (a definition is a few KiB).
inline constexpr size_t kMaxJobTypeFileBytes = 1024 * 1024;

struct JobTypeLoadError {
  std::string path;
  std::string message;
};

struct JobTypeLoadReport {
  std::string dir;
  bool dir_exists = false;
  std::vector<std::string> loaded;  // names, in file-name order
  std::vector<JobTypeLoadError> errors;
};
// {"dir","loaded":[...],"errors":[{"path","message"}]}
nlohmann::json ToJson(const JobTypeLoadReport& report);

struct CompiledJob {
  nlohmann::json settings;  // as stored on the job: defaults filled in for data-defined types
  std::vector<protocol::Task> tasks;
};

// The settings schemas of the built-in types, in the API shape.
const std::vector<JobTypeSchema>& BuiltinJobTypeSchemas();

class JobTypeRegistry {
 public:
  // Files named *.yaml, *.yml or *.json directly in `dir`, in name order,
  // replace the data-defined types loaded before. A missing directory means
  // no data-defined types (not an error: the default one may not exist).
  JobTypeLoadReport LoadDirectory(const std::string& dir);

  // Built-in types first, then data-defined ones, each sorted by name.
  std::vector<JobTypeSchema> List() const;
  std::optional<JobTypeSchema> Find(std::string_view name) const;

  // Compiles a job of ctx.job_type. Built-in types go to CompileJob (their
  // settings are stored as submitted); data-defined ones are validated
  // against their schema first. InvalidArgument for an unknown type (listing
  // the known ones) or invalid settings.
  Result<CompiledJob> Compile(const nlohmann::json& settings, const CompileContext& ctx) const;

 private:
  mutable std::shared_mutex mu_;
  std::vector<std::shared_ptr<const JobTypeDefinition>> defined_;  // sorted by name
};

}  // namespace duende::jobs
