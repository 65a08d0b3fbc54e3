// Renders one tiny frame with Debian's real Blender through the
// blender_render command (a few seconds). Skipped when blender is absent.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "unit/worker/fake_command_env.h"
#include "unit/worker/worker_test_util.h"
#include "worker/commands/command.h"

namespace duende::worker {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

TEST(BlenderRenderReal, RendersOneFrameOfTheDefaultScene) {
  if (!FindExecutable("blender")) GTEST_SKIP() << "blender not installed";
  testing::TempDir dir;
  SystemClock clock;
  auto launcher = MakePosixProcessLauncher(clock);
  testing::FakeCommandEnv env(clock, *launcher);
  const std::string blend = dir / "scene.blend";

  // The factory-startup scene saved as a blend file.
  auto made = launcher->Run(ProcessSpec{{"blender", "-b", "--factory-startup", "--python-expr",
                                         "import bpy; bpy.ops.wm.save_as_mainfile(filepath=r'" + blend + "')"},
                                        ""},
                            {}, {});
  ASSERT_TRUE(made.has_value() && made->exit_code == 0);
  ASSERT_TRUE(fs::exists(blend));

  auto cmd = *MakeCommand("blender_render");
  const nlohmann::json settings = {
      {"blender_cmd", "blender --factory-startup"},
      {"filepath", blend},
      {"python_expr",
       "import bpy; s = bpy.context.scene; s.render.engine = 'BLENDER_WORKBENCH'; "
       "s.render.resolution_x = 32; s.render.resolution_y = 24; s.render.resolution_percentage = 100"},
      {"render_output", dir / "frames/######"},
      {"format", "PNG"},
      {"frames", "1"},
  };
  ASSERT_TRUE(cmd->Validate(settings).has_value());
  auto st = cmd->Execute(env);
  ASSERT_TRUE(st.has_value()) << st.error().message << "\n" << env.AllLogs();
  const fs::path frame = dir.path() / "frames/000001.png";
  EXPECT_TRUE(fs::exists(frame)) << env.AllLogs();
  ASSERT_EQ(env.outputs.size(), 1u);
  EXPECT_EQ(fs::path(env.outputs[0]), frame);
  EXPECT_THAT(env.AllLogs(), HasSubstr("--render-frame 1"));
}

}  // namespace
}  // namespace duende::worker
