// /api endpoints for failure handling and diagnosis:
//   GET  /api/tasks/{id}/explain      why a task is (not) running, per worker
//   GET  /api/blacklist?worker=&job=  blacklist entries (both filters optional)
//   POST /api/blacklist/forget        {"worker_id", "job_id", "task_type"}
#pragma once

#include <string>
#include <string_view>

#include "http/http.h"
#include "manager/farm.h"

namespace duende::manager {

// The body of POST /api/blacklist/forget: three non-empty strings.
// InvalidArgument (400) otherwise. Pure; fuzzed in fuzz/.
struct BlacklistForgetRequest {
  std::string worker_id;
  std::string job_id;
  std::string task_type;
};
Result<BlacklistForgetRequest> ParseBlacklistForget(std::string_view body);

void RegisterDiagnosticsApi(http::Router& router, Farm& farm);

nlohmann::json ToJson(const TaskExplanation& e);

}  // namespace duende::manager
