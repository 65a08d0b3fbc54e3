#include "manager/variables.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace duende::manager {
namespace {

Variables Table() {
  auto vars = VariablesFromJson(nlohmann::json::parse(R"({
    "blender": {"direction": "oneway", "values": [
      {"platform": "linux", "value": "/opt/blender/blender"},
      {"platform": "windows", "value": "C:/Blender/blender.exe"},
      {"value": "blender"}]},
    "render": {"direction": "twoway", "values": [
      {"platforms": ["linux", "darwin"], "value": "/render/"},
      {"platform": "windows", "value": "R:"}]},
    "users_only": {"values": [{"audience": "users", "value": "secret"}]}
  })"));
  EXPECT_TRUE(vars.has_value());
  return *vars;
}

TEST(VariablesTest, ResolvesPerPlatformWithFallback) {
  auto linux = ResolveVariables(Table(), "workers", "linux").values;
  EXPECT_EQ(linux["blender"], "/opt/blender/blender");
  EXPECT_EQ(linux["render"], "/render");
  auto darwin = ResolveVariables(Table(), "workers", "darwin").values;
  EXPECT_EQ(darwin["blender"], "blender") << "platform-less value is the fallback";
  EXPECT_EQ(darwin["render"], "/render");
  auto windows = ResolveVariables(Table(), "workers", "windows").values;
  EXPECT_EQ(windows["render"], "R:");
  EXPECT_FALSE(linux.count("users_only")) << "audience 'users' is not for workers";
  EXPECT_EQ(ResolveVariables(Table(), "workers", "linux").two_way, std::set<std::string>{"render"});
}

TEST(VariablesTest, ExpandsTopLevelStringSettingsOnly) {
  protocol::Task t;
  t.commands.push_back({"blender_render",
                        {{"blender_cmd", "{blender}"},
                         {"filepath", "{render}/shots/a.blend"},
                         {"twice", "{render}:{render}"},
                         {"list", {"{render}/x"}},
                         {"number", 3}}});
  ExpandTaskVariables(t, ResolveVariables(Table(), "workers", "windows"));
  const auto& s = t.commands[0].settings;
  EXPECT_EQ(s["blender_cmd"], "C:/Blender/blender.exe");
  EXPECT_EQ(s["filepath"], "R:\\shots\\a.blend") << "a two-way value makes a path: Windows separators";
  EXPECT_EQ(s["twice"], "R::R:");
  EXPECT_EQ(s["list"][0], "{render}/x") << "lists are left alone, as in v2";
  EXPECT_EQ(s["number"], 3);
}

TEST(VariablesTest, UnknownPlaceholdersStay) {
  protocol::Task t;
  t.commands.push_back({"echo", {{"message", "{nope} {blender}"}}});
  ExpandTaskVariables(t, ResolveVariables(DefaultVariables(), "workers", "linux"));
  EXPECT_EQ(t.commands[0].settings["message"], "{nope} blender");
}

TEST(VariablesTest, ExpansionIsOnePassAndOneWayValuesKeepTheirSeparators) {
  ResolvedVariables vars;
  vars.platform = "windows";
  vars.values = {{"a", "{b}"}, {"b", "x"}, {"tool", "C:/Tools/tool.exe"}};
  EXPECT_EQ(ExpandVariables("{a}{b}", vars), "{b}x") << "a value is not expanded again";
  EXPECT_EQ(ExpandVariables("{tool} --out=/tmp/x", vars), "C:/Tools/tool.exe --out=/tmp/x")
      << "no two-way placeholder: not a path, separators stay";
  EXPECT_EQ(ExpandVariables("{{b}}", vars), "{x}");
  EXPECT_EQ(ExpandVariables("{unclosed", vars), "{unclosed");
}

// --- two-way path variables (spec §12.3) -----------------------------------

// The farm of the table tests below: artists on Windows, macOS and Linux,
// workers on Windows and Linux.
Variables TwoWayTable() {
  auto vars = VariablesFromJson(nlohmann::json::parse(R"({
    "render": {"direction": "twoway", "values": [
      {"platform": "linux", "value": "/mnt/render/"},
      {"platform": "windows", "value": "R:\\"},
      {"platform": "darwin", "value": "/Volumes/render"}]},
    "shots": {"direction": "twoway", "values": [
      {"platform": "linux", "value": "/mnt/render/shots"},
      {"platform": "windows", "value": "R:\\Shots"},
      {"platform": "darwin", "value": "/Volumes/render/shots"}]},
    "textures": {"direction": "twoway", "values": [
      {"audience": "users", "platform": "windows", "value": "T:"},
      {"audience": "workers", "platform": "windows", "value": "\\\\nas\\textures"},
      {"audience": "all", "platform": "linux", "value": "/srv/textures"}]},
    "blender": {"direction": "oneway", "values": [
      {"platform": "linux", "value": "/opt/blender"}]}
  })"));
  EXPECT_TRUE(vars.has_value()) << vars.error().message;
  return *vars;
}

struct PathCase {
  std::string name;
  std::string submitted_on;  // the artist's platform
  std::string submitted;     // the path in the job settings
  std::string stored;        // after SettingsToPlaceholders
  std::string worker_platform;
  std::string worker_gets;  // after ExpandTaskVariables on that worker
};

class TwoWayPathTest : public ::testing::TestWithParam<PathCase> {};

TEST_P(TwoWayPathTest, SubmittedPathReachesTheWorkerAsItsOwnPath) {
  const auto& c = GetParam();
  const Variables vars = TwoWayTable();
  const nlohmann::json settings = {{"path", c.submitted}, {"frames", "1-10"}, {"list", {c.submitted}}};
  const auto stored = SettingsToPlaceholders(settings, ResolveVariables(vars, "users", c.submitted_on));
  EXPECT_EQ(stored["path"], c.stored);
  EXPECT_EQ(stored["frames"], "1-10");
  EXPECT_EQ(stored["list"][0], c.submitted) << "only top-level settings are translated";

  protocol::Task task;
  task.commands.push_back({"cmd", {{"path", stored["path"]}}});
  ExpandTaskVariables(task, ResolveVariables(vars, "workers", c.worker_platform));
  EXPECT_EQ(task.commands[0].settings["path"], c.worker_gets);
}

INSTANTIATE_TEST_SUITE_P(
    Table, TwoWayPathTest,
    ::testing::Values(
        PathCase{"WindowsToLinux", "windows", R"(R:\out\sh010\frame-####)", R"({render}\out\sh010\frame-####)", "linux",
                 "/mnt/render/out/sh010/frame-####"},
        PathCase{"WindowsForwardSlashesToLinux", "windows", "R:/out/a.png", "{render}/out/a.png", "linux",
                 "/mnt/render/out/a.png"},
        PathCase{"WindowsLowerCaseDrive", "windows", R"(r:\out\a.png)", R"({render}\out\a.png)", "linux",
                 "/mnt/render/out/a.png"},
        PathCase{"WindowsCaseIgnoredInDirectories", "windows", R"(r:\SHOTS\sh010.blend)", R"({shots}\sh010.blend)",
                 "linux", "/mnt/render/shots/sh010.blend"},
        PathCase{"WindowsValueAlone", "windows", "R:", "{render}", "linux", "/mnt/render"},
        PathCase{"WindowsToWindows", "windows", R"(R:\out\a.png)", R"({render}\out\a.png)", "windows",
                 R"(R:\out\a.png)"},
        PathCase{"LinuxToWindows", "linux", "/mnt/render/out/frame-####", "{render}/out/frame-####", "windows",
                 R"(R:\out\frame-####)"},
        PathCase{"MacToLinux", "darwin", "/Volumes/render/out/x.png", "{render}/out/x.png", "linux",
                 "/mnt/render/out/x.png"},
        PathCase{"LongestPrefixWins", "linux", "/mnt/render/shots/a.blend", "{shots}/a.blend", "windows",
                 R"(R:\Shots\a.blend)"},
        PathCase{"LongestPrefixWinsOnWindows", "windows", R"(R:\shots\a.blend)", R"({shots}\a.blend)", "darwin",
                 "/Volumes/render/shots/a.blend"},
        PathCase{"LinuxIsCaseSensitive", "linux", "/MNT/render/x", "/MNT/render/x", "windows", "/MNT/render/x"},
        PathCase{"MacIsCaseSensitive", "darwin", "/volumes/render/x", "/volumes/render/x", "linux",
                 "/volumes/render/x"},
        PathCase{"PrefixMustEndAtASeparator", "linux", "/mnt/renders/x", "/mnt/renders/x", "windows", "/mnt/renders/x"},
        PathCase{"NonMatchingPathUnchanged", "windows", R"(D:\elsewhere\x.blend)", R"(D:\elsewhere\x.blend)", "linux",
                 R"(D:\elsewhere\x.blend)"},
        PathCase{"PrefixInTheMiddleUnchanged", "linux", "cp /mnt/render/x", "cp /mnt/render/x", "windows",
                 "cp /mnt/render/x"},
        PathCase{"OneWayVariablesAreNotTranslatedBack", "linux", "/opt/blender/blender", "/opt/blender/blender",
                 "linux", "/opt/blender/blender"},
        PathCase{"UnknownPlatformUnchanged", "beos", "/mnt/render/x", "/mnt/render/x", "linux", "/mnt/render/x"},
        // Audiences: T: is how artists see the textures, \\nas\textures how
        // Windows workers reach them; Linux has one value for both.
        PathCase{"UsersValueTranslated", "windows", R"(T:\wood.png)", R"({textures}\wood.png)", "windows",
                 R"(\\nas\textures\wood.png)"},
        PathCase{"UsersValueToLinux", "windows", R"(t:\wood.png)", R"({textures}\wood.png)", "linux",
                 "/srv/textures/wood.png"},
        PathCase{"WorkersOnlyValueNotUsedForUsers", "windows", R"(\\nas\textures\wood.png)",
                 R"(\\nas\textures\wood.png)", "linux", R"(\\nas\textures\wood.png)"},
        PathCase{"AudienceAllServesUsers", "linux", "/srv/textures/wood.png", "{textures}/wood.png", "windows",
                 R"(\\nas\textures\wood.png)"}),
    [](const auto& info) { return info.param.name; });

TEST(VariablesTest, AudienceFiltering) {
  const Variables vars = TwoWayTable();
  EXPECT_EQ(ResolveVariables(vars, "users", "windows").values.at("textures"), "T:");
  EXPECT_EQ(ResolveVariables(vars, "workers", "windows").values.at("textures"), R"(\\nas\textures)");
  EXPECT_EQ(ResolveVariables(vars, "users", "linux").values.at("textures"), "/srv/textures");
  EXPECT_EQ(ResolveVariables(vars, "workers", "linux").values.at("textures"), "/srv/textures");
  EXPECT_FALSE(ResolveVariables(vars, "users", "darwin").values.contains("textures"));
  EXPECT_FALSE(ResolveVariables(vars, "users", "darwin").two_way.contains("textures"));
}

TEST(VariablesTest, AudienceSpecificValueWinsOverAll) {
  auto vars = VariablesFromJson(nlohmann::json::parse(R"({
    "render": {"direction": "twoway", "values": [
      {"value": "/render"},
      {"platform": "windows", "value": "R:\\"},
      {"platform": "windows", "audience": "workers", "value": "\\\\nas\\render"}]}
  })"));
  ASSERT_TRUE(vars) << vars.error().message;
  EXPECT_EQ(ResolveVariables(*vars, "users", "windows").values.at("render"), "R:");
  EXPECT_EQ(ResolveVariables(*vars, "workers", "windows").values.at("render"), R"(\\nas\render)");
  EXPECT_EQ(ResolveVariables(*vars, "workers", "linux").values.at("render"), "/render")
      << "the platform-less value is the fallback for any audience";
}

TEST(VariablesTest, TwoWayValuesLoseTrailingSeparators) {
  const Variables vars = TwoWayTable();
  EXPECT_EQ(ResolveVariables(vars, "users", "linux").values.at("render"), "/mnt/render");
  EXPECT_EQ(ResolveVariables(vars, "users", "windows").values.at("render"), "R:");
}

TEST(VariablesTest, SeparatorsFollowThePlatform) {
  EXPECT_EQ(ToPlatformSeparators(R"(a/b\c)", "windows"), R"(a\b\c)");
  EXPECT_EQ(ToPlatformSeparators(R"(a/b\c)", "Windows"), R"(a\b\c)");
  EXPECT_EQ(ToPlatformSeparators(R"(a/b\c)", "linux"), "a/b/c");
  EXPECT_EQ(ToPlatformSeparators(R"(a/b\c)", "darwin"), "a/b/c");
}

TEST(VariablesTest, RejectsMalformedDefinitions) {
  EXPECT_FALSE(VariablesFromJson(nlohmann::json::parse(R"({"x": {"values": [{"value": 3}]}})")).has_value());
  EXPECT_FALSE(VariablesFromJson(nlohmann::json::parse(R"({"x": {"values": [{"audience": "cats"}]}})")).has_value());
  EXPECT_FALSE(VariablesFromJson(nlohmann::json::parse(R"({"x": {"colour": "red"}})")).has_value());
}

}  // namespace
}  // namespace duende::manager
