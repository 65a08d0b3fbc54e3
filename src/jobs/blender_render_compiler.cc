// `blender-render` jobs (spec §11.3, "Simple Render"). See compiler.h for the
// settings and the task layout.
#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>

#include "jobs/compiler.h"
#include "jobs/compiler_util.h"
#include "jobs/frames.h"

namespace duende::jobs {
namespace {

std::string Upper(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return s;
}

bool IsExrLike(const std::string& format) {
  const std::string f = Upper(format);
  return f == "EXR" || f == "MULTILAYER" || f == "OPEN_EXR" || f == "OPEN_EXR_MULTILAYER";
}

struct SplitPath {
  std::string dir;
  std::string base;
  char sep = '/';
};

// Splits on the last '/' or '\\' (render farms mix platforms; the path is
// the submitter's, not ours).
std::optional<SplitPath> Split(const std::string& path) {
  const size_t pos = path.find_last_of("/\\");
  if (pos == std::string::npos || pos == 0 || pos + 1 == path.size()) return std::nullopt;
  return SplitPath{path.substr(0, pos), path.substr(pos + 1), path[pos]};
}

std::string StripSuffix(std::string s, std::string_view suffix) {
  if (s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0)
    s.resize(s.size() - suffix.size());
  return s;
}

}  // namespace

Result<std::vector<protocol::Task>> CompileBlenderRender(const nlohmann::json& settings, const CompileContext& ctx) {
  internal::Settings s(settings);
  auto filepath = s.RequiredString("filepath");
  if (!filepath) return std::unexpected(filepath.error());
  if (!filepath->ends_with(".blend") || filepath->size() == 6)
    return InvalidArgument("setting 'filepath' must be the path of a .blend file, got '" + *filepath + "'");
  auto render_output = s.RequiredString("render_output");
  if (!render_output) return std::unexpected(render_output.error());
  const auto out_split = Split(*render_output);
  if (!out_split)
    return InvalidArgument("setting 'render_output' must be a file path inside an output directory, got '" +
                           *render_output + "'");
  auto frames = s.RequiredFrames("frames");
  if (!frames) return std::unexpected(frames.error());
  auto chunk_size = s.RequiredInt("chunk_size", 1);
  if (!chunk_size) return std::unexpected(chunk_size.error());
  auto blender_cmd = s.OptionalString("blender_cmd");
  if (!blender_cmd) return std::unexpected(blender_cmd.error());
  auto format = s.OptionalString("format");
  if (!format) return std::unexpected(format.error());
  auto fps = s.OptionalNumber("fps", 0);
  if (!fps) return std::unexpected(fps.error());
  auto images_or_video = s.OptionalString("images_or_video");
  if (!images_or_video) return std::unexpected(images_or_video.error());
  if (*images_or_video && **images_or_video != "images" && **images_or_video != "video")
    return InvalidArgument("setting 'images_or_video' must be \"images\" or \"video\", got '" + **images_or_video +
                           "'");
  auto extension = s.OptionalString("output_file_extension");
  if (!extension) return std::unexpected(extension.error());
  auto rna_overrides = s.OptionalStringList("rna_overrides");
  if (!rna_overrides) return std::unexpected(rna_overrides.error());
  auto chunks = ChunkFrames(*frames, *chunk_size);
  if (!chunks) return std::unexpected(chunks.error());

  const std::string final_dir = out_split->dir;
  const std::string intermediate = final_dir + "__intermediate-" + internal::CompactTimestamp(ctx.created);
  const std::string sep(1, out_split->sep);
  const std::string blender = blender_cmd->value_or("{blender}");

  std::vector<protocol::Task> tasks;
  std::string rna_task_id;
  if (*rna_overrides && !(*rna_overrides)->empty()) {
    std::string contents = "# RNA overrides written by Duende for this job.\nimport bpy\n\n";
    for (const auto& line : **rna_overrides) contents += line + "\n";
    auto t = internal::NewTask(ctx, "rna-overrides", "file-management");
    t.commands.push_back({"create_python_file",
                          {{"filepath", StripSuffix(*filepath, ".blend") + "-overrides.py"}, {"contents", contents}}});
    rna_task_id = t.id;
    tasks.push_back(std::move(t));
  }

  std::vector<std::string> render_ids;
  for (const auto& chunk : *chunks) {
    auto t = internal::NewTask(ctx, "blender-render-" + FrameRangeForName(chunk), "blender-render");
    nlohmann::json cmd = {
        {"blender_cmd", blender},
        {"filepath", *filepath},
        {"render_output", intermediate + sep + out_split->base},
        {"frames", FrameRangeForBlender(chunk)},
    };
    if (*format) cmd["format"] = **format;
    t.commands.push_back({"blender_render", std::move(cmd)});
    if (!rna_task_id.empty()) t.parents.push_back(rna_task_id);
    render_ids.push_back(t.id);
    tasks.push_back(std::move(t));
  }

  const bool wants_images = images_or_video->value_or("images") == "images";
  const bool farm_can_encode = ctx.worker_task_types.empty() || ctx.worker_task_types.contains("video-encoding");
  const bool make_video = wants_images && frames->size() >= 2 && !(*format && IsExrLike(**format)) && *fps &&
                          *extension && !(*extension)->empty() && farm_can_encode;

  std::vector<std::string> final_parents = render_ids;
  if (make_video) {
    const auto blend_split = Split(*filepath);
    std::string stem = blend_split ? blend_split->base : *filepath;
    stem = StripSuffix(StripSuffix(stem, ".blend"), ".flamenco");
    auto t = internal::NewTask(ctx, "create-video", "video-encoding");
    t.commands.push_back({"create_video",
                          {{"ffmpeg_cmd", "{ffmpeg}"},
                           {"input_files", intermediate + sep + "*" + **extension},
                           {"output_file", intermediate + sep + stem + "-" + FrameRangeForName(*frames) + ".mkv"},
                           {"fps", settings.at("fps")}}});
    t.parents = render_ids;
    final_parents = {t.id};
    tasks.push_back(std::move(t));
  }

  auto move = internal::NewTask(ctx, "move-to-final", "file-management");
  move.commands.push_back({"move_to_final", {{"src", intermediate}, {"dest", final_dir}}});
  move.parents = std::move(final_parents);
  tasks.push_back(std::move(move));
  return tasks;
}

}  // namespace duende::jobs
