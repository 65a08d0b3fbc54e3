#include "worker/task_reporter.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "support/fake_clock.h"

namespace duende::worker {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

class RecordingSink final : public UpdateSink {
 public:
  Status Enqueue(std::string_view path, std::string_view payload) override {
    paths.emplace_back(path);
    updates.push_back(nlohmann::json::parse(payload));
    return Ok();
  }
  std::vector<std::string> paths;
  std::vector<nlohmann::json> updates;
};

class TaskReporterTest : public ::testing::Test {
 protected:
  TaskReporterTest() : reporter_("t1", sink_, clock_, {.push_log_max_entries = 3}) {}
  RecordingSink sink_;
  duende::testing::FakeClock clock_;
  TaskReporter reporter_;
};

TEST_F(TaskReporterTest, StatusPushesAtOnceWithTimestampedLogs) {
  reporter_.Log("hello");
  EXPECT_TRUE(sink_.updates.empty());  // buffered
  reporter_.SetStatus(protocol::TaskStatus::kActive, {.activity = "starting", .current_command_idx = 0});
  ASSERT_EQ(sink_.updates.size(), 1u);
  EXPECT_EQ(sink_.paths[0], "/tasks/t1/update");
  const auto& u = sink_.updates[0];
  EXPECT_EQ(u["task_status"], "active");
  EXPECT_EQ(u["activity"], "starting");
  EXPECT_EQ(u["current_command_idx"], 0);
  // "2027-01-15T08:00:00.000000Z: hello" (FakeClock's start)
  EXPECT_THAT(u["log"].get<std::string>(), StartsWith("2027-01-15T08:00:00"));
  EXPECT_THAT(u["log"].get<std::string>(), HasSubstr("Z: hello"));
}

TEST_F(TaskReporterTest, ActivityIsThrottledAndDelayedPushHappensOnTick) {
  reporter_.Update({.activity = "a1"});  // first one goes out at once
  ASSERT_EQ(sink_.updates.size(), 1u);
  reporter_.Update({.activity = "a2"});
  reporter_.Update({.command_progress_percentage = 50});
  EXPECT_EQ(sink_.updates.size(), 1u);
  EXPECT_EQ(reporter_.NextDeadline(), clock_.SteadyNow() + std::chrono::seconds(15));
  clock_.Advance(std::chrono::seconds(14));
  reporter_.Tick();
  EXPECT_EQ(sink_.updates.size(), 1u);
  clock_.Advance(std::chrono::seconds(1));
  reporter_.Tick();
  ASSERT_EQ(sink_.updates.size(), 2u);
  EXPECT_EQ(sink_.updates[1]["activity"], "a2");
  EXPECT_EQ(sink_.updates[1]["command_progress_percentage"], 50);
  EXPECT_FALSE(sink_.updates[1].contains("task_status"));
}

TEST_F(TaskReporterTest, LogsPushWhenTooManyOrTooOld) {
  for (int i = 0; i < 3; ++i) reporter_.Log("line");
  EXPECT_TRUE(sink_.updates.empty());
  reporter_.Log("line 4");  // more than push_log_max_entries (3)
  ASSERT_EQ(sink_.updates.size(), 1u);
  EXPECT_EQ(sink_.updates[0].size(), 1u);  // log only
  const std::string log = sink_.updates[0]["log"].get<std::string>();
  EXPECT_EQ(std::count(log.begin(), log.end(), '\n'), 3);  // 4 lines
  reporter_.Log("later");
  clock_.Advance(std::chrono::seconds(30));
  reporter_.Tick();
  ASSERT_EQ(sink_.updates.size(), 2u);
  EXPECT_THAT(sink_.updates[1]["log"].get<std::string>(), HasSubstr("later"));
}

// A command printing long lines: updates stay far below the Manager's
// request body limit, so none is refused as too large.
TEST(TaskReporterSizeTest, LongLinesAreCutAndBigLogsArePushedByBytes) {
  RecordingSink sink;
  duende::testing::FakeClock clock;
  TaskReporter reporter("t1", sink, clock, {.push_log_max_bytes = 10000, .log_line_max_bytes = 3000});
  reporter.Log(std::string(5000, 'a'));
  ASSERT_TRUE(sink.updates.empty());
  for (int i = 0; i < 3; ++i) reporter.Log(std::string(2900, 'b'));
  // 3000 + 3 * 2900 bytes of text (and timestamps) reach 10000: pushed.
  ASSERT_EQ(sink.updates.size(), 1u);
  const std::string log = sink.updates[0]["log"].get<std::string>();
  EXPECT_THAT(log, HasSubstr(std::string(3000, 'a') + " [line cut: 5000 bytes]"));
  EXPECT_EQ(log.find(std::string(3001, 'a')), std::string::npos);
  EXPECT_LT(log.size(), 10000u + 3000u + 100u);
}

TEST_F(TaskReporterTest, SilentReporterOnlyPushesLogs) {
  reporter_.SetSilent();
  reporter_.Update({.activity = "ignored"});
  reporter_.SetStatus(protocol::TaskStatus::kFailed, {.activity = "nope"});
  EXPECT_TRUE(sink_.updates.empty());
  reporter_.Log("still logged");
  reporter_.Flush();
  ASSERT_EQ(sink_.updates.size(), 1u);
  EXPECT_FALSE(sink_.updates[0].contains("task_status"));
  EXPECT_FALSE(sink_.updates[0].contains("activity"));
  EXPECT_THAT(sink_.updates[0]["log"].get<std::string>(), HasSubstr("still logged"));
}

TEST_F(TaskReporterTest, TimingBecomesMetrics) {
  reporter_.SetStatus(protocol::TaskStatus::kCompleted, {.timing = nlohmann::json{{"echo", 0.5}}});
  EXPECT_EQ(sink_.updates[0]["metrics"]["timing"]["echo"], 0.5);
}

TEST(SanitizeUtf8, ReplacesInvalidSequences) {
  EXPECT_EQ(SanitizeUtf8("plain"), "plain");
  EXPECT_EQ(SanitizeUtf8("caf\xc3\xa9"), "caf\xc3\xa9");
  EXPECT_EQ(SanitizeUtf8("bad\xff!"), "bad\xef\xbf\xbd!");
  EXPECT_EQ(SanitizeUtf8("\xe2\x82"), "\xef\xbf\xbd\xef\xbf\xbd");  // truncated
  EXPECT_EQ(SanitizeUtf8("\xc0\xaf"), "\xef\xbf\xbd\xef\xbf\xbd");  // overlong
}

}  // namespace
}  // namespace duende::worker
