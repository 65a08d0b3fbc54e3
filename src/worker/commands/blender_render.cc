// blender_render (spec §10.8).
#include <charconv>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "worker/commands/commands_impl.h"
#include "worker/shell_split.h"

namespace duende::worker {
namespace fs = std::filesystem;
namespace {

// Blender's progress lines come many per second; v2 meant to throttle the
// activity they produce but inverted the test so it never updated (spec
// §15.5). We update at most this often, starting with the first line.
constexpr auto kProgressActivityInterval = std::chrono::seconds(2);
// v2 waits once for a blend file that is not there yet (slow network mounts).
constexpr auto kMissingBlendfileWait = std::chrono::seconds(5);
// Exit code Blender uses when the overrides script raises (set by us).
constexpr int kOverridesExitCode = 42;

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::optional<int> ParseInt(std::string_view s) {
  int v = 0;
  if (s.empty()) return std::nullopt;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

class BlenderRenderCommand final : public Command {
 public:
  std::string_view name() const override { return "blender_render"; }

  Status Validate(const nlohmann::json& settings) override {
    auto cmd = GetStringSetting(settings, "blender_cmd", true);
    if (!cmd) return std::unexpected(cmd.error());
    auto argv = ShellSplit(*cmd);
    if (!argv) return std::unexpected(argv.error().WithContext("'blender_cmd'"));
    if (argv->empty()) return InvalidArgument("'blender_cmd' must not be empty");
    if (auto exe = FindExecutable(argv->front()); !exe) return InvalidArgument("'blender_cmd': " + exe.error().message);
    args_.blender_cmd = std::move(*argv);

    auto filepath = GetStringSetting(settings, "filepath", true);
    if (!filepath) return std::unexpected(filepath.error());
    args_.filepath = *filepath;
    for (auto [key, field] :
         {std::pair{"render_output", &args_.render_output}, std::pair{"python_expr", &args_.python_expr}}) {
      auto v = GetStringSetting(settings, key, false);
      if (!v) return std::unexpected(v.error());
      *field = *v;
    }
    // v2 validated `render_format` but used `format` (spec §15.6): accept
    // both, `format` winning.
    for (const char* key : {"render_format", "format"}) {
      auto v = GetStringSetting(settings, key, false);
      if (!v) return std::unexpected(v.error());
      if (!v->empty()) args_.format = *v;
    }
    if (auto it = settings.find("frames"); it != settings.end() && !it->is_null()) {
      if (it->is_string()) {
        args_.frames = it->get<std::string>();
      } else if (it->is_number_integer()) {
        args_.frames = std::to_string(it->get<int64_t>());
      } else {
        return InvalidArgument("'frames' must be a string or an integer");
      }
    }
    return Ok();
  }

  Status Execute(CommandEnv& env) override {
    std::error_code ec;
    if (!fs::exists(args_.filepath, ec)) {
      env.Log("blender_render: blend file " + args_.filepath + " does not exist; waiting a bit");
      if (!WaitAbortable(env, kMissingBlendfileWait)) return Internal("blender_render aborted");
      if (!fs::exists(args_.filepath, ec))
        return NotFound("blender_render: blend file " + args_.filepath + " does not exist");
    }
    const fs::path blend(args_.filepath);
    const fs::path overrides = blend.parent_path() / (blend.stem().string() + "-overrides.py");
    if (fs::exists(overrides, ec)) {
      args_.overrides_py = overrides.string();
      std::ifstream in(overrides);
      std::stringstream text;
      text << in.rdbuf();
      env.Log("blender_render: using overrides file " + args_.overrides_py + ":");
      env.Log(text.str());
    }
    if (!args_.render_output.empty()) {
      const fs::path parent = fs::path(args_.render_output).parent_path();
      if (!parent.empty()) {
        fs::create_directories(parent, ec);
        if (ec) return Internal("blender_render: cannot create " + parent.string() + ": " + ec.message());
      }
    }
    const auto frames = FrameList::Parse(args_.frames);
    int saved = 0;
    std::optional<SteadyTime> last_progress;
    auto on_line = [&](std::string_view line) {
      const BlenderLine parsed = ParseBlenderLine(line);
      if (parsed.frame) {
        const SteadyTime now = env.clock().SteadyNow();
        if (!last_progress || now - *last_progress >= kProgressActivityInterval) {
          last_progress = now;
          std::string activity = "Blender: rendering frame " + std::to_string(*parsed.frame);
          if (frames && frames->size() > 0) {
            if (auto idx = frames->IndexOf(*parsed.frame)) {
              activity += " (" + std::to_string(*idx + 1) + "/" + std::to_string(frames->size()) + ")";
              env.SetProgress(static_cast<int>(*idx * 100 / frames->size()));
            }
          }
          env.SetActivity(std::move(activity));
        }
      }
      if (parsed.saved) {
        ++saved;
        env.OutputProduced(*parsed.saved);
      }
      if (parsed.warning) env.SetActivity("Blender: " + *parsed.warning);
    };
    auto st = RunLogged(env, "blender_render", ProcessSpec{BuildBlenderArgv(args_), ""}, on_line);
    if (!st) {
      if (!args_.overrides_py.empty() && st.error().message.ends_with(" " + std::to_string(kOverridesExitCode)))
        return Internal(st.error().message + " (the overrides file " + args_.overrides_py + " raised an error)");
      return st;
    }
    if (saved == 0) return Internal("blender_render: Blender exited successfully but saved no file");
    return Ok();
  }

 private:
  BlenderArgs args_;
};

}  // namespace

BlenderLine ParseBlenderLine(std::string_view line) {
  BlenderLine out;
  if (line.starts_with("Fra:")) {
    std::string_view rest = line.substr(4);
    const size_t end = rest.find(' ');
    if (auto n = ParseInt(rest.substr(0, end))) out.frame = *n;
  } else if (line.starts_with("Saved: ")) {
    std::string_view rest = Trim(line.substr(7));
    if (rest.starts_with('\'') || rest.starts_with('"')) {
      const char q = rest.front();
      const size_t close = rest.find(q, 1);
      if (close != std::string_view::npos) out.saved = std::string(rest.substr(1, close - 1));
    } else {
      // Blender 2.7x: "Saved: /path/0001.png Time: 00:01.00 (Saving: 00:00.00)"
      const size_t t = rest.find(" Time:");
      rest = Trim(rest.substr(0, t));
      if (!rest.empty()) out.saved = std::string(rest);
    }
  } else if (line.starts_with("Warning: Unable to open") ||
             (line.starts_with("Warning: Path '") && line.find("' not found") != std::string_view::npos)) {
    out.warning = std::string(line.substr(9));
  }
  return out;
}

std::optional<FrameList> FrameList::Parse(std::string_view text) {
  FrameList list;
  text = Trim(text);
  if (text.empty()) return std::nullopt;
  while (true) {
    const size_t comma = text.find(',');
    std::string_view part = Trim(text.substr(0, comma));
    std::optional<int> a, b;
    if (const size_t dots = part.find(".."); dots != std::string_view::npos) {
      a = ParseInt(Trim(part.substr(0, dots)));
      b = ParseInt(Trim(part.substr(dots + 2)));
    } else if (const size_t dash = part.find('-', 1); dash != std::string_view::npos) {
      a = ParseInt(Trim(part.substr(0, dash)));
      b = ParseInt(Trim(part.substr(dash + 1)));
    } else {
      a = b = ParseInt(part);
    }
    if (!a || !b || *a > *b) return std::nullopt;
    list.ranges_.emplace_back(*a, *b);
    list.size_ += static_cast<int64_t>(*b) - *a + 1;
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return list;
}

std::optional<int64_t> FrameList::IndexOf(int frame) const {
  int64_t before = 0;
  for (auto [a, b] : ranges_) {
    if (frame >= a && frame <= b) return before + (frame - a);
    before += static_cast<int64_t>(b) - a + 1;
  }
  return std::nullopt;
}

std::string BlenderRenderFormat(std::string_view format) {
  if (format == "OPEN_EXR") return "EXR";
  if (format == "OPEN_EXR_MULTILAYER") return "MULTILAYER";
  return std::string(format);
}

std::vector<std::string> BuildBlenderArgv(const BlenderArgs& a) {
  std::vector<std::string> argv = a.blender_cmd;
  for (const char* s : {"--enable-autoexec", "-noaudio", "--background"}) argv.emplace_back(s);
  argv.push_back(a.filepath);
  if (!a.overrides_py.empty()) {
    argv.insert(argv.end(), {"--python-exit-code", std::to_string(kOverridesExitCode), "--python", a.overrides_py});
  }
  if (!a.python_expr.empty()) argv.insert(argv.end(), {"--python-expr", a.python_expr});
  if (!a.render_output.empty()) argv.insert(argv.end(), {"--render-output", a.render_output});
  if (!a.format.empty()) argv.insert(argv.end(), {"--render-format", BlenderRenderFormat(a.format)});
  if (!a.frames.empty()) argv.insert(argv.end(), {"--render-frame", a.frames});
  return argv;
}

std::unique_ptr<Command> MakeBlenderRenderCommand() { return std::make_unique<BlenderRenderCommand>(); }

}  // namespace duende::worker
