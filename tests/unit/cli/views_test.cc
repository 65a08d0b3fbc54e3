#include "cli/views.h"

#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>

#include "cli/manager_api.h"
#include "cli/settings.h"

namespace duende::cli {
namespace {

using nlohmann::json;
using std::chrono::seconds;

TEST(SettingValueTest, JsonScalarsAndContainersElseText) {
  const std::vector<std::pair<std::string, json>> cases = {
      {"4", 4},
      {"-2.5", -2.5},
      {"1e3", 1000.0},
      {"true", true},
      {"false", false},
      {"null", nullptr},
      {"[1,\"a\"]", json::array({1, "a"})},
      {"{\"k\":1}", json{{"k", 1}}},
      {"1-24", "1-24"},
      {"1,3-5", "1,3-5"},
      {"01", "01"},  // not valid JSON: a string, so frame-like text keeps its zero
      {"PNG", "PNG"},
      {"\"quoted\"", "\"quoted\""},
      {"", ""},
      {"/tmp/out/frame-######", "/tmp/out/frame-######"},
      {"[1,", "[1,"},
  };
  for (const auto& [text, expected] : cases) EXPECT_EQ(SettingValue(text), expected) << text;
}

TEST(SettingValueTest, ParseSettingSplitsAtFirstEquals) {
  auto s = ParseSetting("cmd=echo a=b");
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->first, "cmd");
  EXPECT_EQ(s->second, "echo a=b");
  EXPECT_FALSE(ParseSetting("novalue").has_value());
  EXPECT_FALSE(ParseSetting("=x").has_value());
}

TEST(SettingValueTest, LastRepeatedKeyWins) {
  auto settings = SettingsFromArgs({"a=1", "b=x", "a=2"});
  ASSERT_TRUE(settings.has_value());
  EXPECT_EQ(*settings, (json{{"a", 2}, {"b", "x"}}));
}

TEST(RenderTableTest, AlignsByCodePointsWithoutTrailingSpaces) {
  EXPECT_EQ(RenderTable({"A", "BB", "C"}, {{"ñññ", "x", ""}, {"a", "", "z"}}),
            "A    BB  C\n"
            "ñññ  x\n"
            "a        z\n");
}

TEST(CountTasksTest, UsesCountOrTheSum) {
  auto c = CountTasks(json{{"count", 10}, {"completed", 4}, {"active", 2}});
  EXPECT_EQ(c.total, 10);
  EXPECT_EQ(c.completed, 4);
  EXPECT_EQ(c.active, 2);
  EXPECT_EQ(CountTasks(json{{"completed", 1}, {"queued", 2}, {"failed", 1}}).total, 4);
  EXPECT_EQ(CountTasks(json()).total, 0);
  EXPECT_EQ(CountTasks(json{{"count", "x"}}).total, 0);
}

TEST(CountTasksTest, PercentFloorsSoOnlyAllCompletedIsHundred) {
  EXPECT_EQ(PercentComplete({6, 5, 0}), 83);
  EXPECT_EQ(PercentComplete({1000, 999, 0}), 99);
  EXPECT_EQ(PercentComplete({6, 6, 0}), 100);
  EXPECT_EQ(PercentComplete({0, 0, 0}), 0);
}

TEST(ProgressLineTest, ShowsBarPercentCountsActiveAndStatus) {
  const json job = {{"status", "active"}, {"tasks_status", {{"count", 8}, {"completed", 2}, {"active", 3}}}};
  EXPECT_EQ(ProgressLine(job), "[#####               ]  25%  2/8 tasks  3 active  active");
  EXPECT_EQ(ProgressLine(json::object()), "[                    ]   0%  0/0 tasks  0 active  -");
}

TEST(FormatAgeTest, Units) {
  const SystemTime now{seconds(1'800'000'000)};
  EXPECT_EQ(FormatAge(now, now), "just now");
  EXPECT_EQ(FormatAge(now + seconds(5), now), "just now");  // clock skew
  EXPECT_EQ(FormatAge(now - seconds(59), now), "59s ago");
  EXPECT_EQ(FormatAge(now - seconds(61), now), "1m ago");
  EXPECT_EQ(FormatAge(now - seconds(7200), now), "2h ago");
  EXPECT_EQ(FormatAge(now - seconds(3 * 86400), now), "3d ago");
}

TEST(ShortTimeTest, NormalisesToUtcSeconds) {
  EXPECT_EQ(ShortTime("2027-01-15T08:00:00.123456Z"), "2027-01-15 08:00:00");
  EXPECT_EQ(ShortTime("2027-01-15T09:00:00+00:00"), "2027-01-15 09:00:00");
  EXPECT_EQ(ShortTime("yesterday"), "yesterday");
  EXPECT_EQ(ShortTime(""), "-");
}

TEST(FieldTest, MissingNullEmptyAndNonStrings) {
  const json o = {{"s", "x"}, {"e", ""}, {"n", nullptr}, {"i", 7}, {"multi", "a\nb"}};
  EXPECT_EQ(Field(o, "s"), "x");
  EXPECT_EQ(Field(o, "e"), "-");
  EXPECT_EQ(Field(o, "n"), "-");
  EXPECT_EQ(Field(o, "missing"), "-");
  EXPECT_EQ(Field(o, "i"), "7");
  EXPECT_EQ(Field(o, "multi"), "a b");
  EXPECT_EQ(Field(json::array(), "s"), "-");
}

TEST(OneLineTest, FlattensAndCuts) {
  EXPECT_EQ(OneLine("a\nb\tc\n"), "a b c");
  EXPECT_EQ(OneLine(std::string(10, 'x'), 5), "xxxxx...");
}

}  // namespace
}  // namespace duende::cli
