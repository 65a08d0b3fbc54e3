// The job API's bodies (POST /api/jobs, /api/jobs/{id}/status and
// /api/jobs/{id}/priority), and for submissions the compile step that turns
// their settings into tasks (every job compiler). The first byte picks the
// endpoint ('0' submission, '1' status, '2' priority).
#include <nlohmann/json.hpp>

#include "fuzz_util.h"
#include "jobs/compiler.h"
#include "jobs/frames.h"
#include "jobs/job_api.h"
#include "protocol/types.h"

namespace {

using namespace duende;

// A real submission may ask for up to kMaxFrames frames; compiling a million
// tasks per input would only make the fuzzer slow, so bigger ones stop at the
// parse (which is still exercised).
constexpr size_t kMaxFuzzedTasks = 2000;

bool SmallEnough(const nlohmann::json& settings) {
  auto frames_it = settings.find("frames");
  if (frames_it == settings.end() || !frames_it->is_string()) return true;
  auto frames = jobs::ParseFrameRange(frames_it->get<std::string>());
  return !frames || frames->size() <= kMaxFuzzedTasks;
}

void CheckCompile(const jobs::JobSubmission& s, bool farm_knows_types) {
  if (!SmallEnough(s.settings)) return;
  jobs::CompileContext ctx;
  ctx.job_id = "0123456789abcdef01234567";
  ctx.job_type = s.job_type;
  ctx.job_priority = s.priority;
  ctx.manager_id = "76543210fedcba9876543210";
  ctx.created = SystemTime(std::chrono::seconds(1'700'000'000));
  ctx.start_paused = s.start_paused;
  if (farm_knows_types) ctx.worker_task_types = {"blender-render", "file-management", "sleep"};
  int next = 0;
  ctx.new_id = [&next] {
    char id[25];
    std::snprintf(id, sizeof id, "%024x", ++next);
    return std::string(id);
  };
  auto tasks = jobs::CompileJob(s.settings, ctx);
  if (!tasks) {
    FUZZ_CHECK(fuzz::IsClearError(tasks.error()));
    return;
  }
  FUZZ_CHECK(!tasks->empty());
  std::set<std::string> seen;
  for (const auto& t : *tasks) {
    FUZZ_CHECK(!t.name.empty() && !t.commands.empty());
    for (const auto& parent : t.parents) FUZZ_CHECK(seen.contains(parent));  // parents come first
    seen.insert(t.id);
    // Tasks are stored and sent to Managers and workers as JSON text (strict
    // UTF-8), and read back with TaskFromJson.
    auto back = protocol::TaskFromJson(nlohmann::json::parse(protocol::ToJson(t).dump()));
    FUZZ_CHECK(back.has_value());
    FUZZ_CHECK(back->name == t.name && back->commands.size() == t.commands.size() && back->parents == t.parents);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::Reader in(fuzz::AsText(data, size));
  const unsigned kind = in.Kind(3);
  const std::string_view body = in.Rest();
  switch (kind) {
    case 0: {
      auto s = jobs::ParseJobSubmission(body);
      if (!s) {
        FUZZ_CHECK(fuzz::IsClearError(s.error()));
        return 0;
      }
      FUZZ_CHECK(!s->name.empty() && !s->job_type.empty() && s->priority >= 1 && s->priority <= 100);
      FUZZ_CHECK(s->settings.is_object());
      CheckCompile(*s, size % 2 == 0);
      break;
    }
    case 1: {
      auto r = jobs::ParseJobStatusRequest(body);
      if (!r) FUZZ_CHECK(fuzz::IsClearError(r.error()));
      break;
    }
    default: {
      auto p = jobs::ParseJobPriority(body);
      if (!p) FUZZ_CHECK(fuzz::IsClearError(p.error()));
      if (p) FUZZ_CHECK(*p >= 1 && *p <= 100);
      break;
    }
  }
  return 0;
}
