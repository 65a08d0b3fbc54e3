// Templates of data-defined job types (job-types/*.yaml): strings with
// `{name}` placeholders that a job's compiler fills in from the job's
// settings, the job type's variables and per-task values.
//
// Syntax:
//   {name}                 the value of `name`
//   {name|filter|filter:x} the value passed through filters, left to right
//   {{ and }}              a literal { and } (so "{{blender}}" reaches the
//                          worker as "{blender}", one of its own variables)
// A name is a setting key, a variable of the job type, or one of the
// compiler's own names ("job.id", "chunk.first", ...; see
// docs/job-types.md). Filters work on the text of the value:
//   dirname            the part before the last '/' or '\' ("" if none)
//   basename           the part after the last '/' or '\' (all if none)
//   sep                the last '/' or '\' of the value ('/' if none)
//   strip_suffix:S     the value without a trailing S
//   upper, lower       ASCII case conversion
//
// A string that is exactly one placeholder without filters keeps the type of
// its value (an integer setting stays an integer in the command), and an
// absent value (an optional setting that was not given) leaves the whole
// command parameter out. Inside longer text an absent value is "".
//
// Pure functions, no I/O.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace duende::jobs {

struct TemplateFilter {
  std::string name;
  std::string arg;
};

struct TemplatePart {
  // Literal text when `name` is empty.
  std::string text;
  std::string name;
  std::vector<TemplateFilter> filters;
};

struct ParsedTemplate {
  std::vector<TemplatePart> parts;
  // The string is exactly one placeholder without filters.
  bool single_value() const { return parts.size() == 1 && !parts[0].name.empty() && parts[0].filters.empty(); }
};

// Parses a template. InvalidArgument for an unbalanced brace, an empty
// name, an unknown filter, or strip_suffix without its argument.
Result<ParsedTemplate> ParseTemplate(std::string_view text);

// Looks up a name: its value, nullopt when it has none (an absent optional
// setting). Only called with names that passed the load-time check.
using TemplateLookup = std::function<std::optional<nlohmann::json>(const std::string& name)>;

// Expands a parsed template. A single value keeps its JSON type; otherwise
// the result is a string. nullopt: a single value that is absent.
std::optional<nlohmann::json> ExpandTemplate(const ParsedTemplate& tmpl, const TemplateLookup& lookup);

// Expands every string inside `value` (objects and arrays recursively;
// other JSON values are kept). Object members whose value is absent are
// left out. Strings must parse (checked at load time); InvalidArgument
// otherwise.
Result<std::optional<nlohmann::json>> ExpandJsonTemplates(const nlohmann::json& value, const TemplateLookup& lookup);

// Checks every template string inside `value`: it parses and each name
// satisfies `known`. InvalidArgument naming the template and the name.
Status CheckJsonTemplates(const nlohmann::json& value, const std::function<bool(const std::string&)>& known);

// The text form of a value inside a longer string: strings as they are,
// integers in decimal, booleans "true"/"false", other numbers as JSON.
std::string TemplateText(const nlohmann::json& value);

}  // namespace duende::jobs
