// Table tests of the soft-fail / blacklist decision (spec §7, the seed).
#include "manager/failure_policy.h"

#include <gtest/gtest.h>

namespace duende::manager {
namespace {

using protocol::TaskStatus;

struct Row {
  const char* name;
  int earlier_failures;
  std::set<std::string> capable;
  std::set<std::string> failed_by;
  bool blacklist;
  TaskStatus status;
};

class DecideFailureTest : public ::testing::TestWithParam<Row> {};

TEST_P(DecideFailureTest, Table) {
  const Row& r = GetParam();
  FailureFacts f;
  f.worker = "w1";
  f.earlier_failures = r.earlier_failures;
  f.capable_workers = r.capable;
  f.failed_by = r.failed_by;
  const auto d = DecideFailure(f);
  EXPECT_EQ(d.blacklist_worker, r.blacklist) << r.name;
  EXPECT_EQ(d.task_status, r.status) << r.name;
}

INSTANTIATE_TEST_SUITE_P(
    Seed, DecideFailureTest,
    ::testing::Values(
        Row{"first failure, others left: soft-failed", 0, {"w1", "w2", "w3"}, {"w1"}, false, TaskStatus::kSoftFailed},
        Row{"only this worker can run it: failed", 0, {"w1"}, {"w1"}, false, TaskStatus::kFailed},
        Row{"nobody else capable at all: failed", 0, {}, {"w1"}, false, TaskStatus::kFailed},
        Row{"everyone else failed it already: failed", 0, {"w1", "w2"}, {"w1", "w2"}, false, TaskStatus::kFailed},
        Row{"third failure on job+type: blacklisted, still soft-failed", 2, {"w1", "w2"}, {"w1"}, true,
            TaskStatus::kSoftFailed},
        Row{"more than threshold: blacklisted", 5, {"w1", "w2"}, {"w1"}, true, TaskStatus::kSoftFailed},
        Row{"one earlier failure: not yet blacklisted", 1, {"w1", "w2"}, {"w1"}, false,
            TaskStatus::kSoftFailed},
        Row{"failed by 3 workers: failed even with others left", 0, {"w1", "w2", "w3", "w4", "w5"},
            {"w1", "w2", "w3"}, false, TaskStatus::kFailed},
        Row{"failed by 2, a fourth can still try: soft-failed", 0, {"w1", "w2", "w4"}, {"w1", "w2"}, false,
            TaskStatus::kSoftFailed}),
    [](const auto& info) { return "row" + std::to_string(info.index); });

TEST(StatusAfterBlacklistTest, RequeuesOnlyWhenSomeoneIsLeft) {
  EXPECT_EQ(StatusAfterBlacklist({"w2"}, {"w1"}), TaskStatus::kClaimedByManager);
  EXPECT_EQ(StatusAfterBlacklist({"w2"}, {"w1", "w2"}), TaskStatus::kFailed);
  EXPECT_EQ(StatusAfterBlacklist({}, {"w1"}), TaskStatus::kFailed);
}

TEST(CountsAsCapableTest, GoneWorkersStopCountingAfterGrace) {
  const SystemTime now = SystemTime(std::chrono::hours(1000));
  const auto grace = std::chrono::minutes(10);
  EXPECT_TRUE(CountsAsCapable("awake", std::nullopt, now, grace));
  EXPECT_TRUE(CountsAsCapable("asleep", now - std::chrono::hours(100), now, grace)) << "asleep comes back";
  EXPECT_TRUE(CountsAsCapable("offline", now - std::chrono::minutes(5), now, grace));
  EXPECT_FALSE(CountsAsCapable("offline", now - std::chrono::minutes(11), now, grace));
  EXPECT_FALSE(CountsAsCapable("timeout", now - std::chrono::minutes(11), now, grace));
  EXPECT_FALSE(CountsAsCapable("timeout", std::nullopt, now, grace));
}

}  // namespace
}  // namespace duende::manager
