#include "jobs/job_api.h"

#include <charconv>
#include <nlohmann/json.hpp>

#include "common/ids.h"
#include "http/http.h"
#include "jobs/job_service.h"

namespace duende::jobs {
namespace {

using http::Request;
using http::Response;
using nlohmann::json;

Result<json> ParseBody(std::string_view body) {
  json j;
  try {
    j = json::parse(body);
  } catch (const json::exception& e) {
    // Caught here: the exception carries the position, useful to the user.
    // Not only parse_error: a number too large for a double ("1e999") is an
    // out_of_range error.
    return InvalidArgument(std::string("malformed JSON: ") + e.what());
  }
  if (!j.is_object()) return InvalidArgument("malformed JSON: request body must be a JSON object");
  return j;
}

// Unknown and malformed IDs are both "not found": an ID is only a name.
std::optional<Response> CheckId(const std::string& id, const char* what) {
  if (!IsObjectId(id)) return Response::Message(404, std::string(what) + " " + id + " not found");
  return std::nullopt;
}

const std::set<protocol::JobStatus>& ApiStatuses() {
  static const auto* s = new std::set<protocol::JobStatus>{
      protocol::JobStatus::kCancelRequested, protocol::JobStatus::kRequeued, protocol::JobStatus::kPaused,
      protocol::JobStatus::kQueued, protocol::JobStatus::kFailRequested};
  return *s;
}

}  // namespace

Result<JobSubmission> ParseJobSubmission(std::string_view body_text) {
  auto body = ParseBody(body_text);
  if (!body) return std::unexpected(body.error());
  return JobSubmissionFromJson(*body);
}

Result<std::pair<protocol::JobStatus, std::string>> ParseJobStatusRequest(std::string_view body_text) {
  auto body = ParseBody(body_text);
  if (!body) return std::unexpected(body.error());
  auto it = body->find("status");
  if (it == body->end() || !it->is_string()) return InvalidArgument("field 'status' must be a string");
  auto status = protocol::JobStatusFromString(it->get<std::string>());
  if (!status || !ApiStatuses().contains(*status))
    return InvalidArgument("status '" + it->get<std::string>() +
                           "' cannot be requested; use one of cancel-requested, fail-requested, "
                           "requeued, paused, queued");
  std::string reason;
  if (auto r = body->find("reason"); r != body->end() && !r->is_null()) {
    if (!r->is_string()) return InvalidArgument("field 'reason' must be a string");
    reason = r->get<std::string>();
  }
  return std::pair{*status, std::move(reason)};
}

Result<int> ParseJobPriority(std::string_view body_text) {
  auto body = ParseBody(body_text);
  if (!body) return std::unexpected(body.error());
  auto it = body->find("priority");
  if (it == body->end() || !it->is_number_integer() || it->get<int64_t>() < 1 || it->get<int64_t>() > 100)
    return InvalidArgument("field 'priority' must be an integer from 1 to 100");
  return static_cast<int>(it->get<int64_t>());
}

void RegisterJobApi(http::Router& router, JobService& jobs) {
  router.Add("POST", "/api/jobs", [&jobs](Request& req) {
    auto submission = ParseJobSubmission(req.body);
    if (!submission) return Response::FromError(submission.error());
    auto job = jobs.Submit(*submission);
    if (!job) return Response::FromError(job.error());
    Response r = Response::Json(201, ToJson(*job));
    r.headers.emplace_back("Location", "/api/jobs/" + job->id);
    return r;
  });

  router.Add("GET", "/api/jobs", [&jobs](Request& req) {
    JobFilter filter;
    if (auto s = req.Query("status"); s && !s->empty()) {
      auto st = protocol::JobStatusFromString(*s);
      if (!st) return Response::Message(400, "unknown job status '" + *s + "'");
      filter.status = *st;
    }
    if (auto l = req.Query("limit"); l && !l->empty()) {
      int v = 0;
      auto [ptr, ec] = std::from_chars(l->data(), l->data() + l->size(), v);
      if (ec != std::errc() || ptr != l->data() + l->size() || v < 1 || v > 10000)
        return Response::Message(400, "limit must be an integer from 1 to 10000");
      filter.limit = v;
    }
    auto list = jobs.ListJobs(filter);
    if (!list) return Response::FromError(list.error());
    json arr = json::array();
    for (const auto& j : *list) arr.push_back(ToJson(j));
    return Response::Json(200, json{{"jobs", std::move(arr)}});
  });

  router.Add("GET", "/api/jobs/{id}", [&jobs](Request& req) {
    if (auto r = CheckId(req.params[0], "job")) return *r;
    auto job = jobs.GetJob(req.params[0]);
    if (!job) return Response::FromError(job.error());
    return Response::Json(200, ToJson(*job));
  });

  router.Add("GET", "/api/jobs/{id}/tasks", [&jobs](Request& req) {
    if (auto r = CheckId(req.params[0], "job")) return *r;
    auto tasks = jobs.GetTasks(req.params[0]);
    if (!tasks) return Response::FromError(tasks.error());
    json arr = json::array();
    for (const auto& t : *tasks) arr.push_back(protocol::ToJson(t));
    return Response::Json(200, json{{"tasks", std::move(arr)}});
  });

  router.Add("POST", "/api/jobs/{id}/status", [&jobs](Request& req) {
    if (auto r = CheckId(req.params[0], "job")) return *r;
    auto request = ParseJobStatusRequest(req.body);
    if (!request) return Response::FromError(request.error());
    auto job = jobs.ChangeJobStatus(req.params[0], request->first, request->second);
    if (!job) return Response::FromError(job.error());
    return Response::Json(200, ToJson(*job));
  });

  router.Add("POST", "/api/jobs/{id}/priority", [&jobs](Request& req) {
    if (auto r = CheckId(req.params[0], "job")) return *r;
    auto priority = ParseJobPriority(req.body);
    if (!priority) return Response::FromError(priority.error());
    auto job = jobs.ChangeJobPriority(req.params[0], *priority);
    if (!job) return Response::FromError(job.error());
    return Response::Json(200, ToJson(*job));
  });

  router.Add("DELETE", "/api/jobs/{id}", [&jobs](Request& req) {
    if (auto r = CheckId(req.params[0], "job")) return *r;
    if (auto st = jobs.DeleteJob(req.params[0]); !st) return Response::FromError(st.error());
    return Response::NoContent();
  });

  router.Add("GET", "/api/tasks/{id}", [&jobs](Request& req) {
    if (auto r = CheckId(req.params[0], "task")) return *r;
    auto task = jobs.GetTask(req.params[0]);
    if (!task) return Response::FromError(task.error());
    return Response::Json(200, protocol::ToJson(*task));
  });

  router.Add("POST", "/api/tasks/{id}/log-request", [&jobs](Request& req) {
    if (auto r = CheckId(req.params[0], "task")) return *r;
    if (auto st = jobs.RequestTaskLog(req.params[0]); !st) return Response::FromError(st.error());
    return Response::Message(202, "log upload requested");
  });
}

}  // namespace duende::jobs
