// The job API (Duende's own, under /api/): submit, list and inspect jobs and
// tasks, change job status and priority. Handlers only translate HTTP <->
// JobService calls; every decision lives in JobService.
//
//   POST /api/jobs                  JobSubmission JSON -> 201 job JSON
//   GET  /api/jobs[?status=S&limit=N] -> {"jobs":[job,...]} (newest first)
//   GET  /api/jobs/{id}             -> job JSON (with tasks_status counts)
//   GET  /api/jobs/{id}/tasks       -> {"tasks":[task,...]}
//   POST /api/jobs/{id}/status      {"status": cancel-requested | requeued |
//                                    paused | queued | fail-requested,
//                                    "reason"?: str} -> 200 job JSON
//   POST /api/jobs/{id}/priority    {"priority": 1..100} -> 200 job JSON
//   GET  /api/tasks/{id}            -> task JSON
//   POST /api/tasks/{id}/log-request -> 202; asks the Manager to upload the
//                                    task's log (JobService::RequestTaskLog)
//
// Errors are {"message": ...}: malformed JSON and invalid input 400, unknown
// or malformed IDs 404, status changes the job's state does not allow 409.
// A failed request changes nothing.
#pragma once

#include <string>
#include <string_view>
#include <utility>

#include "common/result.h"
#include "jobs/job.h"
#include "protocol/status.h"

namespace duende::http {
class Router;
}

namespace duende::jobs {

class JobService;

// Parsers of the request bodies, pure functions of the text (unit-tested and
// fuzzed in fuzz/). Errors are InvalidArgument with the 400 message.
//
// POST /api/jobs: a JSON object, then JobSubmissionFromJson.
Result<JobSubmission> ParseJobSubmission(std::string_view body);
// POST /api/jobs/{id}/status: the requested status (one the API allows) and
// the reason ("" when absent).
Result<std::pair<protocol::JobStatus, std::string>> ParseJobStatusRequest(std::string_view body);
// POST /api/jobs/{id}/priority: 1..100.
Result<int> ParseJobPriority(std::string_view body);

// `jobs` must outlive the router.
void RegisterJobApi(http::Router& router, JobService& jobs);

}  // namespace duende::jobs
