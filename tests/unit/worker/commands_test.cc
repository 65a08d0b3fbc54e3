#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <utime.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "unit/worker/fake_command_env.h"
#include "unit/worker/worker_test_util.h"
#include "worker/commands/command.h"
#include "worker/commands/commands_impl.h"

namespace duende::worker {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using testing::FakeCommandEnv;
using ::testing::HasSubstr;
using testing::ReadFile;
using testing::TempDir;
using testing::WriteFile;
using json = nlohmann::json;

class CommandTest : public ::testing::Test {
 protected:
  // Makes, validates and runs a command; returns the Execute status.
  Status Run(std::string_view name, const json& settings) {
    auto cmd = MakeCommand(name);
    EXPECT_TRUE(cmd.has_value());
    if (!cmd) return std::unexpected(cmd.error());
    if (auto st = (*cmd)->Validate(settings); !st) {
      ADD_FAILURE() << name << " settings rejected: " << st.error().message;
      return st;
    }
    return (*cmd)->Execute(env_);
  }
  SystemClock clock_;
  std::unique_ptr<ProcessLauncher> launcher_ = MakePosixProcessLauncher(clock_);
  FakeCommandEnv env_{clock_, *launcher_};
  TempDir dir_;
};

// --- settings validation ---------------------------------------------------

struct ValidationCase {
  std::string command;
  json settings;
  std::string error;  // empty = valid
};

class ValidationTable : public ::testing::TestWithParam<ValidationCase> {};

TEST_P(ValidationTable, ChecksSettings) {
  const auto& c = GetParam();
  auto cmd = MakeCommand(c.command);
  ASSERT_TRUE(cmd.has_value());
  auto st = (*cmd)->Validate(c.settings);
  if (c.error.empty()) {
    EXPECT_TRUE(st.has_value()) << c.command << " " << c.settings.dump() << ": " << st.error().message;
  } else {
    ASSERT_FALSE(st.has_value()) << c.command << " " << c.settings.dump();
    EXPECT_THAT(st.error().message, HasSubstr(c.error));
  }
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ValidationTable,
    ::testing::Values(
        ValidationCase{"echo", {{"message", "hi"}}, ""}, ValidationCase{"echo", json::object(), "missing 'message'"},
        ValidationCase{"echo", {{"message", 3}}, "'message' must be a string"},
        ValidationCase{"sleep", {{"time_in_seconds", 1.5}}, ""},
        ValidationCase{"sleep", {{"time_in_seconds", "3"}}, "must be a number"},
        ValidationCase{"sleep", {{"time_in_seconds", -1}}, "non-negative"},
        ValidationCase{"exec", {{"cmd", "echo hi"}}, ""}, ValidationCase{"exec", json::object(), "missing 'cmd'"},
        ValidationCase{"exec", {{"cmd", ""}}, "must not be empty"},
        ValidationCase{"exec", {{"cmd", "   "}}, "must not be empty"},
        ValidationCase{"exec", {{"cmd", "echo 'x"}}, "unterminated single quote"},
        ValidationCase{"blender_render", {{"blender_cmd", "sh"}, {"filepath", "/x.blend"}}, ""},
        ValidationCase{"blender_render", {{"filepath", "/x.blend"}}, "missing 'blender_cmd'"},
        ValidationCase{
            "blender_render", {{"blender_cmd", "no-such-blender-here"}, {"filepath", "/x.blend"}}, "not found in PATH"},
        ValidationCase{"blender_render", {{"blender_cmd", "sh"}}, "missing 'filepath'"},
        ValidationCase{"blender_render",
                       {{"blender_cmd", "sh"}, {"filepath", "/x"}, {"frames", 1.5}},
                       "'frames' must be a string or an integer"},
        ValidationCase{"create_video", {{"input_files", "/a/*.png"}, {"output_file", "/a/b.mp4"}, {"fps", 24}}, ""},
        ValidationCase{"create_video", {{"input_files", "/a/*.png"}, {"output_file", "/a/b.mp4"}}, "missing 'fps'"},
        ValidationCase{
            "create_video", {{"input_files", "/a/*.png"}, {"output_file", "/a/b.mp4"}, {"fps", 0}}, "positive"},
        ValidationCase{"create_video",
                       {{"ffmpeg_cmd", "/no/ffmpeg"}, {"input_files", "x"}, {"output_file", "y"}, {"fps", 1}},
                       "does not exist"},
        ValidationCase{"move_out_of_way", json::object(), "missing 'src'"},
        ValidationCase{"move_to_final", {{"src", "/a"}}, "missing 'dest'"},
        ValidationCase{"copy_file", {{"src", "/a"}, {"dest", ""}}, "'dest' must not be empty"},
        ValidationCase{"remove_tree", {{"path", 7}}, "must be a string"},
        ValidationCase{"remove_file", {{"path", "/x"}}, ""},
        ValidationCase{"create_python_file", {{"filepath", "/x.txt"}, {"contents", ""}}, "must end in .py"},
        ValidationCase{"create_python_file", {{"filepath", "/x.py"}}, "missing 'contents'"},
        ValidationCase{"create_python_file", {{"filepath", "/x.py"}, {"contents", ""}}, ""}));

TEST(MakeCommand, UnknownNameIsAnError) {
  auto c = MakeCommand("frobnicate");
  ASSERT_FALSE(c.has_value());
  EXPECT_THAT(c.error().message, HasSubstr("unknown command 'frobnicate'"));
  EXPECT_THAT(CommandNames(), ::testing::Contains("blender_render"));
}

// --- echo, sleep, exec -------------------------------------------------------

TEST_F(CommandTest, EchoLogsTheMessage) {
  ASSERT_TRUE(Run("echo", {{"message", "hello farm"}}).has_value());
  EXPECT_THAT(env_.logs, ElementsAre("echo: hello farm"));
}

TEST(SleepCommand, WaitsOnTheInjectedClockAndCanBeAborted) {
  duende::testing::FakeClock clock;
  auto launcher = MakePosixProcessLauncher(clock);
  FakeCommandEnv env(clock, *launcher);
  auto cmd = *MakeCommand("sleep");
  ASSERT_TRUE(cmd->Validate({{"time_in_seconds", 2}}).has_value());
  std::atomic<bool> done{false};
  Status result;
  std::jthread t([&] {
    result = cmd->Execute(env);
    done = true;
  });
  clock.AwaitWaiters(1);
  clock.Advance(std::chrono::milliseconds(1999));
  EXPECT_FALSE(done.load());
  clock.Advance(std::chrono::milliseconds(1));
  t.join();
  EXPECT_TRUE(result.has_value());

  auto cmd2 = *MakeCommand("sleep");
  ASSERT_TRUE(cmd2->Validate({{"time_in_seconds", 100}}).has_value());
  std::jthread t2([&] { result = cmd2->Execute(env); });
  clock.AwaitWaiters(1);
  env.abort.request_stop();
  t2.join();
  ASSERT_FALSE(result.has_value());
  EXPECT_THAT(result.error().message, HasSubstr("aborted"));
}

TEST_F(CommandTest, ExecRunsTheSplitCommandAndLogsItsOutputWithPid) {
  ASSERT_TRUE(Run("exec", {{"cmd", "sh -c 'echo \"a b\"; echo err >&2'"}}).has_value());
  const std::string logs = env_.AllLogs();
  EXPECT_THAT(logs, HasSubstr("exec: running sh -c"));
  EXPECT_THAT(logs, ::testing::ContainsRegex("pid=[0-9]+ > a b"));
  EXPECT_THAT(logs, ::testing::ContainsRegex("pid=[0-9]+ > err"));
}

TEST_F(CommandTest, ExecFailsOnNonZeroExit) {
  auto st = Run("exec", {{"cmd", "sh -c 'exit 7'"}});
  ASSERT_FALSE(st.has_value());
  EXPECT_EQ(st.error().message, "exec exited with status 7");
}

// --- file commands (table tests on temp dirs) ------------------------------

struct FileCase {
  std::string name;
  std::string command;
  std::function<void(const fs::path& root)> setup;
  std::function<json(const fs::path& root)> settings;
  bool ok;
  std::function<void(const fs::path& root, FakeCommandEnv& env)> check;
};

std::string Ls(const fs::path& root) {
  std::vector<std::string> names;
  for (const auto& e : fs::recursive_directory_iterator(root))
    names.push_back(fs::relative(e.path(), root).string() + (e.is_directory() ? "/" : ""));
  std::sort(names.begin(), names.end());
  std::string out;
  for (auto& n : names) out += n + " ";
  return out;
}

void SetMtime(const fs::path& p, std::time_t t) {
  struct utimbuf times {
    t, t
  };
  ASSERT_EQ(::utime(p.c_str(), &times), 0);
}

std::string Stamp(std::time_t t) {
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d_%H%M%S", &tm);
  return buf;
}

constexpr std::time_t kMtime = 1'700'000'000;

const std::vector<FileCase>& FileCases() {
  static const auto* cases = new std::vector<FileCase>{
      {"move_out_of_way_renames_by_mtime", "move_out_of_way",
       [](const fs::path& r) {
         WriteFile(r / "render/0001.png", "x");
         SetMtime(r / "render", kMtime);
       },
       [](const fs::path& r) {
         return json{{"src", (r / "render").string()}};
       },
       true,
       [](const fs::path& r, FakeCommandEnv&) {
         EXPECT_FALSE(fs::exists(r / "render"));
         EXPECT_EQ(ReadFile(r / ("render-" + Stamp(kMtime)) / "0001.png"), "x");
       }},
      {"move_out_of_way_adds_counter_when_taken", "move_out_of_way",
       [](const fs::path& r) {
         WriteFile(r / "out.txt", "new");
         SetMtime(r / "out.txt", kMtime);
         WriteFile(r / ("out.txt-" + Stamp(kMtime)), "old");
       },
       [](const fs::path& r) {
         return json{{"src", (r / "out.txt").string()}};
       },
       true,
       [](const fs::path& r, FakeCommandEnv&) {
         EXPECT_EQ(ReadFile(r / ("out.txt-" + Stamp(kMtime))), "old");
         EXPECT_EQ(ReadFile(r / ("out.txt-" + Stamp(kMtime) + "~1")), "new");
       }},
      {"move_out_of_way_missing_is_fine", "move_out_of_way", [](const fs::path&) {},
       [](const fs::path& r) {
         return json{{"src", (r / "nothing").string()}};
       },
       true,
       [](const fs::path& r, FakeCommandEnv& env) {
         EXPECT_EQ(Ls(r), "");
         EXPECT_THAT(env.AllLogs(), HasSubstr("does not exist"));
       }},
      {"move_to_final_moves_existing_dest_aside", "move_to_final",
       [](const fs::path& r) {
         WriteFile(r / "tmp/f.png", "new");
         WriteFile(r / "final/f.png", "old");
         SetMtime(r / "final", kMtime);
       },
       [](const fs::path& r) {
         return json{{"src", (r / "tmp").string()}, {"dest", (r / "final").string()}};
       },
       true,
       [](const fs::path& r, FakeCommandEnv&) {
         EXPECT_FALSE(fs::exists(r / "tmp"));
         EXPECT_EQ(ReadFile(r / "final/f.png"), "new");
         EXPECT_EQ(ReadFile(r / ("final-" + Stamp(kMtime)) / "f.png"), "old");
       }},
      {"move_to_final_without_dest", "move_to_final", [](const fs::path& r) { WriteFile(r / "tmp/a", "1"); },
       [](const fs::path& r) {
         return json{{"src", (r / "tmp").string()}, {"dest", (r / "deep/final").string()}};
       },
       true, [](const fs::path& r, FakeCommandEnv&) { EXPECT_EQ(Ls(r), "deep/ deep/final/ deep/final/a "); }},
      {"move_to_final_missing_src_succeeds", "move_to_final", [](const fs::path& r) { WriteFile(r / "final/a", "1"); },
       [](const fs::path& r) {
         return json{{"src", (r / "tmp").string()}, {"dest", (r / "final").string()}};
       },
       true, [](const fs::path& r, FakeCommandEnv&) { EXPECT_EQ(Ls(r), "final/ final/a "); }},
      {"copy_file_creates_dirs_replaces_dest_keeps_mode", "copy_file",
       [](const fs::path& r) {
         WriteFile(r / "src.sh", "#!/bin/sh\n");
         fs::permissions(r / "src.sh", fs::perms(0750));
         WriteFile(r / "out/deeper/dst.sh", "old content");
       },
       [](const fs::path& r) {
         return json{{"src", (r / "src.sh").string()}, {"dest", (r / "out/deeper/dst.sh").string()}};
       },
       true,
       [](const fs::path& r, FakeCommandEnv& env) {
         EXPECT_EQ(ReadFile(r / "out/deeper/dst.sh"), "#!/bin/sh\n");
         EXPECT_EQ(fs::status(r / "out/deeper/dst.sh").permissions(), fs::perms(0750));
         EXPECT_THAT(env.outputs, ElementsAre((r / "out/deeper/dst.sh").string()));
       }},
      {"copy_file_missing_src_fails", "copy_file", [](const fs::path&) {},
       [](const fs::path& r) {
         return json{{"src", (r / "nope").string()}, {"dest", (r / "x").string()}};
       },
       false, [](const fs::path& r, FakeCommandEnv&) { EXPECT_EQ(Ls(r), ""); }},
      {"remove_tree_removes_everything", "remove_tree",
       [](const fs::path& r) {
         WriteFile(r / "t/a/b/c", "1");
         WriteFile(r / "keep", "1");
       },
       [](const fs::path& r) {
         return json{{"path", (r / "t").string()}};
       },
       true, [](const fs::path& r, FakeCommandEnv&) { EXPECT_EQ(Ls(r), "keep "); }},
      {"remove_tree_missing_is_fine", "remove_tree", [](const fs::path&) {},
       [](const fs::path& r) {
         return json{{"path", (r / "t").string()}};
       },
       true, [](const fs::path&, auto&) {}},
      {"remove_file_removes_a_file", "remove_file", [](const fs::path& r) { WriteFile(r / "f", "1"); },
       [](const fs::path& r) {
         return json{{"path", (r / "f").string()}};
       },
       true, [](const fs::path& r, FakeCommandEnv&) { EXPECT_EQ(Ls(r), ""); }},
      {"remove_file_missing_is_fine", "remove_file", [](const fs::path&) {},
       [](const fs::path& r) {
         return json{{"path", (r / "f").string()}};
       },
       true, [](const fs::path&, auto&) {}},
      {"remove_file_refuses_directories", "remove_file", [](const fs::path& r) { WriteFile(r / "d/f", "1"); },
       [](const fs::path& r) {
         return json{{"path", (r / "d").string()}};
       },
       false, [](const fs::path& r, FakeCommandEnv&) { EXPECT_EQ(Ls(r), "d/ d/f "); }},
      {"create_python_file_writes_and_logs", "create_python_file", [](const fs::path&) {},
       [](const fs::path& r) {
         return json{{"filepath", (r / "scripts/x.py").string()}, {"contents", "import bpy\nprint('é')\n"}};
       },
       true,
       [](const fs::path& r, FakeCommandEnv& env) {
         EXPECT_EQ(ReadFile(r / "scripts/x.py"), "import bpy\nprint('é')\n");
         EXPECT_THAT(env.AllLogs(), HasSubstr("import bpy"));
       }},
  };
  return *cases;
}

class FileCommandTable : public ::testing::TestWithParam<FileCase> {};

TEST_P(FileCommandTable, Works) {
  const FileCase& c = GetParam();
  TempDir dir;
  SystemClock clock;
  auto launcher = MakePosixProcessLauncher(clock);
  FakeCommandEnv env(clock, *launcher);
  c.setup(dir.path());
  auto cmd = MakeCommand(c.command);
  ASSERT_TRUE(cmd.has_value());
  ASSERT_TRUE((*cmd)->Validate(c.settings(dir.path())).has_value());
  auto st = (*cmd)->Execute(env);
  EXPECT_EQ(st.has_value(), c.ok) << (st ? "ok" : st.error().message);
  c.check(dir.path(), env);
}

INSTANTIATE_TEST_SUITE_P(Cases, FileCommandTable, ::testing::ValuesIn(FileCases()),
                         [](const auto& info) { return info.param.name; });

// --- blender_render -----------------------------------------------------------

struct BlenderLineCase {
  std::string line;
  std::optional<int> frame;
  std::optional<std::string> saved;
  bool warning;
};

class BlenderLineTable : public ::testing::TestWithParam<BlenderLineCase> {};

TEST_P(BlenderLineTable, Parses) {
  const auto& c = GetParam();
  const BlenderLine l = ParseBlenderLine(c.line);
  EXPECT_EQ(l.frame, c.frame) << c.line;
  EXPECT_EQ(l.saved, c.saved) << c.line;
  EXPECT_EQ(l.warning.has_value(), c.warning) << c.line;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, BlenderLineTable,
    ::testing::Values(
        BlenderLineCase{"Fra:12 Mem:18.29M (Peak 18.31M) | Time:00:00.04 | Syncing Cube", 12, {}, false},
        BlenderLineCase{"Fra:1 Mem:9.04M (Peak 10.83M) | Time:00:00.00 | Mem:0.00M, Peak:0.00M | Scene, ViewLayer | "
                        "Synchronizing object | Cube",
                        1,
                        {},
                        false},
        BlenderLineCase{"Fra:-3 Mem:1M", -3, {}, false}, BlenderLineCase{"Fra:x Mem:1M", {}, {}, false},
        BlenderLineCase{"Saved: '/tmp/x/0001.png'", {}, "/tmp/x/0001.png", false},
        BlenderLineCase{"Saved: '/tmp/with space/0001.exr'", {}, "/tmp/with space/0001.exr", false},
        BlenderLineCase{"Saved: /render/0002.png Time: 00:01.00 (Saving: 00:00.00)", {}, "/render/0002.png", false},
        BlenderLineCase{" Time: 00:01.76 (Saving: 00:00.12)", {}, {}, false},
        BlenderLineCase{"Warning: Unable to open '/textures/wood.png'", {}, {}, true},
        BlenderLineCase{"Warning: Path '/textures/x.png' not found", {}, {}, true},
        BlenderLineCase{"Blender quit", {}, {}, false}, BlenderLineCase{"", {}, {}, false}));

TEST(FrameList, IndexesFramesAcrossRanges) {
  auto f = FrameList::Parse("1..3, 10,20-21");
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->size(), 6);
  EXPECT_EQ(f->IndexOf(1), 0);
  EXPECT_EQ(f->IndexOf(3), 2);
  EXPECT_EQ(f->IndexOf(10), 3);
  EXPECT_EQ(f->IndexOf(21), 5);
  EXPECT_EQ(f->IndexOf(5), std::nullopt);
  EXPECT_EQ(FrameList::Parse("7")->size(), 1);
  EXPECT_FALSE(FrameList::Parse("").has_value());
  EXPECT_FALSE(FrameList::Parse("5..1").has_value());
  EXPECT_FALSE(FrameList::Parse("a,b").has_value());
}

TEST(BlenderArgv, FollowsTheV2Layout) {
  BlenderArgs a;
  a.blender_cmd = {"blender", "--factory-startup"};
  a.filepath = "/shots/a.blend";
  EXPECT_THAT(BuildBlenderArgv(a), ElementsAre("blender", "--factory-startup", "--enable-autoexec", "-noaudio",
                                               "--background", "/shots/a.blend"));
  a.overrides_py = "/shots/a-overrides.py";
  a.python_expr = "import bpy";
  a.render_output = "/render/######";
  a.format = "OPEN_EXR_MULTILAYER";
  a.frames = "1..10";
  EXPECT_THAT(
      BuildBlenderArgv(a),
      ElementsAre("blender", "--factory-startup", "--enable-autoexec", "-noaudio", "--background", "/shots/a.blend",
                  "--python-exit-code", "42", "--python", "/shots/a-overrides.py", "--python-expr", "import bpy",
                  "--render-output", "/render/######", "--render-format", "MULTILAYER", "--render-frame", "1..10"));
  EXPECT_EQ(BlenderRenderFormat("OPEN_EXR"), "EXR");
  EXPECT_EQ(BlenderRenderFormat("PNG"), "PNG");
}

// A stand-in "blender" that prints what a render prints, and its arguments.
std::string FakeBlender(const TempDir& dir, std::string_view body) {
  const std::string path = dir / "fake-blender";
  WriteFile(path, "#!/bin/sh\n" + std::string(body));
  fs::permissions(path, fs::perms(0755));
  return path;
}

TEST_F(CommandTest, BlenderRenderReportsProgressOutputsAndCreatesTheOutputDir) {
  const std::string blender =
      FakeBlender(dir_,
                  "echo \"args: $*\"\necho 'Fra:1 Mem:1M'\necho \"Saved: '/out/0001.png'\"\necho 'Fra:2 Mem:1M'\n"
                  "echo \"Saved: '/out/0002.png'\"\n");
  WriteFile(dir_.path() / "shot.blend", "BLENDER");
  WriteFile(dir_.path() / "shot-overrides.py", "import bpy  # override\n");
  auto st = Run("blender_render", {{"blender_cmd", blender},
                                   {"filepath", dir_ / "shot.blend"},
                                   {"render_output", dir_ / "frames/######"},
                                   {"render_format", "OPEN_EXR"},  // v2 spelling, §15.6
                                   {"frames", "1..2"}});
  ASSERT_TRUE(st.has_value()) << st.error().message;
  EXPECT_TRUE(fs::is_directory(dir_.path() / "frames"));
  const std::string logs = env_.AllLogs();
  EXPECT_THAT(logs, HasSubstr("--python-exit-code 42 --python " + (dir_ / "shot-overrides.py")));
  EXPECT_THAT(logs, HasSubstr("--render-format EXR --render-frame 1..2"));
  EXPECT_THAT(logs, HasSubstr("import bpy  # override"));
  EXPECT_THAT(env_.outputs, ElementsAre("/out/0001.png", "/out/0002.png"));
  // §15.5: the first progress line updates the activity (v2 never did).
  ASSERT_FALSE(env_.activities.empty());
  EXPECT_EQ(env_.activities[0], "Blender: rendering frame 1 (1/2)");
  EXPECT_EQ(env_.progress.front(), 0);
}

TEST(BlenderRender, ProgressActivityIsThrottledToOnceEveryTwoSeconds) {
  duende::testing::FakeClock clock;
  SystemClock real;
  auto launcher = MakePosixProcessLauncher(real);
  FakeCommandEnv env(clock, *launcher);
  TempDir dir;
  const std::string blender = FakeBlender(dir,
                                          "for f in 1 2 3 4 5; do echo \"Fra:$f Mem:1M\"; done\n"
                                          "echo \"Saved: '/out/0005.png'\"\n");
  WriteFile(dir.path() / "s.blend", "B");
  auto cmd = *MakeCommand("blender_render");
  ASSERT_TRUE(cmd->Validate({{"blender_cmd", blender}, {"filepath", dir / "s.blend"}, {"frames", "1..5"}}));
  ASSERT_TRUE(cmd->Execute(env).has_value());
  // The fake clock did not move: only the first line changed the activity.
  EXPECT_THAT(env.activities, ElementsAre("Blender: rendering frame 1 (1/5)"));
}

TEST_F(CommandTest, BlenderRenderFailsWhenNothingWasSaved) {
  const std::string blender = FakeBlender(dir_, "echo 'Fra:1 Mem:1M'\nexit 0\n");
  WriteFile(dir_.path() / "shot.blend", "B");
  auto st = Run("blender_render", {{"blender_cmd", blender}, {"filepath", dir_ / "shot.blend"}});
  ASSERT_FALSE(st.has_value());
  EXPECT_THAT(st.error().message, HasSubstr("saved no file"));
}

TEST_F(CommandTest, BlenderRenderExplainsAFailingOverridesFile) {
  const std::string blender = FakeBlender(dir_, "exit 42\n");
  WriteFile(dir_.path() / "shot.blend", "B");
  WriteFile(dir_.path() / "shot-overrides.py", "raise Exception()\n");
  auto st = Run("blender_render", {{"blender_cmd", blender}, {"filepath", dir_ / "shot.blend"}});
  ASSERT_FALSE(st.has_value());
  EXPECT_THAT(st.error().message, HasSubstr("exited with status 42"));
  EXPECT_THAT(st.error().message, HasSubstr("overrides file"));
}

TEST(BlenderRender, MissingBlendFileIsWaitedForOnceThenFails) {
  duende::testing::FakeClock clock;
  auto launcher = MakePosixProcessLauncher(clock);
  FakeCommandEnv env(clock, *launcher);
  auto cmd = *MakeCommand("blender_render");
  ASSERT_TRUE(cmd->Validate({{"blender_cmd", "sh"}, {"filepath", "/nonexistent/x.blend"}}));
  Status st;
  std::jthread t([&] { st = cmd->Execute(env); });
  clock.AwaitWaiters(1);
  clock.Advance(std::chrono::seconds(5));
  t.join();
  ASSERT_FALSE(st.has_value());
  EXPECT_THAT(st.error().message, HasSubstr("does not exist"));
}

// --- create_video ---------------------------------------------------------------

TEST(CreateVideo, BuildsTheV2FfmpegArguments) {
  EXPECT_THAT(
      BuildFfmpegVideoArgv({"ffmpeg"}, 24, "/r/*.png", "/r/v.mp4"),
      ElementsAre("ffmpeg", "-r", "24", "-pattern_type", "glob", "-i", "/r/*.png", "-c:v", "h264", "-crf", "20", "-g",
                  "18", "-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2", "-pix_fmt", "yuv420p", "-y", "-bf", "0", "/r/v.mp4"));
  EXPECT_EQ(BuildFfmpegVideoArgv({"ffmpeg"}, 23.976, "i", "o")[2], "23.976");
}

TEST_F(CommandTest, CreateVideoEncodesFramesWithTheRealFfmpeg) {
  // Three odd-sized frames, made by ffmpeg itself.
  auto mk = launcher_->Run(ProcessSpec{{"ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
                                        "testsrc=size=33x21:rate=1", "-frames:v", "3", dir_ / "f%04d.png"},
                                       ""},
                           {}, {});
  ASSERT_TRUE(mk.has_value() && mk->exit_code == 0);
  auto st =
      Run("create_video", {{"input_files", dir_ / "f*.png"}, {"output_file", dir_ / "out/video.mp4"}, {"fps", 24}});
  ASSERT_TRUE(st.has_value()) << st.error().message << "\n" << env_.AllLogs();
  EXPECT_GT(fs::file_size(dir_.path() / "out/video.mp4"), 0u);
}

}  // namespace
}  // namespace duende::worker
