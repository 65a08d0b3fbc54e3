// /api endpoints for failure handling and diagnosis:
//   GET  /api/tasks/{id}/explain      why a task is (not) running, per worker
//   GET  /api/blacklist?worker=&job=  blacklist entries (both filters optional)
//   POST /api/blacklist/forget        {"worker_id", "job_id", "task_type"}
#pragma once

#include "http/http.h"
#include "manager/farm.h"

namespace duende::manager {

void RegisterDiagnosticsApi(http::Router& router, Farm& farm);

nlohmann::json ToJson(const TaskExplanation& e);

}  // namespace duende::manager
