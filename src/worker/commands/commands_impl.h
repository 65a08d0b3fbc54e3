// Factories of the built-in commands (internal to the worker library), and
// pure helpers exposed for table tests.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "worker/commands/command.h"

namespace duende::worker {

std::unique_ptr<Command> MakeEchoCommand();
std::unique_ptr<Command> MakeSleepCommand();
std::unique_ptr<Command> MakeExecCommand();
std::unique_ptr<Command> MakeBlenderRenderCommand();
std::unique_ptr<Command> MakeCreateVideoCommand();
std::unique_ptr<Command> MakeMoveOutOfWayCommand();
std::unique_ptr<Command> MakeMoveToFinalCommand();
std::unique_ptr<Command> MakeCopyFileCommand();
std::unique_ptr<Command> MakeRemoveTreeCommand();
std::unique_ptr<Command> MakeRemoveFileCommand();
std::unique_ptr<Command> MakeCreatePythonFileCommand();

// --- blender_render helpers ------------------------------------------------

// One parsed line of Blender output.
struct BlenderLine {
  std::optional<int> frame;            // "Fra:12 Mem:..." → 12
  std::optional<std::string> saved;    // "Saved: '/tmp/x/0001.png'" → path
  std::optional<std::string> warning;  // "Warning: Unable to open ..." and similar
};
BlenderLine ParseBlenderLine(std::string_view line);

// A Blender frame list ("1..10,12,20-22", as passed to --render-frame).
class FrameList {
 public:
  // nullopt when the text is not a plain list of frames/ranges.
  static std::optional<FrameList> Parse(std::string_view text);
  int64_t size() const { return size_; }
  // 0-based position of `frame` in the list, nullopt if absent.
  std::optional<int64_t> IndexOf(int frame) const;

 private:
  std::vector<std::pair<int, int>> ranges_;
  int64_t size_ = 0;
};

// "OPEN_EXR" → "EXR", "OPEN_EXR_MULTILAYER" → "MULTILAYER", others unchanged.
std::string BlenderRenderFormat(std::string_view format);

// The full blender_render argv for the given settings (already validated).
struct BlenderArgs {
  std::vector<std::string> blender_cmd;  // shell-split blender_cmd
  std::string filepath;
  std::string overrides_py;  // empty when there is none
  std::string python_expr;
  std::string render_output;
  std::string format;
  std::string frames;
};
std::vector<std::string> BuildBlenderArgv(const BlenderArgs& a);

// --- create_video ----------------------------------------------------------

std::vector<std::string> BuildFfmpegVideoArgv(const std::vector<std::string>& ffmpeg_cmd, double fps,
                                              const std::string& input_glob, const std::string& output_file);

// --- file commands ----------------------------------------------------------

// The name move_out_of_way gives `path`: "<path>-YYYY-MM-DD_HHMMSS" from its
// mtime (local time), with "~N" appended while that is taken.
std::string OutOfWayName(const std::string& path);

}  // namespace duende::worker
