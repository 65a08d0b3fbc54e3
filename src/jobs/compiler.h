// Job compilers (spec §11): turn a job's settings into its tasks.
//
// Supported job types and their settings (unknown settings are kept on the
// job but ignored by the compiler):
//
//   sleep            frames (str, required; "1-10,15" or an integer),
//                    chunk_size (int >= 1, required),
//                    time_in_seconds (number >= 0, required).
//                    One task `sleep-<range>` (task_type sleep) per chunk:
//                    echo{message:"Preparing to sleep"}, sleep{time_in_seconds}.
//
//   exec-command     cmd (non-empty str, required).
//                    One task `exec-command` (task_type debug): exec{cmd}.
//
//   blender-render   filepath (str ending ".blend", required),
//                    render_output (str with a directory part, required),
//                    frames (required), chunk_size (int >= 1, required),
//                    blender_cmd (str, default "{blender}"), format (str),
//                    fps (number > 0), images_or_video ("images"|"video",
//                    absent = "images"), output_file_extension (str, e.g.
//                    ".png": the extension of the rendered images),
//                    rna_overrides (list of str).
//     Tasks: optional `rna-overrides` (file-management,
//     create_python_file{filepath: <blend minus .blend>-overrides.py,
//     contents}); `blender-render-<range>` per chunk (blender-render,
//     blender_render{blender_cmd, filepath, format, render_output:
//     <intermediate>/<basename of render_output>, frames:"1..10"});
//     optional `create-video` (video-encoding, create_video{ffmpeg_cmd:
//     "{ffmpeg}", input_files: <intermediate>/*<ext>, output_file:
//     <intermediate>/<blend stem minus ".flamenco">-<frames>.mkv, fps});
//     `move-to-final` (file-management, move_to_final{src: intermediate,
//     dest: final dir}).
//     The intermediate directory is the final directory (parent of
//     render_output) renamed "<final>__intermediate-<YYYY-MM-DD_HHMMSS of job
//     creation, UTC>".
//     create-video is added when images_or_video is "images", there are at
//     least 2 frames, format is not EXR-like (EXR, MULTILAYER, OPEN_EXR,
//     OPEN_EXR_MULTILAYER), fps and output_file_extension are set, and the
//     farm can encode video: the known worker task types contain
//     "video-encoding", OR no task types are known yet. The latter differs
//     from v2 on purpose: a standalone Manager that has not seen a worker yet
//     (or a Server before the Manager's first notification) would otherwise
//     silently drop the video for good. <frames> in the file name is the
//     normalised frame range ("1-10,15").
//
// All tasks get a fresh ObjectId (ctx.new_id), priority 50, job_priority =
// ctx.job_priority, job_type, manager = ctx.manager_id, job = ctx.job_id and
// status queued (paused when ctx.start_paused). Parents are task IDs.
//
// Errors are InvalidArgument with a message naming the setting, e.g.
// "setting 'chunk_size' must be at least 1".
#pragma once

#include <functional>
#include <nlohmann/json_fwd.hpp>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "protocol/types.h"

namespace duende::jobs {

struct CompileContext {
  std::string job_id;
  std::string job_type;
  int job_priority = 50;
  std::string manager_id;
  SystemTime created{};
  bool start_paused = false;
  // Task types the farm's workers support; empty = not known yet.
  std::set<std::string> worker_task_types;
  // Task ID generator; NewObjectId when empty.
  std::function<std::string()> new_id;
};

using CompileFn = Result<std::vector<protocol::Task>> (*)(const nlohmann::json& settings, const CompileContext& ctx);

// Compiles with the compiler registered for ctx.job_type. InvalidArgument for
// an unknown job type (listing the known ones), a non-object `settings`, or
// invalid settings. Returns at least one task on success.
Result<std::vector<protocol::Task>> CompileJob(const nlohmann::json& settings, const CompileContext& ctx);

// The compiler for `job_type`, or nullptr.
CompileFn FindCompiler(std::string_view job_type);
// Registered job types, sorted.
std::vector<std::string> JobTypes();

// The individual compilers (also reachable through CompileJob).
Result<std::vector<protocol::Task>> CompileSleep(const nlohmann::json& settings, const CompileContext& ctx);
Result<std::vector<protocol::Task>> CompileExecCommand(const nlohmann::json& settings, const CompileContext& ctx);
Result<std::vector<protocol::Task>> CompileBlenderRender(const nlohmann::json& settings, const CompileContext& ctx);

}  // namespace duende::jobs
