// Text views of `duende job-types show` and `duende job-types reload`.
#include "cli/job_type_commands.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace duende::cli {
namespace {

using nlohmann::json;

TEST(JobTypeViewsTest, SchemaShowsEachSettingWithWhatItAccepts) {
  const json schema = {{"name", "frames-to-video"},
                       {"label", "Frames to video"},
                       {"description", "Encodes frames."},
                       {"source", "file"},
                       {"settings",
                        {{{"key", "fps"},
                          {"type", "number"},
                          {"required", false},
                          {"default", 24},
                          {"description", "Rate."},
                          {"min", 1},
                          {"max", 240}},
                         {{"key", "mode"},
                          {"type", "choice"},
                          {"required", true},
                          {"default", nullptr},
                          {"description", ""},
                          {"choices", {"images", "video"}}}}}};
  EXPECT_EQ(JobTypeText(schema),
            "frames-to-video (file): Frames to video\n"
            "Encodes frames.\n"
            "SETTING  TYPE                  REQUIRED  DEFAULT  DESCRIPTION\n"
            "fps      number >= 1 <= 240    no        24       Rate.\n"
            "mode     one of images, video  yes       -        -\n");
  EXPECT_EQ(JobTypeText(json{{"name", "x"}, {"label", "X"}, {"source", "builtin"}, {"settings", json::array()}}),
            "x (builtin): X\nno settings\n");
}

TEST(JobTypeViewsTest, ReloadReportListsLoadedTypesAndSkippedFiles) {
  EXPECT_EQ(
      ReloadReportText(json{{"dir", "/t"},
                            {"loaded", {"a", "b"}},
                            {"errors", {{{"path", "/t/c.yaml"}, {"message", "'tasks' must be a non-empty list"}}}}}),
      "loaded 2 job types from /t: a, b\n"
      "skipped /t/c.yaml: 'tasks' must be a non-empty list\n");
  EXPECT_EQ(ReloadReportText(json{{"dir", "/t"}, {"loaded", json::array()}, {"errors", json::array()}}),
            "loaded 0 job types from /t\n");
}

}  // namespace
}  // namespace duende::cli
