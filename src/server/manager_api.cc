#include "server/manager_api.h"

#include <spdlog/spdlog.h>
#include <strings.h>

#include <cctype>
#include <charconv>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "common/ids.h"
#include "common/timefmt.h"
#include "http/http.h"
#include "jobs/job_service.h"
#include "manager/worker_auth.h"
#include "server/manager_registry.h"

namespace duende::server {
namespace {

using http::Request;
using http::Response;
using nlohmann::json;

json ManagerJson(const ManagerRecord& m) {
  json j = {{"_id", m.id},
            {"name", m.name},
            {"revoked", m.revoked},
            {"created", FormatIso8601(m.created)},
            {"url", m.url},
            {"stats", {{"nr_of_workers", m.nr_of_workers}}},
            {"worker_task_types", m.worker_task_types}};
  j["last_seen"] = m.last_seen ? json(FormatIso8601(*m.last_seen)) : json(nullptr);
  return j;
}

// The token from the Authorization header (see manager_api.h for the
// accepted forms). `manager_id` is the ID the caller claims to be (from the
// URL), checked against a Basic user name that is not the token itself.
std::optional<std::string> TokenOf(const Request& req, const std::string& manager_id) {
  return ManagerToken(req.Header("authorization"), manager_id);
}

Response Unauthorized() {
  Response r = Response::Message(401, "unknown manager or wrong token");
  r.headers.emplace_back("WWW-Authenticate", "Basic realm=\"Duende Server\"");
  return r;
}

// Authenticates the Manager named in the URL; nullopt when it may proceed.
std::optional<Response> CheckManager(ManagerRegistry& registry, const Request& req, const std::string& manager_id) {
  if (!IsObjectId(manager_id)) return Response::Message(404, "manager " + manager_id + " not found");
  auto token = TokenOf(req, manager_id);
  if (!token || !registry.Authenticate(manager_id, *token)) return Unauthorized();
  return std::nullopt;
}

// Depsgraph tokens: JobService's decimal revision, carried on the wire as
// an ISO-8601 timestamp (v2's format) of that many microseconds after the
// epoch, so a v2 Manager stores and returns it unchanged.
std::string RevisionToHeader(const std::string& revision) {
  int64_t v = 0;
  std::from_chars(revision.data(), revision.data() + revision.size(), v);
  return FormatIso8601(FromUnixMicros(v));
}
std::string HeaderToRevision(std::string_view header) {
  if (header.empty()) return "";
  auto t = ParseIso8601(header);
  if (!t) return "";  // unparsable: the full depsgraph
  return std::to_string(ToUnixMicros(*t));
}

std::string Unquote(std::string_view s) {
  if (s.starts_with("W/")) s.remove_prefix(2);
  if (s.size() >= 2 && s.front() == '"' && s.back() == '"') s = s.substr(1, s.size() - 2);
  return std::string(s);
}

std::string HeaderParam(std::string_view header, std::string_view param) {
  // Finds `param=value` or `param="value"` in a header like Content-Type or
  // Content-Disposition.
  size_t pos = 0;
  while ((pos = header.find(param, pos)) != std::string_view::npos) {
    const bool at_start = pos == 0 || header[pos - 1] == ';' || header[pos - 1] == ' ';
    const size_t eq = pos + param.size();
    if (!at_start || eq >= header.size() || header[eq] != '=') {
      pos = eq;
      continue;
    }
    std::string_view v = header.substr(eq + 1);
    if (!v.empty() && v.front() == '"') {
      const size_t end = v.find('"', 1);
      return std::string(v.substr(1, end == std::string_view::npos ? std::string_view::npos : end - 1));
    }
    const size_t end = v.find(';');
    v = v.substr(0, end);
    while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
    return std::string(v);
  }
  return "";
}

Result<json> ParseJson(const Request& req) {
  json j = json::parse(req.body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return InvalidArgument("malformed JSON");
  return j;
}

}  // namespace

std::optional<std::string> ManagerToken(std::string_view h, const std::string& manager_id) {
  if (h.size() > 7 && strncasecmp(h.data(), "Bearer ", 7) == 0) return std::string(h.substr(7));
  auto basic = manager::ParseBasicAuth(h);
  if (!basic) return std::nullopt;
  auto& [user, password] = *basic;
  if (password.empty()) return user;
  if (user != manager_id) return std::nullopt;
  return password;
}

Result<std::vector<protocol::TaskUpdate>> ParseTaskUpdateBatch(std::string_view text) {
  const json body = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded()) return InvalidArgument("malformed JSON");
  if (!body.is_array()) return InvalidArgument("request body must be a JSON array of task updates");
  std::vector<protocol::TaskUpdate> updates;
  updates.reserve(body.size());
  for (size_t i = 0; i < body.size(); ++i) {
    auto u = protocol::TaskUpdateFromJson(body[i]);
    if (!u) return InvalidArgument("task update " + std::to_string(i) + ": " + u.error().message);
    updates.push_back(std::move(*u));
  }
  return updates;
}

std::optional<FormPart> FindFormPart(std::string_view content_type, std::string_view body, std::string_view name) {
  if (!content_type.starts_with("multipart/form-data")) return std::nullopt;
  const std::string boundary = HeaderParam(content_type, "boundary");
  if (boundary.empty()) return std::nullopt;
  const std::string delim = "--" + boundary;
  size_t pos = body.find(delim);
  while (pos != std::string_view::npos) {
    pos += delim.size();
    if (body.substr(pos, 2) == "--") return std::nullopt;  // closing delimiter
    if (body.substr(pos, 2) == "\r\n") pos += 2;
    const size_t headers_end = body.find("\r\n\r\n", pos);
    if (headers_end == std::string_view::npos) return std::nullopt;
    FormPart part;
    std::string_view headers = body.substr(pos, headers_end - pos);
    while (!headers.empty()) {
      const size_t eol = headers.find("\r\n");
      std::string_view line = headers.substr(0, eol);
      headers = eol == std::string_view::npos ? std::string_view() : headers.substr(eol + 2);
      const size_t colon = line.find(':');
      if (colon == std::string_view::npos) continue;
      std::string key(line.substr(0, colon));
      for (auto& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      std::string_view value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
      if (key == "content-disposition") {
        part.name = HeaderParam(value, "name");
        part.filename = HeaderParam(value, "filename");
      } else if (key == "content-type") {
        part.content_type = std::string(value);
      }
    }
    const size_t data_start = headers_end + 4;
    const size_t next = body.find("\r\n" + delim, data_start);
    if (next == std::string_view::npos) return std::nullopt;
    if (part.name == name) {
      part.data = std::string(body.substr(data_start, next - data_start));
      return part;
    }
    pos = next + 2;
  }
  return std::nullopt;
}

void RegisterManagerApi(http::Router& router, jobs::JobService& jobs, ManagerRegistry& registry,
                        ManagerApiOptions options) {
  // --- v2 Manager-facing endpoints
  router.Add("GET", "/api/flamenco/managers/{id}", [&registry](Request& req) {
    const std::string& id = req.params[0];
    if (auto r = CheckManager(registry, req, id)) return *r;
    auto m = registry.Get(id);
    if (!m) return Response::FromError(m.error());
    return Response::Json(200, ManagerJson(*m));
  });

  router.Add("GET", "/api/flamenco/managers/{id}/depsgraph", [&jobs, &registry, options](Request& req) {
    const std::string& id = req.params[0];
    if (auto r = CheckManager(registry, req, id)) return *r;
    auto m = registry.Get(id);
    if (!m) return Response::FromError(m.error());
    const int claim_limit = m->nr_of_workers * options.tasks_per_worker;
    auto graph = jobs.FetchDepsgraphFor(id, HeaderToRevision(req.Header("x-flamenco-if-updated-since")), claim_limit);
    if (!graph) return Response::FromError(graph.error());
    Response r;
    switch (graph->kind) {
      case protocol::Depsgraph::Kind::kNoJobs:
        r = Response::NoContent();
        break;
      case protocol::Depsgraph::Kind::kNotModified:
        r = Response{304, "", "", {}};
        break;
      case protocol::Depsgraph::Kind::kTasks: {
        json arr = json::array();
        for (const auto& t : graph->tasks) arr.push_back(protocol::ToJson(t));
        r = Response::Json(200, json{{"depsgraph", std::move(arr)}});
        break;
      }
    }
    r.headers.emplace_back("X-Flamenco-Last-Updated", RevisionToHeader(graph->last_updated));
    r.headers.emplace_back("X-Flamenco-Last-Updated-Format", "ISO-8601");
    return r;
  });

  router.Add("GET", "/api/flamenco/tasks/{id}", [&jobs, &registry](Request& req) {
    const std::string& id = req.params[0];
    auto not_found = [&] { return Response::Message(404, "task " + id + " not found"); };
    if (!IsObjectId(id)) return not_found();
    auto task = jobs.GetTask(id);
    if (!task) return task.error().code == ErrorCode::kNotFound ? not_found() : Response::FromError(task.error());
    // Who asks: Basic "ID:token" names the Manager; v2's token-only forms
    // are checked against the task's Manager. Another Manager's task, or an
    // unassigned one, is "gone" as far as the caller is concerned.
    std::string caller = task->manager;
    if (auto basic = manager::ParseBasicAuth(req.Header("authorization")); basic && !basic->second.empty())
      caller = basic->first;
    if (caller.empty()) return not_found();
    auto token = TokenOf(req, caller);
    if (!token || !IsObjectId(caller) || !registry.Authenticate(caller, *token)) return Unauthorized();
    if (caller != task->manager) return not_found();
    if (Unquote(req.Header("if-none-match")) == task->etag) {
      Response r{304, "", "", {}};
      r.headers.emplace_back("ETag", "\"" + task->etag + "\"");
      return r;
    }
    Response r = Response::Json(200, protocol::ToJson(*task));
    r.headers.emplace_back("ETag", "\"" + task->etag + "\"");
    return r;
  });

  router.Add("POST", "/api/flamenco/managers/{id}/task-update-batch", [&jobs, &registry](Request& req) {
    const std::string& id = req.params[0];
    if (auto r = CheckManager(registry, req, id)) return *r;
    auto updates = ParseTaskUpdateBatch(req.body);
    if (!updates) return Response::FromError(updates.error());
    auto resp = jobs.PushTaskUpdatesFor(id, *updates);
    if (!resp) return Response::FromError(resp.error());
    return Response::Json(200, protocol::ToJson(*resp));
  });

  router.Add("POST", "/api/flamenco/managers/{id}/attach-task-log/{task}", [&jobs, &registry](Request& req) {
    const std::string& id = req.params[0];
    const std::string& task_id = req.params[1];
    if (auto r = CheckManager(registry, req, id)) return *r;
    auto part = FindFormPart(req.Header("content-type"), req.body, "logfile");
    if (!part) return Response::Message(400, "multipart/form-data part 'logfile' is missing");
    if (!part->filename.ends_with(".gz")) return Response::Message(400, "the log file name must end in .gz");
    if (!IsObjectId(task_id)) return Response::Message(404, "task " + task_id + " not found");
    auto task = jobs.GetTask(task_id);
    if (!task || task->manager != id) return Response::Message(404, "task " + task_id + " not found");
    std::error_code ec;
    const bool existed = std::filesystem::exists(jobs.TaskLogPath(task->job, task_id), ec);
    if (auto st = jobs.AttachTaskLogFor(id, task->job, task_id, part->data); !st)
      return Response::FromError(st.error());
    Response r = Response::Json(existed ? 200 : 201, json{{"_message", "ok"}});
    r.headers.emplace_back("Location", "/api/tasks/" + task_id + "/uploaded-log");
    return r;
  });

  for (const char* kind : {"startup", "update"}) {
    router.Add("POST", std::string("/api/flamenco/managers/{id}/") + kind, [&jobs, &registry](Request& req) {
      const std::string& id = req.params[0];
      if (auto r = CheckManager(registry, req, id)) return *r;
      auto body = ParseJson(req);
      if (!body) return Response::FromError(body.error());
      auto n = protocol::UpstreamNotificationFromJson(*body);
      if (!n) return Response::FromError(n.error());
      if (auto st = registry.RecordNotification(id, *n); !st) return Response::FromError(st.error());
      // Job compilers see what the workers of all sites can do.
      auto types = registry.AllWorkerTaskTypes();
      if (!types) return Response::FromError(types.error());
      protocol::UpstreamNotification all;
      all.worker_task_types.assign(types->begin(), types->end());
      if (auto st = jobs.Notify(all); !st) return Response::FromError(st.error());
      return Response::NoContent();
    });
  }

  // --- administration
  router.Add("POST", "/api/managers", [&registry](Request& req) {
    auto body = ParseJson(req);
    if (!body) return Response::FromError(body.error());
    if (!body->is_object() || !body->contains("name") || !(*body)["name"].is_string())
      return Response::Message(400, "field 'name' must be a string");
    auto created = registry.Create((*body)["name"].get<std::string>());
    if (!created) return Response::FromError(created.error());
    json j = ManagerJson(created->first);
    j["token"] = created->second;
    spdlog::info("manager {} '{}' created", created->first.id, created->first.name);
    Response r = Response::Json(201, j);
    r.headers.emplace_back("Location", "/api/managers/" + created->first.id);
    return r;
  });

  router.Add("GET", "/api/managers", [&registry](Request&) {
    auto list = registry.List();
    if (!list) return Response::FromError(list.error());
    json arr = json::array();
    for (const auto& m : *list) arr.push_back(ManagerJson(m));
    return Response::Json(200, json{{"managers", std::move(arr)}});
  });

  router.Add("GET", "/api/managers/{id}", [&registry](Request& req) {
    auto m = registry.Get(req.params[0]);
    if (!m) return Response::FromError(m.error());
    return Response::Json(200, ManagerJson(*m));
  });

  router.Add("POST", "/api/managers/{id}/revoke", [&registry](Request& req) {
    if (auto st = registry.Revoke(req.params[0]); !st) return Response::FromError(st.error());
    auto m = registry.Get(req.params[0]);
    if (!m) return Response::FromError(m.error());
    spdlog::info("manager {} '{}': token revoked", m->id, m->name);
    return Response::Json(200, ManagerJson(*m));
  });

  router.Add("GET", "/api/tasks/{id}/uploaded-log", [&jobs](Request& req) {
    const std::string& id = req.params[0];
    if (!IsObjectId(id)) return Response::Message(404, "task " + id + " not found");
    auto task = jobs.GetTask(id);
    if (!task) return Response::FromError(task.error());
    auto file = http::FileSlice::Open(jobs.TaskLogPath(task->job, id));
    if (!file) return Response::Message(404, "no log of task " + id + " was uploaded");
    Response r;
    r.content_type = "application/gzip";
    r.file = std::move(*file);
    return r;
  });
}

}  // namespace duende::server
