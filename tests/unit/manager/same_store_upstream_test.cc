// Standalone mode's path for task updates: the job side shares the farm's
// database and takes each update inside the farm's own write transaction
// (Farm::SetSameStoreUpstream), so nothing is queued, the job side is never
// behind the farm, and a change rolls back on both sides or on neither.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <future>
#include <latch>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "farm_fixture.h"
#include "jobs/job_service.h"
#include "manager/dashboard.h"
#include "manager/upstream_link.h"

namespace duende::manager {
namespace {

using protocol::JobStatus;
using protocol::TaskStatus;
using protocol::TaskUpdate;

// Forwards to the real job side, then fails the farm's transaction when
// told to: what the job side wrote must roll back with the farm's change.
class FailAfterApplying final : public SameStoreUpstream {
 public:
  explicit FailAfterApplying(SameStoreUpstream& inner) : inner_(inner) {}
  Result<std::function<void()>> ApplyInTx(store::SqlConn& conn, const std::string& job_id, const TaskUpdate& update,
                                          bool batched) override {
    auto after = inner_.ApplyInTx(conn, job_id, update, batched);
    if (fail || (!fail_task.empty() && update.task_id == fail_task))
      throw store::StoreError(SQLITE_IOERR, "disk on fire");
    return after;
  }
  void BeginBatch() override { inner_.BeginBatch(); }
  Result<std::function<void()>> FinishBatch(store::SqlConn& conn) override { return inner_.FinishBatch(conn); }
  bool fail = false;
  std::string fail_task;  // fail only this task's updates

 private:
  SameStoreUpstream& inner_;
};

class SameStoreUpstreamTest : public FarmTest {
 protected:
  void SetUp() override {
    FarmTest::SetUp();
    // As the Manager's standalone mode wires it (ManagerApp::Start).
    job_options_.reported_fields_table = FarmStore::kTaskTable;
    job_options_.log_tail = [this](const std::string& job, const std::string& task) { return logs_->Tail(job, task); };
    jobs_ = std::move(*jobs::JobService::Open(*db_, clock_, job_options_));
    upstream_ = std::make_unique<EventingUpstream>(*jobs_, hub_);
    upstream_->SetJobChangedHook([this] { ++job_changes_; });
    failing_ = std::make_unique<FailAfterApplying>(*upstream_);
    farm_->SetSameStoreUpstream(failing_.get());
    link_ = std::make_unique<UpstreamLink>(*upstream_, *farm_, *store_, clock_, UpstreamLinkOptions{});
    farm_->SetListener(link_.get());

    jobs::JobSubmission s;
    s.name = "two frames";
    s.job_type = "sleep";
    s.priority = 50;
    s.settings = {{"frames", "1-2"}, {"chunk_size", 1}, {"time_in_seconds", 1}};
    auto job = jobs_->Submit(s);
    ASSERT_TRUE(job) << job.error().message;
    job_id_ = job->id;
    ASSERT_TRUE(link_->SyncOnce());  // the farm downloads both tasks
    worker_ = Register("w1", {"sleep"});
  }

  TaskStatus JobSideStatus(const std::string& task_id) { return jobs_->GetTask(task_id)->status; }
  TaskStatus FarmSideStatus(const std::string& task_id) { return Get(task_id).status; }
  JobStatus JobStatusNow() { return jobs_->GetJob(job_id_)->status; }
  size_t Queued() { return Queue().size(); }
  std::string Assign(const std::string& worker = "") {
    auto offer = farm_->RequestTask(worker.empty() ? worker_ : worker, seen_);
    EXPECT_TRUE(offer && offer->kind == TaskOffer::Kind::kTask);
    return offer ? offer->task.id : "";
  }
  TaskUpdate Completed() { return StatusUpdate(TaskStatus::kCompleted, "done\n"); }
  // Sends `updates` ({worker, task, update}) so that they run in one batch
  // of the store's queued writes: the writer is held while they queue.
  std::vector<Status> InOneBatch(const std::vector<std::tuple<std::string, std::string, TaskUpdate>>& updates) {
    std::latch started(1), release(1);
    store_->WriteAsync(
        [&](FarmTx&) -> Status {
          started.count_down();
          release.wait();
          return Ok();
        },
        [](Status) {});
    started.wait();
    const uint64_t batches_before = store_->queued_write_batches();
    std::vector<std::promise<Status>> done(updates.size());
    for (size_t i = 0; i < updates.size(); ++i) {
      const auto& [worker, task, update] = updates[i];
      farm_->UpdateTaskAsync(worker, task, update, seen_, [&p = done[i]](Status st) { p.set_value(st); });
    }
    release.count_down();
    std::vector<Status> out;
    for (auto& p : done) out.push_back(p.get_future().get());
    EXPECT_EQ(store_->queued_write_batches() - batches_before, 1u) << "the updates did not share one batch";
    return out;
  }
  // The job's counts as the job side keeps them, and as its tasks say.
  std::map<std::string, int> KeptCounts() {
    std::map<std::string, int> out;
    const auto job = jobs_->GetJob(job_id_);
    EXPECT_TRUE(job);
    if (job)
      for (const auto& [status, n] : job->tasks_status)
        if (n > 0 && status != "count") out[status] = n;
    return out;
  }
  std::map<std::string, int> Recount() {
    std::map<std::string, int> out;
    const auto tasks = jobs_->GetTasks(job_id_);
    EXPECT_TRUE(tasks);
    if (tasks)
      for (const auto& t : *tasks) ++out[std::string(protocol::ToString(t.status))];
    return out;
  }

  // The job side's own row of the task, as stored: its activity and time.
  std::pair<std::string, int64_t> JobSideRow(const std::string& task_id) {
    std::pair<std::string, int64_t> out;
    EXPECT_TRUE(db_->SqlRead([&](store::SqlConn& c) -> Status {
      auto& q = c.Prepare("SELECT activity, COALESCE(updated_us, 0) FROM job_tasks WHERE id = ?1");
      q.Bind(1, task_id);
      if (q.Step()) out = {q.Text(0), q.Int(1)};
      q.Reset();
      return Ok();
    }));
    return out;
  }
  TaskUpdate Progress(std::string activity, int percent) {
    TaskUpdate u;
    u.task_status = TaskStatus::kActive;
    u.activity = std::move(activity);
    u.task_progress_percentage = percent;
    u.metrics = nlohmann::json{{"frames_rendered", 1}};
    return u;
  }

  jobs::JobServiceOptions job_options_;
  std::unique_ptr<jobs::JobService> jobs_;
  EventHub hub_{clock_};
  std::unique_ptr<EventingUpstream> upstream_;
  std::unique_ptr<FailAfterApplying> failing_;
  std::unique_ptr<UpstreamLink> link_;
  std::atomic<int> job_changes_ = 0;
  std::string job_id_;
  std::string worker_;
};

TEST_F(SameStoreUpstreamTest, TheJobSideHasEachUpdateWhenTheWorkerIsAnsweredAndNothingIsQueued) {
  const std::string t = Assign();
  EXPECT_EQ(JobSideStatus(t), TaskStatus::kActive);
  EXPECT_EQ(JobStatusNow(), JobStatus::kActive);
  ASSERT_TRUE(farm_->UpdateTask(worker_, t, Completed(), seen_));
  EXPECT_EQ(JobSideStatus(t), TaskStatus::kCompleted);
  EXPECT_EQ(jobs_->GetTask(t)->log.find("done") != std::string::npos, true);
  EXPECT_EQ(Queued(), 0u);
  EXPECT_EQ(*jobs_->HandledUpdateCount(), 0);  // nothing to deduplicate: no push
  EXPECT_EQ(jobs_->updates_applied(), 2u);     // the assignment and the completion

  const std::string t2 = Assign();
  ASSERT_TRUE(farm_->UpdateTask(worker_, t2, Completed(), seen_));
  EXPECT_EQ(JobStatusNow(), JobStatus::kCompleted);
}

TEST_F(SameStoreUpstreamTest, AFailedJobSideRollsBackTheFarmsChangeToo) {
  const std::string t = Assign();
  failing_->fail = true;
  const auto st = farm_->UpdateTask(worker_, t, Completed(), seen_);
  ASSERT_FALSE(st);
  EXPECT_EQ(FarmSideStatus(t), TaskStatus::kActive);
  EXPECT_EQ(JobSideStatus(t), TaskStatus::kActive);
  EXPECT_EQ(JobStatusNow(), JobStatus::kActive);
  EXPECT_EQ(jobs_->updates_applied(), 1u);  // only the assignment counted

  failing_->fail = false;  // the worker sends it again
  ASSERT_TRUE(farm_->UpdateTask(worker_, t, Completed(), seen_));
  EXPECT_EQ(FarmSideStatus(t), TaskStatus::kCompleted);
  EXPECT_EQ(JobSideStatus(t), TaskStatus::kCompleted);
}

TEST_F(SameStoreUpstreamTest, AJobStatusChangeAsksTheLinkForCancellations) {
  EXPECT_EQ(job_changes_, 0);
  const std::string t = Assign();  // queued -> active
  EXPECT_EQ(job_changes_, 1);
  ASSERT_TRUE(farm_->UpdateTask(worker_, t, Completed(), seen_));  // still active
  EXPECT_EQ(job_changes_, 1);
  const std::string t2 = Assign();
  ASSERT_TRUE(farm_->UpdateTask(worker_, t2, Completed(), seen_));  // -> completed
  EXPECT_EQ(job_changes_, 2);
}

// The updates of one batch of queued writes: the job side moves the counts
// and derives the job once, before the batch commits. Each worker is
// answered after that commit, so it sees the job as completed.
TEST_F(SameStoreUpstreamTest, UpdatesSharingABatchMoveTheCountsAndDeriveTheJobBeforeItCommits) {
  const std::string w2 = Register("w2", {"sleep"});
  const std::string t1 = Assign();
  const std::string t2 = Assign(w2);
  EXPECT_EQ(KeptCounts(), (std::map<std::string, int>{{"active", 2}}));
  const int changes_before = job_changes_;
  const auto outcomes = InOneBatch({{worker_, t1, Completed()}, {w2, t2, Completed()}});
  for (const auto& st : outcomes) EXPECT_TRUE(st.has_value()) << st.error().message;
  EXPECT_EQ(JobStatusNow(), JobStatus::kCompleted);
  EXPECT_EQ(KeptCounts(), (std::map<std::string, int>{{"completed", 2}}));
  EXPECT_EQ(KeptCounts(), Recount());
  EXPECT_EQ(job_changes_, changes_before + 1);  // active -> completed, announced once
  EXPECT_EQ(jobs_->updates_applied(), 4u);
}

// A write of the batch that fails after the job side applied its update:
// the batch runs again write by write, and what the failed write left
// pending for the batch is dropped with it.
TEST_F(SameStoreUpstreamTest, AFailedWriteOfABatchLeavesNoCountsOrDerivationBehind) {
  const std::string w2 = Register("w2", {"sleep"});
  const std::string t1 = Assign();
  const std::string t2 = Assign(w2);
  failing_->fail_task = t2;
  const auto outcomes = InOneBatch({{worker_, t1, Completed()}, {w2, t2, Completed()}});
  EXPECT_TRUE(outcomes[0].has_value());
  EXPECT_FALSE(outcomes[1].has_value());
  EXPECT_EQ(JobSideStatus(t1), TaskStatus::kCompleted);
  EXPECT_EQ(JobSideStatus(t2), TaskStatus::kActive);
  EXPECT_EQ(FarmSideStatus(t2), TaskStatus::kActive);
  EXPECT_EQ(JobStatusNow(), JobStatus::kActive);
  EXPECT_EQ(KeptCounts(), (std::map<std::string, int>{{"active", 1}, {"completed", 1}}));
  EXPECT_EQ(KeptCounts(), Recount());
  EXPECT_EQ(store_->queued_write_reruns(), 1u);

  failing_->fail_task.clear();  // the worker sends it again
  ASSERT_TRUE(farm_->UpdateTask(w2, t2, Completed(), seen_));
  EXPECT_EQ(JobStatusNow(), JobStatus::kCompleted);
  EXPECT_EQ(KeptCounts(), Recount());
}

// What a worker reports and does not change a status (activity, progress,
// metrics) stays in the farm's row: the job side writes nothing for it, and
// its reads take those fields from the farm's row, the newer copy.
TEST_F(SameStoreUpstreamTest, AWorkersReportIsReadFromTheFarmAndTheJobSideWritesOnlyStatuses) {
  const std::string t = Assign();
  const auto row_before = JobSideRow(t);
  const uint64_t applied = jobs_->updates_applied();
  clock_.Advance(std::chrono::seconds(3));
  ASSERT_TRUE(farm_->UpdateTask(worker_, t, Progress("Rendering frame 1", 40), seen_));
  EXPECT_EQ(JobSideRow(t), row_before);  // nothing written on the job side
  EXPECT_EQ(jobs_->updates_applied(), applied + 1);

  const auto task = jobs_->GetTask(t);
  ASSERT_TRUE(task);
  EXPECT_EQ(task->status, TaskStatus::kActive);
  EXPECT_EQ(task->activity, "Rendering frame 1");
  EXPECT_EQ(task->task_progress_percentage, 40);
  EXPECT_EQ(task->metrics.value("frames_rendered", 0), 1);
  EXPECT_EQ(task->worker, WorkerById(worker_).Identifier());
  EXPECT_EQ(task->last_updated, clock_.Now());
  const auto listed = jobs_->GetTasks(job_id_);
  ASSERT_TRUE(listed);
  const auto it = std::find_if(listed->begin(), listed->end(), [&](const auto& x) { return x.id == t; });
  ASSERT_NE(it, listed->end());
  EXPECT_EQ(it->activity, "Rendering frame 1");
  // The log tail of a single task is the end of its log on this Manager.
  EXPECT_NE(task->log.find("assigned task " + t), std::string::npos) << task->log;

  // A status change is written; what came with it is still the farm's.
  ASSERT_TRUE(farm_->UpdateTask(worker_, t, Completed(), seen_));
  EXPECT_EQ(JobSideRow(t).first, row_before.first);
  EXPECT_EQ(JobSideStatus(t), TaskStatus::kCompleted);
  EXPECT_NE(jobs_->GetTask(t)->log.find("done"), std::string::npos);
}

// A change the job side makes (here: the job is canceled) writes back the
// copy it read, so the worker's report is kept, and sends the task to the
// farm: the farm's row must not lose that report to an older copy, and
// what the job side changed itself wins over the farm's older row.
TEST_F(SameStoreUpstreamTest, AJobSideChangeKeepsTheWorkersReportAndItsOwnChangeWins) {
  const std::string active = Assign();
  const auto tasks = jobs_->GetTasks(job_id_);
  ASSERT_TRUE(tasks);
  const std::string waiting = (*tasks)[0].id == active ? (*tasks)[1].id : (*tasks)[0].id;
  clock_.Advance(std::chrono::seconds(3));
  ASSERT_TRUE(farm_->UpdateTask(worker_, active, Progress("Rendering frame 1", 40), seen_));
  const auto before = jobs_->FetchDepsgraph("");
  ASSERT_TRUE(before);
  clock_.Advance(std::chrono::seconds(3));
  ASSERT_TRUE(jobs_->ChangeJobStatus(job_id_, JobStatus::kCancelRequested, "test"));

  EXPECT_EQ(JobSideRow(active).first, "Rendering frame 1");  // kept in the job side's own copy
  EXPECT_EQ(jobs_->GetTask(active)->status, TaskStatus::kCancelRequested);
  EXPECT_EQ(jobs_->GetTask(active)->task_progress_percentage, 40);
  const std::string canceled = jobs_->GetTask(waiting)->activity;
  EXPECT_NE(canceled.find("Server cancelled"), std::string::npos) << canceled;

  // What the farm downloads carries both (the link's own cycle would also
  // act on the cancellation at once).
  const auto graph = jobs_->FetchDepsgraph(before->last_updated);
  ASSERT_TRUE(graph);
  ASSERT_EQ(graph->tasks.size(), 2u);
  ASSERT_TRUE(farm_->ApplyDepsgraph(graph->tasks));
  EXPECT_EQ(Get(active).status, TaskStatus::kCancelRequested);
  EXPECT_EQ(Get(active).activity, "Rendering frame 1");
  EXPECT_EQ(Get(active).task_progress_percentage, 40);
  EXPECT_EQ(Get(waiting).activity, canceled);
  EXPECT_EQ(jobs_->GetTask(waiting)->activity, canceled);
}

// The link's cycle with nothing to download or push (what it runs after
// every job status change) writes nothing: a write there could be the one
// waiting while another process holds the database's write lock, and make
// the workers' writes fail with 503 meanwhile.
TEST_F(SameStoreUpstreamTest, AnIdleLinkCycleWritesNothing) {
  const std::string t = Assign();
  ASSERT_TRUE(link_->SyncOnce());  // tells the job side of the new worker's task types
  const uint64_t commits = db_->commits();
  ASSERT_TRUE(link_->SyncOnce());
  EXPECT_EQ(db_->commits(), commits);
  EXPECT_EQ(FarmSideStatus(t), TaskStatus::kActive);
}

// A task that fails the job: the job side cancels the job's other task in
// the same transaction, and the link fetches that cancellation.
class SameStoreStrictJobTest : public SameStoreUpstreamTest {
 protected:
  void SetUp() override {
    job_options_.task_fail_job_percentage = 1;    // one failed task fails the job
    options_.task_fail_after_softfail_count = 1;  // and one failure fails the task
    SameStoreUpstreamTest::SetUp();
  }
};

TEST_F(SameStoreStrictJobTest, ATaskFailureThatFailsTheJobAsksForTheCancellations) {
  const std::string t = Assign();
  const int before = job_changes_;
  TaskUpdate failed;
  failed.task_status = TaskStatus::kFailed;
  ASSERT_TRUE(farm_->UpdateTask(worker_, t, failed, seen_));
  ASSERT_EQ(FarmSideStatus(t), TaskStatus::kFailed);  // no other worker could take it
  EXPECT_EQ(JobStatusNow(), JobStatus::kFailed);
  // The farm holds the job's other task: the job side asks for it back.
  const auto tasks = jobs_->GetTasks(job_id_);
  ASSERT_TRUE(tasks);
  std::string other;
  for (const auto& task : *tasks) {
    if (task.id != t) other = task.id;
  }
  EXPECT_EQ(JobSideStatus(other), TaskStatus::kCancelRequested);
  EXPECT_EQ(job_changes_, before + 1);
  ASSERT_TRUE(link_->SyncOnce());  // what the hook's KickCancelFetch starts
  EXPECT_EQ(FarmSideStatus(other), TaskStatus::kCanceled);
  EXPECT_EQ(JobSideStatus(other), TaskStatus::kCanceled);
}

// In a batch, a task that fails its job is derived at once, with the counts
// the batch's earlier updates moved.
TEST_F(SameStoreStrictJobTest, AFailureInABatchFailsTheJobWithTheBatchsCountsSoFar) {
  const std::string w2 = Register("w2", {"sleep"});
  const std::string t1 = Assign();
  const std::string t2 = Assign(w2);
  const auto outcomes = InOneBatch({{worker_, t1, Completed()}, {w2, t2, StatusUpdate(TaskStatus::kFailed)}});
  for (const auto& st : outcomes) EXPECT_TRUE(st.has_value()) << st.error().message;
  EXPECT_EQ(JobStatusNow(), JobStatus::kFailed);
  EXPECT_EQ(KeptCounts(), (std::map<std::string, int>{{"completed", 1}, {"failed", 1}}));
  EXPECT_EQ(KeptCounts(), Recount());
}

}  // namespace
}  // namespace duende::manager
