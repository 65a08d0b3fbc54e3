// The job store's derived data, on SQLite and PostgreSQL: the per-(job,
// status) task counts are kept by the store and must always equal a fresh
// count of the tasks.
#include "jobs/job_store.h"

#include <gtest/gtest.h>

#include "support/backends.h"

namespace duende::jobs {
namespace {

using protocol::TaskStatus;

class JobStoreTest : public ::testing::TestWithParam<testing::Backend> {
 protected:
  void SetUp() override {
    db_ = testing::OpenBackend(GetParam(), ":memory:", pg_);
    ASSERT_TRUE(db_);
    auto s = OpenSqlJobStore(*db_);
    ASSERT_TRUE(s) << s.error().message;
    store_ = std::move(*s);
  }

  void AddJob(const std::string& job_id, int tasks) {
    ASSERT_TRUE(store_->Write([&](JobStoreTx& tx) -> Status {
      Job j;
      j.id = job_id;
      j.name = job_id;
      j.job_type = "sleep";
      j.manager = "m";
      tx.InsertJob(j);
      std::vector<protocol::Task> list;
      for (int i = 0; i < tasks; ++i) {
        protocol::Task t;
        t.id = job_id + "-t" + std::to_string(i);
        t.job = job_id;
        t.manager = "m";
        t.name = t.id;
        t.status = TaskStatus::kQueued;
        list.push_back(t);
      }
      tx.InsertTasks(list, 1, 1);
      return Ok();
    }));
  }

  void SetStatus(const std::string& task_id, TaskStatus status) {
    ASSERT_TRUE(store_->Write([&](JobStoreTx& tx) -> Status {
      auto t = tx.GetTask(task_id);
      if (!t) return NotFound(task_id);
      t->task.status = status;
      tx.UpdateTask(*t);
      return Ok();
    }));
  }

  std::map<TaskStatus, int> Counts(const std::string& job_id) {
    std::map<TaskStatus, int> out;
    EXPECT_TRUE(store_->Read([&](JobStoreTx& tx) -> Status {
      out = tx.CountTasks(job_id).by_status;
      return Ok();
    }));
    return out;
  }

  // The same numbers counted from the tasks themselves.
  std::map<TaskStatus, int> Recount(const std::string& job_id) {
    std::map<TaskStatus, int> out;
    EXPECT_TRUE(store_->Read([&](JobStoreTx& tx) -> Status {
      for (const auto& t : tx.TasksOfJob(job_id)) out[t.task.status]++;
      return Ok();
    }));
    return out;
  }

  std::unique_ptr<testing::TempPostgresDatabase> pg_;
  std::unique_ptr<store::SqlDatabase> db_;
  std::unique_ptr<JobStore> store_;
};

TEST_P(JobStoreTest, CountsFollowInsertsAndStatusChanges) {
  AddJob("a", 5);
  AddJob("b", 3);
  EXPECT_EQ(Counts("a"), (std::map<TaskStatus, int>{{TaskStatus::kQueued, 5}}));
  SetStatus("a-t0", TaskStatus::kActive);
  SetStatus("a-t0", TaskStatus::kCompleted);
  SetStatus("a-t1", TaskStatus::kActive);
  SetStatus("a-t2", TaskStatus::kFailed);
  SetStatus("a-t2", TaskStatus::kFailed);  // unchanged status: no double count
  SetStatus("b-t0", TaskStatus::kCanceled);
  EXPECT_EQ(
      Counts("a"),
      (std::map<TaskStatus, int>{
          {TaskStatus::kQueued, 2}, {TaskStatus::kActive, 1}, {TaskStatus::kCompleted, 1}, {TaskStatus::kFailed, 1}}));
  EXPECT_EQ(Counts("a"), Recount("a"));
  EXPECT_EQ(Counts("b"), Recount("b"));
  EXPECT_EQ(Counts("b"), (std::map<TaskStatus, int>{{TaskStatus::kQueued, 2}, {TaskStatus::kCanceled, 1}}));
}

TEST_P(JobStoreTest, DeletingAJobDropsItsCountsOnly) {
  AddJob("a", 4);
  AddJob("b", 2);
  SetStatus("a-t3", TaskStatus::kCompleted);
  ASSERT_TRUE(store_->Write([&](JobStoreTx& tx) -> Status {
    tx.DeleteJob("a");
    return Ok();
  }));
  EXPECT_TRUE(Counts("a").empty());
  EXPECT_EQ(Counts("b"), (std::map<TaskStatus, int>{{TaskStatus::kQueued, 2}}));
  // A job with the same ID starts from zero again.
  AddJob("a", 1);
  EXPECT_EQ(Counts("a"), (std::map<TaskStatus, int>{{TaskStatus::kQueued, 1}}));
}

TEST_P(JobStoreTest, RolledBackChangesDoNotMoveCounts) {
  AddJob("a", 2);
  auto st = store_->Write([&](JobStoreTx& tx) -> Status {
    auto t = tx.GetTask("a-t0");
    t->task.status = TaskStatus::kCompleted;
    tx.UpdateTask(*t);
    return Conflict("changed my mind");
  });
  EXPECT_FALSE(st);
  EXPECT_EQ(Counts("a"), (std::map<TaskStatus, int>{{TaskStatus::kQueued, 2}}));
}

// UpdateTask moves the counts from the status a copy was read with
// (StoredTask::stored_status), or reads it when the copy was made by hand.
TEST_P(JobStoreTest, CountsFollowUpdatesOfCopiesReadForUpdateOrMadeByHand) {
  AddJob("a", 3);
  ASSERT_TRUE(store_->Write([&](JobStoreTx& tx) -> Status {
    auto t = tx.GetTaskForUpdate("a-t0");
    EXPECT_EQ(t->stored_status, "queued");
    t->task.status = TaskStatus::kActive;
    tx.UpdateTask(*t);
    StoredTask by_hand = *tx.GetTask("a-t1");
    by_hand.stored_status.reset();
    by_hand.task.status = TaskStatus::kCompleted;
    tx.UpdateTask(by_hand);
    return Ok();
  }));
  EXPECT_EQ(Counts("a"), Recount("a"));
  EXPECT_EQ(Counts("a"), (std::map<TaskStatus, int>{
                             {TaskStatus::kQueued, 1}, {TaskStatus::kActive, 1}, {TaskStatus::kCompleted, 1}}));
}

// The write for a Manager's update: its fields change, the job side's own
// (priorities, etag, revision) stay as stored even when the copy differs.
TEST_P(JobStoreTest, UpdateTaskStateWritesTheManagersFieldsOnly) {
  AddJob("a", 2);
  ASSERT_TRUE(store_->Write([&](JobStoreTx& tx) -> Status {
    auto t = tx.GetTaskForUpdate("a-t0");
    t->task.status = TaskStatus::kActive;
    t->task.log = "line";
    t->task.activity = "rendering";
    t->task.worker = "w1";
    t->task.task_progress_percentage = 40;
    t->task.priority = 99;
    t->task.etag = "changed";
    t->revision = 1234;
    tx.UpdateTaskState(*t);
    auto same = tx.GetTaskForUpdate("a-t1");  // no status change
    same->task.activity = "waiting";
    tx.UpdateTaskState(*same);
    return Ok();
  }));
  ASSERT_TRUE(store_->Read([&](JobStoreTx& tx) -> Status {
    const auto t = tx.GetTask("a-t0");
    EXPECT_EQ(t->task.status, TaskStatus::kActive);
    EXPECT_EQ(t->task.log, "line");
    EXPECT_EQ(t->task.activity, "rendering");
    EXPECT_EQ(t->task.worker, "w1");
    EXPECT_EQ(t->task.task_progress_percentage, 40);
    EXPECT_NE(t->task.priority, 99);
    EXPECT_NE(t->task.etag, "changed");
    EXPECT_NE(t->revision, 1234);
    const auto same = tx.GetTask("a-t1");
    EXPECT_EQ(same->task.status, TaskStatus::kQueued);
    EXPECT_EQ(same->task.activity, "waiting");
    return Ok();
  }));
  EXPECT_EQ(Counts("a"), Recount("a"));
  EXPECT_EQ(Counts("a"), (std::map<TaskStatus, int>{{TaskStatus::kQueued, 1}, {TaskStatus::kActive, 1}}));
}

TEST_P(JobStoreTest, JobStatusAloneIsTheJobsStatus) {
  AddJob("a", 1);
  ASSERT_TRUE(store_->Write([&](JobStoreTx& tx) -> Status {
    auto j = tx.GetJob("a");
    EXPECT_EQ(tx.GetJobStatus("a"), j->status);
    j->status = protocol::JobStatus::kActive;
    tx.UpdateJob(*j);
    EXPECT_EQ(tx.GetJobStatus("a"), protocol::JobStatus::kActive);
    EXPECT_EQ(tx.GetJobStatus("nope"), std::nullopt);
    return Ok();
  }));
}

INSTANTIATE_TEST_SUITE_P(Backends, JobStoreTest,
                         ::testing::Values(testing::Backend::kSqlite, testing::Backend::kPostgres),
                         testing::BackendName);

}  // namespace
}  // namespace duende::jobs
