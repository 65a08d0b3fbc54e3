// Failure handling scenarios that read like the seed and spec §6–7:
// soft failure, blacklisting, timeouts, worker cleanup, starvation.
#include <gtest/gtest.h>

#include "farm_fixture.h"
#include "manager/housekeeping.h"

namespace duende::manager {
namespace {

using namespace std::chrono_literals;

class FailureTest : public FarmTest {
 protected:
  // Fetches, expecting `task_id`, and reports it failed.
  void FetchAndFail(const std::string& worker, const std::string& task_id) {
    auto offer = Fetch(worker);
    ASSERT_EQ(offer.kind, TaskOffer::Kind::kTask);
    ASSERT_EQ(offer.task.id, task_id);
    ASSERT_TRUE(farm_->UpdateTask(worker, task_id, StatusUpdate(TaskStatus::kFailed), seen_).has_value());
  }
  void FetchAndComplete(const std::string& worker) {
    auto offer = Fetch(worker);
    ASSERT_EQ(offer.kind, TaskOffer::Kind::kTask);
    ASSERT_TRUE(farm_->UpdateTask(worker, offer.task.id, StatusUpdate(TaskStatus::kCompleted), seen_).has_value());
  }
  std::vector<TaskStatus> QueuedStatusesFor(const std::string& task_id) {
    std::vector<TaskStatus> out;
    for (const auto& u : Queue())
      if (u.task_id == task_id && u.task_status) out.push_back(*u.task_status);
    return out;
  }
};

TEST_F(FailureTest, SoftFailThenBlacklistThenRequeueForOthers) {
  // 3 workers; W1 fails T1, T2, T3 of one job and type.
  Task t1 = MakeTask("t1", 50, 90, "blender-render");
  Task t2 = MakeTask("t2", 50, 80, "blender-render");
  Task t3 = MakeTask("t3", 50, 70, "blender-render");
  Add({t1, t2, t3});
  const std::string w1 = Register("w1");
  const std::string w2 = Register("w2");
  Register("w3");

  FetchAndFail(w1, t1.id);
  EXPECT_EQ(Get(t1.id).status, TaskStatus::kSoftFailed) << "others can still run it";
  EXPECT_EQ(QueuedStatusesFor(t1.id).back(), TaskStatus::kSoftFailed) << "upstream sees soft-failed, not failed";
  EXPECT_TRUE(farm_->ListBlacklist(w1, "")->empty());

  FetchAndFail(w1, t2.id);
  EXPECT_EQ(Get(t2.id).status, TaskStatus::kSoftFailed);
  EXPECT_TRUE(farm_->ListBlacklist(w1, "")->empty()) << "2 failures is below the threshold of 3";

  FetchAndFail(w1, t3.id);
  auto entries = *farm_->ListBlacklist(w1, "");
  ASSERT_EQ(entries.size(), 1u) << "third failure on (job, blender-render) blacklists W1";
  EXPECT_EQ(entries[0].job_id, t1.job);
  EXPECT_EQ(entries[0].task_type, "blender-render");
  EXPECT_EQ(Get(t3.id).status, TaskStatus::kSoftFailed);
  EXPECT_EQ(Get(t1.id).status, TaskStatus::kClaimedByManager) << "W1's soft-failed tasks are requeued";
  EXPECT_EQ(Get(t2.id).status, TaskStatus::kClaimedByManager);
  EXPECT_EQ(QueuedStatusesFor(t1.id).back(), TaskStatus::kClaimedByManager);

  EXPECT_EQ(Fetch(w1).kind, TaskOffer::Kind::kNoTask) << "blacklisted W1 gets no such tasks";
  for (int i = 0; i < 3; ++i) FetchAndComplete(w2);
  for (const auto& t : {t1, t2, t3}) EXPECT_EQ(Get(t.id).status, TaskStatus::kCompleted);
}

TEST_F(FailureTest, OnlyWorkerOfTheTypeFailsThreeTimesTasksFailNotSoftFail) {
  Task t1 = MakeTask("t1", 50, 90, "blender-render");
  Task t2 = MakeTask("t2", 50, 80, "blender-render");
  Task t3 = MakeTask("t3", 50, 70, "blender-render");
  Add({t1, t2, t3});
  const std::string w1 = Register("w1", {"blender-render"});
  Register("w2", {"sleep"});
  FetchAndFail(w1, t1.id);
  FetchAndFail(w1, t2.id);
  FetchAndFail(w1, t3.id);
  for (const auto& t : {t1, t2, t3}) {
    EXPECT_EQ(Get(t.id).status, TaskStatus::kFailed) << t.name;
    EXPECT_EQ(QueuedStatusesFor(t.id).back(), TaskStatus::kFailed);
  }
}

TEST_F(FailureTest, BlacklistingWithNobodyLeftHardFailsEarlierSoftFailures) {
  // W2 can run the type but already failed T1, so after W1 is blacklisted
  // nobody is left for T1: it becomes failed, not requeued.
  Task t1 = MakeTask("t1", 50, 90, "blender-render");
  Task t2 = MakeTask("t2", 50, 80, "blender-render");
  Task t3 = MakeTask("t3", 50, 70, "blender-render");
  Add({t1, t2, t3});
  const std::string w1 = Register("w1", {"blender-render"});
  const std::string w2 = Register("w2", {"sleep"});
  // W2 gains the type later and fails T1 first.
  ASSERT_TRUE(farm_->SignOn(w2, std::vector<std::string>{"blender-render"}, std::nullopt, seen_).has_value());
  FetchAndFail(w2, t1.id);
  ASSERT_EQ(Get(t1.id).status, TaskStatus::kSoftFailed);
  ASSERT_TRUE(farm_->SignOn(w2, std::vector<std::string>{"sleep"}, std::nullopt, seen_).has_value());
  FetchAndFail(w1, t1.id);  // failed by both: failed
  EXPECT_EQ(Get(t1.id).status, TaskStatus::kFailed);
  ASSERT_TRUE(farm_->SignOn(w2, std::vector<std::string>{"blender-render"}, std::nullopt, seen_).has_value());
  FetchAndFail(w1, t2.id);
  EXPECT_EQ(Get(t2.id).status, TaskStatus::kSoftFailed) << "W2 can still try T2";
  FetchAndFail(w1, t3.id);  // third failure: W1 blacklisted
  EXPECT_EQ(Get(t2.id).status, TaskStatus::kClaimedByManager) << "W2 is left for T2";
  EXPECT_FALSE(farm_->ListBlacklist(w1, t1.job)->empty());
}

TEST_F(FailureTest, FailedByThreeWorkersIsFailedEvenWithOthersLeft) {
  Task t = MakeTask("t");
  Add({t});
  std::vector<std::string> ws;
  for (int i = 0; i < 5; ++i) ws.push_back(Register("w" + std::to_string(i)));
  FetchAndFail(ws[0], t.id);
  FetchAndFail(ws[1], t.id);
  EXPECT_EQ(Get(t.id).status, TaskStatus::kSoftFailed);
  FetchAndFail(ws[2], t.id);
  EXPECT_EQ(Get(t.id).status, TaskStatus::kFailed) << "task_fail_after_softfail_count = 3";
  EXPECT_EQ(Get(t.id).failed_by_workers.size(), 3u);
}

TEST_F(FailureTest, ExpiredBlacklistEntriesNoLongerApply) {
  Task t1 = MakeTask("t1"), t2 = MakeTask("t2"), t3 = MakeTask("t3"), t4 = MakeTask("t4");
  Add({t1, t2, t3});
  const std::string w1 = Register("w1");
  Register("w2");
  FetchAndFail(w1, t1.id);
  FetchAndFail(w1, t2.id);
  FetchAndFail(w1, t3.id);
  ASSERT_EQ(farm_->ListBlacklist(w1, "")->size(), 1u);
  Add({t4});
  EXPECT_EQ(Fetch(w1).kind, TaskOffer::Kind::kNoTask);
  clock_.Advance(std::chrono::hours(24 * 7 + 1));
  ASSERT_TRUE(farm_->SignOn(w1, std::nullopt, std::nullopt, seen_).has_value());
  EXPECT_TRUE(farm_->ListBlacklist(w1, "")->empty());
  EXPECT_EQ(*farm_->PurgeExpiredBlacklist(), 1);
  EXPECT_EQ(Fetch(w1).kind, TaskOffer::Kind::kTask) << "the 7-day-old entry has expired";
}

TEST_F(FailureTest, ForgettingABlacklistLineLetsTheWorkerBackIn) {
  Task t1 = MakeTask("t1"), t2 = MakeTask("t2"), t3 = MakeTask("t3"), t4 = MakeTask("t4");
  Add({t1, t2, t3});
  const std::string w1 = Register("w1");
  Register("w2");
  FetchAndFail(w1, t1.id);
  FetchAndFail(w1, t2.id);
  FetchAndFail(w1, t3.id);
  Add({t4});
  EXPECT_EQ(Fetch(w1).kind, TaskOffer::Kind::kNoTask);
  auto missing = farm_->ForgetBlacklist(w1, t1.job, "video-encoding");
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
  ASSERT_TRUE(farm_->ForgetBlacklist(w1, t1.job, "sleep").has_value());
  EXPECT_EQ(Fetch(w1).task.id, t4.id);
}

TEST_F(FailureTest, VanishedWorkerTimesOutAndTaskIsFinishedElsewhereBeforeTaskTimeout) {
  Task t = MakeTask("t");
  Add({t});
  const std::string w1 = Register("w1");
  const std::string w2 = Register("w2");
  Fetch(w1);  // W1 takes T and vanishes
  for (int i = 0; i < 5; ++i) {
    clock_.Advance(15s);
    Fetch(w2);  // W2 keeps polling
  }
  // Worker timeout (1 min) comes before the task timeout (10 min).
  ASSERT_EQ(*farm_->TimeoutTasks(clock_.Now() - 10min), 0);
  ASSERT_EQ(*farm_->TimeoutWorkers(clock_.Now() - 1min), 1);
  EXPECT_EQ(WorkerById(w1).status, "timeout");
  FetchAndComplete(w2);
  EXPECT_EQ(Get(t.id).status, TaskStatus::kCompleted);
  EXPECT_TRUE(Get(t.id).failed_by_workers.empty()) << "a returned task is not a failure";
}

TEST_F(FailureTest, TaskTimeoutIsAFailureByThatWorker) {
  // The worker keeps talking (so it does not time out) but the task shows no
  // sign of life: the task is soft-failed for W1 and goes to W2.
  Task t = MakeTask("t");
  Add({t});
  const std::string w1 = Register("w1");
  const std::string w2 = Register("w2");
  Fetch(w1);
  clock_.Advance(11min);
  ASSERT_EQ(*farm_->TimeoutTasks(clock_.Now() - 10min), 1);
  const Task after = Get(t.id);
  EXPECT_EQ(after.status, TaskStatus::kSoftFailed);
  ASSERT_EQ(after.failed_by_workers.size(), 1u);
  EXPECT_EQ(after.failed_by_workers[0].id, w1);
  EXPECT_NE(after.activity.find("timed out"), std::string::npos);
  EXPECT_EQ(Fetch(w2).task.id, t.id);
}

TEST_F(FailureTest, WorkerCleanupRemovesOnlyLongGoneWorkersInTheListedStatuses) {
  Task t = MakeTask("t");
  Add({t});
  const std::string gone = Register("gone");
  const std::string asleep = Register("asleep");
  const std::string busy = Register("busy");
  Fetch(busy);
  ASSERT_TRUE(farm_->SignOff(gone, seen_).has_value());
  ASSERT_TRUE(farm_->AckStatusChange(asleep, "asleep", seen_).has_value());
  clock_.Advance(2h);
  ASSERT_TRUE(farm_->SignOff(busy, seen_).has_value());  // recent
  EXPECT_EQ(*farm_->RemoveWorkersSeenBefore(clock_.Now() - 1h, {"offline"}), 1);
  auto workers = *farm_->ListWorkers();
  ASSERT_EQ(workers.size(), 2u);
  for (const auto& w : workers) EXPECT_NE(w.id, gone);
}

TEST_F(FailureTest, HousekeepingAnnouncesTimedOutWorkersAndPurgedBlacklistLines) {
  // The dashboard hears about changes no request made (the on_change hook).
  std::vector<std::string> changes;
  HousekeepingOptions options;
  options.worker_timeout = 1min;
  options.task_timeout = 10min;
  options.on_change = [&](const std::string& what) { changes.push_back(what); };
  Housekeeping housekeeping(*farm_, clock_, options);
  Task t1 = MakeTask("t1"), t2 = MakeTask("t2"), t3 = MakeTask("t3");
  Add({t1, t2, t3});
  const std::string w1 = Register("w1");
  const std::string w2 = Register("w2");
  FetchAndFail(w1, t1.id);
  FetchAndFail(w1, t2.id);
  FetchAndFail(w1, t3.id);
  ASSERT_EQ(farm_->ListBlacklist(w1, "")->size(), 1u);
  housekeeping.CheckTimeouts();
  housekeeping.CheckStarvation();
  EXPECT_TRUE(changes.empty()) << "nothing timed out or expired, nothing announced";

  clock_.Advance(2min);
  Fetch(w2);  // w2 stays in touch; w1 went silent
  housekeeping.CheckTimeouts();
  EXPECT_EQ(changes, std::vector<std::string>{"workers"});
  EXPECT_EQ(WorkerById(w1).status, "timeout");
  housekeeping.CheckTimeouts();
  EXPECT_EQ(changes.size(), 1u) << "a worker times out once";

  clock_.Advance(std::chrono::hours(24 * 7 + 1));
  changes.clear();
  housekeeping.CheckStarvation();
  EXPECT_EQ(changes, std::vector<std::string>{"blacklist"});
}

TEST_F(FailureTest, WorkerCleanupWithMaxAgeZeroDoesNothing) {
  const std::string gone = Register("gone");
  ASSERT_TRUE(farm_->SignOff(gone, seen_).has_value());
  clock_.Advance(std::chrono::hours(24 * 365));
  HousekeepingOptions options;  // worker_cleanup_max_age defaults to 0
  Housekeeping housekeeping(*farm_, clock_, options);
  housekeeping.CleanupWorkers();
  EXPECT_EQ(farm_->ListWorkers()->size(), 1u);
  options.worker_cleanup_max_age = std::chrono::hours(1);
  Housekeeping enabled(*farm_, clock_, options);
  enabled.CleanupWorkers();
  EXPECT_TRUE(farm_->ListWorkers()->empty());
}

TEST_F(FailureTest, StarvationIsReportedThenFailsTheTask) {
  // W1 fails T; W2 (the only other capable worker) goes away for good.
  Task t = MakeTask("t", 50, 50, "blender-render");
  Add({t});
  const std::string w1 = Register("w1", {"blender-render"});
  const std::string w2 = Register("w2", {"blender-render"});
  FetchAndFail(w1, t.id);
  ASSERT_EQ(Get(t.id).status, TaskStatus::kSoftFailed);
  ASSERT_TRUE(farm_->SignOff(w2, seen_).has_value());
  EXPECT_EQ(*farm_->CheckStarvation(), 0) << "an offline worker may come back within the grace period";
  clock_.Advance(11min);
  EXPECT_EQ(*farm_->CheckStarvation(), 1);
  const Task blocked = Get(t.id);
  EXPECT_EQ(blocked.status, TaskStatus::kSoftFailed);
  EXPECT_NE(blocked.activity.find("every worker with task type `blender-render` failed it or is blacklisted"),
            std::string::npos)
      << blocked.activity;
  EXPECT_EQ(Queue().back().blocked_reason, "every worker with task type `blender-render` failed it or is blacklisted");
  const size_t queued = Queue().size();
  EXPECT_EQ(*farm_->CheckStarvation(), 1);
  EXPECT_EQ(Queue().size(), queued) << "an unchanged report is not sent again";
  clock_.Advance(1h);
  farm_->CheckStarvation();
  EXPECT_EQ(Get(t.id).status, TaskStatus::kFailed) << "blocked longer than starvation_fail_after";
  EXPECT_EQ(QueuedStatusesFor(t.id).back(), TaskStatus::kFailed);
}

TEST_F(FailureTest, StarvationClearsWhenACapableWorkerAppears) {
  Task t = MakeTask("t", 50, 50, "video-encoding");
  Add({t});
  Register("w1", {"sleep"});
  EXPECT_EQ(*farm_->CheckStarvation(), 1);
  EXPECT_EQ(Queue().back().blocked_reason, "no worker supports task type `video-encoding`");
  clock_.Advance(2h);
  EXPECT_EQ(*farm_->CheckStarvation(), 1);
  EXPECT_EQ(Get(t.id).status, TaskStatus::kClaimedByManager)
      << "no worker of the type at all: reported, not failed (workers may not have started yet)";
  Register("encoder", {"video-encoding"});
  EXPECT_EQ(*farm_->CheckStarvation(), 0);
  EXPECT_EQ(Queue().back().blocked_reason, "") << "the mark is cleared upstream";
}

TEST_F(FailureTest, ExplainNamesTheRuleThatExcludesEachWorker) {
  Task parent = MakeTask("parent", 50, 90);
  Task t = MakeTask("t", 50, 50, "sleep", {parent.id});
  Add({parent, t});
  const std::string busy = Register("busy");
  const std::string other_type = Register("other-type", {"video-encoding"});
  const std::string sleeper = Register("sleeper");
  ASSERT_TRUE(farm_->AckStatusChange(sleeper, "asleep", seen_).has_value());
  Fetch(busy);  // takes the parent
  auto e = farm_->Explain(t.id);
  ASSERT_TRUE(e.has_value());
  ASSERT_FALSE(e->task_reasons.empty());
  EXPECT_NE(e->task_reasons[0].find("parent parent"), std::string::npos) << e->task_reasons[0];
  std::map<std::string, std::string> reasons;
  for (const auto& v : e->workers) reasons[v.worker_id] = v.reason;
  EXPECT_NE(reasons[busy].find("busy with task " + parent.id), std::string::npos);
  EXPECT_NE(reasons[other_type].find("does not support task type sleep"), std::string::npos);
  EXPECT_EQ(reasons[sleeper], "is asleep");
  EXPECT_FALSE(farm_->Explain(NewObjectId()).has_value());
}

}  // namespace
}  // namespace duende::manager
