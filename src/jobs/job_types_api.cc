#include "jobs/job_types_api.h"

#include <nlohmann/json.hpp>

#include "http/http.h"
#include "jobs/job_types.h"

namespace duende::jobs {

void RegisterJobTypesApi(http::Router& router, JobTypeRegistry& registry, std::string dir) {
  using http::Request;
  using http::Response;
  router.Add("GET", "/api/job-types", [&registry](Request&) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& schema : registry.List()) list.push_back(ToJson(schema));
    return Response::Json(200, nlohmann::json{{"job_types", std::move(list)}});
  });
  router.Add("GET", "/api/job-types/{name}", [&registry](Request& req) {
    auto schema = registry.Find(req.params[0]);
    if (!schema) return Response::Message(404, "job type '" + req.params[0] + "' not found");
    return Response::Json(200, ToJson(*schema));
  });
  router.Add("POST", "/api/job-types/reload", [&registry, dir = std::move(dir)](Request&) {
    return Response::Json(200, ToJson(registry.LoadDirectory(dir)));
  });
}

}  // namespace duende::jobs
