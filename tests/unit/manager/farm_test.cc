// Scenario tests of the farm state machine (spec §5): scheduling order,
// dependencies, assignment, updates, returns, may-i-run, timeouts.
#include "manager/farm.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "common/ids.h"
#include "common/timefmt.h"
#include "farm_fixture.h"
#include "support/fake_clock.h"
#include "support/temp_dir.h"

namespace duende::manager {
namespace {

using protocol::Task;
using protocol::TaskStatus;
using protocol::TaskUpdate;

TEST_F(FarmTest, SchedulesByJobPriorityThenTaskPriorityThenOldest) {
  Task low = MakeTask("low", 10, 90);
  Task old_high = MakeTask("old-high", 80, 50);
  Task new_high = MakeTask("new-high", 80, 50);
  Task higher_task_prio = MakeTask("higher-task-prio", 80, 60);
  Add({low, new_high, old_high, higher_task_prio});
  const std::string w = Register("w1");
  std::vector<std::string> order;
  for (int i = 0; i < 4; ++i) {
    auto offer = Fetch(w);
    ASSERT_EQ(offer.kind, TaskOffer::Kind::kTask);
    order.push_back(offer.task.name);
    ASSERT_TRUE(farm_->UpdateTask(w, offer.task.id, StatusUpdate(TaskStatus::kCompleted), seen_).has_value());
  }
  EXPECT_EQ(order, (std::vector<std::string>{"higher-task-prio", "old-high", "new-high", "low"}));
  EXPECT_EQ(Fetch(w).kind, TaskOffer::Kind::kNoTask);
}

TEST_F(FarmTest, ChildWaitsForParentsToComplete) {
  Task parent = MakeTask("parent", 50, 10);
  Task child = MakeTask("child", 50, 90, "sleep", {parent.id});
  Add({parent, child});
  const std::string w1 = Register("w1");
  const std::string w2 = Register("w2");
  auto first = Fetch(w1);
  ASSERT_EQ(first.kind, TaskOffer::Kind::kTask);
  EXPECT_EQ(first.task.name, "parent");
  EXPECT_EQ(Fetch(w2).kind, TaskOffer::Kind::kNoTask) << "child must wait for its running parent";
  ASSERT_TRUE(farm_->UpdateTask(w1, parent.id, StatusUpdate(TaskStatus::kCompleted), seen_).has_value());
  auto second = Fetch(w2);
  ASSERT_EQ(second.kind, TaskOffer::Kind::kTask);
  EXPECT_EQ(second.task.name, "child");
}

TEST_F(FarmTest, MissingParentCountsAsCompleted) {
  Add({MakeTask("orphan", 50, 50, "sleep", {NewObjectId()})});
  EXPECT_EQ(Fetch(Register("w1")).kind, TaskOffer::Kind::kTask);
}

TEST_F(FarmTest, OnlyExactTaskTypeMatches) {
  Add({MakeTask("video", 50, 50, "video-encoding")});
  const std::string sleeper = Register("sleeper", {"sleep"});
  EXPECT_EQ(Fetch(sleeper).kind, TaskOffer::Kind::kNoTask);
  const std::string encoder = Register("encoder", {"video-encoding"});
  EXPECT_EQ(Fetch(encoder).kind, TaskOffer::Kind::kTask);
}

TEST_F(FarmTest, WorkerWithoutTaskTypesGets406Kind) {
  Add({MakeTask("t")});
  EXPECT_EQ(Fetch(Register("none", {})).kind, TaskOffer::Kind::kNoTaskTypes);
}

TEST_F(FarmTest, AssignmentQueuesActiveUpdateAndLogsIt) {
  Task t = MakeTask("t");
  Add({t});
  const std::string w = Register("w1");
  auto offer = Fetch(w);
  ASSERT_EQ(offer.kind, TaskOffer::Kind::kTask);
  EXPECT_EQ(offer.task.status, TaskStatus::kActive);
  const auto local = Get(t.id);
  EXPECT_EQ(local.status, TaskStatus::kActive);
  EXPECT_EQ(local.worker_id, w);
  const auto queue = Queue();
  ASSERT_EQ(queue.size(), 1u);
  EXPECT_EQ(queue[0].task_status, TaskStatus::kActive);
  EXPECT_EQ(queue[0].worker, "10.0.0.1 (w1)");
  EXPECT_NE(queue[0].log_tail.find("Manager assigned task " + t.id), std::string::npos);
  const std::string log = logs_->Text(t.job, t.id).value_or("");
  EXPECT_TRUE(log.starts_with("Manager assigned task") || log.find(": Manager assigned task") < log.find('\n')) << log;
}

TEST_F(FarmTest, ActiveTaskIsServedAgainToItsWorker) {
  Add({MakeTask("a"), MakeTask("b")});
  const std::string w = Register("w1");
  auto first = Fetch(w);
  auto again = Fetch(w);
  EXPECT_EQ(first.task.id, again.task.id);
  EXPECT_EQ(Queue().size(), 1u) << "re-serving must not assign twice";
}

TEST_F(FarmTest, VariablesExpandedForWorkerPlatform) {
  Add({MakeTask("a"), MakeTask("b")});
  auto linux_offer = Fetch(Register("lin", {"sleep"}, "linux"));
  auto windows_offer = Fetch(Register("win", {"sleep"}, "windows"));
  EXPECT_EQ(linux_offer.task.commands[0].settings["message"], "hi /render/x");
  // `render` is two-way: the setting is a path, with Windows separators.
  EXPECT_EQ(windows_offer.task.commands[0].settings["message"], "hi R:\\x");
}

TEST_F(FarmTest, UpdateFromOtherWorkerIsConflictAndChangesNothing) {
  Task t = MakeTask("t");
  Add({t});
  const std::string w1 = Register("w1");
  const std::string w2 = Register("w2");
  Fetch(w1);
  const size_t queued = Queue().size();
  auto st = farm_->UpdateTask(w2, t.id, StatusUpdate(TaskStatus::kCompleted), seen_);
  ASSERT_FALSE(st.has_value());
  EXPECT_EQ(st.error().code, ErrorCode::kConflict);
  EXPECT_EQ(Get(t.id).status, TaskStatus::kActive);
  EXPECT_EQ(Queue().size(), queued);
  // Refused before any write: the writer did not have to run its batch
  // again with a savepoint per write.
  EXPECT_EQ(store_->queued_write_reruns(), 0u);
}

// The scheduling index follows a task's last status in a transaction: a
// status that leaves the index drops its entry without reading the row, and
// a later change in the same transaction that makes it schedulable again
// puts it back.
TEST_F(FarmTest, TheIndexFollowsTheLastStatusOfATaskInATransaction) {
  Task left = MakeTask("left", 50, 60);
  Task back = MakeTask("back", 50, 50);
  Add({left, back});
  ASSERT_TRUE(store_->Write([&](FarmTx& tx) -> Status {
    TaskMutation gone;
    gone.status = TaskStatus::kCanceled;
    tx.ApplyMutation(left.id, gone);
    tx.ApplyMutation(back.id, gone);
    TaskMutation again;
    again.status = TaskStatus::kQueued;
    tx.ApplyMutation(back.id, again);
    return Ok();
  }));
  const std::string w = Register("w1");
  const auto offer = Fetch(w);
  ASSERT_EQ(offer.kind, TaskOffer::Kind::kTask);
  EXPECT_EQ(offer.task.id, back.id);
  ASSERT_TRUE(farm_->UpdateTask(w, back.id, StatusUpdate(TaskStatus::kCompleted), seen_).has_value());
  EXPECT_EQ(Fetch(w).kind, TaskOffer::Kind::kNoTask) << "the canceled task must not come back";
}

TEST_F(FarmTest, UpdateOfUnknownTaskIsNotFound) {
  auto st = farm_->UpdateTask(Register("w1"), NewObjectId(), StatusUpdate(TaskStatus::kCompleted), seen_);
  ASSERT_FALSE(st.has_value());
  EXPECT_EQ(st.error().code, ErrorCode::kNotFound);
}

TEST_F(FarmTest, WorkerMayNotSetSchedulingStatuses) {
  Task t = MakeTask("t");
  Add({t});
  const std::string w = Register("w1");
  Fetch(w);
  auto st = farm_->UpdateTask(w, t.id, StatusUpdate(TaskStatus::kQueued), seen_);
  ASSERT_FALSE(st.has_value());
  EXPECT_EQ(st.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(Get(t.id).status, TaskStatus::kActive);
}

TEST_F(FarmTest, UpdateAppendsLogAndQueuesTailOnly) {
  Task t = MakeTask("t");
  Add({t});
  const std::string w = Register("w1");
  Fetch(w);
  std::string log;
  for (int i = 0; i < 15; ++i) log += "2026-01-01T00:00:00Z: line " + std::to_string(i) + "\n";
  TaskUpdate u;
  u.activity = "rendering";
  u.task_progress_percentage = 40;
  u.log = log;
  ASSERT_TRUE(farm_->UpdateTask(w, t.id, u, seen_).has_value());
  const auto queue = Queue();
  ASSERT_EQ(queue.size(), 2u);
  EXPECT_TRUE(queue[1].log.empty());
  EXPECT_EQ(std::count(queue[1].log_tail.begin(), queue[1].log_tail.end(), '\n'), 10);
  EXPECT_NE(queue[1].log_tail.find("line 14"), std::string::npos);
  EXPECT_EQ(queue[1].log_tail.find("line 4\n"), std::string::npos);
  EXPECT_EQ(Get(t.id).activity, "rendering");
  EXPECT_EQ(Get(t.id).task_progress_percentage, 40);
  const std::string all = logs_->Text(t.job, t.id).value_or("");
  EXPECT_NE(all.find("line 0\n"), std::string::npos);
  EXPECT_NE(all.find("line 14\n"), std::string::npos);
}

// A worker's update reads the task without its commands and parents: they
// must come out of any update (progress, a failure) as they went in, and an
// offer after an update still carries them whole.
TEST_F(FarmTest, UpdatesLeaveTheTasksCommandsAndParentsAsTheyWere) {
  Task parent = MakeTask("parent");
  Task t = MakeTask("t", 50, 40, "sleep", {parent.id});
  t.commands.push_back({"blender-render", {{"frames", "1-4"}, {"format", "PNG"}}});
  Add({parent, t});
  const std::string w1 = Register("w1");
  const auto first = Fetch(w1);
  ASSERT_EQ(first.task.id, parent.id);
  ASSERT_TRUE(farm_->UpdateTask(w1, parent.id, StatusUpdate(TaskStatus::kCompleted), seen_).has_value());
  ASSERT_EQ(Fetch(w1).task.id, t.id);
  TaskUpdate progress;
  progress.activity = "rendering";
  progress.task_progress_percentage = 50;
  ASSERT_TRUE(farm_->UpdateTask(w1, t.id, progress, seen_).has_value());
  // The worker asks again (a lost answer): its active task, whole.
  const auto again = Fetch(w1);
  ASSERT_EQ(again.task.id, t.id);
  ASSERT_EQ(again.task.commands.size(), 2u);
  EXPECT_EQ(again.task.commands[1].settings, t.commands[1].settings);
  EXPECT_EQ(again.task.parents, std::vector<std::string>{parent.id});
  EXPECT_EQ(again.task.activity, "rendering");
  ASSERT_TRUE(farm_->UpdateTask(w1, t.id, StatusUpdate(TaskStatus::kFailed), seen_).has_value());
  const Task after = Get(t.id);
  EXPECT_EQ(after.status, TaskStatus::kFailed);
  EXPECT_EQ(after.parents, std::vector<std::string>{parent.id});
  ASSERT_EQ(after.commands.size(), 2u);
  EXPECT_EQ(after.commands[1].name, "blender-render");
  EXPECT_EQ(after.commands[1].settings, t.commands[1].settings);
  ASSERT_EQ(after.failed_by_workers.size(), 1u);
  EXPECT_EQ(after.failed_by_workers[0].id, w1);
}

// A task update reads part of the worker's row and writes back only the
// columns that changed: what it did not read (status, task types, platform)
// stays as it was, and a write that changes nothing runs no statement.
TEST_F(FarmTest, WorkerWritesNameOnlyTheColumnsThatChanged) {
  const std::string w1 = Register("w1", {"sleep", "ffmpeg"}, "windows");
  const WorkerRecord registered = WorkerById(w1);
  auto total_changes = [&] { return *db_->Read([](store::Conn& c) -> Result<int64_t> { return c.TotalChanges(); }); };
  const int64_t changes_before = total_changes();
  ASSERT_TRUE(store_
                  ->Write([&](FarmTx& tx) -> Status {
                    const auto before = tx.GetWorkerForTaskUpdate(w1);
                    EXPECT_TRUE(before.has_value());
                    if (!before) return Ok();
                    EXPECT_EQ(before->nickname, "w1");
                    EXPECT_EQ(before->address, registered.address);
                    EXPECT_TRUE(before->supported_task_types.empty()) << "not read";
                    tx.UpdateWorker(*before, *before);  // nothing changed: no statement
                    return Ok();
                  })
                  .has_value());
  EXPECT_EQ(total_changes(), changes_before);
  EXPECT_FALSE(store_->Read([&](FarmTx& tx) -> Result<bool> { return tx.GetWorkerForTaskUpdate("nobody").has_value(); })
                   .value());

  clock_.Advance(std::chrono::seconds(3));
  ASSERT_TRUE(store_
                  ->Write([&](FarmTx& tx) -> Status {
                    const auto before = *tx.GetWorkerForTaskUpdate(w1);
                    WorkerRecord after = before;
                    after.current_task_status = "active";
                    after.current_task_updated = tx.now();
                    after.software = "Flamenco-Worker/2.6";
                    tx.UpdateWorker(before, after);
                    return Ok();
                  })
                  .has_value());
  EXPECT_EQ(total_changes(), changes_before + 1);
  const WorkerRecord now = WorkerById(w1);
  EXPECT_EQ(now.current_task_status, "active");
  EXPECT_EQ(now.current_task_updated, clock_.Now());
  EXPECT_EQ(now.software, "Flamenco-Worker/2.6");
  EXPECT_EQ(now.status, registered.status);
  EXPECT_EQ(now.supported_task_types, registered.supported_task_types);
  EXPECT_EQ(now.platform, "windows");
  EXPECT_EQ(now.nickname, "w1");
  EXPECT_EQ(now.last_activity, registered.last_activity);
}

// A worker removed after it was authenticated (housekeeping, an operator)
// gets 403 on its task update, and the task is left as it was.
TEST_F(FarmTest, UpdateFromAWorkerThatNoLongerExistsIsForbiddenAndChangesNothing) {
  Task t = MakeTask("t");
  Add({t});
  const std::string w1 = Register("w1");
  ASSERT_EQ(Fetch(w1).task.id, t.id);
  const Task before = Get(t.id);
  clock_.Advance(std::chrono::seconds(5));
  auto st = farm_->UpdateTask("aaaaaaaaaaaaaaaaaaaaaaaa", t.id, StatusUpdate(TaskStatus::kCompleted), seen_);
  ASSERT_FALSE(st.has_value());
  EXPECT_EQ(st.error().code, ErrorCode::kForbidden);
  const Task after = Get(t.id);
  EXPECT_EQ(after.status, TaskStatus::kActive);
  EXPECT_EQ(after.last_updated, before.last_updated);
}

TEST_F(FarmTest, FailedTaskRecordsWorkerAndIsNotOfferedToItAgain) {
  Task t = MakeTask("t");
  Add({t});
  const std::string w1 = Register("w1");
  Fetch(w1);
  ASSERT_TRUE(farm_->UpdateTask(w1, t.id, StatusUpdate(TaskStatus::kFailed), seen_).has_value());
  const auto local = Get(t.id);
  ASSERT_EQ(local.failed_by_workers.size(), 1u);
  EXPECT_EQ(local.failed_by_workers[0].id, w1);
  const auto queue = Queue();
  ASSERT_TRUE(queue.back().failed_by_workers.has_value());
  EXPECT_EQ(queue.back().failed_by_workers->size(), 1u);
  // Requeued upstream (as claimed-by-manager again): w1 must not get it back.
  Task requeued = local;
  requeued.status = TaskStatus::kClaimedByManager;
  Add({requeued});
  EXPECT_EQ(Fetch(w1).kind, TaskOffer::Kind::kNoTask);
  EXPECT_EQ(Fetch(Register("w2")).kind, TaskOffer::Kind::kTask);
}

TEST_F(FarmTest, ReturnRequeuesForAnotherWorker) {
  Task t = MakeTask("t");
  Add({t});
  const std::string w1 = Register("w1");
  const std::string w2 = Register("w2");
  Fetch(w1);
  ASSERT_TRUE(farm_->ReturnTask(w1, t.id, "returned by worker", seen_).has_value());
  const auto local = Get(t.id);
  EXPECT_EQ(local.status, TaskStatus::kClaimedByManager);
  EXPECT_EQ(local.worker, "-");
  EXPECT_TRUE(local.worker_id.empty());
  EXPECT_EQ(Queue().back().task_status, TaskStatus::kClaimedByManager);
  EXPECT_EQ(Fetch(w2).task.id, t.id);
  // w2's run has a log of its own; w1's (assignment and return) was rotated.
  const std::string now_log = logs_->Text(t.job, t.id).value_or("");
  const std::string earlier = logs_->Text(t.job, t.id, 1).value_or("");
  EXPECT_NE(now_log.find("to worker 10.0.0.1 (w2)"), std::string::npos) << now_log;
  EXPECT_EQ(now_log.find("(w1)"), std::string::npos) << now_log;
  EXPECT_NE(earlier.find("to worker 10.0.0.1 (w1)"), std::string::npos) << earlier;
  EXPECT_NE(earlier.find("returned by worker"), std::string::npos) << earlier;
  // A return by the old worker is now a no-op.
  const size_t queued = Queue().size();
  ASSERT_TRUE(farm_->ReturnTask(w1, t.id, "late", seen_).has_value());
  EXPECT_EQ(Queue().size(), queued);
  EXPECT_EQ(Get(t.id).worker_id, w2);
}

// The status history (issue 9: "none recorded completed twice" is checked
// on it) holds each change once, with the worker it concerned; repeated and
// late updates add nothing.
TEST_F(FarmTest, StatusHistoryRecordsEachChangeOnceWithItsWorker) {
  Task t = MakeTask("t");
  Add({t});
  const std::string w1 = Register("w1");
  const std::string w2 = Register("w2");
  Fetch(w1);
  ASSERT_TRUE(farm_->ReturnTask(w1, t.id, "returned by worker", seen_).has_value());
  Fetch(w2);
  ASSERT_TRUE(farm_->UpdateTask(w2, t.id, StatusUpdate(TaskStatus::kActive), seen_).has_value());
  ASSERT_TRUE(farm_->UpdateTask(w2, t.id, StatusUpdate(TaskStatus::kCompleted), seen_).has_value());
  // The same completion again (a worker re-sending an update whose answer
  // it lost), and w1's late one (refused: the task is w2's).
  ASSERT_TRUE(farm_->UpdateTask(w2, t.id, StatusUpdate(TaskStatus::kCompleted), seen_).has_value());
  EXPECT_EQ(farm_->UpdateTask(w1, t.id, StatusUpdate(TaskStatus::kCompleted), seen_).error().code,
            ErrorCode::kConflict);
  const auto history =
      *store_->Read([&](FarmTx& tx) -> Result<std::vector<TaskStatusChange>> { return tx.StatusHistory(t.id); });
  std::vector<std::string> steps;
  for (const auto& h : history) steps.push_back(h.from_status + ">" + h.to_status + "@" + h.worker_id);
  EXPECT_EQ(steps, (std::vector<std::string>{">claimed-by-manager@", "claimed-by-manager>active@" + w1,
                                             "active>claimed-by-manager@" + w1, "claimed-by-manager>active@" + w2,
                                             "active>completed@" + w2}));

  // The job side sends the task again with a new status (a requeue): one
  // more step, with the worker it had. A forgotten job takes its history.
  t.status = TaskStatus::kQueued;
  Add({t});
  Add({t});  // the same again: nothing more
  auto history_of = [&](const std::string& id) {
    return *store_->Read([&](FarmTx& tx) -> Result<std::vector<TaskStatusChange>> { return tx.StatusHistory(id); });
  };
  ASSERT_EQ(history_of(t.id).size(), 6u);
  EXPECT_EQ(history_of(t.id).back().from_status, "completed");
  EXPECT_EQ(history_of(t.id).back().to_status, "queued");
  EXPECT_EQ(history_of(t.id).back().worker_id, w2);
  Task other = MakeTask("other job's");
  other.job = "ffffeeeeddddccccbbbbaaaa";
  Add({other});
  ASSERT_TRUE(farm_->ForgetJob(t.job).has_value());
  EXPECT_TRUE(history_of(t.id).empty());
  EXPECT_EQ(history_of(other.id).size(), 1u);
}

// A database from before migration 5 (the history written by triggers):
// its history is kept, and from then on each change is written once.
TEST(FarmStoreUpgradeTest, TheStatusHistoryOfAnOlderSchemaIsKeptAndWrittenOnceAfterwards) {
  testing::FakeClock clock;
  auto db = std::move(*store::Database::Open(":memory:"));
  const auto& all = FarmStore::Migrations();
  ASSERT_GE(all.size(), 5u);
  ASSERT_TRUE(db->Migrate("farm", {all.begin(), all.begin() + 4}).has_value());
  ASSERT_TRUE(db->SqlWrite([](store::SqlConn& c) -> Status {
    c.Exec("INSERT INTO tasks (id, status, last_updated) VALUES ('t1', 'queued', 1)");
    c.Exec("UPDATE tasks SET status = 'active', worker_id = 'w1', last_updated = 2 WHERE id = 't1'");
    return Ok();
  }));
  auto store = FarmStore::Open(*db, clock);
  ASSERT_TRUE(store.has_value()) << store.error().message;
  auto steps = [&] {
    std::vector<std::string> out;
    const auto history =
        (*store)->Read([](FarmTx& tx) -> Result<std::vector<TaskStatusChange>> { return tx.StatusHistory("t1"); });
    for (const auto& h : history.value_or(std::vector<TaskStatusChange>{}))
      out.push_back(h.from_status + ">" + h.to_status + "@" + h.worker_id);
    return out;
  };
  EXPECT_EQ(steps(), (std::vector<std::string>{">queued@", "queued>active@w1"}));
  ASSERT_TRUE((*store)->Write([](FarmTx& tx) -> Status {
    TaskMutation m;
    m.status = TaskStatus::kCompleted;
    tx.ApplyMutation("t1", m);
    return Ok();
  }));
  EXPECT_EQ(steps(), (std::vector<std::string>{">queued@", "queued>active@w1", "active>completed@w1"}));
}

TEST_F(FarmTest, MayIRunAnswers) {
  Task t = MakeTask("t");
  Add({t});
  const std::string w1 = Register("w1");
  const std::string w2 = Register("w2");
  Fetch(w1);
  auto yes = farm_->MayIRun(w1, t.id, seen_);
  ASSERT_TRUE(yes.has_value());
  EXPECT_TRUE(yes->may_keep_running);
  auto other = farm_->MayIRun(w2, t.id, seen_);
  EXPECT_FALSE(other->may_keep_running);
  EXPECT_NE(other->reason.find("reassigned to another worker"), std::string::npos);
  auto unknown = farm_->MayIRun(w1, NewObjectId(), seen_);
  EXPECT_FALSE(unknown->may_keep_running);
  ASSERT_TRUE(farm_->CancelTasks({t.id}).has_value());
  auto canceled = farm_->MayIRun(w1, t.id, seen_);
  EXPECT_FALSE(canceled->may_keep_running);
  EXPECT_NE(canceled->reason.find("non-runnable status cancel-requested"), std::string::npos);
}

TEST_F(FarmTest, CancelOfQueuedTaskQueuesCanceled) {
  Task t = MakeTask("t");
  Add({t});
  ASSERT_TRUE(farm_->CancelTasks({t.id}).has_value());
  EXPECT_EQ(Get(t.id).status, TaskStatus::kCanceled);
  ASSERT_EQ(Queue().size(), 1u);
  EXPECT_EQ(Queue()[0].task_status, TaskStatus::kCanceled);
}

TEST_F(FarmTest, CancelOfUnknownTaskStillAnswersCanceled) {
  const std::string id = NewObjectId();
  ASSERT_TRUE(farm_->CancelTasks({id}).has_value());
  ASSERT_EQ(Queue().size(), 1u);
  EXPECT_EQ(Queue()[0].task_id, id);
  EXPECT_EQ(Queue()[0].task_status, TaskStatus::kCanceled);
}

TEST_F(FarmTest, SilentWorkerTimesOutAndItsTaskGoesToAnother) {
  Task t = MakeTask("t");
  Add({t});
  const std::string w1 = Register("w1");
  Fetch(w1);
  clock_.Advance(std::chrono::seconds(30));
  const std::string w2 = Register("w2");
  EXPECT_EQ(Fetch(w2).kind, TaskOffer::Kind::kNoTask);
  clock_.Advance(std::chrono::seconds(40));
  auto n = farm_->TimeoutWorkers(clock_.Now() - std::chrono::minutes(1));
  ASSERT_TRUE(n.has_value());
  EXPECT_EQ(*n, 1) << "only w1 was silent for a minute";
  auto workers = *farm_->ListWorkers();
  for (const auto& w : workers) {
    if (w.id == w1) {
      EXPECT_EQ(w.status, "timeout");
      EXPECT_EQ(w.status_requested, "awake") << "told to go back to its old status when it returns";
    }
  }
  EXPECT_EQ(Get(t.id).status, TaskStatus::kClaimedByManager);
  EXPECT_EQ(Fetch(w2).task.id, t.id);
}

// --- last seen kept in memory ----------------------------------------------------

class LastSeenTest : public FarmTest {
 protected:
  // The last-seen time as the database has it (not the in-memory one).
  std::optional<SystemTime> StoredLastSeen(const std::string& id) {
    return *db_->Read([&](store::Conn& c) -> Result<std::optional<SystemTime>> {
      auto& q = c.Prepare("SELECT last_activity FROM workers WHERE id = ?1");
      q.Bind(1, id);
      if (!q.Step()) return std::nullopt;
      auto v = q.OptInt(0);
      q.Reset();
      if (!v) return std::nullopt;
      return FromUnixMicros(*v);
    });
  }
};

TEST_F(LastSeenTest, IdlePollWritesNothingButEveryReaderSeesIt) {
  const std::string w = Register("w");
  EXPECT_EQ(Fetch(w).kind, TaskOffer::Kind::kNoTask);  // wakes it: a write
  const SystemTime first = clock_.Now();
  clock_.Advance(std::chrono::seconds(30));
  const uint64_t writes = db_->write_transactions();
  EXPECT_EQ(Fetch(w).kind, TaskOffer::Kind::kNoTask);
  EXPECT_EQ(db_->write_transactions(), writes) << "an idle poll is a read";
  EXPECT_EQ(StoredLastSeen(w), first);
  EXPECT_EQ(WorkerById(w).last_activity, clock_.Now());
  EXPECT_EQ(farm_->ListWorkers()->front().last_activity, clock_.Now());

  ASSERT_EQ(*farm_->FlushLastSeen(), 1);
  EXPECT_EQ(StoredLastSeen(w), clock_.Now());
  EXPECT_EQ(store_->seen().size(), 0u);
  EXPECT_EQ(*farm_->FlushLastSeen(), 0) << "nothing left to write";
}

TEST_F(LastSeenTest, StatusChangePollIsAReadToo) {
  const std::string w = Register("w");
  clock_.Advance(std::chrono::seconds(5));
  const uint64_t writes = db_->write_transactions();
  auto requested = farm_->StatusChange(w, seen_);
  ASSERT_TRUE(requested.has_value());
  EXPECT_FALSE(requested->has_value());
  EXPECT_EQ(db_->write_transactions(), writes);
  EXPECT_EQ(WorkerById(w).last_activity, clock_.Now());
}

TEST_F(LastSeenTest, PollFromANewAddressIsWritten) {
  const std::string w = Register("w");
  Fetch(w);
  clock_.Advance(std::chrono::seconds(5));
  ASSERT_TRUE(farm_->RequestTask(w, Seen{"10.0.0.9", seen_.software}).has_value());
  EXPECT_EQ(WorkerById(w).address, "10.0.0.9");
  EXPECT_EQ(StoredLastSeen(w), clock_.Now());
}

TEST_F(LastSeenTest, TimeoutCountsTheTimeHeldInMemory) {
  const std::string w = Register("w");
  Fetch(w);
  clock_.Advance(std::chrono::seconds(50));
  Fetch(w);  // seen, in memory only
  clock_.Advance(std::chrono::seconds(20));
  EXPECT_EQ(*farm_->TimeoutWorkers(clock_.Now() - std::chrono::minutes(1)), 0)
      << "seen 20 s ago, though the database says 70 s";
  clock_.Advance(std::chrono::seconds(41));
  EXPECT_EQ(*farm_->TimeoutWorkers(clock_.Now() - std::chrono::minutes(1)), 1);
  EXPECT_EQ(WorkerById(w).status, "timeout");
}

TEST_F(LastSeenTest, FlushNeverMovesLastSeenBack) {
  const std::string w = Register("w");
  Fetch(w);
  clock_.Advance(std::chrono::seconds(5));
  Fetch(w);  // in memory
  clock_.Advance(std::chrono::seconds(5));
  // A write of the worker (a new address) stores a newer time first.
  ASSERT_TRUE(farm_->RequestTask(w, Seen{"10.0.0.9", seen_.software}).has_value());
  ASSERT_EQ(*farm_->FlushLastSeen(), 0);
  EXPECT_EQ(StoredLastSeen(w), clock_.Now());
}

TEST_F(LastSeenTest, IdleFarmStillGetsNewWork) {
  const std::string w = Register("w");
  EXPECT_EQ(Fetch(w).kind, TaskOffer::Kind::kNoTask);
  EXPECT_EQ(Fetch(w).kind, TaskOffer::Kind::kNoTask);
  Task t = MakeTask("t");
  Add({t});
  EXPECT_EQ(Fetch(w).task.id, t.id);
  EXPECT_EQ(Get(t.id).status, TaskStatus::kActive);
}

// Records what the Farm announces.
class RecordingListener final : public FarmListener {
 public:
  void OnWorkerTimedOut(const WorkerRecord& worker) override { timed_out.push_back(worker); }
  std::vector<WorkerRecord> timed_out;
};

class FarmAnnouncesTimeoutsTest : public FarmTest {
 protected:
  void SetUp() override {
    FarmTest::SetUp();
    farm_->SetListener(&listener_);
    Add({MakeTask("t")});
    w1_ = Register("w1");
    Fetch(w1_);  // w1 runs t
  }
  RecordingListener listener_;
  std::string w1_;
};

TEST_F(FarmAnnouncesTimeoutsTest, SilentWorkerAfterCommit) {
  const std::string w2 = Register("w2");
  clock_.Advance(std::chrono::seconds(90));
  Fetch(w2);  // w2 is alive
  ASSERT_EQ(*farm_->TimeoutWorkers(clock_.Now() - std::chrono::minutes(1)), 1);
  ASSERT_EQ(listener_.timed_out.size(), 1u);
  EXPECT_EQ(listener_.timed_out[0].id, w1_);
  EXPECT_EQ(listener_.timed_out[0].status, "timeout");
  EXPECT_EQ(WorkerById(w1_).status, "timeout") << "announced as committed";
  ASSERT_EQ(*farm_->TimeoutWorkers(clock_.Now() - std::chrono::minutes(1)), 0);
  EXPECT_EQ(listener_.timed_out.size(), 1u) << "a timed-out worker is announced once";
}

TEST_F(FarmAnnouncesTimeoutsTest, WorkerOfATimedOutTask) {
  clock_.Advance(std::chrono::minutes(11));
  ASSERT_EQ(*farm_->TimeoutTasks(clock_.Now() - std::chrono::minutes(10)), 1);
  ASSERT_EQ(listener_.timed_out.size(), 1u);
  EXPECT_EQ(listener_.timed_out[0].id, w1_);
}

TEST_F(FarmTest, SignOffReturnsActiveTasks) {
  Task t = MakeTask("t");
  Add({t});
  const std::string w1 = Register("w1");
  Fetch(w1);
  ASSERT_TRUE(farm_->SignOff(w1, seen_).has_value());
  EXPECT_EQ(Get(t.id).status, TaskStatus::kClaimedByManager);
  auto w = (*farm_->ListWorkers())[0];
  EXPECT_EQ(w.status, "offline");
}

TEST_F(FarmTest, ConcurrentRequestsNeverAssignATaskTwice) {
  std::vector<Task> tasks;
  for (int i = 0; i < 50; ++i) tasks.push_back(MakeTask("t" + std::to_string(i)));
  Add(tasks);
  std::vector<std::string> workers;
  for (int i = 0; i < 100; ++i) workers.push_back(Register("w" + std::to_string(i)));
  std::vector<std::string> got(100);
  std::vector<std::thread> threads;
  for (int i = 0; i < 100; ++i)
    threads.emplace_back([&, i] {
      auto offer = farm_->RequestTask(workers[i], seen_);
      if (offer && offer->kind == TaskOffer::Kind::kTask) got[i] = offer->task.id;
    });
  for (auto& th : threads) th.join();
  std::set<std::string> unique;
  int assigned = 0;
  for (const auto& id : got)
    if (!id.empty()) {
      ++assigned;
      unique.insert(id);
    }
  EXPECT_EQ(assigned, 50);
  EXPECT_EQ(unique.size(), 50u);
}

TEST_F(FarmTest, StatusRequestBlocksTaskFetch) {
  Add({MakeTask("t")});
  const std::string w = Register("w1");
  ASSERT_TRUE(store_
                  ->Write([&](FarmTx& tx) -> Status {
                    auto rec = *tx.GetWorker(w);
                    rec.status_requested = "asleep";
                    tx.UpdateWorker(rec);
                    return Ok();
                  })
                  .has_value());
  auto offer = Fetch(w);
  EXPECT_EQ(offer.kind, TaskOffer::Kind::kStatusRequested);
  EXPECT_EQ(offer.status_requested, "asleep");
  ASSERT_TRUE(farm_->AckStatusChange(w, "asleep", seen_).has_value());
  auto rec = (*farm_->ListWorkers())[0];
  EXPECT_EQ(rec.status, "asleep");
  EXPECT_EQ(rec.status_requested, "");
}

}  // namespace
}  // namespace duende::manager
