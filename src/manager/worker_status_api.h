// HTTP endpoints for operators acting on workers (our /api additions,
// documented in api/openapi.yaml): list/show workers with their sleep
// schedules, request statuses (lazy or immediate, one or several workers),
// acknowledge timeouts, forget workers, set/clear sleep schedules.
// Handlers only translate JSON to WorkerStatusService calls.
#pragma once

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
void RegisterWorkerStatusApi(http::Router& router, WorkerStatusService& service);

}  // namespace duende::manager
