// Standalone mode's path for task updates: the job side shares the farm's
// database and takes each update inside the farm's own write transaction
// (Farm::SetSameStoreUpstream), so nothing is queued, the job side is never
// behind the farm, and a change rolls back on both sides or on neither.
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>

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
  Result<std::function<void()>> ApplyInTx(store::SqlConn& conn, const std::string& job_id,
                                          const TaskUpdate& update) override {
    auto after = inner_.ApplyInTx(conn, job_id, update);
    if (fail) throw store::StoreError(SQLITE_IOERR, "disk on fire");
    return after;
  }
  bool fail = false;

 private:
  SameStoreUpstream& inner_;
};

class SameStoreUpstreamTest : public FarmTest {
 protected:
  void SetUp() override {
    FarmTest::SetUp();
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
  std::string Assign() {
    auto offer = farm_->RequestTask(worker_, seen_);
    EXPECT_TRUE(offer && offer->kind == TaskOffer::Kind::kTask);
    return offer ? offer->task.id : "";
  }
  TaskUpdate Completed() { return StatusUpdate(TaskStatus::kCompleted, "done\n"); }

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

// A task that fails the job: the job side cancels the job's other task in
// the same transaction, and the link fetches that cancellation.
class SameStoreStrictJobTest : public SameStoreUpstreamTest {
 protected:
  void SetUp() override {
    job_options_.task_fail_job_percentage = 1;  // one failed task fails the job
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

}  // namespace
}  // namespace duende::manager
