// HTTP handlers of the Flamenco v2 worker protocol (spec §2.2) and the
// Manager's own farm endpoints under /api. Handlers translate between the
// wire and Farm calls; they never decide statuses.
#pragma once

#include <string>

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
};

// The POST /task answer for a Farm offer (200 task, 204, 406, 423).
http::Response TaskOfferResponse(const Result<TaskOffer>& offer);

void RegisterWorkerApi(http::Router& router, Farm& farm, WorkerAuthenticator& auth, Clock& clock,
                       WorkerApiOptions options);

// GET /api/health. (GET /api/workers: worker_status_api.h.)
void RegisterFarmApi(http::Router& router, Farm& farm, std::string version);

}  // namespace duende::manager
