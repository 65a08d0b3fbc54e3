#include "jobs/job_status.h"

#include <gtest/gtest.h>

namespace duende::jobs {
namespace {

using protocol::JobStatus;
using protocol::TaskStatus;
using JS = JobStatus;
using TS = TaskStatus;

TaskStatusCounts Counts(std::initializer_list<std::pair<TS, int>> c) {
  TaskStatusCounts out;
  for (auto [s, n] : c) out.by_status[s] = n;
  return out;
}

struct DeriveCase {
  std::string name;
  JS job;
  TS became;
  TaskStatusCounts counts;
  std::optional<JS> want;
};

class DeriveJobStatusTable : public ::testing::TestWithParam<DeriveCase> {};

TEST_P(DeriveJobStatusTable, Derives) {
  const auto& c = GetParam();
  auto got = DeriveJobStatus(c.job, c.became, c.counts, 10);
  if (!c.want) {
    EXPECT_FALSE(got) << "unexpected " << ToString(got->status);
  } else {
    ASSERT_TRUE(got);
    EXPECT_EQ(got->status, *c.want) << ToString(got->status);
  }
}

// Where DeriveNeedsCounts says no, the counts cannot change the decision:
// every job status, against no counts and several different ones.
TEST(DeriveNeedsCountsTest, WithoutCountsTheDecisionIsTheSame) {
  const std::vector<TaskStatusCounts> samples = {
      Counts({}),
      Counts({{TS::kActive, 3}, {TS::kQueued, 2}}),
      Counts({{TS::kCompleted, 10}}),
      Counts({{TS::kFailed, 9}, {TS::kCompleted, 1}}),
      Counts({{TS::kCancelRequested, 1}, {TS::kCanceled, 4}, {TS::kSoftFailed, 2}}),
  };
  int checked = 0;
  for (int t = static_cast<int>(TS::kUnderConstruction); t <= static_cast<int>(TS::kSoftFailed); ++t) {
    const auto became = static_cast<TS>(t);
    if (DeriveNeedsCounts(became)) continue;
    for (int j = static_cast<int>(JS::kUnderConstruction); j <= static_cast<int>(JS::kFailed); ++j) {
      const auto job = static_cast<JS>(j);
      const auto without = DeriveJobStatus(job, became, TaskStatusCounts{}, 10);
      for (const auto& counts : samples) {
        const auto with = DeriveJobStatus(job, became, counts, 10);
        ASSERT_EQ(with.has_value(), without.has_value()) << ToString(job) << " / " << ToString(became);
        if (with) {
          EXPECT_EQ(with->status, without->status) << ToString(job) << " / " << ToString(became);
        }
        ++checked;
      }
    }
  }
  EXPECT_GT(checked, 0);
  // The statuses of a finished or abandoned task do need them.
  EXPECT_TRUE(DeriveNeedsCounts(TS::kCompleted));
  EXPECT_TRUE(DeriveNeedsCounts(TS::kFailed));
  EXPECT_TRUE(DeriveNeedsCounts(TS::kCanceled));
  EXPECT_TRUE(DeriveNeedsCounts(TS::kClaimedByManager));
  EXPECT_FALSE(DeriveNeedsCounts(TS::kActive));
}

INSTANTIATE_TEST_SUITE_P(
    Spec4_2_2, DeriveJobStatusTable,
    ::testing::Values(
        DeriveCase{"QueuedTaskReopensCompletedJob", JS::kCompleted, TS::kQueued,
                   Counts({{TS::kQueued, 1}, {TS::kCompleted, 9}}), JS::kQueued},
        DeriveCase{"QueuedTaskLeavesActiveJob", JS::kActive, TS::kQueued, Counts({{TS::kQueued, 1}}), std::nullopt},
        DeriveCase{"ClaimedWithNoActiveTaskMakesActiveJobQueued", JS::kActive, TS::kClaimedByManager,
                   Counts({{TS::kClaimedByManager, 2}, {TS::kCompleted, 1}}), JS::kQueued},
        DeriveCase{"ClaimedWhileAnotherActiveKeepsActive", JS::kActive, TS::kClaimedByManager,
                   Counts({{TS::kClaimedByManager, 1}, {TS::kActive, 1}}), std::nullopt},
        DeriveCase{"ActiveTaskActivatesQueuedJob", JS::kQueued, TS::kActive, Counts({{TS::kActive, 1}}), JS::kActive},
        DeriveCase{"SoftFailedActivatesQueuedJob", JS::kQueued, TS::kSoftFailed, Counts({{TS::kSoftFailed, 1}}),
                   JS::kActive},
        DeriveCase{"ActiveTaskDoesNotUnpauseJob", JS::kPaused, TS::kActive, Counts({{TS::kActive, 1}}), std::nullopt},
        DeriveCase{"ActiveTaskDoesNotTouchCancelRequestedJob", JS::kCancelRequested, TS::kActive,
                   Counts({{TS::kActive, 1}}), std::nullopt},
        DeriveCase{"LastTaskCompletedCompletesJob", JS::kActive, TS::kCompleted, Counts({{TS::kCompleted, 4}}),
                   JS::kCompleted},
        DeriveCase{"LastTaskCompletedAfterAFailureFailsJobNothingLeft", JS::kActive, TS::kCompleted,
                   Counts({{TS::kCompleted, 99}, {TS::kFailed, 1}}), JS::kFailed},
        DeriveCase{"LastTaskFailedBelowThresholdFailsJobNothingLeft", JS::kActive, TS::kFailed,
                   Counts({{TS::kCompleted, 99}, {TS::kFailed, 1}}), JS::kFailed},
        DeriveCase{"FailureBelowThresholdWithWorkLeftKeepsActive", JS::kActive, TS::kFailed,
                   Counts({{TS::kCompleted, 98}, {TS::kFailed, 1}, {TS::kQueued, 1}}), std::nullopt},
        DeriveCase{"SomeTasksLeftKeepsActive", JS::kActive, TS::kCompleted,
                   Counts({{TS::kCompleted, 3}, {TS::kQueued, 1}}), std::nullopt},
        DeriveCase{"CompletedTaskActivatesQueuedJob", JS::kQueued, TS::kCompleted,
                   Counts({{TS::kCompleted, 1}, {TS::kQueued, 3}}), JS::kActive},
        DeriveCase{"OneFailedOfTenFailsJob", JS::kActive, TS::kFailed, Counts({{TS::kFailed, 1}, {TS::kQueued, 9}}),
                   JS::kFailed},
        DeriveCase{"OneFailedOfElevenKeepsActive", JS::kActive, TS::kFailed,
                   Counts({{TS::kFailed, 1}, {TS::kQueued, 10}}), std::nullopt},
        DeriveCase{"FailedBelowThresholdActivatesQueuedJob", JS::kQueued, TS::kFailed,
                   Counts({{TS::kFailed, 1}, {TS::kQueued, 19}}), JS::kActive},
        DeriveCase{"SoftFailedNeverCounts", JS::kActive, TS::kFailed,
                   Counts({{TS::kFailed, 1}, {TS::kSoftFailed, 5}, {TS::kQueued, 14}}), std::nullopt},
        DeriveCase{"CanceledJobStaysCanceledWhenATaskFails", JS::kCanceled, TS::kFailed, Counts({{TS::kFailed, 5}}),
                   std::nullopt},
        DeriveCase{"LastCancelRequestedTaskCanceledFinishesCancel", JS::kCancelRequested, TS::kCanceled,
                   Counts({{TS::kCanceled, 3}, {TS::kCompleted, 2}}), JS::kCanceled},
        DeriveCase{"CancelWaitsForOtherCancelRequestedTasks", JS::kCancelRequested, TS::kCanceled,
                   Counts({{TS::kCanceled, 3}, {TS::kCancelRequested, 1}}), std::nullopt},
        DeriveCase{"FailRequestedFinishesAsFailed", JS::kFailRequested, TS::kCanceled, Counts({{TS::kCanceled, 3}}),
                   JS::kFailed},
        // v2 bug: only `canceled` finished a cancel request.
        DeriveCase{"LastCancelRequestedTaskCompletedStillFinishesCancel", JS::kCancelRequested, TS::kCompleted,
                   Counts({{TS::kCanceled, 3}, {TS::kCompleted, 1}}), JS::kCanceled},
        DeriveCase{"LastCancelRequestedTaskFailedFinishesCancel", JS::kCancelRequested, TS::kFailed,
                   Counts({{TS::kCanceled, 3}, {TS::kFailed, 1}}), JS::kCanceled},
        DeriveCase{"CanceledTaskInActiveJobChangesNothing", JS::kActive, TS::kCanceled,
                   Counts({{TS::kCanceled, 1}, {TS::kActive, 1}}), std::nullopt},
        DeriveCase{"CancelRequestedTaskChangesNothing", JS::kActive, TS::kCancelRequested,
                   Counts({{TS::kCancelRequested, 1}}), std::nullopt}),
    [](const auto& info) { return info.param.name; });

TEST(DeriveJobStatus, FailureReasonNamesCounts) {
  auto got = DeriveJobStatus(JS::kActive, TS::kFailed, Counts({{TS::kFailed, 2}, {TS::kCompleted, 8}}), 10);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->status, JS::kFailed);
  EXPECT_EQ(got->reason, "2 of its 10 tasks (20%) failed");
}

TEST(DeriveJobStatus, ThresholdIsConfigurable) {
  const auto counts = Counts({{TS::kFailed, 2}, {TS::kQueued, 8}});
  EXPECT_FALSE(DeriveJobStatus(JS::kActive, TS::kFailed, counts, 50));
  EXPECT_TRUE(DeriveJobStatus(JS::kActive, TS::kFailed, counts, 20));
}

// --- explicit changes -------------------------------------------------------

std::vector<TaskRef> Tasks(std::initializer_list<TS> statuses) {
  std::vector<TaskRef> out;
  int i = 0;
  for (auto s : statuses) out.push_back({"t" + std::to_string(i++), s});
  return out;
}

std::map<std::string, TS> Changes(const JobStatusPlan& plan) {
  std::map<std::string, TS> out;
  for (const auto& c : plan.task_changes) out[c.id] = c.to;
  return out;
}

TEST(PlanJobStatusChange, CancelCancelsQueuedAndRequestsCancelOfRunning) {
  auto tasks = Tasks(
      {TS::kQueued, TS::kActive, TS::kClaimedByManager, TS::kSoftFailed, TS::kCompleted, TS::kPaused, TS::kFailed});
  auto plan = PlanJobStatusChange(JS::kActive, JS::kCancelRequested, tasks);
  ASSERT_TRUE(plan) << plan.error().message;
  EXPECT_EQ(plan->final_status, JS::kCancelRequested);
  EXPECT_EQ(Changes(*plan), (std::map<std::string, TS>{{"t0", TS::kCanceled},
                                                       {"t1", TS::kCancelRequested},
                                                       {"t2", TS::kCancelRequested},
                                                       {"t3", TS::kCancelRequested},
                                                       {"t5", TS::kCanceled}}));
}

TEST(PlanJobStatusChange, CancelWithNothingRunningGoesStraightToCanceled) {
  auto plan = PlanJobStatusChange(JS::kQueued, JS::kCancelRequested, Tasks({TS::kQueued, TS::kCompleted}));
  ASSERT_TRUE(plan);
  EXPECT_EQ(plan->final_status, JS::kCanceled);
  EXPECT_EQ(Changes(*plan), (std::map<std::string, TS>{{"t0", TS::kCanceled}}));
}

TEST(PlanJobStatusChange, FailRequestedWithNothingRunningGoesStraightToFailed) {
  auto plan = PlanJobStatusChange(JS::kActive, JS::kFailRequested, Tasks({TS::kQueued, TS::kFailed}));
  ASSERT_TRUE(plan);
  EXPECT_EQ(plan->final_status, JS::kFailed);
}

TEST(PlanJobStatusChange, FailedStaysFailedEvenWithCancelRequestedTasks) {
  auto plan = PlanJobStatusChange(JS::kActive, JS::kFailed, Tasks({TS::kActive, TS::kFailed}));
  ASSERT_TRUE(plan);
  EXPECT_EQ(plan->final_status, JS::kFailed);
  EXPECT_EQ(Changes(*plan), (std::map<std::string, TS>{{"t0", TS::kCancelRequested}}));
}

TEST(PlanJobStatusChange, CancelOfCanceledJobIsNoOpSuccess) {
  for (JS current : {JS::kCanceled, JS::kCancelRequested}) {
    auto plan = PlanJobStatusChange(current, JS::kCancelRequested, Tasks({TS::kCanceled}));
    ASSERT_TRUE(plan);
    EXPECT_TRUE(plan->no_op);
    EXPECT_EQ(plan->final_status, current);
    EXPECT_TRUE(plan->task_changes.empty());
  }
}

TEST(PlanJobStatusChange, CancelOfCompletedJobIsConflict) {
  auto plan = PlanJobStatusChange(JS::kCompleted, JS::kCancelRequested, Tasks({TS::kCompleted}));
  ASSERT_FALSE(plan);
  EXPECT_EQ(plan.error().code, ErrorCode::kConflict);
}

TEST(PlanJobStatusChange, RequeueOfFailedJobRequeuesAllButCompleted) {
  auto tasks = Tasks({TS::kFailed, TS::kCanceled, TS::kCompleted, TS::kSoftFailed});
  auto plan = PlanJobStatusChange(JS::kFailed, JS::kRequeued, tasks);
  ASSERT_TRUE(plan);
  EXPECT_EQ(plan->final_status, JS::kQueued);
  EXPECT_TRUE(plan->clear_failed_by_workers);
  EXPECT_EQ(Changes(*plan), (std::map<std::string, TS>{{"t0", TS::kQueued}, {"t1", TS::kQueued}, {"t3", TS::kQueued}}));
}

TEST(PlanJobStatusChange, RequeueOfCompletedJobRequeuesEverything) {
  auto plan = PlanJobStatusChange(JS::kCompleted, JS::kRequeued, Tasks({TS::kCompleted, TS::kCompleted}));
  ASSERT_TRUE(plan);
  EXPECT_EQ(plan->final_status, JS::kQueued);
  EXPECT_EQ(plan->task_changes.size(), 2u);
}

TEST(PlanJobStatusChange, RequeueLeavesRunningTasksAlone) {
  auto plan = PlanJobStatusChange(JS::kActive, JS::kRequeued, Tasks({TS::kActive, TS::kFailed}));
  ASSERT_TRUE(plan);
  EXPECT_EQ(plan->final_status, JS::kActive);
  EXPECT_EQ(Changes(*plan), (std::map<std::string, TS>{{"t1", TS::kQueued}}));
}

TEST(PlanJobStatusChange, RequeueWhileCancelRequestedIsConflict) {
  auto plan = PlanJobStatusChange(JS::kCancelRequested, JS::kRequeued, Tasks({TS::kCancelRequested}));
  ASSERT_FALSE(plan);
  EXPECT_EQ(plan.error().code, ErrorCode::kConflict);
}

TEST(PlanJobStatusChange, PausePausesSchedulableTasksButLetsActiveFinish) {
  auto tasks = Tasks({TS::kQueued, TS::kClaimedByManager, TS::kSoftFailed, TS::kActive, TS::kCompleted});
  auto plan = PlanJobStatusChange(JS::kActive, JS::kPaused, tasks);
  ASSERT_TRUE(plan);
  EXPECT_EQ(plan->final_status, JS::kPaused);
  EXPECT_EQ(Changes(*plan), (std::map<std::string, TS>{{"t0", TS::kPaused}, {"t1", TS::kPaused}, {"t2", TS::kPaused}}));
}

TEST(PlanJobStatusChange, PauseOfFinishedJobIsConflict) {
  EXPECT_EQ(PlanJobStatusChange(JS::kCompleted, JS::kPaused, {}).error().code, ErrorCode::kConflict);
  EXPECT_TRUE(PlanJobStatusChange(JS::kPaused, JS::kPaused, {})->no_op);
}

TEST(PlanJobStatusChange, ResumeQueuesPausedTasks) {
  auto plan = PlanJobStatusChange(JS::kPaused, JS::kQueued, Tasks({TS::kPaused, TS::kCompleted}));
  ASSERT_TRUE(plan);
  EXPECT_EQ(plan->final_status, JS::kQueued);
  EXPECT_EQ(Changes(*plan), (std::map<std::string, TS>{{"t0", TS::kQueued}}));
}

TEST(PlanJobStatusChange, ResumeWhenEverythingCompletedCompletesJob) {
  auto plan = PlanJobStatusChange(JS::kPaused, JS::kQueued, Tasks({TS::kCompleted, TS::kCompleted}));
  ASSERT_TRUE(plan);
  EXPECT_EQ(plan->final_status, JS::kCompleted);
}

TEST(PlanJobStatusChange, QueuedOnFailedJobIsConflictSuggestingRequeue) {
  auto plan = PlanJobStatusChange(JS::kFailed, JS::kQueued, Tasks({TS::kFailed}));
  ASSERT_FALSE(plan);
  EXPECT_EQ(plan.error().code, ErrorCode::kConflict);
  EXPECT_NE(plan.error().message.find("requeued"), std::string::npos);
}

TEST(PlanJobStatusChange, StatusesThatCannotBeRequested) {
  for (JS s : {JS::kCompleted, JS::kActive, JS::kCanceled, JS::kUnderConstruction, JS::kConstructionFailed}) {
    auto plan = PlanJobStatusChange(JS::kQueued, s, Tasks({TS::kQueued}));
    ASSERT_FALSE(plan) << ToString(s);
    EXPECT_EQ(plan.error().code, ErrorCode::kInvalidArgument) << ToString(s);
  }
}

}  // namespace
}  // namespace duende::jobs
