// Job types as data: templates, definitions, settings validation, the
// generic compiler, the registry's directory loading, and the shipped
// examples (job-types/), among them a blender-render written as data that
// must compile to the same tasks as the built-in one.
#include "jobs/job_types.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/timefmt.h"
#include "jobs/compiler.h"
#include "jobs/job_type_def.h"
#include "jobs/job_type_template.h"
#include "support/temp_dir.h"

namespace duende::jobs {
namespace {

using nlohmann::json;
using protocol::Task;

std::string ExamplePath(const std::string& name) { return std::string(DUENDE_SOURCE_DIR) + "/job-types/" + name; }

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void WriteText(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

CompileContext Ctx(const std::string& job_type, std::set<std::string> worker_task_types = {}) {
  CompileContext ctx;
  ctx.job_id = "job0000000000000000000001";
  ctx.job_type = job_type;
  ctx.job_priority = 70;
  ctx.manager_id = "mgr000000000000000000001";
  ctx.created = *ParseIso8601("2027-03-04T05:06:07Z");
  ctx.worker_task_types = std::move(worker_task_types);
  auto next = std::make_shared<int>(0);
  ctx.new_id = [next] { return "task" + std::to_string(++*next); };
  return ctx;
}

json TasksJson(const std::vector<Task>& tasks) {
  json out = json::array();
  for (const auto& t : tasks) out.push_back(protocol::ToJson(t));
  return out;
}

// ---------------------------------------------------------------- templates

TEST(JobTypeTemplateTest, ExpandsNamesFiltersAndBraces) {
  const json values = {{"path", "/renders/shot1/frame-####"},
                       {"win", "R:\\shots\\a.flamenco.blend"},
                       {"fps", 24},
                       {"rate", 23.976},
                       {"flag", true},
                       {"fmt", "open_exr"}};
  auto lookup = [&values](const std::string& n) -> std::optional<json> {
    if (!values.contains(n)) return std::nullopt;
    return values[n];
  };
  struct Case {
    std::string tmpl;
    json want;  // null: absent
  } cases[] = {
      {"{fps}", 24},  // a single value keeps its type
      {"{rate}", 23.976},
      {"{flag}", true},
      {"{missing}", nullptr},
      {"fps={fps}", "fps=24"},
      {"{flag}!", "true!"},
      {"[{missing}]", "[]"},
      {"{path|dirname}", "/renders/shot1"},
      {"{path|basename}", "frame-####"},
      {"{path|sep}", "/"},
      {"{win|sep}", "\\"},
      {"{win|dirname}", "R:\\shots"},
      {"{win|basename|strip_suffix:.blend|strip_suffix:.flamenco}", "a"},
      {"{fmt|upper}", "OPEN_EXR"},
      {"{fmt|upper|lower}", "open_exr"},
      {"{{ffmpeg}} -r {fps}", "{ffmpeg} -r 24"},
      {"a}}b{{", "a}b{"},
      {"plain", "plain"},
      {"", ""},
  };
  for (const auto& c : cases) {
    auto parsed = ParseTemplate(c.tmpl);
    ASSERT_TRUE(parsed.has_value()) << c.tmpl << ": " << parsed.error().message;
    auto got = ExpandTemplate(*parsed, lookup);
    if (c.want.is_null()) {
      EXPECT_FALSE(got.has_value()) << c.tmpl;
    } else {
      ASSERT_TRUE(got.has_value()) << c.tmpl;
      EXPECT_EQ(*got, c.want) << c.tmpl;
    }
  }
}

TEST(JobTypeTemplateTest, MalformedTemplatesAreRejectedWithTheReason) {
  struct Case {
    std::string tmpl;
    std::string error;
  } cases[] = {
      {"{", "without '}'"},
      {"{a", "without '}'"},
      {"a}", "without '{'"},
      {"{a{b}}", "without '}'"},
      {"{}", "empty placeholder"},
      {"{|upper}", "empty placeholder"},
      {"{a|shout}", "unknown filter 'shout'"},
      {"{a|strip_suffix}", "strip_suffix needs"},
      {"{a|strip_suffix:}", "strip_suffix needs"},
  };
  for (const auto& c : cases) {
    auto parsed = ParseTemplate(c.tmpl);
    ASSERT_FALSE(parsed.has_value()) << c.tmpl;
    EXPECT_NE(parsed.error().message.find(c.error), std::string::npos) << c.tmpl << ": " << parsed.error().message;
  }
}

TEST(JobTypeTemplateTest, JsonTemplatesDropAbsentMembersAndKeepOtherValues) {
  auto lookup = [](const std::string& n) -> std::optional<json> {
    if (n == "a") return json("A");
    return std::nullopt;
  };
  const json params = {{"x", "{a}"}, {"gone", "{b}"}, {"n", 5}, {"list", {"{a}-1", "{b}"}}, {"obj", {{"y", "{a}"}}}};
  auto got = ExpandJsonTemplates(params, lookup);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(**got, json({{"x", "A"}, {"n", 5}, {"list", {"A-1", nullptr}}, {"obj", {{"y", "A"}}}}));
  auto known = [](const std::string& n) { return n == "a"; };
  EXPECT_TRUE(CheckJsonTemplates(params["obj"], known).has_value());
  auto bad = CheckJsonTemplates(params, known);
  ASSERT_FALSE(bad.has_value());
  EXPECT_NE(bad.error().message.find("unknown name 'b'"), std::string::npos) << bad.error().message;
  EXPECT_NE(bad.error().message.find("{{b}}"), std::string::npos) << "says how to pass a worker variable";
}

// -------------------------------------------------------------- definitions

// A small valid definition; the table below breaks it one way at a time.
constexpr const char* kValid = R"(
name: test-type
label: Test
settings:
  - {key: frames, type: frames, required: true}
  - {key: chunk_size, type: integer, default: 2, min: 1}
  - {key: out, type: path, required: true, pattern: '/.+'}
  - {key: mode, type: choice, choices: [fast, slow], default: fast}
  - {key: note, type: string}
chunking: {frames: frames, chunk_size: chunk_size}
variables:
  - dir: '{out|dirname}'
tasks:
  - id: work
    name: 'work-{chunk.frames}'
    type: misc
    per_chunk: true
    commands:
      - {name: echo, parameters: {message: '{mode} {chunk.first}-{chunk.last} {note}'}}
  - id: after
    type: misc
    depends_on: [work]
    commands:
      - {name: echo, parameters: {message: 'done in {dir}'}}
)";

TEST(JobTypeDefinitionTest, ValidDefinitionParses) {
  auto def = ParseJobTypeText(kValid);
  ASSERT_TRUE(def.has_value()) << def.error().message;
  EXPECT_EQ(def->schema.name, "test-type");
  EXPECT_EQ(def->schema.source, "file");
  EXPECT_EQ(def->frames_setting, "frames");
  ASSERT_EQ(def->tasks.size(), 2u);
  EXPECT_EQ(def->tasks[1].depends_on, std::vector<std::string>{"work"});
  // JSON is accepted as well (it is YAML).
  auto from_json = ParseJobTypeText(
      R"({"name": "j", "tasks": [{"id": "t", "type": "misc", "commands": [{"name": "echo", "parameters": {"message": "hi"}}]}]})");
  ASSERT_TRUE(from_json.has_value()) << from_json.error().message;
  EXPECT_EQ(from_json->schema.label, "j") << "label defaults to the name";
}

TEST(JobTypeDefinitionTest, InvalidDefinitionsAreRejectedWithThePlaceAndReason) {
  struct Case {
    std::string from, to;  // replace `from` in kValid by `to`
    std::string error;
  } cases[] = {
      {"name: test-type", "name: Test Type", "name 'Test Type'"},
      {"name: test-type", "nam: test-type", "'name' is required"},
      {"label: Test", "lable: Test", "unknown key 'lable'"},
      {"type: frames, required", "type: frame, required", "settings[0]: type 'frame' is not one of"},
      {"{key: note, type: string}", "{key: note, type: string, colour: red}", "settings[4]: unknown key 'colour'"},
      {"{key: note, type: string}", "{key: Note, type: string}", "settings[4]: key 'Note'"},
      {"{key: note, type: string}", "{key: out, type: string}", "key 'out' is defined twice"},
      {"default: 2, min: 1", "default: 0, min: 1",
       "settings[1]: 'default' is invalid: setting 'chunk_size' must be at least 1"},
      {"default: 2, min: 1", "default: two, min: 1", "'default' is invalid: setting 'chunk_size' must be an integer"},
      {"choices: [fast, slow], default: fast", "choices: [fast, slow], default: medium", "must be one of fast, slow"},
      {"choices: [fast, slow], default: fast", "default: fast", "needs a non-empty 'choices' list"},
      {"{key: note, type: string}", "{key: note, type: string, min: 1}", "'min' is only for settings of type integer"},
      {"{key: note, type: string}", "{key: note, type: integer, min: 5, max: 1}", "'min' is greater than 'max'"},
      {"pattern: '/.+'", "pattern: '(('", "'pattern' is not a valid regular expression"},
      {"chunking: {frames: frames,", "chunking: {frames: out,",
       "chunking: 'frames' must name a setting of type frames"},
      {"chunk_size: chunk_size}", "chunk_size: mode}", "'chunk_size' must name a setting of type integer"},
      {"default: 2, min: 1}", "default: 2}", "needs 'min' of 1 or more"},
      {"chunking: {frames: frames, chunk_size: chunk_size}", "", "'per_chunk' needs 'chunking'"},
      {"- dir: '{out|dirname}'", "- dir: '{chunk.first}'", "variables[0]: template '{chunk.first}' uses unknown name"},
      {"- dir: '{out|dirname}'", "- Dir: x", "variables[0]: name 'Dir'"},
      {"- dir: '{out|dirname}'", "- out: x", "'out' is already a setting or variable"},
      {"{mode} {chunk.first}", "{mood} {chunk.first}", "tasks[0].commands[0]: 'parameters': template"},
      {"'done in {dir}'", "'done in {chunk.first}'", "unknown name 'chunk.first'"},
      {"'done in {dir}'", "'done in {dir'", "without '}'"},
      {"depends_on: [work]", "depends_on: [later]", "'later' is not the id of an earlier task template"},
      {"  - id: after", "  - id: work", "tasks[1]: id 'work' is used by an earlier task template"},
      {"      - {name: echo, parameters: {message: 'done in {dir}'}}", "      []", "tasks[1]: 'commands' must be"},
      {"type: misc\n    depends_on", "depends_on", "tasks[1]: 'type' is required"},
      {"per_chunk: true", "per_chunk: yes please", "'per_chunk' must be true or false"},
      {"name: 'work-{chunk.frames}'", "name: 'work-{chunk.frames}'\n    when: [{value: '{chunk.first}', equals: 1}]",
       "'when': template '{chunk.first}' uses unknown name"},
      {"name: 'work-{chunk.frames}'", "name: 'work-{chunk.frames}'\n    when: [{value: '{mode}'}]", "needs a test"},
      {"name: 'work-{chunk.frames}'",
       "name: 'work-{chunk.frames}'\n    when: [{value: '{mode}', equals: a, empty: true}]", "one test"},
      {"name: 'work-{chunk.frames}'", "name: 'work-{chunk.frames}'\n    when: [{min_frames: 0}]",
       "'min_frames' must be a positive integer"},
  };
  for (const auto& c : cases) {
    std::string text = kValid;
    const size_t pos = text.find(c.from);
    ASSERT_NE(pos, std::string::npos) << c.from;
    text.replace(pos, c.from.size(), c.to);
    auto def = ParseJobTypeText(text);
    ASSERT_FALSE(def.has_value()) << "accepted: " << c.to;
    EXPECT_NE(def.error().message.find(c.error), std::string::npos) << c.to << "\n-> " << def.error().message;
  }
  for (const char* text : {"", "[1, 2]", "name: [", "a: &x [*x]", "\xff: 1"}) {
    auto def = ParseJobTypeText(text);
    EXPECT_FALSE(def.has_value()) << text;
  }
}

TEST(JobTypeDefinitionTest, SettingsAreValidatedAndDefaultsFilledIn) {
  auto def = ParseJobTypeText(kValid);
  ASSERT_TRUE(def.has_value()) << def.error().message;
  auto ok = ValidateSettings(def->schema, json{{"frames", "1-3"}, {"out", "/r/x"}, {"note", nullptr}});
  ASSERT_TRUE(ok.has_value()) << ok.error().message;
  EXPECT_EQ(*ok, json({{"frames", "1-3"}, {"out", "/r/x"}, {"chunk_size", 2}, {"mode", "fast"}}));

  struct Case {
    json settings;
    std::string error;
  } cases[] = {
      {json{{"out", "/r/x"}}, "setting 'frames' is required"},
      {json{{"frames", "1-3"}}, "setting 'out' is required"},
      {json{{"frames", "1-3"}, {"out", ""}}, "setting 'out' must not be empty"},
      {json{{"frames", "3-1"}, {"out", "/r/x"}}, "setting 'frames'"},
      {json{{"frames", 1.5}, {"out", "/r/x"}}, "setting 'frames' must be a frame range"},
      {json{{"frames", "1-3"}, {"out", "r/x"}}, "setting 'out' must match the pattern /.+"},
      {json{{"frames", "1-3"}, {"out", 7}}, "setting 'out' must be a string"},
      // Long values would overflow the regex matcher's stack.
      {json{{"frames", "1-3"}, {"out", "/" + std::string(100000, 'a')}},
       "setting 'out' is longer than 1024 characters"},
      {json{{"frames", "1-3"}, {"out", "/r"}, {"chunk_size", 0}}, "setting 'chunk_size' must be at least 1"},
      {json{{"frames", "1-3"}, {"out", "/r"}, {"chunk_size", 2.5}}, "setting 'chunk_size' must be an integer"},
      {json{{"frames", "1-3"}, {"out", "/r"}, {"mode", "medium"}}, "setting 'mode' must be one of fast, slow"},
      {json{{"frames", "1-3"}, {"out", "/r"}, {"colour", "red"}}, "setting 'colour' is not a setting of job type"},
      {json::array(), "must be a JSON object"},
  };
  for (const auto& c : cases) {
    auto got = ValidateSettings(def->schema, c.settings);
    ASSERT_FALSE(got.has_value()) << c.settings.dump();
    EXPECT_NE(got.error().message.find(c.error), std::string::npos)
        << c.settings.dump() << " -> " << got.error().message;
  }
}

TEST(JobTypeDefinitionTest, SchemaJsonHasTheApiShape) {
  auto def = ParseJobTypeText(kValid);
  ASSERT_TRUE(def.has_value());
  const json j = ToJson(def->schema);
  EXPECT_EQ(j["name"], "test-type");
  EXPECT_EQ(j["label"], "Test");
  EXPECT_EQ(j["description"], "");
  EXPECT_EQ(j["source"], "file");
  ASSERT_EQ(j["settings"].size(), 5u);
  EXPECT_EQ(
      j["settings"][0],
      json({{"key", "frames"}, {"type", "frames"}, {"required", true}, {"default", nullptr}, {"description", ""}}));
  EXPECT_EQ(j["settings"][1]["min"], 1);
  EXPECT_TRUE(j["settings"][1]["min"].is_number_integer());
  EXPECT_EQ(j["settings"][1]["default"], 2);
  EXPECT_EQ(j["settings"][3]["choices"], json({"fast", "slow"}));
  EXPECT_EQ(j["settings"][2]["pattern"], "/.+");
}

// ------------------------------------------------------------------ compile

TEST(JobTypeCompileTest, ChunksDependenciesAndSubstitutions) {
  auto def = ParseJobTypeText(kValid);
  ASSERT_TRUE(def.has_value());
  auto settings = ValidateSettings(def->schema, json{{"frames", "1-5"}, {"out", "/r/x"}});
  ASSERT_TRUE(settings.has_value());
  auto tasks = CompileDefinedJob(*def, *settings, Ctx("test-type"));
  ASSERT_TRUE(tasks.has_value()) << tasks.error().message;
  ASSERT_EQ(tasks->size(), 4u);
  EXPECT_EQ((*tasks)[0].name, "work-1,2");
  EXPECT_EQ((*tasks)[1].name, "work-3,4");
  EXPECT_EQ((*tasks)[2].name, "work-5");
  EXPECT_EQ((*tasks)[2].commands[0].settings["message"], "fast 5-5 ");
  EXPECT_EQ((*tasks)[3].name, "after");
  EXPECT_EQ((*tasks)[3].commands[0].settings["message"], "done in /r");
  EXPECT_EQ((*tasks)[3].parents, (std::vector<std::string>{"task1", "task2", "task3"}));
  for (const auto& t : *tasks) {
    EXPECT_EQ(t.job_type, "test-type");
    EXPECT_EQ(t.job_priority, 70);
    EXPECT_EQ(t.task_type, "misc");
    EXPECT_EQ(t.status, protocol::TaskStatus::kQueued);
  }
}

TEST(JobTypeCompileTest, ASkippedTemplatePassesItsDependenciesOn) {
  auto def = ParseJobTypeText(R"(
name: chain
settings: [{key: extra, type: boolean, default: false}]
tasks:
  - {id: a, type: t, commands: [{name: echo}]}
  - id: b
    type: t
    depends_on: [a]
    when: [{value: '{extra}', equals: true}]
    commands: [{name: echo}]
  - {id: c, type: t, depends_on: [b], commands: [{name: echo}]}
)");
  ASSERT_TRUE(def.has_value()) << def.error().message;
  struct Case {
    bool extra;
    std::vector<std::string> names;
    std::vector<std::string> c_parents;
  } cases[] = {
      {true, {"a", "b", "c"}, {"task2"}},
      {false, {"a", "c"}, {"task1"}},
  };
  for (const auto& c : cases) {
    auto settings = ValidateSettings(def->schema, json{{"extra", c.extra}});
    ASSERT_TRUE(settings.has_value());
    auto tasks = CompileDefinedJob(*def, *settings, Ctx("chain"));
    ASSERT_TRUE(tasks.has_value());
    std::vector<std::string> names;
    for (const auto& t : *tasks) names.push_back(t.name);
    EXPECT_EQ(names, c.names);
    EXPECT_EQ(tasks->back().parents, c.c_parents);
    EXPECT_EQ(tasks->back().commands[0].settings, json::object());
  }
}

// The shipped data-defined blender-render against the built-in compiler.
TEST(JobTypeCompileTest, DataDefinedBlenderRenderMatchesTheBuiltIn) {
  auto def = ParseJobTypeText(ReadText(ExamplePath("simple-blender-render.yaml")));
  ASSERT_TRUE(def.has_value()) << def.error().message;
  const json base = {{"filepath", "/shots/shot1.flamenco.blend"},
                     {"render_output", "/renders/shot1/frame-######"},
                     {"frames", "1-10,15"},
                     {"chunk_size", 4},
                     {"format", "PNG"},
                     {"fps", 24},
                     {"output_file_extension", ".png"}};
  struct Case {
    const char* what;
    json changes;
    std::set<std::string> worker_task_types;
    size_t tasks;
  } cases[] = {
      {"renders, video, move", json::object(), {}, 5},
      {"farm has video encoding", json::object(), {"blender-render", "video-encoding", "file-management"}, 5},
      {"farm cannot encode", json::object(), {"blender-render", "file-management"}, 4},
      {"EXR", {{"format", "open_exr"}}, {}, 4},
      {"no fps", {{"fps", nullptr}}, {}, 4},
      {"fractional fps", {{"fps", 23.976}}, {}, 5},
      {"no extension", {{"output_file_extension", nullptr}}, {}, 4},
      {"video mode", {{"images_or_video", "video"}}, {}, 4},
      {"one frame", {{"frames", "7"}}, {}, 2},
      {"no format", {{"format", nullptr}}, {}, 5},
      {"custom blender", {{"blender_cmd", "/opt/blender/blender --factory-startup"}}, {}, 5},
      {"windows paths", {{"filepath", "S:\\shots\\a.blend"}, {"render_output", "R:\\out\\f-####"}}, {}, 5},
  };
  for (const auto& c : cases) {
    json settings = base;
    for (auto it = c.changes.begin(); it != c.changes.end(); ++it) {
      if (it->is_null()) {
        settings.erase(it.key());
      } else {
        settings[it.key()] = *it;
      }
    }
    auto builtin = CompileBlenderRender(settings, Ctx("blender-render", c.worker_task_types));
    ASSERT_TRUE(builtin.has_value()) << c.what << ": " << builtin.error().message;
    auto checked = ValidateSettings(def->schema, settings);
    ASSERT_TRUE(checked.has_value()) << c.what << ": " << checked.error().message;
    // The job type is the only difference a task may show.
    auto defined = CompileDefinedJob(*def, *checked, Ctx("blender-render", c.worker_task_types));
    ASSERT_TRUE(defined.has_value()) << c.what << ": " << defined.error().message;
    EXPECT_EQ(builtin->size(), c.tasks) << c.what;
    EXPECT_EQ(TasksJson(*defined), TasksJson(*builtin)) << c.what;
  }
}

TEST(JobTypeCompileTest, FramesToVideoExampleMakesOneEncodingTask) {
  auto def = ParseJobTypeText(ReadText(ExamplePath("frames-to-video.yaml")));
  ASSERT_TRUE(def.has_value()) << def.error().message;
  auto settings = ValidateSettings(def->schema, json{{"input_files", "/r/s/*.png"}, {"output_file", "/r/s.mp4"}});
  ASSERT_TRUE(settings.has_value()) << settings.error().message;
  auto tasks = CompileDefinedJob(*def, *settings, Ctx("frames-to-video"));
  ASSERT_TRUE(tasks.has_value()) << tasks.error().message;
  ASSERT_EQ(tasks->size(), 1u);
  EXPECT_EQ((*tasks)[0].name, "create-video-s.mp4");
  EXPECT_EQ((*tasks)[0].task_type, "video-encoding");
  ASSERT_EQ((*tasks)[0].commands.size(), 1u);
  EXPECT_EQ((*tasks)[0].commands[0].name, "create_video");
  EXPECT_EQ(
      (*tasks)[0].commands[0].settings,
      json({{"ffmpeg_cmd", "{ffmpeg}"}, {"input_files", "/r/s/*.png"}, {"output_file", "/r/s.mp4"}, {"fps", 24}}));
  EXPECT_FALSE(ValidateSettings(def->schema, json{{"input_files", "/r/*.png"}, {"output_file", "/r/s.avi"}}));
}

// ----------------------------------------------------------------- registry

TEST(JobTypeRegistryTest, ShippedExamplesAllLoad) {
  JobTypeRegistry registry;
  auto report = registry.LoadDirectory(std::string(DUENDE_SOURCE_DIR) + "/job-types");
  EXPECT_TRUE(report.dir_exists);
  EXPECT_TRUE(report.errors.empty()) << ToJson(report).dump();
  EXPECT_EQ(report.loaded, (std::vector<std::string>{"frames-to-video", "simple-blender-render"}));
}

TEST(JobTypeRegistryTest, BadFilesAreReportedWithTheirPathAndSkipped) {
  testing::TempDir dir;
  WriteText(dir / "a-good.yaml", "name: good\ntasks: [{id: t, type: misc, commands: [{name: echo}]}]\n");
  WriteText(dir / "b-broken.yml", "name: broken\ntasks: [{id: t}]\n");
  WriteText(dir / "c-builtin.json",
            R"({"name": "sleep", "tasks": [{"id": "t", "type": "x", "commands": [{"name": "echo"}]}]})");
  WriteText(dir / "d-again.yaml", "name: good\ntasks: [{id: t, type: misc, commands: [{name: echo}]}]\n");
  WriteText(dir / "e-notes.txt", "not a definition");
  std::filesystem::create_directory(dir / "f-dir.yaml");
  JobTypeRegistry registry;
  auto report = registry.LoadDirectory(dir.path());
  EXPECT_EQ(report.loaded, std::vector<std::string>{"good"});
  ASSERT_EQ(report.errors.size(), 3u) << ToJson(report).dump();
  EXPECT_EQ(report.errors[0].path, dir / "b-broken.yml");
  EXPECT_NE(report.errors[0].message.find("tasks[0]: 'type' is required"), std::string::npos)
      << report.errors[0].message;
  EXPECT_EQ(report.errors[1].path, dir / "c-builtin.json");
  EXPECT_NE(report.errors[1].message.find("built in"), std::string::npos);
  EXPECT_EQ(report.errors[2].path, dir / "d-again.yaml");
  EXPECT_NE(report.errors[2].message.find("earlier file"), std::string::npos);

  // List: built-ins first (with their schemas), then the files' types.
  std::vector<std::string> names;
  for (const auto& s : registry.List()) names.push_back(s.name + "/" + s.source);
  EXPECT_EQ(names,
            (std::vector<std::string>{"blender-render/builtin", "exec-command/builtin", "sleep/builtin", "good/file"}));
  ASSERT_TRUE(registry.Find("sleep").has_value());
  EXPECT_EQ(registry.Find("sleep")->settings.size(), 3u);
  EXPECT_FALSE(registry.Find("broken").has_value());

  // A reload replaces what was loaded: a removed file's type is gone.
  std::filesystem::remove(dir / "a-good.yaml");
  std::filesystem::remove(dir / "d-again.yaml");
  report = registry.LoadDirectory(dir.path());
  EXPECT_TRUE(report.loaded.empty());
  EXPECT_EQ(report.errors.size(), 2u);
  EXPECT_FALSE(registry.Find("good").has_value());
  // A missing directory is no error.
  report = registry.LoadDirectory(dir / "missing");
  EXPECT_FALSE(report.dir_exists);
  EXPECT_TRUE(report.errors.empty());
}

TEST(JobTypeRegistryTest, CompilesBothKindsAndNamesTheKnownTypes) {
  testing::TempDir dir;
  std::filesystem::copy_file(ExamplePath("frames-to-video.yaml"), dir / "frames-to-video.yaml");
  JobTypeRegistry registry;
  ASSERT_TRUE(registry.LoadDirectory(dir.path()).errors.empty());

  auto video = registry.Compile(json{{"input_files", "/r/*.png"}, {"output_file", "/r/v.mkv"}}, Ctx("frames-to-video"));
  ASSERT_TRUE(video.has_value()) << video.error().message;
  EXPECT_EQ(video->settings["fps"], 24) << "defaults are filled in on the stored settings";
  EXPECT_EQ(video->tasks.size(), 1u);

  auto sleep = registry.Compile(json{{"frames", "1-4"}, {"chunk_size", 2}, {"time_in_seconds", 0}}, Ctx("sleep"));
  ASSERT_TRUE(sleep.has_value()) << sleep.error().message;
  EXPECT_EQ(sleep->tasks.size(), 2u);
  EXPECT_FALSE(sleep->settings.contains("blender_cmd"));

  auto bad = registry.Compile(json{{"output_file", "/r/v.mkv"}}, Ctx("frames-to-video"));
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().message, "setting 'input_files' is required");

  auto unknown = registry.Compile(json::object(), Ctx("nope"));
  ASSERT_FALSE(unknown.has_value());
  EXPECT_NE(unknown.error().message.find("unknown job type 'nope'"), std::string::npos);
  EXPECT_NE(unknown.error().message.find("frames-to-video"), std::string::npos) << unknown.error().message;
}

}  // namespace
}  // namespace duende::jobs
