// Job type definitions (job-types/*.yaml, docs/job-types.md): the parser,
// the schema's JSON, settings validation with the defaults, and the generic
// compiler on what validates.
#include <nlohmann/json.hpp>

#include "fuzz_util.h"
#include "jobs/frames.h"
#include "jobs/job_type_def.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace duende;
  fuzz::QuietLogs();
  auto def = jobs::ParseJobTypeText(fuzz::AsText(data, size));
  if (!def) {
    FUZZ_CHECK(fuzz::IsClearError(def.error()));
    return 0;
  }
  FUZZ_CHECK(!def->schema.name.empty() && !def->tasks.empty());
  (void)jobs::ToJson(def->schema).dump();  // served by the API: must serialise
  auto settings = jobs::ValidateSettings(def->schema, nlohmann::json::object());
  if (!settings) {
    FUZZ_CHECK(fuzz::IsClearError(settings.error()));
    return 0;
  }
  // A default of a million frames in chunks of one would only slow the
  // fuzzer down; the compiler is exercised on smaller jobs.
  if (!def->frames_setting.empty()) {
    const auto& f = (*settings)[def->frames_setting];
    auto frames = jobs::ParseFrameRange(f.is_string() ? f.get<std::string>() : std::to_string(f.get<int64_t>()));
    FUZZ_CHECK(frames.has_value());
    if (frames->size() > 1000) return 0;
  }
  jobs::CompileContext ctx;
  ctx.job_id = "000000000000000000000001";
  ctx.job_type = def->schema.name;
  int next = 0;
  ctx.new_id = [&next] { return std::to_string(++next); };
  auto tasks = jobs::CompileDefinedJob(*def, *settings, ctx);
  if (!tasks) {
    FUZZ_CHECK(fuzz::IsClearError(tasks.error()));
    return 0;
  }
  // Parents are earlier tasks: the dependency graph has no cycle.
  for (size_t i = 0; i < tasks->size(); ++i) {
    FUZZ_CHECK(!(*tasks)[i].name.empty());
    for (const auto& p : (*tasks)[i].parents) FUZZ_CHECK(std::stoul(p) <= i);
  }
  return 0;
}
