// Scenario tests of the job side, reading like the spec (§4.1.2, §4.2, §2.6).
#include "jobs/job_service.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "store/sqlite.h"
#include "support/backends.h"
#include "support/fake_clock.h"

namespace duende::jobs {
namespace {

using nlohmann::json;
using protocol::Depsgraph;
using protocol::JobStatus;
using protocol::TaskStatus;
using protocol::TaskUpdate;

namespace fs = std::filesystem;

class JobServiceTest : public ::testing::TestWithParam<testing::Backend> {
 protected:
  void SetUp() override {
    // A parameterized test's name ends in "/N": one directory, not two.
    std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::ranges::replace(name, '/', '-');
    dir_ = fs::temp_directory_path() / ("duende-jobs-test-" + std::to_string(::getpid()) + "-" + name);
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    Reopen();
  }
  void TearDown() override {
    svc_.reset();
    db_.reset();
    fs::remove_all(dir_);
  }

  // Opens (or re-opens, simulating a restart) the service on a file DB.
  void Reopen() {
    svc_.reset();
    db_.reset();
    db_ = testing::OpenBackend(GetParam(), (dir_ / "jobs.sqlite").string(), pg_);
    ASSERT_TRUE(db_);
    JobServiceOptions opts;
    opts.log_dir = (dir_ / "logs").string();
    opts.settings_to_placeholders = to_placeholders_;
    if (chunk_tasks_) opts.depsgraph_chunk_tasks = *chunk_tasks_;
    auto svc = JobService::Open(*db_, clock_, opts);
    ASSERT_TRUE(svc) << svc.error().message;
    svc_ = std::move(*svc);
  }

  Job SubmitSleep(int nr_tasks, bool start_paused = false, int priority = 50) {
    JobSubmission s;
    s.name = "sleepy";
    s.job_type = "sleep";
    s.priority = priority;
    s.start_paused = start_paused;
    s.settings = {{"frames", "1-" + std::to_string(nr_tasks)}, {"chunk_size", 1}, {"time_in_seconds", 1}};
    auto job = svc_->Submit(s);
    EXPECT_TRUE(job) << job.error().message;
    return *job;
  }

  // Makes the next write fail. SQLite: the fault-injection seam, on until
  // MendTheStore() (returns true). PostgreSQL: the server drops the
  // connection (as on a restart or a network cut); the next call reconnects
  // (returns false).
  bool BreakTheStore() {
    if (auto* sqlite = dynamic_cast<store::Database*>(db_.get())) {
      sqlite->SetFaultInjector([] { return Status(Unavailable("disk on fire")); });
      return true;
    }
    pqxx::connection admin(pg_->url());
    pqxx::nontransaction tx(admin);
    tx.exec(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> "
        "pg_backend_pid()");
    return false;
  }
  void MendTheStore() { dynamic_cast<store::Database&>(*db_).SetFaultInjector(nullptr); }

  std::vector<protocol::Task> Tasks(const std::string& job_id) {
    auto tasks = svc_->GetTasks(job_id);
    EXPECT_TRUE(tasks) << tasks.error().message;
    return *tasks;
  }

  TaskStatus StatusOf(const std::string& task_id) { return svc_->GetTask(task_id)->status; }
  JobStatus JobStatusOf(const std::string& job_id) { return svc_->GetJob(job_id)->status; }

  protocol::BatchResponse Push(std::vector<TaskUpdate> updates) {
    auto r = svc_->PushTaskUpdates(updates);
    EXPECT_TRUE(r) << r.error().message;
    return *r;
  }
  protocol::BatchResponse PushStatus(const std::string& task_id, TaskStatus status) {
    TaskUpdate u;
    u.id = NewUpdateId();
    u.task_id = task_id;
    u.task_status = status;
    return Push({u});
  }
  std::string NewUpdateId() { return "update" + std::to_string(++update_counter_); }

  Depsgraph Fetch(const std::string& token) {
    auto d = svc_->FetchDepsgraph(token);
    EXPECT_TRUE(d) << d.error().message;
    return *d;
  }
  static std::set<std::string> Ids(const Depsgraph& d) {
    std::set<std::string> out;
    for (const auto& t : d.tasks) out.insert(t.id);
    return out;
  }

  testing::FakeClock clock_;
  fs::path dir_;
  std::unique_ptr<testing::TempPostgresDatabase> pg_;
  std::unique_ptr<store::SqlDatabase> db_;
  std::unique_ptr<JobService> svc_;
  int update_counter_ = 0;
  // options.settings_to_placeholders of the service Reopen() makes.
  std::function<json(const json&, const std::string&)> to_placeholders_;
  // options.depsgraph_chunk_tasks of the service Reopen() makes (unset:
  // the default).
  std::optional<int> chunk_tasks_;
};

// --- submission ---------------------------------------------------------------

TEST_P(JobServiceTest, SubmitStoresJobAndTasks) {
  const Job job = SubmitSleep(10);
  EXPECT_EQ(job.status, JobStatus::kQueued);
  EXPECT_EQ(job.tasks_status.at("count"), 10);
  EXPECT_EQ(job.tasks_status.at("queued"), 10);
  EXPECT_EQ(job.created, clock_.Now());

  auto got = svc_->GetJob(job.id);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->name, "sleepy");
  EXPECT_EQ(got->settings["frames"], "1-10");
  EXPECT_EQ(got->tasks_status, job.tasks_status);
  auto tasks = Tasks(job.id);
  ASSERT_EQ(tasks.size(), 10u);
  EXPECT_EQ(tasks[0].name, "sleep-1");
  EXPECT_EQ(tasks[9].name, "sleep-10");
  EXPECT_EQ(tasks[0].commands.size(), 2u);
}

// Two-way path variables: the submitter's paths become placeholders before
// the job is compiled, so its tasks carry them too.
TEST_P(JobServiceTest, SubmitterPlatformTranslatesSettingsBeforeCompiling) {
  std::vector<std::string> platforms_seen;
  to_placeholders_ = [&](const json& settings, const std::string& platform) {
    platforms_seen.push_back(platform);
    json out = settings;
    if (platform == "windows") out["cmd"] = "{render}" + out["cmd"].get<std::string>().substr(2);
    return out;
  };
  Reopen();
  JobSubmission s;
  s.name = "translated";
  s.job_type = "exec-command";
  s.settings = {{"cmd", R"(R:\tool.exe)"}};
  s.submitter_platform = "windows";
  auto job = svc_->Submit(s);
  ASSERT_TRUE(job) << job.error().message;
  EXPECT_EQ(job->settings["cmd"], R"({render}\tool.exe)");
  const auto tasks = Tasks(job->id);
  ASSERT_EQ(tasks.size(), 1u);
  EXPECT_EQ(tasks[0].commands[0].settings["cmd"], R"({render}\tool.exe)");

  s.submitter_platform.clear();  // unknown platform: taken as submitted
  auto as_is = svc_->Submit(s);
  ASSERT_TRUE(as_is) << as_is.error().message;
  EXPECT_EQ(as_is->settings["cmd"], R"(R:\tool.exe)");
  EXPECT_EQ(platforms_seen, std::vector<std::string>{"windows"});
}

TEST_P(JobServiceTest, InvalidSubmissionStoresNothing) {
  JobSubmission s;
  s.name = "bad";
  s.job_type = "sleep";
  s.settings = {{"frames", "5-1"}, {"chunk_size", 1}, {"time_in_seconds", 1}};
  auto job = svc_->Submit(s);
  ASSERT_FALSE(job);
  EXPECT_EQ(job.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(job.error().message.find("frames"), std::string::npos);
  EXPECT_TRUE(svc_->ListJobs({})->empty());
  EXPECT_EQ(Fetch("").kind, Depsgraph::Kind::kNoJobs);
}

TEST_P(JobServiceTest, StoreFailureDuringSubmitStoresNothing) {
  const bool injected = BreakTheStore();
  JobSubmission s{"j", "exec-command", 50, {{"cmd", "true"}}, false, ""};
  auto job = svc_->Submit(s);
  ASSERT_FALSE(job);
  EXPECT_EQ(job.error().code, ErrorCode::kUnavailable) << job.error().message;
  if (injected) MendTheStore();
  auto jobs = svc_->ListJobs({});
  ASSERT_TRUE(jobs) << jobs.error().message;
  EXPECT_TRUE(jobs->empty());
}

TEST_P(JobServiceTest, ListJobsNewestFirstAndByStatus) {
  const Job a = SubmitSleep(1);
  clock_.Advance(std::chrono::seconds(1));
  const Job b = SubmitSleep(1, /*start_paused=*/true);
  auto all = svc_->ListJobs({});
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].id, b.id);
  EXPECT_EQ((*all)[1].id, a.id);
  auto paused = svc_->ListJobs({JobStatus::kPaused, 100});
  ASSERT_EQ(paused->size(), 1u);
  EXPECT_EQ(paused->front().id, b.id);
  EXPECT_EQ(paused->front().tasks_status.at("paused"), 1);
}

TEST_P(JobServiceTest, UnknownIdsAreNotFound) {
  EXPECT_EQ(svc_->GetJob("0123456789abcdef01234567").error().code, ErrorCode::kNotFound);
  EXPECT_EQ(svc_->GetTasks("0123456789abcdef01234567").error().code, ErrorCode::kNotFound);
  EXPECT_EQ(svc_->GetTask("nope").error().code, ErrorCode::kNotFound);
  EXPECT_EQ(svc_->ChangeJobStatus("nope", JobStatus::kPaused, "").error().code, ErrorCode::kNotFound);
  EXPECT_EQ(svc_->ChangeJobPriority("nope", 10).error().code, ErrorCode::kNotFound);
}

// --- depsgraph ----------------------------------------------------------------------

TEST_P(JobServiceTest, DepsgraphHandsOutQueuedTasksAsClaimed) {
  const Job job = SubmitSleep(3);
  auto d = Fetch("");
  ASSERT_EQ(d.kind, Depsgraph::Kind::kTasks);
  ASSERT_EQ(d.tasks.size(), 3u);
  for (const auto& t : d.tasks) {
    EXPECT_EQ(t.status, TaskStatus::kClaimedByManager);
    EXPECT_EQ(StatusOf(t.id), TaskStatus::kClaimedByManager);
  }
  // The job's counts follow the claim (kept by the store, not recounted).
  const auto counts = svc_->GetJob(job.id)->tasks_status;
  EXPECT_EQ(counts.at("count"), 3);
  EXPECT_EQ(counts.at("claimed-by-manager"), 3);
  EXPECT_TRUE(!counts.contains("queued") || counts.at("queued") == 0);
  EXPECT_FALSE(d.last_updated.empty());
  // Nothing changed since: 304.
  EXPECT_EQ(Fetch(d.last_updated).kind, Depsgraph::Kind::kNotModified);
  // A full fetch (Manager lost its cache) still returns the claimed tasks.
  EXPECT_EQ(Fetch("").tasks.size(), 3u);
}

TEST_P(JobServiceTest, DepsgraphIsEmptyWithoutRunnableJobs) {
  EXPECT_EQ(Fetch("").kind, Depsgraph::Kind::kNoJobs);
  SubmitSleep(2, /*start_paused=*/true);
  EXPECT_EQ(Fetch("").kind, Depsgraph::Kind::kNoJobs);
}

TEST_P(JobServiceTest, NewJobReachesManagerThroughIncrementalFetch) {
  SubmitSleep(1);
  const auto token = Fetch("").last_updated;
  const Job second = SubmitSleep(2);
  auto d = Fetch(token);
  ASSERT_EQ(d.kind, Depsgraph::Kind::kTasks);
  EXPECT_EQ(d.tasks.size(), 2u);
  for (const auto& t : d.tasks) EXPECT_EQ(t.job, second.id);
  EXPECT_GT(std::stoll(d.last_updated), std::stoll(token));
}

// --- status announcements (webhooks) -------------------------------------------

class RecordingStatusListener final : public JobStatusListener {
 public:
  void OnJobStatusChanged(const Job& job, JobStatus previous) override { changes.push_back({job, previous}); }
  std::vector<JobStatusChange> changes;
};

TEST_P(JobServiceTest, CommittedJobStatusChangesAreAnnounced) {
  RecordingStatusListener listener;
  svc_->SetStatusListener(&listener);
  const Job job = SubmitSleep(2);
  EXPECT_TRUE(listener.changes.empty()) << "a new job is no change";
  auto d = Fetch("");
  ASSERT_EQ(d.tasks.size(), 2u);
  PushStatus(d.tasks[0].id, TaskStatus::kActive);
  PushStatus(d.tasks[0].id, TaskStatus::kCompleted);
  PushStatus(d.tasks[1].id, TaskStatus::kActive);
  PushStatus(d.tasks[1].id, TaskStatus::kCompleted);
  ASSERT_EQ(listener.changes.size(), 2u);
  EXPECT_EQ(listener.changes[0].job.status, JobStatus::kActive);
  EXPECT_EQ(listener.changes[0].previous, JobStatus::kQueued);
  EXPECT_EQ(listener.changes[1].job.id, job.id);
  EXPECT_EQ(listener.changes[1].job.status, JobStatus::kCompleted);
  EXPECT_EQ(listener.changes[1].previous, JobStatus::kActive);
  EXPECT_EQ(listener.changes[1].job.tasks_status.at("completed"), 2);
  EXPECT_EQ(listener.changes[1].job.name, "sleepy");

  const Job other = SubmitSleep(1);
  ASSERT_TRUE(svc_->ChangeJobStatus(other.id, JobStatus::kCancelRequested, "not needed"));
  ASSERT_EQ(listener.changes.size(), 3u);
  EXPECT_EQ(listener.changes[2].job.status, JobStatus::kCanceled) << "nothing was running: canceled at once";
  EXPECT_EQ(listener.changes[2].job.status_reason, "not needed");
  ASSERT_TRUE(svc_->ChangeJobPriority(other.id, 70));
  EXPECT_EQ(listener.changes.size(), 3u) << "a priority is not a status";
}

TEST_P(JobServiceTest, FailedWriteAnnouncesNothing) {
  RecordingStatusListener listener;
  svc_->SetStatusListener(&listener);
  const Job job = SubmitSleep(1);
  const bool injected = BreakTheStore();
  EXPECT_FALSE(svc_->ChangeJobStatus(job.id, JobStatus::kCancelRequested, ""));
  if (injected) MendTheStore();
  EXPECT_TRUE(listener.changes.empty());
  EXPECT_EQ(JobStatusOf(job.id), JobStatus::kQueued);
}

TEST_P(JobServiceTest, ManagerUpdateDoesNotMakeTaskReappear) {
  const Job job = SubmitSleep(2);
  auto d = Fetch("");
  const std::string task = d.tasks[0].id;
  PushStatus(task, TaskStatus::kActive);
  TaskUpdate progress;
  progress.id = NewUpdateId();
  progress.task_id = task;
  progress.activity = "rendering";
  progress.task_progress_percentage = 40;
  Push({progress});
  PushStatus(task, TaskStatus::kCompleted);
  EXPECT_EQ(StatusOf(task), TaskStatus::kCompleted);
  // The Manager's own changes must not come back as "changed" tasks: a stale
  // copy would overwrite the Manager's newer local state.
  EXPECT_EQ(Fetch(d.last_updated).kind, Depsgraph::Kind::kNotModified);
}

TEST_P(JobServiceTest, RequeueMakesTasksReappear) {
  const Job job = SubmitSleep(20);
  auto d = Fetch("");
  const std::string task = d.tasks[0].id;
  PushStatus(task, TaskStatus::kActive);
  TaskUpdate failed;
  failed.id = NewUpdateId();
  failed.task_id = task;
  failed.task_status = TaskStatus::kFailed;
  failed.failed_by_workers = std::vector<protocol::FailedByWorker>{{"w1", "10.0.0.1 (render-1)"}};
  Push({failed});
  EXPECT_EQ(JobStatusOf(job.id), JobStatus::kActive);  // 1 of 20 = 5%
  EXPECT_EQ(svc_->GetTask(task)->failed_by_workers.size(), 1u);

  auto requeued = svc_->ChangeJobStatus(job.id, JobStatus::kRequeued, "try again");
  ASSERT_TRUE(requeued) << requeued.error().message;
  EXPECT_EQ(requeued->status, JobStatus::kQueued);
  EXPECT_EQ(requeued->status_reason, "try again");
  auto again = Fetch(d.last_updated);
  ASSERT_EQ(again.kind, Depsgraph::Kind::kTasks);
  EXPECT_EQ(Ids(again), (std::set<std::string>{task}));
  EXPECT_EQ(again.tasks[0].status, TaskStatus::kClaimedByManager);
  EXPECT_TRUE(again.tasks[0].failed_by_workers.empty());
}

TEST_P(JobServiceTest, UnparsableTokenGetsTheFullDepsgraph) {
  SubmitSleep(2);
  auto d = Fetch("2026-11-27T18:30:00.123456Z");  // a v2 Manager's ISO token
  EXPECT_EQ(d.kind, Depsgraph::Kind::kTasks);
  EXPECT_EQ(d.tasks.size(), 2u);
}

TEST_P(JobServiceTest, RevisionTokenSurvivesRestart) {
  SubmitSleep(2);
  const auto token = Fetch("").last_updated;
  Reopen();
  EXPECT_EQ(Fetch(token).kind, Depsgraph::Kind::kNotModified);
  SubmitSleep(1);
  EXPECT_EQ(Fetch(token).tasks.size(), 1u);
}

// --- job status derived from task updates (§4.2.2, §11.6) ---------------------

TEST_P(JobServiceTest, JobFailsWhenTenPercentOfTasksFailAndRestIsCanceled) {
  // Job of 20 tasks: 1 failed -> job active; 2nd failed (10%) -> job failed,
  // tasks the Manager holds cancel-requested, the others canceled.
  const Job job = SubmitSleep(20);
  auto tasks = Tasks(job.id);
  // The Manager has claimed the first 3 (in reality it claims a whole
  // depsgraph; claiming is not a job-side change, so this stays honest).
  auto d = Fetch("");
  for (size_t i = 3; i < tasks.size(); ++i) PushStatus(tasks[i].id, TaskStatus::kQueued);
  PushStatus(tasks[0].id, TaskStatus::kActive);
  EXPECT_EQ(JobStatusOf(job.id), JobStatus::kActive);
  PushStatus(tasks[0].id, TaskStatus::kFailed);
  EXPECT_EQ(JobStatusOf(job.id), JobStatus::kActive);

  PushStatus(tasks[1].id, TaskStatus::kActive);
  PushStatus(tasks[2].id, TaskStatus::kActive);
  auto resp = PushStatus(tasks[1].id, TaskStatus::kFailed);

  auto failed_job = svc_->GetJob(job.id);
  EXPECT_EQ(failed_job->status, JobStatus::kFailed);
  EXPECT_EQ(failed_job->status_reason, "2 of its 20 tasks (10%) failed");
  EXPECT_EQ(StatusOf(tasks[2].id), TaskStatus::kCancelRequested);
  EXPECT_EQ(StatusOf(tasks[3].id), TaskStatus::kCanceled);
  EXPECT_EQ(StatusOf(tasks[19].id), TaskStatus::kCanceled);
  EXPECT_EQ(resp.cancel_task_ids, (std::vector<std::string>{tasks[2].id}));
  EXPECT_EQ(failed_job->tasks_status.at("failed"), 2);
  EXPECT_EQ(failed_job->tasks_status.at("canceled"), 17);
  EXPECT_EQ(failed_job->tasks_status.at("cancel-requested"), 1);

  // The cancellations reach the Manager's cache.
  auto changed = Fetch(d.last_updated);
  ASSERT_EQ(changed.kind, Depsgraph::Kind::kTasks);
  EXPECT_EQ(changed.tasks.size(), 18u);
  EXPECT_FALSE(Ids(changed).contains(tasks[0].id));

  // The worker stops; the job stays failed.
  auto last = PushStatus(tasks[2].id, TaskStatus::kCanceled);
  EXPECT_TRUE(last.cancel_task_ids.empty());
  EXPECT_EQ(JobStatusOf(job.id), JobStatus::kFailed);
}

TEST_P(JobServiceTest, FailingJobRequestsCancelOfClaimedTasks) {
  const Job job = SubmitSleep(10);
  Fetch("");
  auto tasks = Tasks(job.id);
  auto resp = PushStatus(tasks[0].id, TaskStatus::kFailed);  // 1 of 10 = 10%
  EXPECT_EQ(JobStatusOf(job.id), JobStatus::kFailed);
  // Claimed tasks live in the Manager's cache: it must cancel them.
  EXPECT_EQ(resp.cancel_task_ids.size(), 9u);
  EXPECT_EQ(StatusOf(tasks[5].id), TaskStatus::kCancelRequested);
}

TEST_P(JobServiceTest, SoftFailuresNeverFailTheJob) {
  const Job job = SubmitSleep(2);
  Fetch("");
  auto tasks = Tasks(job.id);
  PushStatus(tasks[0].id, TaskStatus::kSoftFailed);
  PushStatus(tasks[1].id, TaskStatus::kSoftFailed);
  EXPECT_EQ(JobStatusOf(job.id), JobStatus::kActive);
}

TEST_P(JobServiceTest, JobCompletesWhenAllTasksComplete) {
  const Job job = SubmitSleep(2);
  Fetch("");
  auto tasks = Tasks(job.id);
  PushStatus(tasks[0].id, TaskStatus::kCompleted);
  EXPECT_EQ(JobStatusOf(job.id), JobStatus::kActive);
  PushStatus(tasks[1].id, TaskStatus::kCompleted);
  EXPECT_EQ(JobStatusOf(job.id), JobStatus::kCompleted);
  EXPECT_EQ(svc_->GetJob(job.id)->tasks_status.at("completed"), 2);
}

// --- task-update batches (§4.1.2) ---------------------------------------------

TEST_P(JobServiceTest, SameUpdateTwiceIsAppliedOnce) {
  const Job job = SubmitSleep(1);
  Fetch("");
  const std::string task = Tasks(job.id)[0].id;
  TaskUpdate u;
  u.id = "dup-1";
  u.task_id = task;
  u.task_status = TaskStatus::kActive;
  u.log_tail = "frame 1 rendered\n";
  auto first = Push({u});
  EXPECT_EQ(first.handled_update_ids, (std::vector<std::string>{"dup-1"}));
  EXPECT_EQ(first.modified_count, 1);
  // The Manager did not see the answer and sends the update again, twice in
  // one batch even.
  auto second = Push({u, u});
  EXPECT_EQ(second.handled_update_ids, (std::vector<std::string>{"dup-1", "dup-1"}));
  EXPECT_EQ(second.modified_count, 0);
  EXPECT_EQ(svc_->GetTask(task)->log, "frame 1 rendered\n");
}

TEST_P(JobServiceTest, UpdateFieldsAreWrittenAndLogTailKept) {
  const Job job = SubmitSleep(1);
  Fetch("");
  const protocol::Task before = Tasks(job.id)[0];
  ASSERT_FALSE(before.commands.empty());
  const std::string task = before.id;
  // Through the wire form, with v2's `current_command_idx` spelling.
  auto u = protocol::TaskUpdateFromJson(json{{"_id", "u1"},
                                             {"task_id", task},
                                             {"task_status", "active"},
                                             {"activity", "sleeping"},
                                             {"task_progress_percentage", 50},
                                             {"current_command_idx", 1},
                                             {"command_progress_percentage", 30},
                                             {"worker", "10.0.0.2 (node-2)"},
                                             {"metrics", {{"timing", {{"sleep", 1.5}}}}},
                                             {"log_tail", "a\nb\n"}});
  ASSERT_TRUE(u) << u.error().message;
  Push({*u});
  TaskUpdate more;
  more.id = "u2";
  more.task_id = task;
  std::string lines;
  for (int i = 0; i < 12; ++i) lines += "line " + std::to_string(i) + "\n";
  more.log_tail = lines;
  Push({more});

  auto t = svc_->GetTask(task);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->status, TaskStatus::kActive);
  EXPECT_EQ(t->activity, "sleeping");
  EXPECT_EQ(t->task_progress_percentage, 50);  // absent in u2: kept, not zeroed
  EXPECT_EQ(t->current_command_index, 1);
  EXPECT_EQ(t->command_progress_percentage, 30);
  EXPECT_EQ(t->worker, "10.0.0.2 (node-2)");
  EXPECT_EQ(t->metrics["timing"]["sleep"], 1.5);
  EXPECT_EQ(t->log.substr(0, 7), "line 2\n");  // last 10 lines only
  EXPECT_TRUE(t->log.ends_with("line 11\n"));
  // What updates never change is left as it was.
  ASSERT_EQ(t->commands.size(), before.commands.size());
  for (size_t i = 0; i < before.commands.size(); ++i) {
    EXPECT_EQ(t->commands[i].name, before.commands[i].name);
    EXPECT_EQ(t->commands[i].settings, before.commands[i].settings);
  }
  EXPECT_EQ(t->parents, before.parents);
  EXPECT_EQ(t->job, job.id);
  EXPECT_EQ(t->name, before.name);
}

TEST_P(JobServiceTest, UnknownTaskIsHandledButIgnored) {
  TaskUpdate u;
  u.id = "orphan";
  u.task_id = "0123456789abcdef01234567";
  u.task_status = TaskStatus::kCompleted;
  auto r = Push({u});
  EXPECT_EQ(r.handled_update_ids, (std::vector<std::string>{"orphan"}));
  EXPECT_EQ(r.modified_count, 0);
}

TEST_P(JobServiceTest, CancelRequestedTaskOnlyAcceptsFinalStatuses) {
  const Job job = SubmitSleep(2);
  Fetch("");
  auto tasks = Tasks(job.id);
  PushStatus(tasks[0].id, TaskStatus::kActive);
  ASSERT_TRUE(svc_->ChangeJobStatus(job.id, JobStatus::kCancelRequested, ""));
  ASSERT_EQ(StatusOf(tasks[0].id), TaskStatus::kCancelRequested);

  TaskUpdate u;
  u.id = NewUpdateId();
  u.task_id = tasks[0].id;
  u.task_status = TaskStatus::kClaimedByManager;  // worker returned it
  u.activity = "returned";
  auto r = Push({u});
  EXPECT_EQ(StatusOf(tasks[0].id), TaskStatus::kCancelRequested);
  EXPECT_EQ(svc_->GetTask(tasks[0].id)->activity, "returned");  // rest still applied
  // The claimed (not yet running) task needs cancelling by the Manager too.
  EXPECT_EQ(r.cancel_task_ids, (std::vector<std::string>{tasks[0].id, tasks[1].id}));

  PushStatus(tasks[1].id, TaskStatus::kCanceled);
  EXPECT_EQ(JobStatusOf(job.id), JobStatus::kCancelRequested);
  PushStatus(tasks[0].id, TaskStatus::kCanceled);
  EXPECT_EQ(JobStatusOf(job.id), JobStatus::kCanceled);
}

TEST_P(JobServiceTest, CancelTaskIdsUntilTheManagerConfirms) {
  const Job job = SubmitSleep(3);
  Fetch("");
  auto tasks = Tasks(job.id);
  PushStatus(tasks[0].id, TaskStatus::kActive);
  auto canceled = svc_->ChangeJobStatus(job.id, JobStatus::kCancelRequested, "user");
  ASSERT_TRUE(canceled);
  EXPECT_EQ(canceled->status, JobStatus::kCancelRequested);
  // Claimed (not yet running) tasks also need the Manager to cancel them.
  auto r = Push({});
  EXPECT_EQ(r.cancel_task_ids, (std::vector<std::string>{tasks[0].id, tasks[1].id, tasks[2].id}));
  PushStatus(tasks[1].id, TaskStatus::kCanceled);
  PushStatus(tasks[2].id, TaskStatus::kCanceled);
  EXPECT_EQ(JobStatusOf(job.id), JobStatus::kCancelRequested);
  // The running one finished before it could be stopped.
  auto last = PushStatus(tasks[0].id, TaskStatus::kCompleted);
  EXPECT_TRUE(last.cancel_task_ids.empty());
  EXPECT_EQ(JobStatusOf(job.id), JobStatus::kCanceled);
}

TEST_P(JobServiceTest, UnsupportedStatusFromManagerIsIgnored) {
  const Job job = SubmitSleep(1);
  Fetch("");
  const std::string task = Tasks(job.id)[0].id;
  PushStatus(task, TaskStatus::kUnderConstruction);
  PushStatus(task, TaskStatus::kCancelRequested);
  EXPECT_EQ(StatusOf(task), TaskStatus::kClaimedByManager);
}

// --- explicit job status changes (§4.2.1) ----------------------------------------

TEST_P(JobServiceTest, CancelOfUnclaimedJobIsImmediateAndIdempotent) {
  const Job job = SubmitSleep(2);
  auto first = svc_->ChangeJobStatus(job.id, JobStatus::kCancelRequested, "");
  ASSERT_TRUE(first);
  EXPECT_EQ(first->status, JobStatus::kCanceled);
  EXPECT_EQ(first->tasks_status.at("canceled"), 2);
  auto second = svc_->ChangeJobStatus(job.id, JobStatus::kCancelRequested, "");
  ASSERT_TRUE(second) << second.error().message;
  EXPECT_EQ(second->status, JobStatus::kCanceled);
}

TEST_P(JobServiceTest, PauseStopsSchedulingAndResumeRestarts) {
  const Job job = SubmitSleep(3);
  auto d = Fetch("");
  auto tasks = Tasks(job.id);
  PushStatus(tasks[0].id, TaskStatus::kActive);

  auto paused = svc_->ChangeJobStatus(job.id, JobStatus::kPaused, "");
  ASSERT_TRUE(paused);
  EXPECT_EQ(paused->status, JobStatus::kPaused);
  EXPECT_EQ(StatusOf(tasks[0].id), TaskStatus::kActive);  // running one finishes
  EXPECT_EQ(StatusOf(tasks[1].id), TaskStatus::kPaused);
  // The Manager learns about the pause, so it stops scheduling them.
  auto changed = Fetch(d.last_updated);
  ASSERT_EQ(changed.kind, Depsgraph::Kind::kTasks);
  EXPECT_EQ(Ids(changed), (std::set<std::string>{tasks[1].id, tasks[2].id}));
  for (const auto& t : changed.tasks) EXPECT_EQ(t.status, TaskStatus::kPaused);
  EXPECT_EQ(Fetch("").kind, Depsgraph::Kind::kNoJobs);

  // A task coming back from a worker while paused stays paused.
  PushStatus(tasks[0].id, TaskStatus::kClaimedByManager);
  EXPECT_EQ(StatusOf(tasks[0].id), TaskStatus::kPaused);
  auto returned = Fetch(changed.last_updated);
  EXPECT_EQ(Ids(returned), (std::set<std::string>{tasks[0].id}));

  auto resumed = svc_->ChangeJobStatus(job.id, JobStatus::kQueued, "");
  ASSERT_TRUE(resumed);
  EXPECT_EQ(resumed->status, JobStatus::kQueued);
  auto back = Fetch(returned.last_updated);
  EXPECT_EQ(back.tasks.size(), 3u);
  for (const auto& t : back.tasks) EXPECT_EQ(t.status, TaskStatus::kClaimedByManager);
}

TEST_P(JobServiceTest, InvalidTransitionsChangeNothing) {
  const Job job = SubmitSleep(1);
  auto r = svc_->ChangeJobStatus(job.id, JobStatus::kCompleted, "");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  auto q = svc_->ChangeJobStatus(job.id, JobStatus::kRequeued, "");
  ASSERT_TRUE(q);
  ASSERT_TRUE(svc_->ChangeJobStatus(job.id, JobStatus::kCancelRequested, ""));
  auto resume = svc_->ChangeJobStatus(job.id, JobStatus::kQueued, "");
  ASSERT_FALSE(resume);
  EXPECT_EQ(resume.error().code, ErrorCode::kConflict);
  EXPECT_EQ(JobStatusOf(job.id), JobStatus::kCanceled);
}

TEST_P(JobServiceTest, PriorityChangeReachesManagerForUnfinishedTasks) {
  const Job job = SubmitSleep(2);
  auto d = Fetch("");
  auto tasks = Tasks(job.id);
  PushStatus(tasks[0].id, TaskStatus::kCompleted);
  auto changed = svc_->ChangeJobPriority(job.id, 90);
  ASSERT_TRUE(changed);
  EXPECT_EQ(changed->priority, 90);
  auto again = Fetch(d.last_updated);
  ASSERT_EQ(again.kind, Depsgraph::Kind::kTasks);
  EXPECT_EQ(Ids(again), (std::set<std::string>{tasks[1].id}));
  EXPECT_EQ(again.tasks[0].job_priority, 90);
  EXPECT_EQ(svc_->GetTask(tasks[0].id)->job_priority, 90);
  EXPECT_EQ(svc_->ChangeJobPriority(job.id, 0).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(svc_->ChangeJobPriority(job.id, 101).error().code, ErrorCode::kInvalidArgument);
}

TEST_P(JobServiceTest, DepsgraphOrdersByJobPriority) {
  const Job low = SubmitSleep(1, false, 10);
  const Job high = SubmitSleep(1, false, 90);
  auto d = Fetch("");
  ASSERT_EQ(d.tasks.size(), 2u);
  EXPECT_EQ(d.tasks[0].job, high.id);
  EXPECT_EQ(d.tasks[1].job, low.id);
}

// --- task logs --------------------------------------------------------------------

TEST_P(JobServiceTest, RequestedLogIsAskedForUntilItArrives) {
  const Job job = SubmitSleep(1);
  const std::string task = Tasks(job.id)[0].id;
  ASSERT_TRUE(svc_->RequestTaskLog(task));
  ASSERT_TRUE(svc_->RequestTaskLog(task));  // idempotent
  const protocol::UploadRequest want{job.id, task};
  EXPECT_EQ(Push({}).upload_task_file_queue, (std::vector<protocol::UploadRequest>{want}));
  EXPECT_EQ(Push({}).upload_task_file_queue, (std::vector<protocol::UploadRequest>{want}));

  const std::string gz("\x1f\x8b\x08\x00rest-of-gzip", 16);
  ASSERT_TRUE(svc_->AttachTaskLog(job.id, task, gz));
  std::ifstream f(svc_->TaskLogPath(job.id, task), std::ios::binary);
  std::stringstream content;
  content << f.rdbuf();
  EXPECT_EQ(content.str(), gz);
  EXPECT_TRUE(Push({}).upload_task_file_queue.empty());
  EXPECT_EQ(svc_->RequestTaskLog("0123456789abcdef01234567").error().code, ErrorCode::kNotFound);
}

TEST_P(JobServiceTest, AttachTaskLogValidates) {
  const Job job = SubmitSleep(1);
  const std::string task = Tasks(job.id)[0].id;
  EXPECT_EQ(svc_->AttachTaskLog(job.id, task, "plain text").error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(svc_->AttachTaskLog("0123456789abcdef01234567", task, "\x1f\x8b").error().code, ErrorCode::kNotFound);
  EXPECT_EQ(svc_->AttachTaskLog("../../etc", task, "\x1f\x8b").error().code, ErrorCode::kNotFound);
  EXPECT_FALSE(fs::exists(dir_ / "logs" / ("job-" + job.id)));
}

// --- notifications ------------------------------------------------------------------

TEST_P(JobServiceTest, NotifiedTaskTypesPersistAndShapeCompilation) {
  EXPECT_TRUE(svc_->WorkerTaskTypes().empty());
  protocol::UpstreamNotification n;
  n.manager_url = "http://farm:8083/";
  n.nr_of_workers = 2;
  n.worker_task_types = {"blender-render", "file-management", "blender-render"};
  ASSERT_TRUE(svc_->Notify(n));
  Reopen();
  EXPECT_EQ(svc_->WorkerTaskTypes(), (std::set<std::string>{"blender-render", "file-management"}));

  JobSubmission s{"render",
                  "blender-render",
                  50,
                  {{"filepath", "/s/a.blend"},
                   {"render_output", "/r/out/####"},
                   {"frames", "1-4"},
                   {"chunk_size", 2},
                   {"fps", 24},
                   {"output_file_extension", ".png"}},
                  false,
                  "alice"};
  auto job = svc_->Submit(s);
  ASSERT_TRUE(job) << job.error().message;
  for (const auto& t : Tasks(job->id)) EXPECT_NE(t.name, "create-video");
  EXPECT_EQ(job->submitter, "alice");
}

INSTANTIATE_TEST_SUITE_P(Backends, JobServiceTest,
                         ::testing::Values(testing::Backend::kSqlite, testing::Backend::kPostgres),
                         testing::BackendName);

}  // namespace
}  // namespace duende::jobs

// --- runnability and starvation marks (issue: failures) ---------------------------

namespace duende::jobs {
namespace {

class JobRunnabilityTest : public JobServiceTest {};

TEST_P(JobRunnabilityTest, TasksWaitingForAFailedParentFailTheJob) {
  JobSubmission s;
  s.name = "shot";
  s.job_type = "blender-render";
  s.settings = {{"filepath", "/shots/a.blend"},
                {"render_output", "/renders/a/frame-######"},
                {"frames", "1-200"},
                {"chunk_size", 10},
                {"format", "PNG"},
                {"fps", 24},
                {"images_or_video", "images"},
                {"output_file_extension", ".png"}};
  auto job = svc_->Submit(s);
  ASSERT_TRUE(job) << job.error().message;
  Fetch("");
  const auto tasks = Tasks(job->id);
  ASSERT_GT(tasks.size(), 20u);
  PushStatus(tasks[0].id, TaskStatus::kActive);
  PushStatus(tasks[0].id, TaskStatus::kFailed);  // 1 of 22: below the 10% rule
  const Job after = *svc_->GetJob(job->id);
  EXPECT_TRUE(after.status == JobStatus::kFailed || after.status == JobStatus::kFailRequested)
      << ToString(after.status);
  EXPECT_NE(after.status_reason.find("a failed/cancelled parent and will not be able to run"), std::string::npos)
      << after.status_reason;
}

TEST_P(JobRunnabilityTest, SoftFailedParentDoesNotFailTheJob) {
  const Job job = SubmitSleep(3);
  Fetch("");
  const auto tasks = Tasks(job.id);
  PushStatus(tasks[0].id, TaskStatus::kActive);
  PushStatus(tasks[0].id, TaskStatus::kSoftFailed);
  EXPECT_EQ(JobStatusOf(job.id), JobStatus::kActive);
}

TEST_P(JobRunnabilityTest, StarvationMarksShowAsTheJobsStatusReasonUntilCleared) {
  const Job job = SubmitSleep(4);
  Fetch("");
  const auto tasks = Tasks(job.id);
  PushStatus(tasks[0].id, TaskStatus::kActive);  // the job becomes active
  std::vector<TaskUpdate> marks;
  for (int i = 1; i < 4; ++i) {
    TaskUpdate u;
    u.id = NewUpdateId();
    u.task_id = tasks[i].id;
    u.blocked_reason = "every worker with task type `sleep` failed it or is blacklisted";
    marks.push_back(u);
  }
  Push(marks);
  EXPECT_EQ(svc_->GetJob(job.id)->status_reason,
            "3 tasks cannot run: every worker with task type `sleep` failed it or is blacklisted");
  for (auto& u : marks) {
    u.id = NewUpdateId();
    u.blocked_reason = "";
  }
  Push(marks);
  EXPECT_EQ(svc_->GetJob(job.id)->status_reason, "");
}

INSTANTIATE_TEST_SUITE_P(Backends, JobRunnabilityTest,
                         ::testing::Values(testing::Backend::kSqlite, testing::Backend::kPostgres),
                         testing::BackendName);

// --- chunked depsgraph ----------------------------------------------------------

// Fetches from `token` until the job side has no more; returns the chunks.
std::vector<Depsgraph> FetchAllChunks(JobService& svc, std::string token) {
  std::vector<Depsgraph> chunks;
  for (int guard = 0; guard < 100; ++guard) {
    auto d = svc.FetchDepsgraph(token);
    EXPECT_TRUE(d) << d.error().message;
    if (!d) break;
    chunks.push_back(*d);
    token = d->last_updated;
    if (!d->more) break;
  }
  return chunks;
}

TEST_P(JobServiceTest, BigJobDepsgraphComesInChunksInTaskOrderEachTaskOnce) {
  chunk_tasks_ = 3;
  Reopen();
  const Job job = SubmitSleep(10);
  const auto chunks = FetchAllChunks(*svc_, "");
  ASSERT_EQ(chunks.size(), 4u);
  std::vector<std::string> names;
  std::set<std::string> ids;
  for (size_t k = 0; k < chunks.size(); ++k) {
    EXPECT_EQ(chunks[k].kind, Depsgraph::Kind::kTasks);
    EXPECT_EQ(chunks[k].more, k + 1 < chunks.size());
    EXPECT_LE(chunks[k].tasks.size(), 3u);
    for (const auto& t : chunks[k].tasks) {
      names.push_back(t.name);
      EXPECT_TRUE(ids.insert(t.id).second) << t.name << " sent twice";
      EXPECT_EQ(t.status, TaskStatus::kClaimedByManager);
    }
  }
  EXPECT_EQ(names.front(), "sleep-1");
  EXPECT_EQ(names.back(), "sleep-10");
  EXPECT_EQ(ids.size(), 10u);
  // Chunks claim only what they hand out: after the first, the rest was
  // still queued.
  EXPECT_EQ(Fetch(chunks.back().last_updated).kind, Depsgraph::Kind::kNotModified);
  for (const auto& t : Tasks(job.id)) EXPECT_EQ(t.status, TaskStatus::kClaimedByManager) << t.name;
}

TEST_P(JobServiceTest, DepsgraphChunkClaimsOnlyItsOwnTasksAndIncrementalFetchesAreChunkedToo) {
  chunk_tasks_ = 4;
  Reopen();
  const auto first = Fetch("");  // nothing yet: the farm gets a token
  const Job job = SubmitSleep(6);
  const auto chunk = Fetch(first.last_updated);
  ASSERT_EQ(chunk.kind, Depsgraph::Kind::kTasks);
  EXPECT_TRUE(chunk.more);
  EXPECT_EQ(chunk.tasks.size(), 4u);
  int queued = 0;
  for (const auto& t : Tasks(job.id)) queued += t.status == TaskStatus::kQueued ? 1 : 0;
  EXPECT_EQ(queued, 2);
  EXPECT_EQ(svc_->GetJob(job.id)->tasks_status["queued"], 2);
  const auto rest = Fetch(chunk.last_updated);
  EXPECT_FALSE(rest.more);
  EXPECT_EQ(rest.tasks.size(), 2u);
}

TEST_P(JobServiceTest, DepsgraphChunkBringsAlongAParentOfALaterRevision) {
  chunk_tasks_ = 3;
  Reopen();
  const Job job = SubmitSleep(10);
  const auto tasks = Tasks(job.id);
  // sleep-2 waits for sleep-8, listed after it (so of a later revision):
  // sleep-8 must not come in a later chunk than sleep-2.
  ASSERT_TRUE(db_->SqlWrite([&](store::SqlConn& c) -> Status {
    c.Prepare("UPDATE job_tasks SET parents = ?2 WHERE id = ?1")
        .Bind(1, tasks[1].id)
        .Bind(2, json{tasks[7].id}.dump())
        .Run();
    return Ok();
  }));
  const auto chunks = FetchAllChunks(*svc_, "");
  ASSERT_GE(chunks.size(), 2u);  // still chunked
  std::set<std::string> sent;
  size_t total = 0;
  for (const auto& chunk : chunks) {
    for (const auto& t : chunk.tasks) sent.insert(t.id);
    total += chunk.tasks.size();
    for (const auto& t : chunk.tasks)
      for (const auto& p : t.parents) EXPECT_TRUE(sent.contains(p)) << t.name << " came before its parent";
  }
  EXPECT_EQ(total, 10u);
  EXPECT_EQ(sent.size(), 10u);
}
}  // namespace
}  // namespace duende::jobs
