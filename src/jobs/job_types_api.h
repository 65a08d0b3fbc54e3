// The job types API (Duende's own, under /api/):
//
//   GET  /api/job-types          -> {"job_types":[schema,...]} (built-in first)
//   GET  /api/job-types/{name}   -> one schema; 404 for an unknown name
//   POST /api/job-types/reload   -> 200 {"dir","loaded":[names],"errors":
//                                   [{"path","message"}]}: re-reads the job
//                                   types directory (admin only; bad files
//                                   are reported and skipped, the types they
//                                   defined before are gone)
//
// A schema is {"name","label","description","source":"builtin"|"file",
// "settings":[{"key","type","required","default","description",
// "choices"?,"min"?,"max"?,"pattern"?}]} (job_type_def.h).
#pragma once

#include <string>

namespace duende::http {
class Router;
}

namespace duende::jobs {

class JobTypeRegistry;

// `registry` must outlive the router; `dir` is the job types directory.
void RegisterJobTypesApi(http::Router& router, JobTypeRegistry& registry, std::string dir);

}  // namespace duende::jobs
