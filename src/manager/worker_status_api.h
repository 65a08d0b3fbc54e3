// HTTP endpoints for operators acting on workers (our /api additions,
// documented in api/openapi.yaml): list/show workers with their sleep
// schedules, request statuses (lazy or immediate, one or several workers),
// acknowledge timeouts, forget workers, set/clear sleep schedules.
// Handlers only translate JSON to WorkerStatusService calls.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "http/http.h"
#include "manager/worker_status.h"

namespace duende::manager {

// GET    /api/workers                        {"workers": [Worker...]}
// POST   /api/workers/status                 {"workers": [id...], "status", "lazy"} → {"workers": [...]}
// GET    /api/workers/{id}                   Worker
// DELETE /api/workers/{id}                   204 (also POST /api/workers/{id}/forget)
// POST   /api/workers/{id}/status            {"status", "lazy"} → Worker
// POST   /api/workers/{id}/ack-timeout       → Worker
// GET    /api/workers/{id}/sleep-schedule    → SleepSchedule
// PUT    /api/workers/{id}/sleep-schedule    {schedule_active, days_of_week, time_start, time_end} → Worker
//        (POST too)
// DELETE /api/workers/{id}/sleep-schedule    → Worker
// Errors: 400 bad input, 404 unknown worker, 409 wrong state; JSON
// {"message"}; nothing changes.
// Parsers of the request bodies, pure functions of the text (unit-tested and
// fuzzed in fuzz/); unknown fields are rejected. InvalidArgument (400) or
// NotFound (404, a malformed worker ID) otherwise.
struct WorkerStatusRequest {
  std::vector<std::string> workers;  // POST /api/workers/status only
  std::string status;
  bool lazy = false;
};
// `many`: the body of POST /api/workers/status (with "workers"); otherwise
// that of POST /api/workers/{id}/status.
Result<WorkerStatusRequest> ParseWorkerStatusRequest(std::string_view body, bool many);
// PUT/POST /api/workers/{id}/sleep-schedule (not yet normalised:
// NormaliseSchedule does that).
Result<ScheduleInput> ParseScheduleInput(std::string_view body);

void RegisterWorkerStatusApi(http::Router& router, WorkerStatusService& service);

}  // namespace duende::manager
