// `sleep` jobs (spec §11.1): a debugging job type that needs no software.
#include <nlohmann/json.hpp>

#include "jobs/compiler.h"
#include "jobs/compiler_util.h"
#include "jobs/frames.h"

namespace duende::jobs {

Result<std::vector<protocol::Task>> CompileSleep(const nlohmann::json& settings, const CompileContext& ctx) {
  internal::Settings s(settings);
  auto frames = s.RequiredFrames("frames");
  if (!frames) return std::unexpected(frames.error());
  auto chunk_size = s.RequiredInt("chunk_size", 1);
  if (!chunk_size) return std::unexpected(chunk_size.error());
  auto seconds = s.RequiredNumber("time_in_seconds", 0);
  if (!seconds) return std::unexpected(seconds.error());
  auto chunks = ChunkFrames(*frames, *chunk_size);
  if (!chunks) return std::unexpected(chunks.error());

  // Keep integral durations integral on the wire, as the add-on sends them.
  const nlohmann::json sleep_time = settings.at("time_in_seconds");
  // Every task runs the same commands: built once, copied (a big job has
  // 100,000 tasks).
  const std::vector<protocol::Command> commands{{"echo", {{"message", "Preparing to sleep"}}},
                                                {"sleep", {{"time_in_seconds", sleep_time}}}};
  std::vector<protocol::Task> tasks;
  tasks.reserve(chunks->size());
  for (const auto& chunk : *chunks) {
    auto t = internal::NewTask(ctx, "sleep-" + FrameRangeForName(chunk), "sleep");
    t.commands = commands;
    tasks.push_back(std::move(t));
  }
  return tasks;
}

}  // namespace duende::jobs
