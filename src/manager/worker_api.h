// HTTP handlers of the Flamenco v2 worker protocol (spec §2.2) and the
// Manager's own farm endpoints under /api. Handlers translate between the
// wire and Farm calls; they never decide statuses.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "http/http.h"
#include "manager/farm.h"
#include "manager/worker_auth.h"

namespace duende::manager {

class TaskWaiters;

struct WorkerApiOptions {
  std::string registration_secret;  // empty = open registration
  std::string version = "0.1.0";
  // When set, POST /task with `X-Duende-Wait: S` (or `?wait=S`) long-polls:
  // a worker with nothing to do waits up to S seconds for a task instead of
  // getting 204 at once. Without the header the answer is v2's.
  TaskWaiters* task_waiters = nullptr;
  // Called when a worker's POST /task found nothing to do (answered 204 or
  // parked). Linked mode asks the Server for more work then (spec §1.3).
  std::function<void()> on_no_task;
};

// Parsers of the worker-facing request bodies and headers: pure functions of
// the text a worker sent, so they are unit-tested and fuzzed (fuzz/) without
// a Farm. Errors are InvalidArgument with a message for the 400 answer.
//
// POST /register-worker: {secret, platform, nickname (strings),
// supported_task_types (list of strings)}, all optional; body required.
Result<Registration> ParseRegistration(std::string_view body);
// POST /sign-on: optional body {supported_task_types (absent = unchanged),
// nickname (ignored unless a string)}.
struct SignOnRequest {
  std::optional<std::vector<std::string>> supported_task_types;
  std::optional<std::string> nickname;
};
Result<SignOnRequest> ParseSignOn(std::string_view body);
// POST /tasks/{id}/update: protocol::WorkerTaskUpdateFromJson of the body.
Result<protocol::TaskUpdate> ParseWorkerTaskUpdate(std::string_view body);
// POST /output-produced: {"paths": [str, ...]} (the list may be empty here;
// the handler answers 422 for that).
Result<std::vector<std::string>> ParseOutputProduced(std::string_view body);
// X-Duende-Wait / ?wait=: seconds to long-poll, capped at an hour; 0 for
// empty, malformed or non-positive text.
std::chrono::milliseconds ParseRequestedWait(std::string_view text);

// The POST /task answer for a Farm offer (200 task, 204, 406, 423). The
// offered task is moved into the answer's JSON.
http::Response TaskOfferResponse(Result<TaskOffer> offer);

void RegisterWorkerApi(http::Router& router, Farm& farm, WorkerAuthenticator& auth, Clock& clock,
                       WorkerApiOptions options);

// GET /api/health. (GET /api/workers: worker_status_api.h.)
void RegisterFarmApi(http::Router& router, Farm& farm, std::string version);

}  // namespace duende::manager
