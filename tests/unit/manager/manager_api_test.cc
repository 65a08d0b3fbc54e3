// The Manager over real HTTP on loopback (in-process): the Flamenco v2
// worker protocol and bad input of every class.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <thread>

#include "common/clock.h"
#include "http/http.h"
#include "manager/app.h"
#include "manager/config.h"
#include "manager/task_logs.h"
#include "manager_api_fixture.h"
#include "support/temp_dir.h"

namespace duende::manager {
namespace {

using nlohmann::json;

TEST_F(ManagerApiTest, WorkerProtocolRoundTrip) {
  const std::string w = Worker("w1");
  EXPECT_EQ(Call("POST", "/task", "", w, "secret-w1").status, 204);
  auto job = SubmitSleepJob(1);
  auto r = FetchTask(w, "w1");
  ASSERT_EQ(r.status, 200) << r.body;
  auto task = json::parse(r.body);
  const std::string task_id = task["_id"];
  EXPECT_EQ(task["job"], job["_id"]);
  EXPECT_EQ(task["status"], "active");
  EXPECT_EQ(task["task_type"], "sleep");
  EXPECT_TRUE(task["commands"].is_array());
  EXPECT_FALSE(task.contains("worker_id")) << "local-only fields stay local";

  auto may = json::parse(Call("GET", "/may-i-run/" + task_id, "", w, "secret-w1").body);
  EXPECT_EQ(may["may_keep_running"], true);
  EXPECT_EQ(Call("POST", "/tasks/" + task_id + "/update",
                 json{{"task_status", "completed"},
                      {"activity", "done"},
                      {"current_command_idx", 1},
                      {"log", "2026-11-27T00:00:00Z: bye"}}
                     .dump(),
                 w, "secret-w1")
                .status,
            204);
  for (int i = 0; i < 200; ++i) {
    auto j = json::parse(Call("GET", "/api/jobs/" + job["_id"].get<std::string>()).body);
    if (j["status"] == "completed") break;
    clock_.WaitFor(std::chrono::milliseconds(10), std::stop_token());
  }
  auto final_job = json::parse(Call("GET", "/api/jobs/" + job["_id"].get<std::string>()).body);
  EXPECT_EQ(final_job["status"], "completed");
  auto final_task = json::parse(Call("GET", "/api/tasks/" + task_id).body);
  EXPECT_EQ(final_task["status"], "completed");
  EXPECT_EQ(final_task["activity"], "done");

  EXPECT_EQ(Call("GET", "/status-change", "", w, "secret-w1").status, 204);
  EXPECT_EQ(Call("POST", "/output-produced", json{{"paths", {"/tmp/a.png"}}}.dump(), w, "secret-w1").status, 204);
  EXPECT_EQ(Call("POST", "/output-produced", json{{"paths", json::array()}}.dump(), w, "secret-w1").status, 422);
  EXPECT_EQ(Call("POST", "/sign-off", "", w, "secret-w1").status, 204);
  auto workers = json::parse(Call("GET", "/api/workers").body)["workers"];
  ASSERT_EQ(workers.size(), 1u);
  EXPECT_EQ(workers[0]["status"], "offline");
  EXPECT_FALSE(workers[0].contains("secret_hash"));
  EXPECT_EQ(workers[0]["software"], "Flamenco-Worker/2.5");
}

TEST_F(ManagerApiTest, WorkerWithoutTaskTypesGets406) {
  const std::string w = Worker("none", json::array());
  EXPECT_EQ(Call("POST", "/task", "", w, "secret-none").status, 406);
}

TEST_F(ManagerApiTest, WrongCredentialsAre401AndChangeNothing) {
  const std::string w = Worker("w1");
  auto r = Call("POST", "/task", "", w, "wrong");
  ExpectJsonMessage(r, 401);
  EXPECT_NE(r.Header("www-authenticate").find("Basic"), std::string::npos);
  ExpectJsonMessage(Call("POST", "/task"), 401);
  ExpectJsonMessage(Call("POST", "/sign-off", "", "ffffffffffffffffffffffff", "x"), 401);
  auto workers = json::parse(Call("GET", "/api/workers").body)["workers"];
  EXPECT_EQ(workers[0]["status"], "starting") << "a rejected sign-off must not change the worker";
}

TEST_F(ManagerApiTest, MalformedJsonIs400) {
  const std::string w = Worker("w1");
  ExpectJsonMessage(Call("POST", "/register-worker", "{nope"), 400);
  ExpectJsonMessage(Call("POST", "/tasks/aaaaaaaaaaaaaaaaaaaaaaaa/update", "{", w, "secret-w1"), 400);
  ExpectJsonMessage(Call("POST", "/api/jobs", "{\"name\": "), 400);
  ExpectJsonMessage(
      Call("POST", "/tasks/aaaaaaaaaaaaaaaaaaaaaaaa/update", R"({"task_status": "bogus"})", w, "secret-w1"), 400);
  EXPECT_EQ(JobCount(), 0);
  EXPECT_EQ(json::parse(Call("GET", "/api/workers").body)["workers"].size(), 1u);
}

TEST_F(ManagerApiTest, UnknownIdsAre404) {
  const std::string w = Worker("w1");
  ExpectJsonMessage(Call("POST", "/tasks/aaaaaaaaaaaaaaaaaaaaaaaa/update", R"({"activity": "x"})", w, "secret-w1"),
                    404);
  ExpectJsonMessage(Call("POST", "/tasks/not-an-id/update", R"({"activity": "x"})", w, "secret-w1"), 404);
  ExpectJsonMessage(Call("POST", "/tasks/aaaaaaaaaaaaaaaaaaaaaaaa/return", "", w, "secret-w1"), 404);
  ExpectJsonMessage(Call("GET", "/api/jobs/aaaaaaaaaaaaaaaaaaaaaaaa"), 404);
  ExpectJsonMessage(Call("GET", "/api/tasks/aaaaaaaaaaaaaaaaaaaaaaaa"), 404);
  ExpectJsonMessage(Call("POST", "/api/jobs/aaaaaaaaaaaaaaaaaaaaaaaa/status", R"({"status": "requeued"})"), 404);
  ExpectJsonMessage(Call("GET", "/no/such/endpoint"), 404);
}

TEST_F(ManagerApiTest, InvalidSettingsAndFrameRangesAre400AndCreateNothing) {
  ExpectJsonMessage(
      Call("POST", "/api/jobs", json{{"name", "x"}, {"job_type", "sleep"}, {"settings", json::object()}}.dump()), 400);
  ExpectJsonMessage(Call("POST", "/api/jobs",
                         json{{"name", "x"},
                              {"job_type", "sleep"},
                              {"settings", {{"frames", "10-1"}, {"chunk_size", 1}, {"time_in_seconds", 1}}}}
                             .dump()),
                    400);
  ExpectJsonMessage(Call("POST", "/api/jobs",
                         json{{"name", "x"},
                              {"job_type", "sleep"},
                              {"settings", {{"frames", "1-x"}, {"chunk_size", 1}, {"time_in_seconds", 1}}}}
                             .dump()),
                    400);
  ExpectJsonMessage(Call("POST", "/api/jobs", json{{"name", "x"}, {"job_type", "no-such-type"}}.dump()), 400);
  ExpectJsonMessage(Call("POST", "/api/jobs",
                         json{{"name", "x"},
                              {"job_type", "sleep"},
                              {"priority", 101},
                              {"settings", {{"frames", "1"}, {"chunk_size", 1}, {"time_in_seconds", 1}}}}
                             .dump()),
                    400);
  EXPECT_EQ(JobCount(), 0);
}

TEST_F(ManagerApiTest, OversizedBodyIs413AndCreatesNothing) {
  json big = {{"name", std::string(70000, 'x')},
              {"job_type", "sleep"},
              {"settings", {{"frames", "1"}, {"chunk_size", 1}, {"time_in_seconds", 1}}}};
  ExpectJsonMessage(Call("POST", "/api/jobs", big.dump()), 413);
  EXPECT_EQ(JobCount(), 0);
}

TEST_F(ManagerApiTest, WrongMethodIs405) { ExpectJsonMessage(Call("GET", "/task"), 405); }

TEST_F(ManagerApiTest, HealthIsOpen) {
  auto r = Call("GET", "/api/health");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(json::parse(r.body)["status"], "ok");
}

TEST_F(ManagerApiTest, PeopleNeedALoginWhileWorkersKeepTheirBasicAuth) {
  auto send = [&](const std::string& method, const std::string& path, http::Headers headers = {},
                  const std::string& body = "") {
    http::ClientRequest r;
    r.method = method;
    r.url = base_ + path;
    r.headers = std::move(headers);
    r.body = body;
    return client_->Send(r).value_or(http::ClientResponse{});
  };
  // Nothing but health without credentials; the answer says what to do.
  auto anon = send("GET", "/api/jobs");
  ExpectJsonMessage(anon, 401);
  EXPECT_EQ(anon.Header("www-authenticate"), "Bearer realm=\"Duende\"");
  ExpectJsonMessage(send("GET", "/metrics"), 401);
  ExpectJsonMessage(send("POST", "/api/jobs", {}, "{}"), 401);
  EXPECT_EQ(send("GET", "/api/health").status, 200);
  ExpectJsonMessage(send("GET", "/api/jobs", {{"Authorization", "Bearer dnd_wrong"}}), 401);
  // Worker registration and the v2 worker endpoints need no user.
  const std::string w = Worker("w1");
  EXPECT_EQ(Call("GET", "/status-change", "", w, "secret-w1").status, 204);

  // The generated admin token: owner-only file, only its hash kept.
  struct stat st {};
  ASSERT_EQ(::stat((dir_.path() + "/admin-token").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);
  const std::string token = AdminAuth()[0].second.substr(7);
  std::ifstream hash_in(dir_.path() + "/admin-token.hash");
  const std::string hash((std::istreambuf_iterator<char>(hash_in)), std::istreambuf_iterator<char>());
  EXPECT_TRUE(hash.starts_with("$argon2id$"));
  EXPECT_EQ(hash.find(token), std::string::npos);

  // Login: bad input is 400, a wrong token 401, the right one a session cookie.
  ExpectJsonMessage(send("POST", "/api/auth/login", {}, "not json"), 400);
  ExpectJsonMessage(send("POST", "/api/auth/login", {}, R"({"token": 5})"), 400);
  ExpectJsonMessage(send("POST", "/api/auth/login", {}, R"({})"), 400);
  auto wrong = send("POST", "/api/auth/login", {}, R"({"token": "dnd_nope"})");
  ExpectJsonMessage(wrong, 401);
  EXPECT_EQ(json::parse(wrong.body)["message"], "unknown API token");
  auto ok = send("POST", "/api/auth/login", {}, json{{"token", token}}.dump());
  ASSERT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(json::parse(ok.body), (json{{"user", "admin"}, {"role", "admin"}}));
  const std::string set_cookie(ok.Header("set-cookie"));
  EXPECT_NE(set_cookie.find("HttpOnly"), std::string::npos) << set_cookie;
  EXPECT_NE(set_cookie.find("SameSite=Strict"), std::string::npos) << set_cookie;
  const std::string cookie = set_cookie.substr(0, set_cookie.find(';'));
  ASSERT_TRUE(cookie.starts_with("duende_session=")) << cookie;
  EXPECT_EQ(send("GET", "/api/jobs", {{"Cookie", cookie}}).status, 200);
  EXPECT_EQ(json::parse(send("GET", "/api/auth/session", {{"Cookie", cookie}}).body)["role"], "admin");
  EXPECT_EQ(json::parse(send("GET", "/api/auth/users", {{"Cookie", cookie}}).body)["users"][0]["name"], "admin");
  ExpectJsonMessage(send("POST", "/api/jobs", {{"Cookie", cookie}, {"Origin", "http://elsewhere.example"}}, "{}"), 403);
  EXPECT_EQ(JobCount(), 0) << "the refused cross-site submission changed nothing";
  EXPECT_EQ(send("POST", "/api/auth/logout", {{"Cookie", cookie}}).status, 204);
  ExpectJsonMessage(send("GET", "/api/jobs", {{"Cookie", cookie}}), 401);
}

}  // namespace
}  // namespace duende::manager

namespace duende::manager {
namespace {

TEST_F(ManagerApiTest, HundredConcurrentTaskRequestsNeverShareATask) {
  std::vector<std::string> workers;
  for (int i = 0; i < 100; ++i) workers.push_back(Worker("w" + std::to_string(i)));
  SubmitSleepJob(50);
  // Wait until the tasks reached the cache: one worker sees a task, then
  // returns it so all 50 are up for grabs.
  auto probe = FetchTask(workers[0], "w0");
  ASSERT_EQ(probe.status, 200);
  const std::string probe_id = json::parse(probe.body)["_id"];
  ASSERT_EQ(Call("POST", "/tasks/" + probe_id + "/return", "", workers[0], "secret-w0").status, 204);

  std::vector<std::string> got(100);
  std::vector<std::thread> threads;
  for (int i = 0; i < 100; ++i)
    threads.emplace_back([&, i] {
      auto client = http::MakeCurlClient("Flamenco-Worker/2.5");
      http::ClientRequest r;
      r.method = "POST";
      r.url = base_ + "/task";
      r.user = workers[i];
      r.password = "secret-w" + std::to_string(i);
      auto resp = client->Send(r);
      if (resp && resp->status == 200) got[i] = json::parse(resp->body)["_id"];
    });
  for (auto& t : threads) t.join();
  std::set<std::string> unique;
  int handed_out = 0;
  for (const auto& id : got)
    if (!id.empty()) {
      ++handed_out;
      unique.insert(id);
    }
  EXPECT_EQ(handed_out, 50);
  EXPECT_EQ(unique.size(), 50u) << "a task was handed out twice";
}

// Regression (found running the Python Flamenco Worker 2.x against us): once
// told to stop, the v2 worker still pushes its last log lines (why it
// stopped, timings, "returned this task") after the task was returned or
// cancelled. v2 refuses an update only when *another* worker holds the task;
// we answered 409 for an unassigned task too, and the worker dropped those
// lines for good.
TEST_F(ManagerApiTest, LateLogsOfAReturnedTaskAreKeptNot409) {
  const std::string w = Worker("w1");
  auto job = SubmitSleepJob(1);
  auto r = FetchTask(w, "w1");
  ASSERT_EQ(r.status, 200) << r.body;
  const std::string task_id = json::parse(r.body)["_id"];
  const std::string job_id = job["_id"];
  ASSERT_EQ(Call("POST", "/tasks/" + task_id + "/return", "", w, "secret-w1").status, 204);

  auto late = Call("POST", "/tasks/" + task_id + "/update",
                   json{{"task_status", "canceled"},
                        {"activity", "late activity"},
                        {"log", "2026-11-27T18:53:08.891081+00:00: Worker w1 returned this task"}}
                       .dump(),
                   w, "secret-w1");
  EXPECT_EQ(late.status, 204) << late.body;

  // The log line is kept on disk; status, activity and worker are not taken over.
  const std::string log = LogOf(task_id);
  EXPECT_NE(log.find("Worker w1 returned this task"), std::string::npos) << log;
  // Claimed by the depsgraph download before it ran, so wait for the
  // return itself (worker "-"), not just the status.
  auto task = WaitForTaskStatus(task_id, "claimed-by-manager", "-");
  EXPECT_EQ(task["status"], "claimed-by-manager");
  EXPECT_NE(task["activity"], "late activity");
  EXPECT_EQ(task["worker"], "-");
}

// A runaway worker: its log stops at task_log_max_bytes (16 KiB here), yet
// every update is answered 204 (so its outbox moves on) and still changes
// the task; /metrics counts what was dropped.
TEST_F(ManagerApiTest, RunawayWorkerLogStopsAtTheCapAndItsUpdatesStillSucceed) {
  const std::string w = Worker("w1");
  const std::string job_id = SubmitSleepJob(1)["_id"];
  const json task = json::parse(FetchTask(w, "w1").body, nullptr, false);
  ASSERT_TRUE(task.is_object());
  const std::string task_id = task["_id"];
  const std::string chunk = std::string(30000, 'x');  // one update: under the body limit, over the log cap
  for (int i = 0; i < 5; ++i) {
    auto u = Call("POST", "/tasks/" + task_id + "/update",
                  json{{"activity", "step " + std::to_string(i)}, {"log", chunk}}.dump(), w, "secret-w1");
    EXPECT_EQ(u.status, 204) << u.body;
  }
  EXPECT_EQ(LogOf(task_id).size(), 16384u);
  EXPECT_EQ(
      Call("POST", "/tasks/" + task_id + "/update", json{{"task_status", "completed"}}.dump(), w, "secret-w1").status,
      204);
  EXPECT_EQ(WaitForTaskStatus(task_id, "completed")["status"], "completed");
  const std::string metrics = Call("GET", "/metrics").body;
  EXPECT_NE(metrics.find("duende_task_logs_capped_total 1\n"), std::string::npos) << metrics;
  // The Manager's own lines (assignment) share the budget, so at least
  // everything beyond the cap was dropped.
  const std::string name = "duende_task_log_dropped_bytes_total ";
  const size_t at = metrics.find("\n" + name);
  ASSERT_NE(at, std::string::npos) << metrics;
  EXPECT_GE(std::stoull(metrics.substr(at + 1 + name.size())), 5 * (chunk.size() + 1) - 16384) << metrics;
}

TEST_F(ManagerApiTest, UpdateOfATaskHeldByAnotherWorkerIs409) {
  const std::string a = Worker("a");
  const std::string b = Worker("b");
  SubmitSleepJob(1);
  auto r = FetchTask(a, "a");
  ASSERT_EQ(r.status, 200) << r.body;
  const std::string task_id = json::parse(r.body)["_id"];
  ASSERT_EQ(Call("POST", "/tasks/" + task_id + "/return", "", a, "secret-a").status, 204);
  ASSERT_EQ(FetchTask(b, "b").status, 200);

  ExpectJsonMessage(Call("POST", "/tasks/" + task_id + "/update", json{{"log", "x"}}.dump(), a, "secret-a"), 409);
  // Refused before it wrote anything: the store's writer did not have to run
  // its batch again with a savepoint per write.
  const std::string metrics = Call("GET", "/metrics").body;
  EXPECT_NE(metrics.find("\nduende_store_queued_write_reruns_total 0\n"), std::string::npos) << metrics;
  auto may = json::parse(Call("GET", "/may-i-run/" + task_id, "", a, "secret-a").body);
  EXPECT_EQ(may["may_keep_running"], false);
  // Returning a task someone else holds is a no-op, still 204.
  EXPECT_EQ(Call("POST", "/tasks/" + task_id + "/return", "", a, "secret-a").status, 204);
  EXPECT_EQ(WaitForTaskStatus(task_id, "active")["status"], "active");
}

// Regression (Python Flamenco Worker 2.x): told by may-i-run that its task is
// cancel-requested, the v2 worker stops it silently -- it never sends
// 'canceled' -- and returns it. The job stayed cancel-requested for as long as
// the idle worker kept polling; the return must let the cancel finish.
TEST_F(ManagerApiTest, CancelFinishesAfterTheWorkerStopsSilentlyAndReturnsTheTask) {
  const std::string w = Worker("w1");
  auto job = SubmitSleepJob(1);
  const std::string job_id = job["_id"];
  auto r = FetchTask(w, "w1");
  ASSERT_EQ(r.status, 200) << r.body;
  const std::string task_id = json::parse(r.body)["_id"];
  ASSERT_EQ(
      Call("POST", "/tasks/" + task_id + "/update", json{{"task_status", "active"}}.dump(), w, "secret-w1").status,
      204);
  ASSERT_LT(Call("POST", "/api/jobs/" + job_id + "/status", json{{"status", "cancel-requested"}}.dump()).status, 300);

  bool told_to_stop = false;
  for (int i = 0; i < 500 && !told_to_stop; ++i) {
    told_to_stop =
        json::parse(Call("GET", "/may-i-run/" + task_id, "", w, "secret-w1").body)["may_keep_running"] == false;
    if (!told_to_stop) clock_.WaitFor(std::chrono::milliseconds(10), std::stop_token());
  }
  ASSERT_TRUE(told_to_stop);
  EXPECT_EQ(Call("POST", "/tasks/" + task_id + "/update",
                 json{{"log", "2026-11-27T18:53:08.891081+00:00: stopped"}}.dump(), w, "secret-w1")
                .status,
            204);
  EXPECT_EQ(Call("POST", "/tasks/" + task_id + "/return", "", w, "secret-w1").status, 204);

  std::string status;
  for (int i = 0; i < 1000; ++i) {
    EXPECT_EQ(Call("POST", "/task", "", w, "secret-w1").status, 204);  // the idle worker keeps asking
    status = json::parse(Call("GET", "/api/jobs/" + job_id).body)["status"];
    if (status == "canceled") break;
    clock_.WaitFor(std::chrono::milliseconds(20), std::stop_token());
  }
  EXPECT_EQ(status, "canceled");
  EXPECT_EQ(json::parse(Call("GET", "/api/tasks/" + task_id).body)["status"], "canceled");
}

}  // namespace
}  // namespace duende::manager

namespace duende::manager {
namespace {

TEST_F(ManagerApiTest, DeletingAFinishedJobRemovesItsTasksAndLogs) {
  const std::string w = Worker("w1");
  const std::string job_id = SubmitSleepJob(1)["_id"];
  auto r = FetchTask(w, "w1");
  ASSERT_EQ(r.status, 200);
  const std::string task_id = json::parse(r.body)["_id"];
  ExpectJsonMessage(Call("DELETE", "/api/jobs/" + job_id), 409);  // still running
  ASSERT_EQ(Call("POST", "/tasks/" + task_id + "/update",
                 json{{"task_status", "completed"}, {"log", "2026-11-27T00:00:00Z: done"}}.dump(), w, "secret-w1")
                .status,
            204);
  ASSERT_EQ(WaitForTaskStatus(task_id, "completed")["status"], "completed");
  const std::string log_dir = dir_.path() + "/task-logs/job-" + job_id.substr(0, 4) + "/" + job_id;
  ASSERT_TRUE(std::filesystem::exists(log_dir));
  for (int i = 0; i < 300 && json::parse(Call("GET", "/api/jobs/" + job_id).body)["status"] != "completed"; ++i)
    clock_.WaitFor(std::chrono::milliseconds(10), std::stop_token());
  EXPECT_EQ(Call("DELETE", "/api/jobs/" + job_id).status, 204);
  ExpectJsonMessage(Call("GET", "/api/jobs/" + job_id), 404);
  ExpectJsonMessage(Call("GET", "/api/tasks/" + task_id), 404);
  EXPECT_FALSE(std::filesystem::exists(log_dir)) << "logs of deleted jobs are deleted";
  ExpectJsonMessage(Call("DELETE", "/api/jobs/" + job_id), 404);
  EXPECT_EQ(JobCount(), 0);
}

}  // namespace
}  // namespace duende::manager

namespace duende::manager {
namespace {

// The Manager with a small task-log directory cap (40 KiB; each log's own
// cap is 16 KiB).
class TaskLogDirCapTest : public ManagerApiTest {
 protected:
  std::string ExtraConfig() const override { return "task_logs_max_total_bytes: 40960\n"; }

  // Runs every task of `job_id` on worker w1: each sends `updates` log
  // updates of 4,000 bytes, then completes. Returns the task IDs.
  std::vector<std::string> RunJob(const std::string& w, const std::string& job_id, int tasks, int updates) {
    std::vector<std::string> ids;
    for (int t = 0; t < tasks; ++t) {
      const json task = json::parse(FetchTask(w, "w1").body, nullptr, false);
      EXPECT_TRUE(task.is_object());
      if (!task.is_object()) return ids;
      EXPECT_EQ(task["job"], job_id);
      const std::string id = task["_id"];
      for (int u = 0; u < updates; ++u) {
        auto r = Call("POST", "/tasks/" + id + "/update",
                      json{{"activity", "frame part " + std::to_string(u)}, {"log", std::string(3999, 'a' + u)}}.dump(),
                      w, "secret-w1");
        EXPECT_EQ(r.status, 204) << r.body;  // accepted, whatever happens to the log text
      }
      EXPECT_EQ(
          Call("POST", "/tasks/" + id + "/update", json{{"task_status", "completed"}}.dump(), w, "secret-w1").status,
          204);
      ids.push_back(id);
    }
    for (const auto& id : ids) EXPECT_EQ(WaitForTaskStatus(id, "completed")["status"], "completed") << id;
    return ids;
  }
  uint64_t Metric(const std::string& name) {
    const std::string metrics = Call("GET", "/metrics").body;
    const size_t at = metrics.find("\n" + name + " ");
    EXPECT_NE(at, std::string::npos) << name << " in\n" << metrics;
    return at == std::string::npos ? 0 : std::stoull(metrics.substr(at + name.size() + 2));
  }
  static size_t Notices(const std::string& log) {
    size_t n = 0;
    for (size_t at = log.find(TaskLogs::kTotalCapNotice); at != std::string::npos;
         at = log.find(TaskLogs::kTotalCapNotice, at + 1))
      ++n;
    return n;
  }
};

// A job of many tasks, each far under task_log_max_bytes, fills the
// directory: later log text is dropped with one notice per log, every update
// is still accepted and every task completes, /metrics shows it, and
// deleting a finished job makes room again.
TEST_F(TaskLogDirCapTest, ManySmallLogsFillTheDirectoryUpdatesStillCountAndDeletingAJobMakesRoom) {
  const std::string w = Worker("w1");
  const std::string old_job = SubmitSleepJob(3)["_id"];
  const auto old_tasks = RunJob(w, old_job, 3, 3);  // 3 x 12 kB: under the cap
  for (const auto& id : old_tasks) EXPECT_EQ(Notices(LogOf(id)), 0u);
  EXPECT_EQ(Metric("duende_task_log_total_cap_dropped_bytes_total"), 0u);

  const std::string job = SubmitSleepJob(4)["_id"];
  const auto tasks = RunJob(w, job, 4, 3);
  ASSERT_EQ(tasks.size(), 4u);
  // The directory filled during this job: its last task's log lost its
  // updates and says so, once.
  const std::string last = LogOf(tasks.back());
  EXPECT_EQ(Notices(last), 1u) << last;
  EXPECT_EQ(last.find(std::string(100, 'c')), std::string::npos) << "the third update was dropped";
  EXPECT_GE(Metric("duende_task_logs_bytes"), 40960u);
  EXPECT_EQ(Metric("duende_task_logs_max_total_bytes"), 40960u);
  const uint64_t dropped = Metric("duende_task_log_total_cap_dropped_bytes_total");
  EXPECT_GE(dropped, 4 * 3 * 4000u + 3 * 3 * 4000u - 40960u);
  EXPECT_EQ(Metric("duende_task_log_dropped_bytes_total"), 0u) << "no log reached its own cap";

  // Deleting the finished older job frees its logs: the next job's logs are
  // stored in full.
  for (int i = 0; i < 300 && json::parse(Call("GET", "/api/jobs/" + old_job).body)["status"] != "completed"; ++i)
    clock_.WaitFor(std::chrono::milliseconds(10), std::stop_token());
  ASSERT_EQ(Call("DELETE", "/api/jobs/" + old_job).status, 204);
  EXPECT_LT(Metric("duende_task_logs_bytes"), 40960u);
  const std::string next = SubmitSleepJob(1)["_id"];
  const auto next_tasks = RunJob(w, next, 1, 2);
  ASSERT_EQ(next_tasks.size(), 1u);
  const std::string log = LogOf(next_tasks[0]);
  EXPECT_EQ(Notices(log), 0u) << log;
  EXPECT_NE(log.find(std::string(3999, 'b')), std::string::npos);
  EXPECT_EQ(Metric("duende_task_log_total_cap_dropped_bytes_total"), dropped);
}

}  // namespace
}  // namespace duende::manager
