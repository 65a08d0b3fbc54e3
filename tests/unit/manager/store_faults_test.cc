// Store faults (issue 9 §2): the Manager's SQLite file fails under it (disk
// full, I/O error) through a fault-injecting VFS, or another process holds
// its write lock (SQLITE_BUSY). Every request that must write answers 503
// with a JSON message and changes nothing; reads keep working; once the
// fault clears the farm carries on where it was and the file passes
// integrity_check.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "manager_api_fixture.h"
#include "store/sqlite.h"
#include "support/fault_vfs.h"

namespace duende::manager {
namespace {

using nlohmann::json;
using testing::FaultVfs;

class StoreFaultFixture : public ManagerApiTest {
 protected:
  std::string DbPath() const { return dir_.path() + "/duende.sqlite"; }

  // A worker holding the first task of a 2-task job: (worker, task, job).
  struct Farm {
    std::string worker, task, job;
  };
  Farm StartFarm() {
    Farm f;
    f.worker = Worker("w1");
    f.job = SubmitSleepJob(2)["_id"];
    const auto task = FetchTask(f.worker, "w1");
    EXPECT_EQ(task.status, 200) << task.body;
    f.task = json::parse(task.body, nullptr, false).value("_id", "");
    // The job side hears of the assignment through the upstream push; let
    // it settle before taking the snapshot.
    EXPECT_EQ(WaitForTaskStatus(f.task, "active").value("status", ""), "active");
    return f;
  }

  // Every kind of write the API has: the worker protocol and the people's
  // job API.
  std::vector<std::pair<std::string, http::ClientResponse>> CallEveryWrite(const Farm& f) {
    const std::string secret = "secret-w1";
    std::vector<std::pair<std::string, http::ClientResponse>> out;
    auto add = [&](std::string name, http::ClientResponse r) { out.emplace_back(std::move(name), std::move(r)); };
    add("register-worker",
        Call("POST", "/register-worker",
             json{{"secret", "s"}, {"platform", "linux"}, {"supported_task_types", {"sleep"}}}.dump()));
    add("sign-on", Call("POST", "/sign-on", "{}", f.worker, secret));
    add("task", Call("POST", "/task", "", f.worker, secret));
    add("update",
        Call("POST", "/tasks/" + f.task + "/update", json{{"task_status", "completed"}}.dump(), f.worker, secret));
    add("may-i-run", Call("GET", "/may-i-run/" + f.task, "", f.worker, secret));
    add("return", Call("POST", "/tasks/" + f.task + "/return", "", f.worker, secret));
    add("submit", Call("POST", "/api/jobs",
                       json{{"name", "more"},
                            {"job_type", "sleep"},
                            {"settings", {{"frames", "1"}, {"chunk_size", 1}, {"time_in_seconds", 0}}}}
                           .dump()));
    add("job status", Call("POST", "/api/jobs/" + f.job + "/status", json{{"status", "cancel-requested"}}.dump()));
    add("job priority", Call("POST", "/api/jobs/" + f.job + "/priority", json{{"priority", 90}}.dump()));
    add("sign-off", Call("POST", "/sign-off", "", f.worker, secret));
    return out;
  }

  // What the API shows of the farm, to compare before and after a fault.
  std::string Snapshot(const Farm& f) {
    json tasks = json::parse(Call("GET", "/api/jobs/" + f.job + "/tasks").body, nullptr, false)["tasks"];
    json workers = json::parse(Call("GET", "/api/workers").body, nullptr, false)["workers"];
    json out = {{"jobs", JobCount()},
                {"job", json::parse(Call("GET", "/api/jobs/" + f.job).body, nullptr, false)["status"]}};
    for (const auto& t : tasks) out["tasks"].push_back({t["_id"], t["status"], t["worker"]});
    for (const auto& w : workers) out["workers"].push_back({w["_id"], w["status"], w["current_task"]});
    return out.dump();
  }

  void ExpectIntegrity() {
    auto db = store::Database::Open(DbPath());
    ASSERT_TRUE(db.has_value()) << db.error().message;
    EXPECT_EQ((*db)->IntegrityCheck().value_or(false), true);
  }

  // Finishes the job: both tasks completed by w1.
  void FinishJob(const Farm& f) {
    EXPECT_EQ(
        Call("POST", "/tasks/" + f.task + "/update", json{{"task_status", "completed"}}.dump(), f.worker, "secret-w1")
            .status,
        204);
    const auto next = FetchTask(f.worker, "w1");
    ASSERT_EQ(next.status, 200) << next.body;
    const std::string second = json::parse(next.body)["_id"];
    EXPECT_EQ(
        Call("POST", "/tasks/" + second + "/update", json{{"task_status", "completed"}}.dump(), f.worker, "secret-w1")
            .status,
        204);
    json job = json::object();
    for (int i = 0; i < 500 && job.value("status", "") != "completed"; ++i) {
      job = json::parse(Call("GET", "/api/jobs/" + f.job).body, nullptr, false);
      if (!job.is_object()) job = json::object();
      clock_.WaitFor(std::chrono::milliseconds(10), std::stop_token());
    }
    EXPECT_EQ(job.value("status", ""), "completed") << job.dump();
  }

  static void ExpectDatabase503(const http::ClientResponse& r, const std::string& what = "database") {
    EXPECT_EQ(r.status, 503) << r.body;
    const auto body = json::parse(r.body, nullptr, false);
    ASSERT_TRUE(body.is_object()) << r.body;
    EXPECT_NE(body.value("message", "").find(what), std::string::npos) << r.body;
    EXPECT_EQ(r.Header("retry-after"), "1");
  }
};

class StoreFaultTest : public StoreFaultFixture, public ::testing::WithParamInterface<FaultVfs::Fault> {
 protected:
  void SetUp() override {
    vfs_ = &FaultVfs::Install();  // before the Manager opens its database
    StoreFaultFixture::SetUp();
  }
  void TearDown() override {
    vfs_->Disarm();
    StoreFaultFixture::TearDown();
  }

  FaultVfs* vfs_ = nullptr;
};

TEST_P(StoreFaultTest, EveryWriteIs503WithAMessageAndChangesNothingThenTheFarmCarriesOn) {
  const Farm f = StartFarm();
  ASSERT_FALSE(f.task.empty());
  const std::string before = Snapshot(f);
  const int injected = vfs_->injected();
  vfs_->Arm(GetParam(), DbPath());
  for (const auto& [name, r] : CallEveryWrite(f)) {
    SCOPED_TRACE(name);
    ExpectDatabase503(r);
  }
  EXPECT_GT(vfs_->injected(), injected);
  // GET /status-change changes nothing but the worker's last-seen time,
  // which is kept in memory: it is a read and keeps answering.
  EXPECT_EQ(Call("GET", "/status-change", "", f.worker, "secret-w1").status, 204);
  // Reads still work, and show that nothing changed.
  EXPECT_EQ(Snapshot(f), before);
  vfs_->Disarm();
  EXPECT_EQ(Snapshot(f), before);
  FinishJob(f);
  ExpectIntegrity();
}

INSTANTIATE_TEST_SUITE_P(DiskFullAndIoError, StoreFaultTest,
                         ::testing::Values(FaultVfs::Fault::kDiskFull, FaultVfs::Fault::kIoError),
                         [](const auto& info) {
                           return info.param == FaultVfs::Fault::kDiskFull ? std::string("DiskFull")
                                                                           : std::string("IoError");
                         });

// Another process (an admin's sqlite3 shell, a backup tool) holds the
// database's write lock. Concurrent writes all answer 503 "database busy"
// promptly: one of them waits out the (short) busy timeout, the others do
// not queue behind it. Reads keep working; once the lock is released the
// farm carries on and the job completes.
class StoreBusyTest : public StoreFaultFixture {
 protected:
  static constexpr auto kBusyTimeout = std::chrono::seconds(1);
  std::string ExtraConfig() const override { return "database_busy_timeout: 1s\n"; }
};

TEST_F(StoreBusyTest, ConcurrentWritesAre503PromptlyWhileAnotherProcessHoldsTheWriteLockThenRecover) {
  const Farm f = StartFarm();
  ASSERT_FALSE(f.task.empty());
  const std::string before = Snapshot(f);

  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open(DbPath().c_str(), &other), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(other, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);

  const std::string secret = "secret-w1";
  const std::vector<http::ClientRequest> writes = {
      MakeRequest("POST", "/api/jobs/" + f.job + "/priority", json{{"priority", 90}}.dump()),
      MakeRequest("POST", "/api/jobs/" + f.job + "/priority", json{{"priority", 10}}.dump()),
      MakeRequest("POST", "/api/jobs/" + f.job + "/status", json{{"status", "cancel-requested"}}.dump()),
      MakeRequest("POST", "/tasks/" + f.task + "/update", json{{"task_status", "completed"}}.dump(), f.worker, secret),
      MakeRequest("POST", "/sign-on", "{}", f.worker, secret),
      MakeRequest("POST", "/task", "", f.worker, secret),
      MakeRequest("POST", "/tasks/" + f.task + "/return", "", f.worker, secret),
      MakeRequest("POST", "/register-worker",
                  json{{"secret", "s"}, {"platform", "linux"}, {"supported_task_types", {"sleep"}}}.dump()),
  };
  std::vector<http::ClientResponse> answers(writes.size());
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (size_t i = 0; i < writes.size(); ++i)
    threads.emplace_back([&, i] {
      auto client = http::MakeCurlClient("Flamenco-Worker/2.5");
      auto r = client->Send(writes[i]);
      if (r) answers[i] = std::move(*r);
    });
  // Reads are served while the writes wait or fail.
  const std::string during = Snapshot(f);
  for (auto& t : threads) t.join();
  const auto elapsed = std::chrono::steady_clock::now() - t0;
  for (size_t i = 0; i < answers.size(); ++i) {
    SCOPED_TRACE(writes[i].method + " " + writes[i].url);
    ExpectDatabase503(answers[i], "database busy");
  }
  // Waiting in turn behind the store's lock would take one busy timeout per
  // request; a generous bound well under that.
  EXPECT_LT(elapsed, kBusyTimeout * static_cast<int>(writes.size() / 2));
  EXPECT_EQ(during, before);
  EXPECT_EQ(Snapshot(f), before);

  ASSERT_EQ(sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(other);
  EXPECT_EQ(Snapshot(f), before);
  // As a client honouring Retry-After would: a write that was already
  // waiting for the lock may still be finishing when it is released.
  http::ClientResponse seen;
  for (int i = 0; i < 100; ++i) {
    seen = Call("GET", "/may-i-run/" + f.task, "", f.worker, secret);
    if (seen.status != 503) break;
    clock_.WaitFor(std::chrono::milliseconds(20), std::stop_token());
  }
  ASSERT_EQ(seen.status, 200) << seen.body;
  EXPECT_EQ(json::parse(seen.body, nullptr, false).value("may_keep_running", false), true) << seen.body;
  FinishJob(f);
  ExpectIntegrity();
}

// The worker endpoints that write (POST /task, POST /tasks/{id}/update) do
// not hold their I/O thread while their write waits: with one I/O thread
// and the write lock held by another process, an update waits for its commit
// while the same thread keeps answering reads. Once the lock is released the
// update commits and is answered 204.
class QueuedWriteTest : public StoreFaultFixture {
 protected:
  std::string ExtraConfig() const override { return "http_threads: 1\ndatabase_busy_timeout: 30s\n"; }

  int64_t QueuedWrites() {
    const auto metrics = Call("GET", "/metrics").body;
    const std::string name = "\nduende_store_queued_writes_total ";
    const auto at = metrics.find(name);
    return at == std::string::npos ? -1 : std::stoll(metrics.substr(at + name.size()));
  }
};

TEST_F(QueuedWriteTest, AnUpdateWaitingForTheStoreDoesNotHoldTheOnlyIoThread) {
  const Farm f = StartFarm();
  ASSERT_FALSE(f.task.empty());
  const int64_t queued = QueuedWrites();
  ASSERT_GT(queued, 0) << "the task request went through the store's writer";

  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open(DbPath().c_str(), &other), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(other, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  std::atomic<bool> answered{false};
  http::ClientResponse update;
  std::thread worker([&] {
    auto client = http::MakeCurlClient("Flamenco-Worker/2.5");
    auto r = client->Send(MakeRequest("POST", "/tasks/" + f.task + "/update", json{{"task_status", "completed"}}.dump(),
                                      f.worker, "secret-w1"));
    if (r) update = std::move(*r);
    answered = true;
  });
  // The writer has taken the update and waits for the lock; the one I/O
  // thread still answers.
  int64_t now = queued;
  for (int i = 0; i < 500 && now == queued; ++i) {
    clock_.WaitFor(std::chrono::milliseconds(10), std::stop_token());
    now = QueuedWrites();
  }
  EXPECT_EQ(now, queued + 1);
  EXPECT_EQ(Call("GET", "/status-change", "", f.worker, "secret-w1").status, 204);
  EXPECT_EQ(Call("GET", "/api/health").status, 200);
  EXPECT_FALSE(answered.load()) << "the update was answered before its write could commit";

  ASSERT_EQ(sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(other);
  worker.join();
  EXPECT_EQ(update.status, 204) << update.body;
  EXPECT_EQ(WaitForTaskStatus(f.task, "completed").value("status", ""), "completed");
  ExpectIntegrity();
}

}  // namespace
}  // namespace duende::manager
