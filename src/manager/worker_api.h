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

struct WorkerApiOptions {
  std::string registration_secret;  // empty = open registration
  std::string version = "0.1.0";
};

void RegisterWorkerApi(http::Router& router, Farm& farm, WorkerAuthenticator& auth, Clock& clock,
                       WorkerApiOptions options);

// GET /api/health. (GET /api/workers: worker_status_api.h.)
void RegisterFarmApi(http::Router& router, Farm& farm, std::string version);

}  // namespace duende::manager
