#include "jobs/job_type_def.h"

#include <yaml-cpp/yaml.h>

#include <charconv>
#include <cmath>
#include <map>
#include <regex>
#include <set>

#include "jobs/compiler_util.h"
#include "jobs/frames.h"
#include "jobs/job_type_template.h"

namespace duende::jobs {
namespace {

using nlohmann::json;

const std::set<std::string, std::less<>> kSettingTypes = {"string", "integer", "number", "boolean",
                                                          "frames", "path",    "choice"};

// Values checked against a pattern are at most this long.
constexpr size_t kMaxPatternValueBytes = 1024;

std::string Quote(std::string_view s) { return "'" + std::string(s) + "'"; }

bool IsIdentifier(std::string_view s, bool allow_dash) {
  if (s.empty() || !(std::islower(static_cast<unsigned char>(s[0])) || s[0] == '_')) return false;
  for (char c : s)
    if (!(std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) || c == '_' ||
          (allow_dash && c == '-')))
      return false;
  return true;
}

// Reads the members of one JSON object of a definition; every error names
// the place, and members nobody asked for are reported by Finish (a typo in
// a key must not be silently ignored).
class Fields {
 public:
  Fields(const json& j, std::string where) : j_(j), where_(std::move(where)) {}

  std::string where() const { return where_; }
  std::unexpected<Error> Fail(const std::string& message) const {
    return InvalidArgument(where_.empty() ? message : where_ + ": " + message);
  }

  Status IsObject() const {
    if (!j_.is_object()) return Fail("must be a mapping");
    return Ok();
  }

  const json* Get(const std::string& key) {
    seen_.insert(key);
    auto it = j_.find(key);
    if (it == j_.end() || it->is_null()) return nullptr;
    return &*it;
  }

  Result<std::string> String(const std::string& key, bool required, std::string fallback = "") {
    const json* v = Get(key);
    if (!v) {
      if (required) return Fail(Quote(key) + " is required");
      return fallback;
    }
    if (!v->is_string()) return Fail(Quote(key) + " must be a string");
    return v->get<std::string>();
  }

  Result<bool> Bool(const std::string& key, bool fallback) {
    const json* v = Get(key);
    if (!v) return fallback;
    if (!v->is_boolean()) return Fail(Quote(key) + " must be true or false");
    return v->get<bool>();
  }

  Result<std::vector<std::string>> StringList(const std::string& key) {
    std::vector<std::string> out;
    const json* v = Get(key);
    if (!v) return out;
    if (!v->is_array()) return Fail(Quote(key) + " must be a list of strings");
    for (const auto& e : *v) {
      if (!e.is_string() && !e.is_number() && !e.is_boolean()) return Fail(Quote(key) + " must be a list of strings");
      out.push_back(TemplateText(e));
    }
    return out;
  }

  Status Finish() const {
    for (auto it = j_.begin(); it != j_.end(); ++it)
      if (!seen_.contains(it.key())) return Fail("unknown key " + Quote(it.key()));
    return Ok();
  }

 private:
  const json& j_;
  std::string where_;
  std::set<std::string> seen_;
};

std::string SettingName(const std::string& key) { return "setting " + Quote(key); }

std::optional<int64_t> AsInteger(const json& v) {
  if (v.is_number_integer()) return v.get<int64_t>();
  if (v.is_number_float()) {
    const double d = v.get<double>();
    if (std::isfinite(d) && std::trunc(d) == d && std::abs(d) < 1e15) return static_cast<int64_t>(d);
  }
  return std::nullopt;
}

std::string NumberText(double d) {
  if (std::trunc(d) == d && std::abs(d) < 1e15) return std::to_string(static_cast<int64_t>(d));
  return json(d).dump();
}

Status CheckBounds(const SettingSpec& spec, double d) {
  if (spec.min && d < *spec.min)
    return InvalidArgument(SettingName(spec.key) + " must be at least " + NumberText(*spec.min));
  if (spec.max && d > *spec.max)
    return InvalidArgument(SettingName(spec.key) + " must be at most " + NumberText(*spec.max));
  return Ok();
}

// One value against its setting's type and validation.
Status CheckValue(const SettingSpec& spec, const json& v) {
  const std::string name = SettingName(spec.key);
  if (spec.type == "string" || spec.type == "path") {
    if (!v.is_string()) return InvalidArgument(name + " must be a string");
    if (spec.required && v.get_ref<const std::string&>().empty()) return InvalidArgument(name + " must not be empty");
    // libstdc++'s regex matcher recurses per character: a long enough value
    // overflows the stack (about 20k characters with 8 MiB, 4k under ASan).
    if (!spec.pattern.empty() && v.get_ref<const std::string&>().size() > kMaxPatternValueBytes)
      return InvalidArgument(name + " is longer than " + std::to_string(kMaxPatternValueBytes) + " characters");
    if (!spec.pattern.empty() && !std::regex_match(v.get<std::string>(), std::regex(spec.pattern)))
      return InvalidArgument(name + " must match the pattern " + spec.pattern + ", got " + Quote(v.get<std::string>()));
    return Ok();
  }
  if (spec.type == "integer") {
    auto n = AsInteger(v);
    if (!n) return InvalidArgument(name + " must be an integer");
    return CheckBounds(spec, static_cast<double>(*n));
  }
  if (spec.type == "number") {
    if (!v.is_number() || !std::isfinite(v.get<double>())) return InvalidArgument(name + " must be a number");
    return CheckBounds(spec, v.get<double>());
  }
  if (spec.type == "boolean") {
    if (!v.is_boolean()) return InvalidArgument(name + " must be true or false");
    return Ok();
  }
  if (spec.type == "frames") {
    if (!v.is_string() && !v.is_number_integer())
      return InvalidArgument(name + " must be a frame range string like \"1-10,15\"");
    auto frames = ParseFrameRange(v.is_string() ? v.get<std::string>() : std::to_string(v.get<int64_t>()));
    if (!frames) return std::unexpected(frames.error().WithContext(name));
    return Ok();
  }
  // choice
  if (!v.is_string() ||
      std::find(spec.choices.begin(), spec.choices.end(), v.get<std::string>()) == spec.choices.end()) {
    std::string list;
    for (const auto& c : spec.choices) list += (list.empty() ? "" : ", ") + c;
    return InvalidArgument(name + " must be one of " + list + ", got " +
                           (v.is_string() ? Quote(v.get<std::string>()) : v.dump()));
  }
  return Ok();
}

Result<SettingSpec> ParseSetting(const json& j, const std::string& where) {
  Fields f(j, where);
  if (auto st = f.IsObject(); !st) return std::unexpected(st.error());
  SettingSpec s;
  auto key = f.String("key", true);
  if (!key) return std::unexpected(key.error());
  if (!IsIdentifier(*key, false))
    return f.Fail("key " + Quote(*key) + " must be lower-case letters, digits and '_', starting with a letter or '_'");
  s.key = *key;
  auto type = f.String("type", true);
  if (!type) return std::unexpected(type.error());
  if (!kSettingTypes.contains(*type))
    return f.Fail("type " + Quote(*type) + " is not one of string, integer, number, boolean, frames, path, choice");
  s.type = *type;
  auto required = f.Bool("required", false);
  if (!required) return std::unexpected(required.error());
  s.required = *required;
  auto description = f.String("description", false);
  if (!description) return std::unexpected(description.error());
  s.description = *description;
  auto choices = f.StringList("choices");
  if (!choices) return std::unexpected(choices.error());
  s.choices = *choices;
  if ((s.type == "choice") != !s.choices.empty())
    return f.Fail(s.type == "choice" ? "a choice setting needs a non-empty 'choices' list"
                                     : "'choices' is only for settings of type choice");
  for (const char* bound : {"min", "max"}) {
    const json* b = f.Get(bound);
    if (!b) continue;
    if (s.type != "integer" && s.type != "number")
      return f.Fail(Quote(bound) + " is only for settings of type integer or number");
    if (!b->is_number()) return f.Fail(Quote(bound) + " must be a number");
    (std::string_view(bound) == "min" ? s.min : s.max) = b->get<double>();
  }
  if (s.min && s.max && *s.min > *s.max) return f.Fail("'min' is greater than 'max'");
  auto pattern = f.String("pattern", false);
  if (!pattern) return std::unexpected(pattern.error());
  if (!pattern->empty()) {
    if (s.type != "string" && s.type != "path") return f.Fail("'pattern' is only for settings of type string or path");
    try {
      std::regex re(*pattern);
    } catch (const std::regex_error& e) {
      return f.Fail("'pattern' is not a valid regular expression: " + std::string(e.what()));
    }
    s.pattern = *pattern;
  }
  if (const json* d = f.Get("default")) {
    if (auto st = CheckValue(s, *d); !st) return f.Fail("'default' is invalid: " + st.error().message);
    s.default_value = *d;
  }
  if (auto st = f.Finish(); !st) return std::unexpected(st.error());
  return s;
}

Result<TaskCondition> ParseCondition(const json& j, const std::string& where, bool has_frames) {
  Fields f(j, where);
  if (auto st = f.IsObject(); !st) return std::unexpected(st.error());
  TaskCondition c;
  if (const json* n = f.Get("min_frames")) {
    if (!has_frames) return f.Fail("'min_frames' needs 'chunking' (the job type has no frames)");
    auto v = AsInteger(*n);
    if (!v || *v < 1 || *v > kMaxFrames) return f.Fail("'min_frames' must be a positive integer");
    c.min_frames = static_cast<int>(*v);
  } else if (const json* t = f.Get("farm_has_task_type")) {
    if (!t->is_string() || t->get<std::string>().empty()) return f.Fail("'farm_has_task_type' must be a task type");
    c.farm_task_type = t->get<std::string>();
  } else {
    auto value = f.String("value", true);
    if (!value) return f.Fail("a condition needs 'value' and a test, 'min_frames' or 'farm_has_task_type'");
    c.value = *value;
    for (const char* test : {"equals", "not_equals", "in", "not_in", "empty"}) {
      const json* operand = f.Get(test);
      if (!operand) continue;
      if (!c.test.empty()) return f.Fail("a condition has one test, not both " + Quote(c.test) + " and " + Quote(test));
      c.test = test;
      if (c.test == "empty") {
        if (!operand->is_boolean()) return f.Fail("'empty' must be true or false");
        c.empty = operand->get<bool>();
      } else if (c.test == "in" || c.test == "not_in") {
        auto list = f.StringList(test);
        if (!list) return std::unexpected(list.error());
        c.operands = *list;
      } else {
        if (operand->is_object() || operand->is_array()) return f.Fail(Quote(test) + " must be a single value");
        c.operands = {TemplateText(*operand)};
      }
    }
    if (c.test.empty())
      return f.Fail("the condition on " + Quote(c.value) + " needs a test: equals, not_equals, in, not_in or empty");
  }
  if (auto st = f.Finish(); !st) return std::unexpected(st.error());
  return c;
}

// Names every template may use, and those of one task.
struct NameScope {
  std::set<std::string> names;
  bool chunk = false;
  bool Known(const std::string& name) const {
    if (names.contains(name)) return true;
    return chunk && (name == "chunk.frames" || name == "chunk.frames_blender" || name == "chunk.first" ||
                     name == "chunk.last" || name == "chunk.index");
  }
};

Result<TaskTemplate> ParseTaskTemplate(const json& j, const std::string& where, const JobTypeDefinition& def,
                                       const NameScope& scope) {
  Fields f(j, where);
  if (auto st = f.IsObject(); !st) return std::unexpected(st.error());
  TaskTemplate t;
  auto id = f.String("id", true);
  if (!id) return std::unexpected(id.error());
  if (!IsIdentifier(*id, true)) return f.Fail("id " + Quote(*id) + " must be lower-case letters, digits, '_' and '-'");
  t.id = *id;
  for (const auto& other : def.tasks)
    if (other.id == t.id) return f.Fail("id " + Quote(t.id) + " is used by an earlier task template");
  auto name = f.String("name", false, t.id);
  if (!name) return std::unexpected(name.error());
  t.name = *name;
  auto type = f.String("type", true);
  if (!type) return std::unexpected(type.error());
  if (type->empty()) return f.Fail("'type' must not be empty");
  t.task_type = *type;
  auto per_chunk = f.Bool("per_chunk", false);
  if (!per_chunk) return std::unexpected(per_chunk.error());
  t.per_chunk = *per_chunk;
  if (t.per_chunk && def.frames_setting.empty())
    return f.Fail("'per_chunk' needs 'chunking' (the job type has no frames)");
  NameScope task_scope = scope;
  task_scope.chunk = t.per_chunk;
  auto known = [&task_scope](const std::string& n) { return task_scope.Known(n); };
  if (auto st = CheckJsonTemplates(t.name, known); !st) return f.Fail("'name': " + st.error().message);

  if (const json* when = f.Get("when")) {
    if (!when->is_array()) return f.Fail("'when' must be a list of conditions");
    for (size_t i = 0; i < when->size(); ++i) {
      auto c = ParseCondition((*when)[i], where + ".when[" + std::to_string(i) + "]", !def.frames_setting.empty());
      if (!c) return std::unexpected(c.error());
      // Conditions decide for all chunks at once.
      if (auto st = CheckJsonTemplates(c->value, [&scope](const std::string& n) { return scope.Known(n); }); !st)
        return f.Fail("'when': " + st.error().message);
      t.when.push_back(std::move(*c));
    }
  }
  auto deps = f.StringList("depends_on");
  if (!deps) return std::unexpected(deps.error());
  for (const auto& d : *deps) {
    const bool earlier =
        std::any_of(def.tasks.begin(), def.tasks.end(), [&d](const TaskTemplate& o) { return o.id == d; });
    if (!earlier) return f.Fail("'depends_on': " + Quote(d) + " is not the id of an earlier task template");
  }
  t.depends_on = *deps;

  const json* commands = f.Get("commands");
  if (!commands || !commands->is_array() || commands->empty()) return f.Fail("'commands' must be a non-empty list");
  for (size_t i = 0; i < commands->size(); ++i) {
    Fields cf((*commands)[i], where + ".commands[" + std::to_string(i) + "]");
    if (auto st = cf.IsObject(); !st) return std::unexpected(st.error());
    CommandTemplate c;
    auto cname = cf.String("name", true);
    if (!cname) return std::unexpected(cname.error());
    if (cname->empty()) return cf.Fail("'name' must not be empty");
    c.name = *cname;
    if (const json* p = cf.Get("parameters")) {
      if (!p->is_object()) return cf.Fail("'parameters' must be a mapping");
      if (auto st = CheckJsonTemplates(*p, known); !st) return cf.Fail("'parameters': " + st.error().message);
      c.parameters = *p;
    }
    if (auto st = cf.Finish(); !st) return std::unexpected(st.error());
    t.commands.push_back(std::move(c));
  }
  if (auto st = f.Finish(); !st) return std::unexpected(st.error());
  return t;
}

const SettingSpec* FindSetting(const JobTypeSchema& schema, const std::string& key) {
  for (const auto& s : schema.settings)
    if (s.key == key) return &s;
  return nullptr;
}

Status ParseChunking(Fields& top, JobTypeDefinition& def) {
  const json* chunking = top.Get("chunking");
  if (!chunking) return Ok();
  Fields f(*chunking, "chunking");
  if (auto st = f.IsObject(); !st) return st;
  auto frames = f.String("frames", true);
  if (!frames) return std::unexpected(frames.error());
  auto chunk_size = f.String("chunk_size", true);
  if (!chunk_size) return std::unexpected(chunk_size.error());
  const SettingSpec* fs = FindSetting(def.schema, *frames);
  if (!fs || fs->type != "frames") return f.Fail("'frames' must name a setting of type frames, got " + Quote(*frames));
  if (!fs->required && !fs->default_value)
    return f.Fail("the frames setting " + Quote(*frames) + " must be required or have a default");
  const SettingSpec* cs = FindSetting(def.schema, *chunk_size);
  if (!cs || cs->type != "integer")
    return f.Fail("'chunk_size' must name a setting of type integer, got " + Quote(*chunk_size));
  if (!cs->required && !cs->default_value)
    return f.Fail("the chunk size setting " + Quote(*chunk_size) + " must be required or have a default");
  if (!cs->min || *cs->min < 1)
    return f.Fail("the chunk size setting " + Quote(*chunk_size) + " needs 'min' of 1 or more");
  def.frames_setting = *frames;
  def.chunk_size_setting = *chunk_size;
  return f.Finish();
}

Status ParseVariables(Fields& top, JobTypeDefinition& def, NameScope& scope) {
  const json* vars = top.Get("variables");
  if (!vars) return Ok();
  if (!vars->is_array()) return top.Fail("'variables' must be a list of single-entry mappings (name: template)");
  for (size_t i = 0; i < vars->size(); ++i) {
    const json& v = (*vars)[i];
    const std::string where = "variables[" + std::to_string(i) + "]";
    if (!v.is_object() || v.size() != 1 || !v.begin()->is_string())
      return InvalidArgument(where + ": must be one 'name: template' entry");
    const std::string name = v.begin().key();
    if (!IsIdentifier(name, false))
      return InvalidArgument(where + ": name " + Quote(name) + " must be lower-case letters, digits and '_'");
    if (scope.names.contains(name))
      return InvalidArgument(where + ": " + Quote(name) + " is already a setting or variable");
    if (auto st = CheckJsonTemplates(*v.begin(), [&scope](const std::string& n) { return scope.Known(n); }); !st)
      return InvalidArgument(where + ": " + st.error().message);
    def.variables.emplace_back(name, v.begin()->get<std::string>());
    scope.names.insert(name);
  }
  return Ok();
}

// --- YAML -> JSON with typed scalars.

constexpr int kMaxYamlDepth = 32;
constexpr int kMaxYamlNodes = 100'000;

json PlainScalar(const std::string& s) {
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  int64_t i = 0;
  const char* end = s.data() + s.size();
  const char* begin = s.data() + (s[0] == '+' ? 1 : 0);
  if (auto [p, ec] = std::from_chars(begin, end, i); ec == std::errc() && p == end) return i;
  double d = 0;
  if (auto [p, ec] = std::from_chars(begin, end, d); ec == std::errc() && p == end && std::isfinite(d)) return d;
  return s;
}

Result<json> YamlValue(const YAML::Node& node, int depth, int& nodes) {
  if (depth > kMaxYamlDepth || ++nodes > kMaxYamlNodes)
    return InvalidArgument("nested too deeply or too large (does an alias refer to itself?)");
  if (node.IsMap()) {
    json j = json::object();
    for (const auto& kv : node) {
      if (!kv.first.IsScalar()) return InvalidArgument("mapping keys must be plain strings");
      auto value = YamlValue(kv.second, depth + 1, nodes);
      if (!value) return value;
      if (j.contains(kv.first.Scalar())) return InvalidArgument("key " + Quote(kv.first.Scalar()) + " appears twice");
      j[kv.first.Scalar()] = std::move(*value);
    }
    return j;
  }
  if (node.IsSequence()) {
    json j = json::array();
    for (const auto& e : node) {
      auto value = YamlValue(e, depth + 1, nodes);
      if (!value) return value;
      j.push_back(std::move(*value));
    }
    return j;
  }
  if (node.IsScalar()) return node.Tag() == "?" ? PlainScalar(node.Scalar()) : json(node.Scalar());
  return json(nullptr);
}

// Compile-time values of one job.
struct Values {
  std::map<std::string, json> named;
  const std::vector<int>* chunk = nullptr;
  int chunk_index = 0;

  std::optional<json> Lookup(const std::string& name) const {
    if (chunk) {
      if (name == "chunk.frames") return json(FrameRangeForName(*chunk));
      if (name == "chunk.frames_blender") return json(FrameRangeForBlender(*chunk));
      if (name == "chunk.first") return json(chunk->front());
      if (name == "chunk.last") return json(chunk->back());
      if (name == "chunk.index") return json(chunk_index);
    }
    auto it = named.find(name);
    if (it == named.end()) return std::nullopt;
    return it->second;
  }
  TemplateLookup Fn() const {
    return [this](const std::string& n) { return Lookup(n); };
  }
};

std::string ExpandText(const std::string& text, const Values& values) {
  auto tmpl = ParseTemplate(text);  // checked at load
  if (!tmpl) return text;
  auto v = ExpandTemplate(*tmpl, values.Fn());
  return v ? TemplateText(*v) : "";
}

bool ConditionHolds(const TaskCondition& c, const Values& values, size_t frame_count, const CompileContext& ctx) {
  if (c.min_frames > 0) return frame_count >= static_cast<size_t>(c.min_frames);
  if (!c.farm_task_type.empty())
    return ctx.worker_task_types.empty() || ctx.worker_task_types.contains(c.farm_task_type);
  const std::string v = ExpandText(c.value, values);
  if (c.test == "empty") return v.empty() == c.empty;
  const bool listed = std::find(c.operands.begin(), c.operands.end(), v) != c.operands.end();
  return (c.test == "equals" || c.test == "in") ? listed : !listed;
}

}  // namespace

json ToJson(const JobTypeSchema& schema) {
  json settings = json::array();
  for (const auto& s : schema.settings) {
    json j = {{"key", s.key},
              {"type", s.type},
              {"required", s.required},
              {"default", s.default_value.value_or(nullptr)},
              {"description", s.description}};
    if (!s.choices.empty()) j["choices"] = s.choices;
    // 1, not 1.0, for the bounds of integer settings.
    auto bound = [](double d) {
      return std::trunc(d) == d && std::abs(d) < 1e15 ? json(static_cast<int64_t>(d)) : json(d);
    };
    if (s.min) j["min"] = bound(*s.min);
    if (s.max) j["max"] = bound(*s.max);
    if (!s.pattern.empty()) j["pattern"] = s.pattern;
    settings.push_back(std::move(j));
  }
  return {{"name", schema.name},
          {"label", schema.label},
          {"description", schema.description},
          {"source", schema.source},
          {"settings", std::move(settings)}};
}

Result<json> ValidateSettings(const JobTypeSchema& schema, const json& settings) {
  if (!settings.is_object()) return InvalidArgument("job settings must be a JSON object");
  for (auto it = settings.begin(); it != settings.end(); ++it)
    if (!FindSetting(schema, it.key()))
      return InvalidArgument(SettingName(it.key()) + " is not a setting of job type " + Quote(schema.name));
  json out = json::object();
  for (const auto& spec : schema.settings) {
    auto it = settings.find(spec.key);
    if (it == settings.end() || it->is_null()) {
      if (spec.default_value) {
        out[spec.key] = *spec.default_value;
      } else if (spec.required) {
        return InvalidArgument(SettingName(spec.key) + " is required");
      }
      continue;
    }
    if (auto st = CheckValue(spec, *it); !st) return std::unexpected(st.error());
    out[spec.key] = *it;
  }
  return out;
}

Result<JobTypeDefinition> ParseJobTypeDefinition(const json& j) {
  Fields f(j, "");
  if (!j.is_object()) return InvalidArgument("a job type definition must be a mapping");
  JobTypeDefinition def;
  auto& schema = def.schema;
  schema.source = "file";
  auto name = f.String("name", true);
  if (!name) return std::unexpected(name.error());
  if (!IsIdentifier(*name, true) || name->size() > 64)
    return InvalidArgument("name " + Quote(*name) + " must be up to 64 lower-case letters, digits, '_' and '-'");
  schema.name = *name;
  auto label = f.String("label", false, schema.name);
  if (!label) return std::unexpected(label.error());
  schema.label = *label;
  auto description = f.String("description", false);
  if (!description) return std::unexpected(description.error());
  schema.description = *description;

  NameScope scope;
  scope.names = {"job.id", "job.created"};
  if (const json* settings = f.Get("settings")) {
    if (!settings->is_array()) return InvalidArgument("'settings' must be a list");
    for (size_t i = 0; i < settings->size(); ++i) {
      auto s = ParseSetting((*settings)[i], "settings[" + std::to_string(i) + "]");
      if (!s) return std::unexpected(s.error());
      if (FindSetting(schema, s->key))
        return InvalidArgument("settings[" + std::to_string(i) + "]: key " + Quote(s->key) + " is defined twice");
      scope.names.insert(s->key);
      schema.settings.push_back(std::move(*s));
    }
  }
  if (auto st = ParseChunking(f, def); !st) return std::unexpected(st.error());
  if (!def.frames_setting.empty()) scope.names.insert({"job.frames", "job.frame_count"});
  if (auto st = ParseVariables(f, def, scope); !st) return std::unexpected(st.error());

  const json* tasks = f.Get("tasks");
  if (!tasks || !tasks->is_array() || tasks->empty()) return InvalidArgument("'tasks' must be a non-empty list");
  for (size_t i = 0; i < tasks->size(); ++i) {
    auto t = ParseTaskTemplate((*tasks)[i], "tasks[" + std::to_string(i) + "]", def, scope);
    if (!t) return std::unexpected(t.error());
    def.tasks.push_back(std::move(*t));
  }
  if (auto st = f.Finish(); !st) return std::unexpected(st.error());
  return def;
}

Result<JobTypeDefinition> ParseJobTypeText(std::string_view text) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    return InvalidArgument(std::string("not valid YAML or JSON: ") + e.what());
  }
  int nodes = 0;
  auto j = YamlValue(root, 0, nodes);
  if (!j) return std::unexpected(j.error());
  try {
    (void)j->dump();  // the definition ends up in JSON responses
  } catch (const json::type_error&) {
    return InvalidArgument("the definition is not valid UTF-8");
  }
  return ParseJobTypeDefinition(*j);
}

Result<std::vector<protocol::Task>> CompileDefinedJob(const JobTypeDefinition& def, const json& settings,
                                                      const CompileContext& ctx) {
  Values values;
  for (auto it = settings.begin(); it != settings.end(); ++it) values.named[it.key()] = *it;
  values.named["job.id"] = ctx.job_id;
  values.named["job.created"] = internal::CompactTimestamp(ctx.created);

  std::vector<int> frames;
  std::vector<std::vector<int>> chunks;
  if (!def.frames_setting.empty()) {
    internal::Settings s(settings);
    auto f = s.RequiredFrames(def.frames_setting.c_str());
    if (!f) return std::unexpected(f.error());
    auto size = s.RequiredInt(def.chunk_size_setting.c_str(), 1);
    if (!size) return std::unexpected(size.error());
    auto c = ChunkFrames(*f, *size);
    if (!c) return std::unexpected(c.error());
    frames = std::move(*f);
    chunks = std::move(*c);
    values.named["job.frames"] = FrameRangeForName(frames);
    values.named["job.frame_count"] = frames.size();
  }
  for (const auto& [name, text] : def.variables) {
    auto tmpl = ParseTemplate(text);
    if (!tmpl) return std::unexpected(tmpl.error());
    if (auto v = ExpandTemplate(*tmpl, values.Fn())) values.named[name] = std::move(*v);
  }

  // Per template: the IDs a task depending on it waits for (its own tasks,
  // or, when skipped, what it would have waited for).
  std::map<std::string, std::vector<std::string>> waits_for;
  std::vector<protocol::Task> tasks;
  for (const auto& t : def.tasks) {
    std::vector<std::string> parents;
    for (const auto& d : t.depends_on)
      for (const auto& id : waits_for[d])
        if (std::find(parents.begin(), parents.end(), id) == parents.end()) parents.push_back(id);
    const bool run = std::all_of(t.when.begin(), t.when.end(),
                                 [&](const TaskCondition& c) { return ConditionHolds(c, values, frames.size(), ctx); });
    if (!run) {
      waits_for[t.id] = std::move(parents);
      continue;
    }
    std::vector<std::string> ids;
    const size_t count = t.per_chunk ? chunks.size() : 1;
    for (size_t i = 0; i < count; ++i) {
      values.chunk = t.per_chunk ? &chunks[i] : nullptr;
      values.chunk_index = static_cast<int>(i) + 1;
      auto task = internal::NewTask(ctx, ExpandText(t.name, values), t.task_type);
      if (task.name.empty()) return InvalidArgument("task template " + Quote(t.id) + " gave a task an empty name");
      for (const auto& c : t.commands) {
        auto params = ExpandJsonTemplates(c.parameters, values.Fn());
        if (!params) return std::unexpected(params.error());
        task.commands.push_back({c.name, params->value_or(json::object())});
      }
      task.parents = parents;
      ids.push_back(task.id);
      tasks.push_back(std::move(task));
    }
    values.chunk = nullptr;
    waits_for[t.id] = std::move(ids);
  }
  if (tasks.empty()) return InvalidArgument("job of type " + Quote(def.schema.name) + " compiled to no tasks");
  return tasks;
}

}  // namespace duende::jobs
