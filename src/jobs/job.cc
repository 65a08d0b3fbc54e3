#include "jobs/job.h"

#include <cctype>
#include <cmath>

#include "common/timefmt.h"

namespace duende::jobs {

using nlohmann::json;

json ToJson(const Job& job) {
  json ts = json::object();
  ts["count"] = 0;
  for (const auto& [k, v] : job.tasks_status) ts[k] = v;
  return json{
      {"_id", job.id},
      {"name", job.name},
      {"job_type", job.job_type},
      {"priority", job.priority},
      {"status", protocol::ToString(job.status)},
      {"status_reason", job.status_reason},
      {"settings", job.settings},
      {"user", job.submitter},
      {"manager", job.manager},
      {"start_paused", job.start_paused},
      {"_created", FormatIso8601(job.created)},
      {"_updated", FormatIso8601(job.updated)},
      {"tasks_status", std::move(ts)},
  };
}

Result<JobSubmission> JobSubmissionFromJson(const json& j) {
  if (!j.is_object()) return InvalidArgument("job submission must be a JSON object");
  JobSubmission s;
  for (const auto& [key, value] : j.items()) {
    if (key == "name") {
      if (!value.is_string() || value.get<std::string>().empty())
        return InvalidArgument("field 'name' must be a non-empty string");
      s.name = value.get<std::string>();
    } else if (key == "job_type") {
      if (!value.is_string() || value.get<std::string>().empty())
        return InvalidArgument("field 'job_type' must be a non-empty string");
      s.job_type = value.get<std::string>();
    } else if (key == "priority") {
      const bool integral = value.is_number_integer() ||
                            (value.is_number_float() && std::trunc(value.get<double>()) == value.get<double>());
      if (!integral) return InvalidArgument("field 'priority' must be an integer from 1 to 100");
      const double p = value.get<double>();
      if (p < 1 || p > 100) return InvalidArgument("field 'priority' must be an integer from 1 to 100");
      s.priority = static_cast<int>(p);
    } else if (key == "settings") {
      if (!value.is_object()) return InvalidArgument("field 'settings' must be a JSON object");
      s.settings = value;
    } else if (key == "start_paused") {
      if (!value.is_boolean()) return InvalidArgument("field 'start_paused' must be true or false");
      s.start_paused = value.get<bool>();
    } else if (key == "submitter" || key == "user") {
      if (!value.is_string()) return InvalidArgument("field '" + key + "' must be a string");
      s.submitter = value.get<std::string>();
    } else if (key == "submitter_platform") {
      if (!value.is_string()) return InvalidArgument("field 'submitter_platform' must be a string");
      // Platform names are lower case ("windows", "darwin", "linux"), as
      // workers report them.
      s.submitter_platform = value.get<std::string>();
      for (char& c : s.submitter_platform) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    } else {
      return InvalidArgument("unknown field '" + key + "' in job submission");
    }
  }
  if (s.name.empty()) return InvalidArgument("field 'name' is required");
  if (s.job_type.empty()) return InvalidArgument("field 'job_type' is required");
  return s;
}

}  // namespace duende::jobs
