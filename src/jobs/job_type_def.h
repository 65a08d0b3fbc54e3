// Job types as data: a declarative definition (YAML or JSON, one per file in
// the job types directory) of a job type's settings schema, chunking and
// task templates, and the generic compiler that turns a job of such a type
// into tasks. docs/job-types.md describes the format; job-types/ has
// examples.
//
// Pure functions, no I/O (the registry in job_types.h reads the files).
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "jobs/compiler.h"

namespace duende::jobs {

// One setting of a job type's schema (served by GET /api/job-types, so
// submission forms are built from it).
struct SettingSpec {
  std::string key;
  // string | integer | number | boolean | frames | path | choice
  std::string type;
  bool required = false;
  std::optional<nlohmann::json> default_value;
  std::string description;
  std::vector<std::string> choices;  // type choice
  std::optional<double> min, max;    // types integer and number
  // Types string and path: an ECMAScript regex the whole value must match;
  // such values may be at most 1024 characters long.
  std::string pattern;
};

struct JobTypeSchema {
  std::string name;
  std::string label;
  std::string description;
  std::string source;  // "builtin" | "file"
  std::vector<SettingSpec> settings;
};

// The API shape: {"name","label","description","source","settings":[{"key",
// "type","required","default" (null when none),"description", and when they
// apply "choices","min","max","pattern"}]}.
nlohmann::json ToJson(const JobTypeSchema& schema);

// Checks `settings` (a JSON object) against the schema: unknown keys,
// missing required settings and values of the wrong type or out of bounds
// are InvalidArgument naming the setting. Returns the settings with the
// defaults of absent ones filled in (null values count as absent).
Result<nlohmann::json> ValidateSettings(const JobTypeSchema& schema, const nlohmann::json& settings);

// A condition of a task template's `when` list.
struct TaskCondition {
  // {value: TEMPLATE, equals|not_equals: S, in|not_in: [S...], empty: bool}
  std::string value;
  std::string test;  // equals | not_equals | in | not_in | empty
  std::vector<std::string> operands;
  bool empty = false;
  // {min_frames: N}: the job's frame range has at least N frames.
  int min_frames = 0;
  // {farm_has_task_type: T}: a worker supports T, or no task types are
  // known yet (as the built-in blender-render decides create-video).
  std::string farm_task_type;
};

struct CommandTemplate {
  std::string name;
  nlohmann::json parameters = nlohmann::json::object();
};

struct TaskTemplate {
  std::string id;
  std::string name;  // template
  std::string task_type;
  bool per_chunk = false;
  std::vector<TaskCondition> when;
  std::vector<std::string> depends_on;  // ids of earlier templates
  std::vector<CommandTemplate> commands;
};

struct JobTypeDefinition {
  JobTypeSchema schema;
  // Chunking: the setting with the frame range and the one with the chunk
  // size; both empty when the type has no frames.
  std::string frames_setting;
  std::string chunk_size_setting;
  // Named templates evaluated in order (each may use the ones before).
  std::vector<std::pair<std::string, std::string>> variables;
  std::vector<TaskTemplate> tasks;
};

// Parses and checks a definition: every field known and well typed,
// defaults valid for their settings, chunking settings of the right types,
// unique template ids, dependencies on earlier templates only, every
// template name defined where it is used. InvalidArgument with the place
// ("tasks[2].commands[0]: ...").
Result<JobTypeDefinition> ParseJobTypeDefinition(const nlohmann::json& definition);

// YAML (or JSON, a subset) text to a definition. Plain YAML scalars become
// JSON null, booleans, integers or numbers when they read as such; quoted
// ones stay strings.
Result<JobTypeDefinition> ParseJobTypeText(std::string_view text);

// Compiles a job of a data-defined type. `settings` must have passed
// ValidateSettings. Task templates are instantiated in order, once or per
// chunk; a template whose `when` fails is skipped, and tasks depending on
// it depend on what it depended on instead. Tasks get the fields described
// in compiler.h.
Result<std::vector<protocol::Task>> CompileDefinedJob(const JobTypeDefinition& definition,
                                                      const nlohmann::json& settings, const CompileContext& ctx);

}  // namespace duende::jobs
