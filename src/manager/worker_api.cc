#include "manager/worker_api.h"

#include <nlohmann/json.hpp>

#include "common/ids.h"
#include "manager/task_waiters.h"

namespace duende::manager {

using http::Request;
using http::Response;
using nlohmann::json;

namespace {

Seen SeenOf(const Request& r) { return Seen{r.remote_host, std::string(r.Header("user-agent"))}; }

// v2 answers malformed IDs in paths with a plain-text 404.
std::optional<Response> CheckId(const std::string& id) {
  if (IsObjectId(id)) return std::nullopt;
  return Response::Message(404, "invalid ID '" + id + "'");
}

Result<json> ParseBody(std::string_view body, bool allow_empty) {
  if (body.empty() || body.find_first_not_of(" \t\r\n") == std::string::npos) {
    if (allow_empty) return json::object();
    return InvalidArgument("request body is empty; JSON expected");
  }
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded()) return InvalidArgument("malformed JSON in request body");
  if (!j.is_object()) return InvalidArgument("request body must be a JSON object");
  return j;
}

Result<std::vector<std::string>> StringList(const json& j, const char* key) {
  std::vector<std::string> out;
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return out;
  if (!it->is_array()) return InvalidArgument(std::string("field '") + key + "' must be a list of strings");
  for (const auto& e : *it) {
    if (!e.is_string()) return InvalidArgument(std::string("field '") + key + "' must be a list of strings");
    out.push_back(e.get<std::string>());
  }
  return out;
}

// Seconds a worker asks POST /task to wait for work; 0 = answer at once.
std::chrono::milliseconds RequestedWait(const Request& r) {
  std::string text(r.Header("x-duende-wait"));
  if (text.empty()) text = r.Query("wait").value_or("");
  return ParseRequestedWait(text);
}

// The handler's answer when `out` will carry the response (after a queued
// write's commit).
Response Later(std::shared_ptr<http::Deferred> out) {
  Response resp;
  resp.deferred = std::move(out);
  return resp;
}

}  // namespace

Result<Registration> ParseRegistration(std::string_view body_text) {
  auto body = ParseBody(body_text, false);
  if (!body) return std::unexpected(body.error());
  Registration reg;
  for (auto [field, key] :
       {std::pair{&reg.secret, "secret"}, std::pair{&reg.platform, "platform"}, std::pair{&reg.nickname, "nickname"}}) {
    auto it = body->find(key);
    if (it != body->end() && !it->is_null()) {
      if (!it->is_string()) return InvalidArgument(std::string("field '") + key + "' must be a string");
      *field = it->get<std::string>();
    }
  }
  auto types = StringList(*body, "supported_task_types");
  if (!types) return std::unexpected(types.error());
  reg.supported_task_types = std::move(*types);
  return reg;
}

Result<SignOnRequest> ParseSignOn(std::string_view body_text) {
  auto body = ParseBody(body_text, true);
  if (!body) return std::unexpected(body.error());
  SignOnRequest req;
  if (body->contains("supported_task_types")) {
    auto t = StringList(*body, "supported_task_types");
    if (!t) return std::unexpected(t.error());
    req.supported_task_types = std::move(*t);
  }
  if (auto it = body->find("nickname"); it != body->end() && it->is_string()) req.nickname = it->get<std::string>();
  return req;
}

Result<protocol::TaskUpdate> ParseWorkerTaskUpdate(std::string_view body_text) {
  auto body = ParseBody(body_text, false);
  if (!body) return std::unexpected(body.error());
  return protocol::WorkerTaskUpdateFromJson(*body);
}

Result<std::vector<std::string>> ParseOutputProduced(std::string_view body_text) {
  auto body = ParseBody(body_text, false);
  if (!body) return std::unexpected(body.error());
  return StringList(*body, "paths");
}

std::chrono::milliseconds ParseRequestedWait(std::string_view text_view) {
  const std::string text(text_view);  // strtod needs a terminated string
  if (text.empty()) return std::chrono::milliseconds(0);
  char* end = nullptr;
  const double s = std::strtod(text.c_str(), &end);
  if (end == text.c_str() || !(s > 0)) return std::chrono::milliseconds(0);
  return std::chrono::milliseconds(static_cast<int64_t>(std::min(s, 3600.0) * 1000));
}

Response TaskOfferResponse(Result<TaskOffer> offer) {
  if (!offer) return Response::FromError(offer.error());
  switch (offer->kind) {
    case TaskOffer::Kind::kTask:
      return Response::Json(200, protocol::ToJson(std::move(offer->task)));
    case TaskOffer::Kind::kNoTask:
      return Response::NoContent();
    case TaskOffer::Kind::kNoTaskTypes:
      return Response::Message(406, "worker has no supported task types");
    case TaskOffer::Kind::kStatusRequested:
      return Response::Json(423, json{{"status_requested", offer->status_requested}});
  }
  return Response::Message(500, "unreachable");
}

void RegisterWorkerApi(http::Router& router, Farm& farm, WorkerAuthenticator& auth, Clock& clock,
                       WorkerApiOptions options) {
  // Wraps a handler that needs an authenticated worker.
  auto authed = [&auth](auto fn) {
    return [&auth, fn](Request& r) -> Response {
      auto id = auth.Authenticate(r.Header("authorization"));
      if (!id) {
        Response resp = Response::FromError(id.error());
        if (id.error().code == ErrorCode::kUnauthorized) {
          resp.headers.clear();
          resp.headers.emplace_back("WWW-Authenticate", "Basic realm=\"Flamenco Manager\"");
        }
        return resp;
      }
      return fn(r, *id);
    };
  };

  router.Add("POST", "/register-worker", [&farm, &clock, options](Request& r) -> Response {
    if (!options.registration_secret.empty()) {
      if (auto st = VerifyRegistrationToken(r.Header("authorization"), options.registration_secret, clock.Now()); !st)
        return Response::FromError(st.error());
    }
    auto reg = ParseRegistration(r.body);
    if (!reg) return Response::FromError(reg.error());
    auto w = farm.RegisterWorker(*reg, r.remote_endpoint, std::string(r.Header("user-agent")));
    if (!w) return Response::FromError(w.error());
    return Response::Json(200, ToJson(*w));
  });

  router.Add("POST", "/sign-on", authed([&farm](Request& r, const std::string& id) -> Response {
               auto req = ParseSignOn(r.body);
               if (!req) return Response::FromError(req.error());
               if (auto st = farm.SignOn(id, req->supported_task_types, req->nickname, SeenOf(r)); !st)
                 return Response::FromError(st.error());
               return Response::NoContent();
             }));

  router.Add("POST", "/sign-off", authed([&farm](Request& r, const std::string& id) -> Response {
               if (auto st = farm.SignOff(id, SeenOf(r)); !st) return Response::FromError(st.error());
               return Response::NoContent();
             }));

  // POST /task, POST /tasks/{id}/update and GET /may-i-run (the requests a
  // busy farm sends all the time) do not hold their I/O thread while their
  // write waits for its commit: the write goes to the store's writer
  // (Farm::AssignTaskAsync, UpdateTaskAsync, MayIRunAsync) and the response
  // follows from there. A poll that changes nothing is answered at once
  // from a read.
  router.Add(
      "POST", "/task",
      authed(
          [&farm, waiters = options.task_waiters, on_no_task = options.on_no_task](Request& r, const std::string& id) {
            const auto wait = waiters ? RequestedWait(r) : std::chrono::milliseconds(0);
            const uint64_t generation = waiters ? waiters->WorkGeneration() : 0;
            const Seen seen = SeenOf(r);
            // Nothing to do and the worker asked to wait: park it, answering
            // `into` (a new Deferred when null) later.
            auto answer = [waiters, on_no_task, id, seen, wait, generation](
                              Result<TaskOffer> offer, std::shared_ptr<http::Deferred> into) -> Response {
              const bool none = offer && offer->kind == TaskOffer::Kind::kNoTask;
              if (none && on_no_task) on_no_task();
              Response resp;
              if (none && wait.count() > 0) {
                resp.deferred = waiters->Park(id, seen, wait, generation, std::move(into));
              } else if (into) {
                into->Complete(TaskOfferResponse(std::move(offer)));
              } else {
                resp = TaskOfferResponse(std::move(offer));
              }
              return resp;
            };
            if (auto quick = farm.QuickOffer(id, seen)) return answer(std::move(*quick), nullptr);
            auto out = std::make_shared<http::Deferred>();
            farm.AssignTaskAsync(id, seen, [answer, out](Result<TaskOffer> offer) { answer(std::move(offer), out); });
            return Later(std::move(out));
          }));

  router.Add("POST", "/tasks/{id}/update", authed([&farm](Request& r, const std::string& id) -> Response {
               if (auto bad = CheckId(r.params[0])) return *bad;
               auto update = ParseWorkerTaskUpdate(r.body);
               if (!update) return Response::FromError(update.error());
               auto out = std::make_shared<http::Deferred>();
               farm.UpdateTaskAsync(id, r.params[0], std::move(*update), SeenOf(r), [out](Status st) {
                 out->Complete(st ? Response::NoContent() : Response::FromError(st.error()));
               });
               return Later(std::move(out));
             }));

  router.Add("POST", "/tasks/{id}/return", authed([&farm](Request& r, const std::string& id) -> Response {
               if (auto bad = CheckId(r.params[0])) return *bad;
               if (auto st = farm.ReturnTask(id, r.params[0], "returned by worker", SeenOf(r)); !st)
                 return Response::FromError(st.error());
               return Response::NoContent();
             }));

  router.Add("GET", "/may-i-run/{id}", authed([&farm](Request& r, const std::string& id) -> Response {
               if (auto bad = CheckId(r.params[0])) return *bad;
               auto out = std::make_shared<http::Deferred>();
               farm.MayIRunAsync(id, r.params[0], SeenOf(r), [out](Result<MayKeepRunning> answer) {
                 if (!answer) {
                   out->Complete(Response::FromError(answer.error()));
                   return;
                 }
                 json j = {{"may_keep_running", answer->may_keep_running}};
                 if (!answer->reason.empty()) j["reason"] = answer->reason;
                 if (!answer->status_requested.empty()) j["status_requested"] = answer->status_requested;
                 out->Complete(Response::Json(200, j));
               });
               return Later(std::move(out));
             }));

  router.Add("GET", "/status-change", authed([&farm](Request& r, const std::string& id) -> Response {
               auto requested = farm.StatusChange(id, SeenOf(r));
               if (!requested) return Response::FromError(requested.error());
               if (!*requested) return Response::NoContent();
               return Response::Json(200, json{{"status_requested", **requested}});
             }));

  router.Add("POST", "/ack-status-change/{status}", authed([&farm](Request& r, const std::string& id) -> Response {
               if (auto st = farm.AckStatusChange(id, r.params[0], SeenOf(r)); !st)
                 return Response::FromError(st.error());
               return Response::NoContent();
             }));

  router.Add("POST", "/output-produced", authed([](Request& r, const std::string&) -> Response {
               auto paths = ParseOutputProduced(r.body);
               if (!paths) return Response::FromError(paths.error());
               if (paths->empty()) return Response::Message(422, "field 'paths' must not be empty");
               return Response::NoContent();
             }));
}

void RegisterFarmApi(http::Router& router, [[maybe_unused]] Farm& farm, std::string version) {
  router.Add("GET", "/api/health", [version](Request&) -> Response {
    return Response::Json(200, json{{"status", "ok"}, {"version", version}});
  });
}

}  // namespace duende::manager
