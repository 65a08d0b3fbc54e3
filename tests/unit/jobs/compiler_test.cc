#include "jobs/compiler.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/timefmt.h"

namespace duende::jobs {
namespace {

using nlohmann::json;
using protocol::Task;
using protocol::TaskStatus;

class CompilerTest : public ::testing::Test {
 protected:
  CompileContext Ctx(std::string job_type) {
    CompileContext ctx;
    ctx.job_id = "job0000000000000000000001";
    ctx.job_type = std::move(job_type);
    ctx.job_priority = 70;
    ctx.manager_id = "mgr000000000000000000001";
    ctx.created = *ParseIso8601("2027-03-04T05:06:07Z");
    ctx.new_id = [this] { return "task" + std::to_string(++next_id_); };
    return ctx;
  }
  std::vector<std::string> Names(const std::vector<Task>& tasks) {
    std::vector<std::string> out;
    for (const auto& t : tasks) out.push_back(t.name);
    return out;
  }
  const Task& ByName(const std::vector<Task>& tasks, const std::string& name) {
    for (const auto& t : tasks)
      if (t.name == name) return t;
    ADD_FAILURE() << "no task " << name;
    return tasks.front();
  }
  int next_id_ = 0;
};

// --- sleep ---------------------------------------------------------------

TEST_F(CompilerTest, SleepMakesOneTaskPerChunk) {
  auto tasks = CompileJob(json{{"frames", "1-10"}, {"chunk_size", 4}, {"time_in_seconds", 3}}, Ctx("sleep"));
  ASSERT_TRUE(tasks) << tasks.error().message;
  EXPECT_EQ(Names(*tasks), (std::vector<std::string>{"sleep-1-4", "sleep-5-8", "sleep-9,10"}));
  const Task& t = tasks->front();
  EXPECT_EQ(t.task_type, "sleep");
  ASSERT_EQ(t.commands.size(), 2u);
  EXPECT_EQ(t.commands[0].name, "echo");
  EXPECT_EQ(t.commands[0].settings, (json{{"message", "Preparing to sleep"}}));
  EXPECT_EQ(t.commands[1].name, "sleep");
  EXPECT_EQ(t.commands[1].settings, (json{{"time_in_seconds", 3}}));
}

TEST_F(CompilerTest, CommonTaskFieldsComeFromTheContext) {
  auto ctx = Ctx("sleep");
  auto tasks = CompileJob(json{{"frames", "1,2"}, {"chunk_size", 1}, {"time_in_seconds", 0.5}}, ctx);
  ASSERT_TRUE(tasks);
  ASSERT_EQ(tasks->size(), 2u);
  EXPECT_EQ((*tasks)[0].id, "task1");
  EXPECT_EQ((*tasks)[1].id, "task2");
  for (const auto& t : *tasks) {
    EXPECT_EQ(t.job, ctx.job_id);
    EXPECT_EQ(t.manager, ctx.manager_id);
    EXPECT_EQ(t.job_type, "sleep");
    EXPECT_EQ(t.job_priority, 70);
    EXPECT_EQ(t.priority, 50);
    EXPECT_EQ(t.status, TaskStatus::kQueued);
    EXPECT_TRUE(t.parents.empty());
  }
}

TEST_F(CompilerTest, StartPausedMakesPausedTasks) {
  auto ctx = Ctx("sleep");
  ctx.start_paused = true;
  auto tasks = CompileJob(json{{"frames", "1"}, {"chunk_size", 1}, {"time_in_seconds", 1}}, ctx);
  ASSERT_TRUE(tasks);
  EXPECT_EQ(tasks->front().status, TaskStatus::kPaused);
}

struct BadSettings {
  std::string job_type;
  json settings;
  std::string message_part;
};

class CompilerRejects : public CompilerTest, public ::testing::WithParamInterface<BadSettings> {};

TEST_P(CompilerRejects, WithMessageNamingTheSetting) {
  auto tasks = CompileJob(GetParam().settings, Ctx(GetParam().job_type));
  ASSERT_FALSE(tasks);
  EXPECT_EQ(tasks.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(tasks.error().message.find(GetParam().message_part), std::string::npos) << tasks.error().message;
}

json GoodRender() {
  return json{{"filepath", "/shots/010/scene.flamenco.blend"},
              {"render_output", "/render/010/frames/######"},
              {"frames", "1-10"},
              {"chunk_size", 4},
              {"format", "PNG"},
              {"fps", 24},
              {"images_or_video", "images"},
              {"output_file_extension", ".png"}};
}

json Without(json j, const char* key) {
  j.erase(key);
  return j;
}
json With(json j, const char* key, json v) {
  j[key] = std::move(v);
  return j;
}

INSTANTIATE_TEST_SUITE_P(
    Table, CompilerRejects,
    ::testing::Values(
        BadSettings{"no-such-type", json::object(),
                    "unknown job type 'no-such-type' (known: blender-render, "
                    "exec-command, sleep)"},
        BadSettings{"sleep", json::array(), "settings must be a JSON object"},
        BadSettings{"sleep", json{{"chunk_size", 1}, {"time_in_seconds", 1}}, "setting 'frames' is required"},
        BadSettings{"sleep", json{{"frames", "5-1"}, {"chunk_size", 1}, {"time_in_seconds", 1}},
                    "setting 'frames': invalid frame range item '5-1'"},
        BadSettings{"sleep", json{{"frames", true}, {"chunk_size", 1}, {"time_in_seconds", 1}},
                    "setting 'frames' must be a frame range"},
        BadSettings{"sleep", json{{"frames", "1"}, {"chunk_size", 0}, {"time_in_seconds", 1}},
                    "setting 'chunk_size' must be at least 1"},
        BadSettings{"sleep", json{{"frames", "1"}, {"chunk_size", "4"}, {"time_in_seconds", 1}},
                    "setting 'chunk_size' must be an integer"},
        BadSettings{"sleep", json{{"frames", "1"}, {"chunk_size", 1}}, "setting 'time_in_seconds' is required"},
        BadSettings{"sleep", json{{"frames", "1"}, {"chunk_size", 1}, {"time_in_seconds", -1}},
                    "setting 'time_in_seconds' must be at least"},
        BadSettings{"exec-command", json::object(), "setting 'cmd' is required"},
        BadSettings{"exec-command", json{{"cmd", "   "}}, "setting 'cmd' must not be blank"},
        BadSettings{"exec-command", json{{"cmd", 5}}, "setting 'cmd' must be a string"},
        BadSettings{"exec-command", json{{"cmd", "echo 'hi"}}, "setting 'cmd' has an unbalanced quote"},
        BadSettings{"blender-render", Without(GoodRender(), "filepath"), "setting 'filepath' is required"},
        BadSettings{"blender-render", With(GoodRender(), "filepath", "/shots/scene.txt"),
                    "setting 'filepath' must be the path of a .blend file"},
        BadSettings{"blender-render", Without(GoodRender(), "render_output"), "setting 'render_output' is required"},
        BadSettings{"blender-render", With(GoodRender(), "render_output", "######"),
                    "setting 'render_output' must be a file path inside an output directory"},
        BadSettings{"blender-render", Without(GoodRender(), "frames"), "setting 'frames' is required"},
        BadSettings{"blender-render", With(GoodRender(), "frames", "1-"), "setting 'frames'"},
        BadSettings{"blender-render", Without(GoodRender(), "chunk_size"), "setting 'chunk_size' is required"},
        BadSettings{"blender-render", With(GoodRender(), "chunk_size", -2), "setting 'chunk_size' must be at least 1"},
        BadSettings{"blender-render", With(GoodRender(), "fps", "24"), "setting 'fps' must be a number"},
        BadSettings{"blender-render", With(GoodRender(), "fps", 0), "setting 'fps' must be a positive number"},
        BadSettings{"blender-render", With(GoodRender(), "images_or_video", "gif"),
                    "setting 'images_or_video' must be \"images\" or \"video\""},
        BadSettings{"blender-render", With(GoodRender(), "rna_overrides", json::array({1})),
                    "setting 'rna_overrides' must be a list of strings"},
        BadSettings{"blender-render", With(GoodRender(), "blender_cmd", json::array()),
                    "setting 'blender_cmd' must be a string"}));

// --- exec-command ------------------------------------------------------------

TEST_F(CompilerTest, ExecCommandIsOneDebugTask) {
  auto tasks = CompileJob(json{{"cmd", "echo \"hello world\""}}, Ctx("exec-command"));
  ASSERT_TRUE(tasks) << tasks.error().message;
  ASSERT_EQ(tasks->size(), 1u);
  EXPECT_EQ(tasks->front().name, "exec-command");
  EXPECT_EQ(tasks->front().task_type, "debug");
  ASSERT_EQ(tasks->front().commands.size(), 1u);
  EXPECT_EQ(tasks->front().commands[0].name, "exec");
  EXPECT_EQ(tasks->front().commands[0].settings, (json{{"cmd", "echo \"hello world\""}}));
}

// --- blender-render ------------------------------------------------------------

constexpr char kIntermediate[] = "/render/010/frames__intermediate-2027-03-04_050607";

TEST_F(CompilerTest, BlenderRenderLayout) {
  auto tasks = CompileJob(GoodRender(), Ctx("blender-render"));
  ASSERT_TRUE(tasks) << tasks.error().message;
  EXPECT_EQ(Names(*tasks), (std::vector<std::string>{"blender-render-1-4", "blender-render-5-8", "blender-render-9,10",
                                                     "create-video", "move-to-final"}));
  const Task& r1 = (*tasks)[0];
  EXPECT_EQ(r1.task_type, "blender-render");
  EXPECT_TRUE(r1.parents.empty());
  ASSERT_EQ(r1.commands.size(), 1u);
  EXPECT_EQ(r1.commands[0].name, "blender_render");
  EXPECT_EQ(r1.commands[0].settings, (json{{"blender_cmd", "{blender}"},
                                           {"filepath", "/shots/010/scene.flamenco.blend"},
                                           {"format", "PNG"},
                                           {"render_output", std::string(kIntermediate) + "/######"},
                                           {"frames", "1..4"}}));
  EXPECT_EQ((*tasks)[2].commands[0].settings["frames"], "9,10");

  const Task& video = ByName(*tasks, "create-video");
  EXPECT_EQ(video.task_type, "video-encoding");
  EXPECT_EQ(video.parents, (std::vector<std::string>{(*tasks)[0].id, (*tasks)[1].id, (*tasks)[2].id}));
  ASSERT_EQ(video.commands.size(), 1u);
  EXPECT_EQ(video.commands[0].name, "create_video");
  EXPECT_EQ(video.commands[0].settings, (json{{"ffmpeg_cmd", "{ffmpeg}"},
                                              {"input_files", std::string(kIntermediate) + "/*.png"},
                                              {"output_file", std::string(kIntermediate) + "/scene-1-10.mkv"},
                                              {"fps", 24}}));

  const Task& move = ByName(*tasks, "move-to-final");
  EXPECT_EQ(move.task_type, "file-management");
  EXPECT_EQ(move.parents, (std::vector<std::string>{video.id}));
  EXPECT_EQ(move.commands[0].name, "move_to_final");
  EXPECT_EQ(move.commands[0].settings, (json{{"src", kIntermediate}, {"dest", "/render/010/frames"}}));
}

TEST_F(CompilerTest, BlenderRenderCustomBlenderCmdAndNoFormat) {
  auto tasks =
      CompileJob(Without(With(GoodRender(), "blender_cmd", "/opt/blender/blender"), "format"), Ctx("blender-render"));
  ASSERT_TRUE(tasks);
  const auto& s = tasks->front().commands[0].settings;
  EXPECT_EQ(s["blender_cmd"], "/opt/blender/blender");
  EXPECT_FALSE(s.contains("format"));
}

struct VideoRule {
  std::string name;
  json settings;
  std::set<std::string> worker_task_types;
  bool want_video;
};

class CreateVideoRules : public CompilerTest, public ::testing::WithParamInterface<VideoRule> {};

TEST_P(CreateVideoRules, Decides) {
  auto ctx = Ctx("blender-render");
  ctx.worker_task_types = GetParam().worker_task_types;
  auto tasks = CompileJob(GetParam().settings, ctx);
  ASSERT_TRUE(tasks) << tasks.error().message;
  const auto names = Names(*tasks);
  const bool has_video = std::find(names.begin(), names.end(), "create-video") != names.end();
  EXPECT_EQ(has_video, GetParam().want_video);
  // move-to-final always comes last and depends on the video or all renders.
  const Task& move = tasks->back();
  EXPECT_EQ(move.name, "move-to-final");
  if (!has_video) {
    std::vector<std::string> render_ids;
    for (const auto& t : *tasks)
      if (t.task_type == "blender-render") render_ids.push_back(t.id);
    EXPECT_EQ(move.parents, render_ids);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Table, CreateVideoRules,
    ::testing::Values(VideoRule{"AllConditionsMet", GoodRender(), {"blender-render", "video-encoding"}, true},
                      VideoRule{"NoTaskTypesKnownYet", GoodRender(), {}, true},
                      VideoRule{"FarmCannotEncode", GoodRender(), {"blender-render", "file-management"}, false},
                      VideoRule{"ImagesOrVideoAbsentMeansImages", Without(GoodRender(), "images_or_video"), {}, true},
                      VideoRule{"VideoOutputRequested", With(GoodRender(), "images_or_video", "video"), {}, false},
                      VideoRule{"SingleFrame", With(GoodRender(), "frames", "7"), {}, false},
                      VideoRule{"ExrFormat", With(GoodRender(), "format", "OPEN_EXR"), {}, false},
                      VideoRule{"ExrFormatAnyCase", With(GoodRender(), "format", "exr"), {}, false},
                      VideoRule{"MultilayerFormat", With(GoodRender(), "format", "OPEN_EXR_MULTILAYER"), {}, false},
                      VideoRule{"NoFps", Without(GoodRender(), "fps"), {}, false},
                      VideoRule{"NoExtension", Without(GoodRender(), "output_file_extension"), {}, false}),
    [](const auto& info) { return info.param.name; });

TEST_F(CompilerTest, BlenderRenderRnaOverridesTaskComesFirst) {
  auto tasks = CompileJob(With(GoodRender(), "rna_overrides", json::array({"bpy.context.scene.cycles.samples = 4"})),
                          Ctx("blender-render"));
  ASSERT_TRUE(tasks);
  const Task& rna = tasks->front();
  EXPECT_EQ(rna.name, "rna-overrides");
  EXPECT_EQ(rna.task_type, "file-management");
  EXPECT_EQ(rna.commands[0].name, "create_python_file");
  EXPECT_EQ(rna.commands[0].settings["filepath"], "/shots/010/scene.flamenco-overrides.py");
  const std::string contents = rna.commands[0].settings["contents"];
  EXPECT_NE(contents.find("import bpy"), std::string::npos);
  EXPECT_NE(contents.find("bpy.context.scene.cycles.samples = 4\n"), std::string::npos);
  for (const auto& t : *tasks)
    if (t.task_type == "blender-render") {
      EXPECT_EQ(t.parents, (std::vector<std::string>{rna.id}));
    }
}

TEST_F(CompilerTest, WindowsPathsKeepTheirSeparator) {
  auto tasks = CompileJob(
      With(With(GoodRender(), "render_output", "R:\\shots\\frames\\####"), "filepath", "R:\\shots\\scene.blend"),
      Ctx("blender-render"));
  ASSERT_TRUE(tasks) << tasks.error().message;
  EXPECT_EQ(tasks->front().commands[0].settings["render_output"],
            "R:\\shots\\frames__intermediate-2027-03-04_050607\\####");
  EXPECT_EQ(ByName(*tasks, "create-video").commands[0].settings["output_file"],
            "R:\\shots\\frames__intermediate-2027-03-04_050607\\scene-1-10.mkv");
}

}  // namespace
}  // namespace duende::jobs
