#include "protocol/types.h"

#include <type_traits>
#include <utility>

#include "common/timefmt.h"

namespace duende::protocol {
namespace {

using nlohmann::json;

Result<std::string> GetString(const json& j, const char* key, bool required = false) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    if (required) return InvalidArgument(std::string("missing field '") + key + "'");
    return std::string();
  }
  if (!it->is_string()) return InvalidArgument(std::string("field '") + key + "' must be a string");
  return it->get<std::string>();
}

Result<std::optional<int>> GetInt(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::optional<int>();
  if (it->is_number_integer()) {
    const auto v = it->get<int64_t>();
    if (v < INT32_MIN || v > INT32_MAX) return InvalidArgument(std::string("field '") + key + "' is out of range");
    return std::optional<int>(static_cast<int>(v));
  }
  if (it->is_number_float()) {
    // Converting a double outside int's range is undefined behaviour.
    const double v = it->get<double>();
    if (!(v > INT32_MIN - 1.0 && v < INT32_MAX + 1.0))
      return InvalidArgument(std::string("field '") + key + "' is out of range");
    return std::optional<int>(static_cast<int>(v));
  }
  return InvalidArgument(std::string("field '") + key + "' must be an integer");
}

Result<std::vector<FailedByWorker>> GetFailedBy(const json& j) {
  std::vector<FailedByWorker> out;
  auto it = j.find("failed_by_workers");
  if (it == j.end() || it->is_null()) return out;
  if (!it->is_array()) return InvalidArgument("field 'failed_by_workers' must be a list");
  for (const auto& e : *it) {
    if (!e.is_object()) return InvalidArgument("'failed_by_workers' entries must be objects");
    auto id = GetString(e, "id");
    auto ident = GetString(e, "identifier");
    if (!id) return std::unexpected(id.error());
    if (!ident) return std::unexpected(ident.error());
    out.push_back({*id, *ident});
  }
  return out;
}

json FailedByToJson(const std::vector<FailedByWorker>& v) {
  json arr = json::array();
  for (const auto& f : v) arr.push_back({{"id", f.id}, {"identifier", f.identifier}});
  return arr;
}

}  // namespace

namespace {

// The task document, from a copy (const Task&) or by moving the task's
// strings and command settings out of it (Task&&): the task offer is built
// from a task that is thrown away right after.
template <typename T>
json TaskToJson(T&& t) {
  // A member of `t`, moved out when `t` is an rvalue.
  auto take = [](auto& member) -> decltype(auto) {
    if constexpr (std::is_lvalue_reference_v<T>) {
      return member;
    } else {
      return std::move(member);
    }
  };
  json cmds = json::array();
  for (auto& c : t.commands) cmds.push_back({{"name", take(c.name)}, {"settings", take(c.settings)}});
  json j = {
      {"_id", take(t.id)},
      {"_etag", take(t.etag)},
      {"job", take(t.job)},
      {"manager", take(t.manager)},
      {"project", take(t.project)},
      {"user", take(t.user)},
      {"name", take(t.name)},
      {"status", ToString(t.status)},
      {"priority", t.priority},
      {"job_priority", t.job_priority},
      {"job_type", take(t.job_type)},
      {"task_type", take(t.task_type)},
      {"commands", std::move(cmds)},
      {"log", take(t.log)},
      {"activity", take(t.activity)},
      {"parents", take(t.parents)},
      {"worker", take(t.worker)},
      {"failed_by_workers", FailedByToJson(t.failed_by_workers)},
      {"metrics", take(t.metrics)},
      {"task_progress_percentage", t.task_progress_percentage},
      {"current_command_index", t.current_command_index},
      {"command_progress_percentage", t.command_progress_percentage},
  };
  // v2's Eve field: when the task document last changed (absent when
  // unknown, e.g. tasks stored before Duende recorded it).
  if (t.last_updated) j["_updated"] = FormatIso8601(*t.last_updated);
  return j;
}

}  // namespace

json ToJson(const Task& t) { return TaskToJson(t); }

json ToJson(Task&& t) { return TaskToJson(std::move(t)); }

Result<Task> TaskFromJson(const json& j) {
  if (!j.is_object()) return InvalidArgument("task must be a JSON object");
  Task t;
#define DUENDE_STR(field, key, req)            \
  {                                            \
    auto v = GetString(j, key, req);           \
    if (!v) return std::unexpected(v.error()); \
    t.field = std::move(*v);                   \
  }
  DUENDE_STR(id, "_id", true)
  DUENDE_STR(etag, "_etag", false)
  DUENDE_STR(job, "job", false)
  DUENDE_STR(manager, "manager", false)
  DUENDE_STR(project, "project", false)
  DUENDE_STR(user, "user", false)
  DUENDE_STR(name, "name", false)
  DUENDE_STR(job_type, "job_type", false)
  DUENDE_STR(task_type, "task_type", false)
  DUENDE_STR(log, "log", false)
  DUENDE_STR(activity, "activity", false)
  DUENDE_STR(worker, "worker", false)
#undef DUENDE_STR
  if (t.task_type.empty()) t.task_type = "unknown";
  auto status = GetString(j, "status", true);
  if (!status) return std::unexpected(status.error());
  auto st = TaskStatusFromString(*status);
  if (!st) return InvalidArgument("unknown task status '" + *status + "'");
  t.status = *st;
  for (auto [field, key] : {std::pair{&t.priority, "priority"}, std::pair{&t.job_priority, "job_priority"},
                            std::pair{&t.task_progress_percentage, "task_progress_percentage"},
                            std::pair{&t.command_progress_percentage, "command_progress_percentage"}}) {
    auto v = GetInt(j, key);
    if (!v) return std::unexpected(v.error());
    if (*v) *field = **v;
  }
  for (const char* key : {"current_command_index", "current_command_idx"}) {
    auto v = GetInt(j, key);
    if (!v) return std::unexpected(v.error());
    if (*v) t.current_command_index = **v;
  }
  if (auto it = j.find("commands"); it != j.end() && !it->is_null()) {
    if (!it->is_array()) return InvalidArgument("field 'commands' must be a list");
    for (const auto& c : *it) {
      if (!c.is_object()) return InvalidArgument("commands must be objects");
      auto name = GetString(c, "name", true);
      if (!name) return std::unexpected(name.error());
      Command cmd{*name, json::object()};
      if (auto s = c.find("settings"); s != c.end() && !s->is_null()) {
        if (!s->is_object()) return InvalidArgument("command settings must be an object");
        cmd.settings = *s;
      }
      t.commands.push_back(std::move(cmd));
    }
  }
  if (auto it = j.find("parents"); it != j.end() && !it->is_null()) {
    if (!it->is_array()) return InvalidArgument("field 'parents' must be a list");
    for (const auto& p : *it) {
      if (!p.is_string()) return InvalidArgument("parents must be strings");
      t.parents.push_back(p.get<std::string>());
    }
  }
  auto fb = GetFailedBy(j);
  if (!fb) return std::unexpected(fb.error());
  t.failed_by_workers = std::move(*fb);
  if (auto it = j.find("metrics"); it != j.end() && it->is_object()) t.metrics = *it;
  return t;
}

Result<TaskUpdate> WorkerTaskUpdateFromJson(const json& j) {
  if (!j.is_object()) return InvalidArgument("task update must be a JSON object");
  TaskUpdate u;
  if (auto it = j.find("task_status"); it != j.end() && !it->is_null()) {
    if (!it->is_string()) return InvalidArgument("field 'task_status' must be a string");
    auto st = TaskStatusFromString(it->get<std::string>());
    if (!st) return InvalidArgument("unknown task status '" + it->get<std::string>() + "'");
    u.task_status = *st;
  }
  if (auto it = j.find("activity"); it != j.end() && !it->is_null()) {
    if (!it->is_string()) return InvalidArgument("field 'activity' must be a string");
    u.activity = it->get<std::string>();
  }
  for (auto [field, key] : {std::pair{&u.task_progress_percentage, "task_progress_percentage"},
                            std::pair{&u.command_progress_percentage, "command_progress_percentage"},
                            std::pair{&u.current_command_index, "current_command_idx"},
                            std::pair{&u.current_command_index, "current_command_index"}}) {
    auto v = GetInt(j, key);
    if (!v) return std::unexpected(v.error());
    if (*v) *field = **v;
  }
  auto log = GetString(j, "log");
  if (!log) return std::unexpected(log.error());
  u.log = std::move(*log);
  if (auto it = j.find("metrics"); it != j.end() && !it->is_null()) {
    if (!it->is_object()) return InvalidArgument("field 'metrics' must be an object");
    u.metrics = *it;
  }
  return u;
}

json ToWorkerJson(const TaskUpdate& u) {
  json j = json::object();
  if (u.task_status) j["task_status"] = ToString(*u.task_status);
  if (u.activity) j["activity"] = *u.activity;
  if (u.task_progress_percentage) j["task_progress_percentage"] = *u.task_progress_percentage;
  if (u.current_command_index) j["current_command_idx"] = *u.current_command_index;
  if (u.command_progress_percentage) j["command_progress_percentage"] = *u.command_progress_percentage;
  if (!u.log.empty()) j["log"] = u.log;
  if (u.metrics) j["metrics"] = *u.metrics;
  return j;
}

json ToJson(const TaskUpdate& u) {
  json j = ToWorkerJson(u);
  j.erase("log");
  j["_id"] = u.id;
  j["task_id"] = u.task_id;
  if (u.received_on_manager) j["received_on_manager"] = FormatIso8601(*u.received_on_manager);
  if (u.current_command_index) j["current_command_index"] = *u.current_command_index;
  if (!u.log_tail.empty()) j["log_tail"] = u.log_tail;
  if (u.worker) j["worker"] = *u.worker;
  if (u.failed_by_workers) j["failed_by_workers"] = FailedByToJson(*u.failed_by_workers);
  if (u.blocked_reason) j["blocked_reason"] = *u.blocked_reason;
  return j;
}

Result<TaskUpdate> TaskUpdateFromJson(const json& j) {
  auto u = WorkerTaskUpdateFromJson(j);
  if (!u) return u;
  auto id = GetString(j, "_id", true);
  if (!id) return std::unexpected(id.error());
  if (id->empty()) return InvalidArgument("field '_id' must not be empty");
  u->id = *id;
  auto task = GetString(j, "task_id", true);
  if (!task) return std::unexpected(task.error());
  if (task->empty()) return InvalidArgument("field 'task_id' must not be empty");
  u->task_id = *task;
  auto rom = GetString(j, "received_on_manager");
  if (!rom) return std::unexpected(rom.error());
  if (!rom->empty()) {
    auto t = ParseIso8601(*rom);
    if (!t) return std::unexpected(t.error());
    u->received_on_manager = *t;
  }
  auto tail = GetString(j, "log_tail");
  if (!tail) return std::unexpected(tail.error());
  u->log_tail = *tail;
  if (auto it = j.find("worker"); it != j.end() && it->is_string()) u->worker = it->get<std::string>();
  if (auto it = j.find("blocked_reason"); it != j.end() && it->is_string()) u->blocked_reason = it->get<std::string>();
  if (j.contains("failed_by_workers")) {
    auto fb = GetFailedBy(j);
    if (!fb) return std::unexpected(fb.error());
    u->failed_by_workers = std::move(*fb);
  }
  return u;
}

std::string LogTail(std::string_view text, size_t n) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.remove_suffix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.remove_prefix(1);
  if (text.empty()) return "";
  size_t pos = text.size();
  size_t lines = 0;
  while (pos > 0) {
    const size_t nl = text.rfind('\n', pos - 1);
    ++lines;
    if (nl == std::string_view::npos) {
      pos = 0;
      break;
    }
    if (lines == n) {
      pos = nl + 1;
      break;
    }
    pos = nl;
  }
  return std::string(text.substr(pos)) + "\n";
}

}  // namespace duende::protocol

#include "protocol/upstream.h"

namespace duende::protocol {

nlohmann::json ToJson(const BatchResponse& r) {
  nlohmann::json queue = nlohmann::json::array();
  for (const auto& u : r.upload_task_file_queue) queue.push_back({{"job", u.job}, {"task", u.task}});
  return {{"modified_count", r.modified_count},
          {"handled_update_ids", r.handled_update_ids},
          {"cancel_task_ids", r.cancel_task_ids},
          {"upload_task_file_queue", queue}};
}

Result<BatchResponse> BatchResponseFromJson(const nlohmann::json& j) {
  if (!j.is_object()) return InvalidArgument("batch response must be an object");
  BatchResponse r;
  if (auto it = j.find("modified_count"); it != j.end() && !it->is_null()) {
    // Checked before converting: a double outside int's range would be
    // undefined behaviour.
    const double count = it->is_number() ? it->get<double>() : -1;
    if (!(count >= 0 && count <= INT32_MAX))
      return InvalidArgument("invalid batch response: 'modified_count' must be a non-negative integer");
    r.modified_count = static_cast<int>(count);
  }
  try {
    if (j.contains("handled_update_ids") && !j["handled_update_ids"].is_null())
      r.handled_update_ids = j["handled_update_ids"].get<std::vector<std::string>>();
    if (j.contains("cancel_task_ids") && !j["cancel_task_ids"].is_null())
      r.cancel_task_ids = j["cancel_task_ids"].get<std::vector<std::string>>();
    if (j.contains("upload_task_file_queue") && j["upload_task_file_queue"].is_array())
      for (const auto& e : j["upload_task_file_queue"])
        r.upload_task_file_queue.push_back({e.value("job", ""), e.value("task", "")});
  } catch (const nlohmann::json::exception& e) {
    return InvalidArgument(std::string("invalid batch response: ") + e.what());
  }
  return r;
}

nlohmann::json ToJson(const UpstreamNotification& n) {
  return {{"_meta", {{"version", 2}}},
          {"manager_url", n.manager_url},
          {"variables", n.variables},
          {"nr_of_workers", n.nr_of_workers},
          {"worker_task_types", n.worker_task_types}};
}

Result<UpstreamNotification> UpstreamNotificationFromJson(const nlohmann::json& j) {
  if (!j.is_object()) return InvalidArgument("notification must be a JSON object");
  UpstreamNotification n;
  auto workers = j.find("nr_of_workers");
  if (workers == j.end() || !workers->is_number_integer() || workers->get<int64_t>() < 0 ||
      workers->get<int64_t>() > INT32_MAX)
    return InvalidArgument("field 'nr_of_workers' must be a non-negative integer");
  n.nr_of_workers = static_cast<int>(workers->get<int64_t>());
  auto types = j.find("worker_task_types");
  if (types == j.end() || !types->is_array()) return InvalidArgument("field 'worker_task_types' must be an array");
  for (const auto& t : *types) {
    if (!t.is_string()) return InvalidArgument("field 'worker_task_types' must be an array of strings");
    n.worker_task_types.push_back(t.get<std::string>());
  }
  if (auto u = j.find("manager_url"); u != j.end() && !u->is_null()) {
    if (!u->is_string()) return InvalidArgument("field 'manager_url' must be a string");
    n.manager_url = u->get<std::string>();
  }
  if (auto v = j.find("variables"); v != j.end() && v->is_object()) n.variables = *v;
  return n;
}

}  // namespace duende::protocol
