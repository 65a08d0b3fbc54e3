#include "manager/diagnostics_api.h"

#include <nlohmann/json.hpp>

#include "common/ids.h"

namespace duende::manager {

using http::Request;
using http::Response;
using nlohmann::json;

json ToJson(const TaskExplanation& e) {
  json workers = json::array();
  for (const auto& w : e.workers)
    workers.push_back({{"worker_id", w.worker_id},
                       {"identifier", w.identifier},
                       {"status", w.status},
                       {"could_run", w.could_run},
                       {"reason", w.reason}});
  return {{"task_id", e.task.id},
          {"name", e.task.name},
          {"job", e.task.job},
          {"status", protocol::ToString(e.task.status)},
          {"task_type", e.task.task_type},
          {"summary", e.summary},
          {"task_reasons", e.task_reasons},
          {"workers", workers}};
}

Result<BlacklistForgetRequest> ParseBlacklistForget(std::string_view text) {
  json body = json::parse(text, nullptr, false);
  if (body.is_discarded() || !body.is_object()) return InvalidArgument("malformed JSON in request body");
  BlacklistForgetRequest req;
  for (auto [field, name] : {std::pair{&req.worker_id, "worker_id"}, std::pair{&req.job_id, "job_id"},
                             std::pair{&req.task_type, "task_type"}}) {
    auto it = body.find(name);
    if (it == body.end() || !it->is_string() || it->get<std::string>().empty())
      return InvalidArgument(std::string("field '") + name + "' must be a non-empty string");
    *field = it->get<std::string>();
  }
  return req;
}

void RegisterDiagnosticsApi(http::Router& router, Farm& farm) {
  router.Add("GET", "/api/tasks/{id}/explain", [&farm](Request& r) -> Response {
    if (!IsObjectId(r.params[0])) return Response::Message(404, "invalid task ID '" + r.params[0] + "'");
    auto e = farm.Explain(r.params[0]);
    if (!e) return Response::FromError(e.error());
    return Response::Json(200, ToJson(*e));
  });

  router.Add("GET", "/api/blacklist", [&farm](Request& r) -> Response {
    auto entries = farm.ListBlacklist(r.Query("worker").value_or(""), r.Query("job").value_or(""));
    if (!entries) return Response::FromError(entries.error());
    json arr = json::array();
    for (const auto& e : *entries) arr.push_back(ToJson(e));
    return Response::Json(200, json{{"blacklist", arr}});
  });

  router.Add("POST", "/api/blacklist/forget", [&farm](Request& r) -> Response {
    auto req = ParseBlacklistForget(r.body);
    if (!req) return Response::FromError(req.error());
    if (auto st = farm.ForgetBlacklist(req->worker_id, req->job_id, req->task_type); !st)
      return Response::FromError(st.error());
    return Response::NoContent();
  });
}

}  // namespace duende::manager
