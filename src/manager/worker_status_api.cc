#include "manager/worker_status_api.h"

#include <initializer_list>
#include <nlohmann/json.hpp>

#include "common/ids.h"

namespace duende::manager {
namespace {

using http::Request;
using http::Response;
using nlohmann::json;

Result<json> ParseObject(std::string_view body, std::initializer_list<std::string_view> allowed) {
  if (body.find_first_not_of(" \t\r\n") == std::string::npos) return json::object();
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded()) return InvalidArgument("malformed JSON in request body");
  if (!j.is_object()) return InvalidArgument("request body must be a JSON object");
  for (const auto& [key, value] : j.items()) {
    bool known = false;
    for (auto a : allowed) known = known || key == a;
    if (!known) return InvalidArgument("unknown field '" + key + "'");
  }
  return j;
}

Result<std::string> OptString(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::string();
  if (!it->is_string()) return InvalidArgument(std::string("field '") + key + "' must be a string");
  return it->get<std::string>();
}

Result<bool> OptBool(const json& j, const char* key, bool fallback) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  if (!it->is_boolean()) return InvalidArgument(std::string("field '") + key + "' must be true or false");
  return it->get<bool>();
}

Status CheckWorkerId(const std::string& id) {
  if (IsObjectId(id)) return Ok();
  return NotFound("worker " + id + " not found (not a worker ID)");
}

// {"status": ..., "lazy": ...}; status required.
Result<std::pair<std::string, bool>> StatusRequest(const json& body) {
  auto status = OptString(body, "status");
  if (!status) return std::unexpected(status.error());
  if (status->empty()) return InvalidArgument("field 'status' is required (asleep, awake, shutdown or restart)");
  auto lazy = OptBool(body, "lazy", false);
  if (!lazy) return std::unexpected(lazy.error());
  return std::pair{*status, *lazy};
}

json WorkersJson(const std::vector<WorkerView>& views) {
  json arr = json::array();
  for (const auto& v : views) arr.push_back(ToJson(v));
  return json{{"workers", arr}};
}

Response WorkerOrError(const Result<WorkerView>& view) {
  if (!view) return Response::FromError(view.error());
  return Response::Json(200, ToJson(*view));
}

}  // namespace

Result<WorkerStatusRequest> ParseWorkerStatusRequest(std::string_view body_text, bool many) {
  auto body = many ? ParseObject(body_text, {"workers", "status", "lazy"}) : ParseObject(body_text, {"status", "lazy"});
  if (!body) return std::unexpected(body.error());
  auto req = StatusRequest(*body);
  if (!req) return std::unexpected(req.error());
  WorkerStatusRequest out{{}, std::move(req->first), req->second};
  if (!many) return out;
  auto it = body->find("workers");
  if (it == body->end() || !it->is_array() || it->empty())
    return InvalidArgument("field 'workers' must be a non-empty list of worker IDs");
  for (const auto& e : *it) {
    if (!e.is_string()) return InvalidArgument("field 'workers' must be a list of worker IDs");
    out.workers.push_back(e.get<std::string>());
    if (auto st = CheckWorkerId(out.workers.back()); !st) return std::unexpected(st.error());
  }
  return out;
}

Result<ScheduleInput> ParseScheduleInput(std::string_view body_text) {
  // next_check is accepted (the dashboard echoes what it got) but always
  // recomputed.
  auto body = ParseObject(body_text, {"schedule_active", "days_of_week", "time_start", "time_end", "next_check"});
  if (!body) return std::unexpected(body.error());
  ScheduleInput input;
  auto active = OptBool(*body, "schedule_active", true);
  if (!active) return std::unexpected(active.error());
  input.active = *active;
  for (auto [field, key] : {std::pair{&input.days_of_week, "days_of_week"}, std::pair{&input.time_start, "time_start"},
                            std::pair{&input.time_end, "time_end"}}) {
    auto v = OptString(*body, key);
    if (!v) return std::unexpected(v.error());
    *field = *v;
  }
  return input;
}

void RegisterWorkerStatusApi(http::Router& router, WorkerStatusService& service) {
  router.Add("GET", "/api/workers", [&service](Request&) -> Response {
    auto views = service.List();
    if (!views) return Response::FromError(views.error());
    return Response::Json(200, WorkersJson(*views));
  });

  router.Add("POST", "/api/workers/status", [&service](Request& r) -> Response {
    auto req = ParseWorkerStatusRequest(r.body, /*many=*/true);
    if (!req) return Response::FromError(req.error());
    auto views = service.RequestStatus(req->workers, req->status, req->lazy);
    if (!views) return Response::FromError(views.error());
    return Response::Json(200, WorkersJson(*views));
  });

  router.Add("GET", "/api/workers/{id}", [&service](Request& r) -> Response {
    if (auto st = CheckWorkerId(r.params[0]); !st) return Response::FromError(st.error());
    return WorkerOrError(service.Get(r.params[0]));
  });

  auto forget = [&service](Request& r) -> Response {
    if (auto st = CheckWorkerId(r.params[0]); !st) return Response::FromError(st.error());
    if (auto st = service.Forget(r.params[0]); !st) return Response::FromError(st.error());
    return Response::NoContent();
  };
  router.Add("DELETE", "/api/workers/{id}", forget);
  router.Add("POST", "/api/workers/{id}/forget", forget);

  router.Add("POST", "/api/workers/{id}/status", [&service](Request& r) -> Response {
    if (auto st = CheckWorkerId(r.params[0]); !st) return Response::FromError(st.error());
    auto req = ParseWorkerStatusRequest(r.body, /*many=*/false);
    if (!req) return Response::FromError(req.error());
    auto views = service.RequestStatus({r.params[0]}, req->status, req->lazy);
    if (!views) return Response::FromError(views.error());
    return Response::Json(200, ToJson(views->front()));
  });

  router.Add("POST", "/api/workers/{id}/ack-timeout", [&service](Request& r) -> Response {
    if (auto st = CheckWorkerId(r.params[0]); !st) return Response::FromError(st.error());
    return WorkerOrError(service.AckTimeout(r.params[0]));
  });

  router.Add("GET", "/api/workers/{id}/sleep-schedule", [&service](Request& r) -> Response {
    if (auto st = CheckWorkerId(r.params[0]); !st) return Response::FromError(st.error());
    auto view = service.Get(r.params[0]);
    if (!view) return Response::FromError(view.error());
    return Response::Json(200, ToJson(*view)["sleep_schedule"]);
  });

  auto set_schedule = [&service](Request& r) -> Response {
    if (auto st = CheckWorkerId(r.params[0]); !st) return Response::FromError(st.error());
    auto input = ParseScheduleInput(r.body);
    if (!input) return Response::FromError(input.error());
    return WorkerOrError(service.SetSchedule(r.params[0], *input));
  };
  router.Add("PUT", "/api/workers/{id}/sleep-schedule", set_schedule);
  router.Add("POST", "/api/workers/{id}/sleep-schedule", set_schedule);

  router.Add("DELETE", "/api/workers/{id}/sleep-schedule", [&service](Request& r) -> Response {
    if (auto st = CheckWorkerId(r.params[0]); !st) return Response::FromError(st.error());
    return WorkerOrError(service.ClearSchedule(r.params[0]));
  });
}

}  // namespace duende::manager
