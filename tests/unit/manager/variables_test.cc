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
  auto linux = ResolveVariables(Table(), "workers", "linux");
  EXPECT_EQ(linux["blender"], "/opt/blender/blender");
  EXPECT_EQ(linux["render"], "/render");
  auto darwin = ResolveVariables(Table(), "workers", "darwin");
  EXPECT_EQ(darwin["blender"], "blender") << "platform-less value is the fallback";
  EXPECT_EQ(darwin["render"], "/render");
  auto windows = ResolveVariables(Table(), "workers", "windows");
  EXPECT_EQ(windows["render"], "R:");
  EXPECT_FALSE(linux.count("users_only")) << "audience 'users' is not for workers";
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
  EXPECT_EQ(s["filepath"], "R:/shots/a.blend");
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

TEST(VariablesTest, RejectsMalformedDefinitions) {
  EXPECT_FALSE(VariablesFromJson(nlohmann::json::parse(R"({"x": {"values": [{"value": 3}]}})")).has_value());
  EXPECT_FALSE(VariablesFromJson(nlohmann::json::parse(R"({"x": {"values": [{"audience": "cats"}]}})")).has_value());
  EXPECT_FALSE(VariablesFromJson(nlohmann::json::parse(R"({"x": {"colour": "red"}})")).has_value());
}

}  // namespace
}  // namespace duende::manager
