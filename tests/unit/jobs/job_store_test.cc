// The job store's derived data, on SQLite and PostgreSQL: the per-(job,
// status) task counts are kept by the store and must always equal a fresh
// count of the tasks.
#include "jobs/job_store.h"

#include <gtest/gtest.h>

#include "common/timefmt.h"
#include "support/backends.h"

namespace duende::jobs {
namespace {

using protocol::TaskStatus;

std::vector<std::string> FailedBy(const protocol::Task& t) {
  std::vector<std::string> ids;
  for (const auto& f : t.failed_by_workers) ids.push_back(f.id);
  return ids;
}

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
TEST_P(JobStoreTest, CountsFollowUpdatesOfCopiesReadOrMadeByHand) {
  AddJob("a", 3);
  ASSERT_TRUE(store_->Write([&](JobStoreTx& tx) -> Status {
    auto t = tx.GetTask("a-t0");
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

// The read for a Manager's update: who the task belongs to and its status
// always; the log tail and the metrics only when asked for.
TEST_P(JobStoreTest, ReadForUpdateReadsTheLogAndMetricsOnlyWhenAsked) {
  AddJob("a", 1);
  ASSERT_TRUE(store_->Write([&](JobStoreTx& tx) -> Status {
    auto t = tx.GetTask("a-t0");
    t->task.log = "line 1";
    t->task.metrics = {{"frames", 3}};
    tx.UpdateTask(*t);
    return Ok();
  }));
  ASSERT_TRUE(store_->Read([&](JobStoreTx& tx) -> Status {
    const auto bare = tx.GetTaskForUpdate("a-t0", false, false);
    EXPECT_EQ(bare->id, "a-t0");
    EXPECT_EQ(bare->job, "a");
    EXPECT_EQ(bare->manager, "m");
    EXPECT_EQ(bare->stored_status, "queued");
    EXPECT_EQ(bare->revision, tx.GetTask("a-t0")->revision);
    EXPECT_EQ(bare->log, "");
    EXPECT_EQ(bare->metrics, nlohmann::json::object());
    const auto both = tx.GetTaskForUpdate("a-t0", true, true);
    EXPECT_EQ(both->log, "line 1");
    EXPECT_EQ(both->metrics, (nlohmann::json{{"frames", 3}}));
    EXPECT_FALSE(tx.GetTaskForUpdate("nope", true, true));
    return Ok();
  }));
}

// The write for a Manager's update: the fields it sets change; the rest,
// the job side's own (priorities, etag) included, stay as stored.
TEST_P(JobStoreTest, UpdateTaskStateWritesOnlyTheFieldsItSets) {
  AddJob("a", 2);
  int64_t revision = 0;
  std::string etag;
  const auto st = store_->Write([&](JobStoreTx& tx) -> Status {
    auto t = tx.GetTask("a-t1");
    t->task.last_updated = FromUnixMicros(1'600'000'000'000'000);
    t->task.log = "old line";
    t->task.metrics = {{"frames", 3}};
    t->task.worker = "w0";
    t->task.failed_by_workers = {{"w9", "w9 (host)"}};
    tx.UpdateTask(*t);
    revision = t->revision;
    etag = tx.GetTask("a-t0")->task.etag;

    TaskStateChange c;
    c.id = "a-t0";
    c.job = "a";
    c.stored_status = "queued";
    c.status = TaskStatus::kActive;
    c.log = "line";
    c.activity = "rendering";
    c.worker = "w1";
    c.metrics = nlohmann::json{{"ms", 5}};
    c.failed_by_workers = std::vector<protocol::FailedByWorker>{{"w2", "w2 (host)"}};
    c.task_progress_percentage = 40;
    c.current_command_index = 1;
    c.command_progress_percentage = 60;
    c.updated = FromUnixMicros(1'700'000'000'000'000);
    c.revision = 4321;
    tx.UpdateTaskState(c);

    TaskStateChange same;  // no status change, one field
    same.id = "a-t1";
    same.job = "a";
    same.stored_status = "queued";
    same.status = TaskStatus::kQueued;
    same.activity = "waiting";
    tx.UpdateTaskState(same);
    return Ok();
  });
  ASSERT_TRUE(st) << st.error().message;
  ASSERT_TRUE(store_->Read([&](JobStoreTx& tx) -> Status {
    const auto t = tx.GetTask("a-t0");
    EXPECT_EQ(t->task.status, TaskStatus::kActive);
    EXPECT_EQ(t->task.log, "line");
    EXPECT_EQ(t->task.activity, "rendering");
    EXPECT_EQ(t->task.worker, "w1");
    EXPECT_EQ(t->task.metrics, (nlohmann::json{{"ms", 5}}));
    EXPECT_EQ(FailedBy(t->task), std::vector<std::string>{"w2"});
    EXPECT_EQ(t->task.task_progress_percentage, 40);
    EXPECT_EQ(t->task.current_command_index, 1);
    EXPECT_EQ(t->task.command_progress_percentage, 60);
    EXPECT_EQ(t->task.last_updated, FromUnixMicros(1'700'000'000'000'000));
    EXPECT_EQ(t->revision, 4321);
    EXPECT_EQ(t->task.etag, etag);
    const auto same = tx.GetTask("a-t1");
    EXPECT_EQ(same->task.status, TaskStatus::kQueued);
    EXPECT_EQ(same->task.activity, "waiting");
    EXPECT_EQ(same->task.log, "old line");
    EXPECT_EQ(same->task.metrics, (nlohmann::json{{"frames", 3}}));
    EXPECT_EQ(same->task.worker, "w0");
    EXPECT_EQ(FailedBy(same->task), std::vector<std::string>{"w9"});
    EXPECT_EQ(same->revision, revision);
    EXPECT_EQ(same->task.last_updated, FromUnixMicros(1'600'000'000'000'000));
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
