#include "manager/http_upstream.h"

#include <nlohmann/json.hpp>

#include "common/ids.h"

namespace duende::manager {
namespace {

using nlohmann::json;

// "Server said <status>: <message>", with the {"message"} of our own Server
// when there is one.
Error Refused(const std::string& what, const http::ClientResponse& r) {
  std::string message;
  json j = json::parse(r.body, nullptr, false);
  if (j.is_object() && j.contains("message") && j["message"].is_string()) message = j["message"].get<std::string>();
  const std::string text =
      what + ": server answered " + std::to_string(r.status) + (message.empty() ? "" : ": " + message);
  const bool client_error = r.status >= 400 && r.status < 500 && r.status != 401 && r.status != 408 && r.status != 429;
  return Error{client_error ? ErrorCode::kInvalidArgument : ErrorCode::kUnavailable, text};
}

}  // namespace

HttpUpstream::HttpUpstream(http::Client& client, HttpUpstreamOptions options)
    : client_(client), options_(std::move(options)) {
  while (options_.base_url.ends_with('/')) options_.base_url.pop_back();
}

http::ClientRequest HttpUpstream::Request(const std::string& method, const std::string& path) const {
  http::ClientRequest r;
  r.method = method;
  r.url = options_.base_url + path;
  r.user = options_.manager_id;
  r.password = options_.token;
  r.timeout_ms = options_.timeout_ms;
  return r;
}

std::string HttpUpstream::ManagerPath(const std::string& suffix) const {
  return "/api/flamenco/managers/" + options_.manager_id + suffix;
}

Result<protocol::Depsgraph> HttpUpstream::FetchDepsgraph(const std::string& if_updated_since) {
  auto req = Request("GET", ManagerPath("/depsgraph"));
  if (!if_updated_since.empty()) req.headers.emplace_back("X-Flamenco-If-Updated-Since", if_updated_since);
  auto resp = client_.Send(req);
  if (!resp) return std::unexpected(resp.error().WithContext("depsgraph"));
  protocol::Depsgraph out;
  out.last_updated = std::string(resp->Header("x-flamenco-last-updated"));
  if (resp->status == 204) {
    out.kind = protocol::Depsgraph::Kind::kNoJobs;
    return out;
  }
  if (resp->status == 304) {
    out.kind = protocol::Depsgraph::Kind::kNotModified;
    return out;
  }
  if (resp->status != 200) return std::unexpected(Refused("depsgraph", *resp));
  json j = json::parse(resp->body, nullptr, false);
  if (!j.is_object() || !j.contains("depsgraph") || !j["depsgraph"].is_array())
    return Unavailable("depsgraph: malformed response from server");
  out.kind = protocol::Depsgraph::Kind::kTasks;
  for (const auto& t : j["depsgraph"]) {
    auto task = protocol::TaskFromJson(t);
    if (!task) return std::unexpected(task.error().WithContext("depsgraph task"));
    out.tasks.push_back(std::move(*task));
  }
  return out;
}

Result<protocol::BatchResponse> HttpUpstream::PushTaskUpdates(const std::vector<protocol::TaskUpdate>& updates) {
  json body = json::array();
  for (const auto& u : updates) body.push_back(protocol::ToJson(u));
  auto req = Request("POST", ManagerPath("/task-update-batch"));
  req.headers.emplace_back("Content-Type", "application/json");
  req.body = body.dump();
  auto resp = client_.Send(req);
  if (!resp) return std::unexpected(resp.error().WithContext("task-update-batch"));
  if (resp->status != 200) return std::unexpected(Refused("task-update-batch", *resp));
  json j = json::parse(resp->body, nullptr, false);
  if (j.is_discarded()) return Unavailable("task-update-batch: malformed response from server");
  return protocol::BatchResponseFromJson(j);
}

Status HttpUpstream::AttachTaskLog(const std::string& job_id, const std::string& task_id,
                                   const std::string& gzipped_log) {
  const std::string boundary = "duende-" + NewObjectId();
  auto req = Request("POST", ManagerPath("/attach-task-log/" + task_id));
  req.headers.emplace_back("Content-Type", "multipart/form-data; boundary=" + boundary);
  req.body = "--" + boundary + "\r\nContent-Disposition: form-data; name=\"logfile\"; filename=\"task-" + task_id +
             ".txt.gz\"\r\nContent-Type: text/plain+gzip\r\n\r\n" + gzipped_log + "\r\n--" + boundary + "--\r\n";
  auto resp = client_.Send(req);
  if (!resp) return std::unexpected(resp.error().WithContext("attach-task-log"));
  if (resp->status != 200 && resp->status != 201)
    return std::unexpected(Refused("attach-task-log of job " + job_id + " task " + task_id, *resp));
  return Ok();
}

Status HttpUpstream::Notify(const protocol::UpstreamNotification& notification) {
  const bool started = started_.load();
  auto req = Request("POST", ManagerPath(started ? "/update" : "/startup"));
  req.headers.emplace_back("Content-Type", "application/json");
  req.body = protocol::ToJson(notification).dump();
  auto resp = client_.Send(req);
  if (!resp) return std::unexpected(resp.error().WithContext("notification"));
  if (resp->status != 204 && resp->status != 200) return std::unexpected(Refused("notification", *resp));
  started_ = true;
  return Ok();
}

protocol::TaskCheck HttpUpstream::RefetchTask(const std::string& task_id, const std::string& etag) {
  auto req = Request("GET", "/api/flamenco/tasks/" + task_id);
  req.timeout_ms = options_.refetch_timeout_ms;
  if (!etag.empty()) req.headers.emplace_back("If-None-Match", "\"" + etag + "\"");
  auto resp = client_.Send(req);
  protocol::TaskCheck out;
  if (!resp) return out;
  const int s = resp->status;
  if (s == 200) {
    json j = json::parse(resp->body, nullptr, false);
    auto task = j.is_discarded() ? Result<protocol::Task>(InvalidArgument("malformed")) : protocol::TaskFromJson(j);
    if (!task) {
      out.kind = protocol::TaskCheck::Kind::kGone;
      return out;
    }
    out.kind = protocol::TaskCheck::Kind::kChanged;
    out.task = std::move(*task);
    return out;
  }
  if (s == 204 || (s >= 400 && s < 500 && s != 401 && s != 403 && s != 408 && s != 429))
    out.kind = protocol::TaskCheck::Kind::kGone;
  return out;
}

}  // namespace duende::manager
