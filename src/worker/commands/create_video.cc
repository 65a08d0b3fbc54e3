// create_video (spec §10.8): FFmpeg turns an image sequence into H.264.
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "worker/commands/commands_impl.h"
#include "worker/shell_split.h"

namespace duende::worker {
namespace fs = std::filesystem;
namespace {

// Note on "-c:v h264": ffmpeg resolves a codec name to the first encoder
// for it; on Debian that is libx264 (checked with `ffmpeg -encoders`), so the
// v2 arguments work unchanged and we keep them for identical output.

std::string FormatFps(double fps) {
  if (fps == std::floor(fps) && std::abs(fps) < 1e9) return std::to_string(static_cast<int64_t>(fps));
  return nlohmann::json(fps).dump();  // shortest round-trip form, e.g. 23.976
}

class CreateVideoCommand final : public Command {
 public:
  std::string_view name() const override { return "create_video"; }
  Status Validate(const nlohmann::json& settings) override {
    auto cmd = GetStringSetting(settings, "ffmpeg_cmd", false);
    if (!cmd) return std::unexpected(cmd.error());
    auto argv = ShellSplit(cmd->empty() ? "ffmpeg" : *cmd);
    if (!argv) return std::unexpected(argv.error().WithContext("'ffmpeg_cmd'"));
    if (argv->empty()) return InvalidArgument("'ffmpeg_cmd' must not be empty");
    if (auto exe = FindExecutable(argv->front()); !exe) return InvalidArgument("'ffmpeg_cmd': " + exe.error().message);
    ffmpeg_ = std::move(*argv);
    auto input = GetStringSetting(settings, "input_files", true);
    if (!input) return std::unexpected(input.error());
    auto output = GetStringSetting(settings, "output_file", true);
    if (!output) return std::unexpected(output.error());
    auto fps = GetNumberSetting(settings, "fps", true);
    if (!fps) return std::unexpected(fps.error());
    if (!std::isfinite(**fps) || **fps <= 0) return InvalidArgument("'fps' must be a positive number");
    input_ = *input;
    output_ = *output;
    fps_ = **fps;
    return Ok();
  }
  Status Execute(CommandEnv& env) override {
    const fs::path parent = fs::path(output_).parent_path();
    if (!parent.empty()) {
      std::error_code ec;
      fs::create_directories(parent, ec);
      if (ec) return Internal("create_video: cannot create " + parent.string() + ": " + ec.message());
    }
    return RunLogged(env, "create_video", ProcessSpec{BuildFfmpegVideoArgv(ffmpeg_, fps_, input_, output_), ""});
  }

 private:
  std::vector<std::string> ffmpeg_;
  std::string input_, output_;
  double fps_ = 0;
};

}  // namespace

std::vector<std::string> BuildFfmpegVideoArgv(const std::vector<std::string>& ffmpeg_cmd, double fps,
                                              const std::string& input_glob, const std::string& output_file) {
  std::vector<std::string> argv = ffmpeg_cmd;
  argv.insert(argv.end(), {"-r",
                           FormatFps(fps),
                           "-pattern_type",
                           "glob",
                           "-i",
                           input_glob,
                           "-c:v",
                           "h264",
                           "-crf",
                           "20",
                           "-g",
                           "18",
                           "-vf",
                           "pad=ceil(iw/2)*2:ceil(ih/2)*2",
                           "-pix_fmt",
                           "yuv420p",
                           "-y",
                           "-bf",
                           "0",
                           output_file});
  return argv;
}

std::unique_ptr<Command> MakeCreateVideoCommand() { return std::make_unique<CreateVideoCommand>(); }

}  // namespace duende::worker
