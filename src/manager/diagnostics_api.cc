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
    json body = json::parse(r.body, nullptr, false);
    if (body.is_discarded() || !body.is_object()) return Response::Message(400, "malformed JSON in request body");
    std::string fields[3];
    const char* names[3] = {"worker_id", "job_id", "task_type"};
    for (int i = 0; i < 3; ++i) {
      auto it = body.find(names[i]);
      if (it == body.end() || !it->is_string() || it->get<std::string>().empty())
        return Response::Message(400, std::string("field '") + names[i] + "' must be a non-empty string");
      fields[i] = it->get<std::string>();
    }
    if (auto st = farm.ForgetBlacklist(fields[0], fields[1], fields[2]); !st) return Response::FromError(st.error());
    return Response::NoContent();
  });
}

}  // namespace duende::manager
