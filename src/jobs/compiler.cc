#include "jobs/compiler.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>

#include "common/ids.h"
#include "jobs/compiler_util.h"
#include "jobs/frames.h"

namespace duende::jobs {
namespace {

const std::map<std::string, CompileFn, std::less<>>& Registry() {
  static const auto* registry = new std::map<std::string, CompileFn, std::less<>>{
      {"sleep", &CompileSleep},
      {"exec-command", &CompileExecCommand},
      {"blender-render", &CompileBlenderRender},
  };
  return *registry;
}

std::string Quoted(const char* key) { return std::string("setting '") + key + "'"; }

}  // namespace

CompileFn FindCompiler(std::string_view job_type) {
  auto it = Registry().find(job_type);
  return it == Registry().end() ? nullptr : it->second;
}

std::vector<std::string> JobTypes() {
  std::vector<std::string> out;
  for (const auto& [name, _] : Registry()) out.push_back(name);
  return out;
}

Result<std::vector<protocol::Task>> CompileJob(const nlohmann::json& settings, const CompileContext& ctx) {
  CompileFn fn = FindCompiler(ctx.job_type);
  if (!fn) {
    std::string known;
    for (const auto& t : JobTypes()) known += (known.empty() ? "" : ", ") + t;
    return InvalidArgument("unknown job type '" + ctx.job_type + "' (known: " + known + ")");
  }
  if (!settings.is_object()) return InvalidArgument("job settings must be a JSON object");
  auto tasks = fn(settings, ctx);
  if (tasks && tasks->empty()) return InvalidArgument("job of type '" + ctx.job_type + "' compiled to no tasks");
  return tasks;
}

namespace internal {

const nlohmann::json* Settings::Find(const char* key) const {
  auto it = j_.find(key);
  if (it == j_.end() || it->is_null()) return nullptr;
  return &*it;
}

Result<std::string> Settings::RequiredString(const char* key, bool allow_empty) const {
  const auto* v = Find(key);
  if (!v) return InvalidArgument(Quoted(key) + " is required");
  if (!v->is_string()) return InvalidArgument(Quoted(key) + " must be a string");
  auto s = v->get<std::string>();
  if (!allow_empty && s.empty()) return InvalidArgument(Quoted(key) + " must not be empty");
  return s;
}

Result<std::optional<std::string>> Settings::OptionalString(const char* key) const {
  const auto* v = Find(key);
  if (!v) return std::optional<std::string>();
  if (!v->is_string()) return InvalidArgument(Quoted(key) + " must be a string");
  return std::optional<std::string>(v->get<std::string>());
}

Result<int> Settings::RequiredInt(const char* key, int min) const {
  const auto* v = Find(key);
  if (!v) return InvalidArgument(Quoted(key) + " is required");
  int64_t n = 0;
  if (v->is_number_integer()) {
    n = v->get<int64_t>();
  } else if (v->is_number_float() && std::trunc(v->get<double>()) == v->get<double>() &&
             std::abs(v->get<double>()) < 1e15) {
    n = static_cast<int64_t>(v->get<double>());
  } else {
    return InvalidArgument(Quoted(key) + " must be an integer");
  }
  if (n < min) return InvalidArgument(Quoted(key) + " must be at least " + std::to_string(min));
  if (n > std::numeric_limits<int>::max()) return InvalidArgument(Quoted(key) + " is too large");
  return static_cast<int>(n);
}

Result<double> Settings::RequiredNumber(const char* key, double min) const {
  const auto* v = Find(key);
  if (!v) return InvalidArgument(Quoted(key) + " is required");
  if (!v->is_number()) return InvalidArgument(Quoted(key) + " must be a number");
  const double d = v->get<double>();
  if (!std::isfinite(d) || d < min) return InvalidArgument(Quoted(key) + " must be at least " + std::to_string(min));
  return d;
}

Result<std::optional<double>> Settings::OptionalNumber(const char* key, double min_exclusive) const {
  const auto* v = Find(key);
  if (!v) return std::optional<double>();
  if (!v->is_number()) return InvalidArgument(Quoted(key) + " must be a number");
  const double d = v->get<double>();
  if (!std::isfinite(d) || d <= min_exclusive) return InvalidArgument(Quoted(key) + " must be a positive number");
  return std::optional<double>(d);
}

Result<std::vector<int>> Settings::RequiredFrames(const char* key) const {
  const auto* v = Find(key);
  if (!v) return InvalidArgument(Quoted(key) + " is required");
  std::string spec;
  if (v->is_string()) {
    spec = v->get<std::string>();
  } else if (v->is_number_integer()) {
    spec = std::to_string(v->get<int64_t>());
  } else {
    return InvalidArgument(Quoted(key) + " must be a frame range string like \"1-10,15\"");
  }
  auto frames = ParseFrameRange(spec);
  if (!frames) return std::unexpected(frames.error().WithContext(Quoted(key)));
  return frames;
}

Result<std::optional<std::vector<std::string>>> Settings::OptionalStringList(const char* key) const {
  const auto* v = Find(key);
  if (!v) return std::optional<std::vector<std::string>>();
  if (!v->is_array()) return InvalidArgument(Quoted(key) + " must be a list of strings");
  std::vector<std::string> out;
  for (const auto& e : *v) {
    if (!e.is_string()) return InvalidArgument(Quoted(key) + " must be a list of strings");
    out.push_back(e.get<std::string>());
  }
  return std::optional<std::vector<std::string>>(std::move(out));
}

std::string CompactTimestamp(SystemTime t) {
  const std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d_%H%M%S", &tm);
  return buf;
}

protocol::Task NewTask(const CompileContext& ctx, std::string name, std::string task_type) {
  protocol::Task t;
  t.id = ctx.new_id ? ctx.new_id() : NewObjectId();
  t.job = ctx.job_id;
  t.manager = ctx.manager_id;
  t.name = std::move(name);
  t.status = ctx.start_paused ? protocol::TaskStatus::kPaused : protocol::TaskStatus::kQueued;
  t.priority = 50;
  t.job_priority = ctx.job_priority;
  t.job_type = ctx.job_type;
  t.task_type = std::move(task_type);
  return t;
}

}  // namespace internal
}  // namespace duende::jobs
