// Conformance of the real duende-manager binary with the request sequence of
// the Flamenco Worker 2.x (Python) -- without needing that worker.
//
// Each step below sends what that worker sends (method, path, headers, Basic
// auth, JSON body in the shape it builds) and checks only what it relies on
// in the answer. Facts about the worker, in our words:
//  * Its HTTP client sends `User-Agent: Flamenco-Worker/<version>`, JSON
//    bodies with `Content-Type: application/json`, bodyless POSTs for /task,
//    /sign-off, /tasks/{id}/return and /ack-status-change/{status}, and HTTP
//    Basic auth (worker ID : secret) on everything but registration.
//  * Registration posts {secret (64 alphanumerics), platform, supported_task_types,
//    nickname}; it needs 2xx and reads `_id` from the answer. A 401 on sign-on
//    makes it register again; a 403 makes it exit; anything else is retried.
//  * /task: 200 = task JSON (reads `_id`, `commands[].name`, `commands[].settings`
//    (must be an object)); 204 = nothing to do; 423 = body is turned into a
//    status-change object that takes exactly one key, `status_requested`.
//  * /may-i-run/{task}: the body is turned into an object that takes only
//    `may_keep_running` (bool), `reason` and `status_requested` (string or
//    null); any other key crashes its poller.
//  * Task updates are queued and posted in order; 409 drops the update, any
//    other non-2xx blocks the queue and is retried forever. The first update
//    is {activity: "", current_command_idx: 0, task_progress_percentage: 0,
//    command_progress_percentage: 0, metrics: {timing: {}}, task_status: "active"};
//    log lines are "<isoformat UTC with +00:00>: <text>" joined by '\n'. After
//    being told to stop, it sends log-only updates and then /return.
//  * Sign-off (on SIGINT/SIGTERM) is a bodyless POST after the last flush.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "support/farm.h"
#include "support/temp_dir.h"

namespace duende::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

constexpr const char* kUserAgent = "Flamenco-Worker/2.5";

std::set<std::string> Keys(const json& j) {
  std::set<std::string> out;
  for (auto it = j.begin(); it != j.end(); ++it) out.insert(it.key());
  return out;
}

// Talks to the Manager the way the Python worker's HTTP session does.
class PyWorker {
 public:
  PyWorker(std::string base, std::string nickname)
      : base_(std::move(base)), nickname_(std::move(nickname)), client_(http::MakeCurlClient(kUserAgent)) {
    // 64 characters from [A-Za-z0-9], like the worker's generated secret.
    const std::string alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    for (size_t i = 0; i < 64; ++i) secret_ += alphabet[(i * 7 + nickname_.size() * 13) % alphabet.size()];
  }

  http::ClientResponse Send(const std::string& method, const std::string& path, const std::optional<json>& body,
                            bool auth = true, http::Headers extra = {}) {
    http::ClientRequest r;
    r.method = method;
    r.url = base_ + path;
    r.headers = {{"Accept", "*/*"}, {"Accept-Encoding", "gzip, deflate"}, {"Connection", "keep-alive"}};
    if (body) {
      r.body = body->dump();
      r.headers.emplace_back("Content-Type", "application/json");
    }
    for (auto& h : extra) r.headers.push_back(std::move(h));
    if (auth) {
      r.user = id_;
      r.password = secret_;
    }
    auto resp = client_->Send(r);
    EXPECT_TRUE(resp.has_value()) << method << " " << path;
    return resp.value_or(http::ClientResponse{});
  }
  http::ClientResponse Post(const std::string& path, const std::optional<json>& body = std::nullopt) {
    return Send("POST", path, body);
  }
  http::ClientResponse Get(const std::string& path) { return Send("GET", path, std::nullopt); }

  json TaskTypes() const { return json{"sleep", "debug", "blender-render", "file-management", "video-encoding"}; }

  // Registration: unauthenticated; the answer's `_id` becomes the Basic-auth user.
  void Register() {
    auto r = Send(
        "POST", "/register-worker",
        json{
            {"secret", secret_}, {"platform", "linux"}, {"supported_task_types", TaskTypes()}, {"nickname", nickname_}},
        /*auth=*/false);
    ASSERT_EQ(r.status, 200) << r.body;
    auto j = json::parse(r.body, nullptr, false);
    ASSERT_TRUE(j.is_object()) << r.body;
    ASSERT_TRUE(j.contains("_id") && j["_id"].is_string()) << r.body;
    id_ = j["_id"];
    EXPECT_TRUE(std::regex_match(id_, std::regex("[0-9a-f]{24}"))) << id_;
    for (const char* secret_field : {"secret", "hashed_secret", "secret_hash"})
      EXPECT_FALSE(j.contains(secret_field)) << "registration answer leaks " << secret_field;
  }
  void SignOn() {
    auto r = Post("/sign-on", json{{"supported_task_types", TaskTypes()}, {"nickname", nickname_}});
    ASSERT_EQ(r.status, 204) << r.body;
  }
  // POST /task until something other than 204 comes (the job side hands new
  // tasks to the scheduler asynchronously).
  http::ClientResponse FetchTask(std::chrono::milliseconds timeout = 10s) {
    http::ClientResponse r;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    do {
      r = Post("/task");
      if (r.status != 204) break;
      std::this_thread::sleep_for(50ms);
    } while (std::chrono::steady_clock::now() < deadline);
    return r;
  }
  http::ClientResponse Update(const std::string& task_id, const json& payload) {
    return Post("/tasks/" + task_id + "/update", payload);
  }
  json MayIRun(const std::string& task_id) {
    auto r = Get("/may-i-run/" + task_id);
    EXPECT_EQ(r.status, 200) << r.body;
    auto j = json::parse(r.body, nullptr, false);
    EXPECT_TRUE(j.is_object()) << r.body;
    if (!j.is_object()) return json::object();
    // Only these keys can be passed to the worker's response object.
    for (const auto& k : Keys(j))
      EXPECT_TRUE(k == "may_keep_running" || k == "reason" || k == "status_requested") << "unexpected key " << k;
    EXPECT_TRUE(j.contains("may_keep_running") && j["may_keep_running"].is_boolean()) << r.body;
    for (const char* k : {"reason", "status_requested"})
      if (j.contains(k)) {
        EXPECT_TRUE(j[k].is_string() || j[k].is_null()) << r.body;
      }
    return j;
  }

  const std::string& id() const { return id_; }
  const std::string& nickname() const { return nickname_; }

 private:
  std::string base_;
  std::string nickname_;
  std::string id_;
  std::string secret_;
  std::unique_ptr<http::Client> client_;
};

// One log line as the worker timestamps it (Python isoformat of an aware UTC time).
std::string LogLine(const std::string& text) { return "2026-11-27T18:49:54.123471+00:00: " + text; }

// The activity document the worker keeps per task, plus optional status/log.
json Activity(const std::string& activity, int cmd_idx, int cmd_progress, json timing,
              std::optional<std::string> status = std::nullopt, std::optional<std::string> log = std::nullopt) {
  json j = {{"activity", activity},
            {"current_command_idx", cmd_idx},
            {"task_progress_percentage", 0},
            {"command_progress_percentage", cmd_progress},
            {"metrics", {{"timing", std::move(timing)}}}};
  if (status) j["task_status"] = *status;
  if (log) j["log"] = *log;
  return j;
}

json SleepJob(double seconds) {
  return {{"name", "py-worker"},
          {"job_type", "sleep"},
          {"settings", {{"frames", "1"}, {"chunk_size", 1}, {"time_in_seconds", seconds}}}};
}

class FlamencoWorkerProtocolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    data_dir_ = dir_ / "manager";
    manager_ = std::make_unique<ManagerProcess>(data_dir_);
    ASSERT_FALSE(manager_->url().empty()) << manager_->process().Log();
  }

  json Task(const std::string& id) { return manager_->Get("/api/tasks/" + id); }

  TempDir dir_;
  std::string data_dir_;
  std::unique_ptr<ManagerProcess> manager_;
};

TEST_F(FlamencoWorkerProtocolTest, RegisterSignOnRunAndCompleteASleepTask) {
  PyWorker w(manager_->url(), "render-01");
  ASSERT_NO_FATAL_FAILURE(w.Register());
  // Freshly registered workers go straight to fetching; sign-on is for restarts.
  EXPECT_EQ(w.Post("/task").status, 204);

  const std::string job_id = manager_->SubmitJob(SleepJob(1));
  auto r = w.FetchTask();
  ASSERT_EQ(r.status, 200) << r.body;
  auto task = json::parse(r.body, nullptr, false);
  ASSERT_TRUE(task.is_object()) << r.body;
  ASSERT_TRUE(task["_id"].is_string());
  const std::string task_id = task["_id"];
  EXPECT_EQ(task["job"], job_id);
  EXPECT_EQ(task["status"], "active");
  ASSERT_TRUE(task["commands"].is_array());
  ASSERT_FALSE(task["commands"].empty());
  for (const auto& cmd : task["commands"]) {
    ASSERT_TRUE(cmd["name"].is_string()) << cmd;
    ASSERT_TRUE(cmd["settings"].is_object()) << cmd;
  }
  const json& last = task["commands"].back();
  EXPECT_EQ(last["name"], "sleep");
  EXPECT_TRUE(last["settings"]["time_in_seconds"].is_number()) << last;

  // Status change to active is pushed at once, with an empty timing dict.
  EXPECT_EQ(w.Update(task_id, Activity("", 0, 0, json::object(), "active")).status, 204);
  EXPECT_EQ(w.MayIRun(task_id)["may_keep_running"], true);

  // Progress with timestamped log lines; the command index travels as `current_command_idx`.
  const std::string log1 = LogLine("echo: Starting") + "\n" + LogLine("Preparing to sleep") + "\n" +
                           LogLine("echo: Finished") + "\n" + LogLine("sleep: Starting") + "\n" +
                           LogLine("Sleeping for 1 seconds");
  EXPECT_EQ(w.Update(task_id, Activity("starting sleep", 1, 0, {{"total", 1.5e-05}}, "active", log1)).status, 204);

  // The worker polls may-i-run every 5 s while the task runs.
  std::this_thread::sleep_for(5s);
  EXPECT_EQ(w.MayIRun(task_id)["may_keep_running"], true);

  const std::string log2 = LogLine("Done sleeping for 1 seconds") + "\n" + LogLine("sleep: Finished") + "\n" +
                           LogLine("Aggregated task timing info: {\"total\": 1.0054}");
  EXPECT_EQ(w.Update(task_id, Activity("Task completed", 1, 100, {{"total", 1.0054}}, "completed", log2)).status, 204);
  EXPECT_TRUE(manager_->WaitForJobStatus(job_id, "completed", 10s)) << manager_->Get("/api/jobs/" + job_id);

  auto t = Task(task_id);
  EXPECT_EQ(t["status"], "completed");
  EXPECT_EQ(t["activity"], "Task completed");
  EXPECT_EQ(t["current_command_index"], 1) << t;

  const std::string log = manager_->TaskLog(task_id);
  for (const char* line : {"+00:00: echo: Starting", "+00:00: Sleeping for 1 seconds", "+00:00: sleep: Finished"})
    EXPECT_NE(log.find(line), std::string::npos) << line << " missing from:\n" << log;

  // Restart: sign-on with the stored credentials, then fetch again.
  ASSERT_NO_FATAL_FAILURE(w.SignOn());
  EXPECT_EQ(w.Post("/task").status, 204);

  auto workers = manager_->Get("/api/workers")["workers"];
  ASSERT_EQ(workers.size(), 1u);
  EXPECT_EQ(workers[0]["_id"], w.id());
  EXPECT_EQ(workers[0]["software"], kUserAgent);
  EXPECT_EQ(workers[0]["nickname"], "render-01");
}

TEST_F(FlamencoWorkerProtocolTest, AuthAnswersTheWorkerActsOn) {
  PyWorker w(manager_->url(), "render-02");
  ASSERT_NO_FATAL_FAILURE(w.Register());
  // Unknown or wrong credentials on sign-on must be 401 (re-register), never 403 (exit).
  PyWorker stranger(manager_->url(), "stranger");
  auto r = stranger.Send("POST", "/sign-on", json{{"supported_task_types", {"sleep"}}, {"nickname", "stranger"}});
  EXPECT_EQ(r.status, 401) << r.body;
  EXPECT_NE(r.Header("www-authenticate").find("Basic"), std::string_view::npos);
  EXPECT_EQ(w.Send("POST", "/task", std::nullopt, /*auth=*/false).status, 401);
  // The worker's output notification.
  EXPECT_EQ(w.Post("/output-produced", json{{"paths", {"/render/frame-0001.png"}}}).status, 204);
}

TEST_F(FlamencoWorkerProtocolTest, ReassignedTaskIs409AndNotMayRun) {
  PyWorker a(manager_->url(), "a");
  PyWorker b(manager_->url(), "b");
  ASSERT_NO_FATAL_FAILURE(a.Register());
  ASSERT_NO_FATAL_FAILURE(b.Register());
  const std::string job_id = manager_->SubmitJob(SleepJob(30));
  auto r = a.FetchTask();
  ASSERT_EQ(r.status, 200) << r.body;
  const std::string task_id = json::parse(r.body)["_id"];
  ASSERT_EQ(a.Update(task_id, Activity("", 0, 0, json::object(), "active")).status, 204);

  // The task moves to worker b (here: a returns it, b fetches it).
  ASSERT_EQ(a.Post("/tasks/" + task_id + "/return").status, 204);
  auto rb = b.FetchTask();
  ASSERT_EQ(rb.status, 200) << rb.body;
  ASSERT_EQ(json::parse(rb.body)["_id"], task_id);

  // a's queued updates are refused with 409 (the worker drops them) ...
  EXPECT_EQ(a.Update(task_id, Activity("starting sleep", 1, 0, {{"total", 0.1}})).status, 409);
  // ... may-i-run tells it to stop ...
  auto may = a.MayIRun(task_id);
  EXPECT_EQ(may["may_keep_running"], false);
  EXPECT_TRUE(may["reason"].is_string()) << may;
  // ... its log-only updates and its return are harmless.
  EXPECT_EQ(a.Update(task_id, json{{"log", LogLine("Worker a stopped running this task")}}).status, 409);
  EXPECT_EQ(a.Post("/tasks/" + task_id + "/return").status, 204);
  auto t = Task(task_id);
  EXPECT_EQ(t["status"], "active");
  EXPECT_EQ(b.MayIRun(task_id)["may_keep_running"], true);
  EXPECT_EQ(b.Update(task_id, Activity("starting sleep", 1, 0, {{"total", 0.1}}, "active")).status, 204);
}

TEST_F(FlamencoWorkerProtocolTest, StoppedWorkerLateLogsAreKept) {
  PyWorker w(manager_->url(), "late");
  ASSERT_NO_FATAL_FAILURE(w.Register());
  const std::string job_id = manager_->SubmitJob(SleepJob(30));
  auto r = w.FetchTask();
  ASSERT_EQ(r.status, 200) << r.body;
  const std::string task_id = json::parse(r.body)["_id"];
  ASSERT_EQ(w.Update(task_id, Activity("", 0, 0, json::object(), "active")).status, 204);

  // Cancelling the job: may-i-run says no; the worker stops silently, pushes
  // only logs, and returns the task.
  ASSERT_LT(manager_->Post("/api/jobs/" + job_id + "/status", json{{"status", "cancel-requested"}}).status, 300);
  ASSERT_TRUE(WaitFor([&] { return w.MayIRun(task_id)["may_keep_running"] == false; }, 10s));
  EXPECT_EQ(w.Update(task_id, json{{"log", LogLine("Worker late stopped running this task")}}).status, 204);
  EXPECT_EQ(w.Post("/tasks/" + task_id + "/return").status, 204);
  EXPECT_TRUE(manager_->WaitForJobStatus(job_id, "canceled", 20s)) << manager_->Get("/api/jobs/" + job_id);
  // Even after the Manager cancelled it, the worker's last lines are kept (not 409).
  EXPECT_EQ(w.Update(task_id, json{{"log", LogLine("Worker late returned this task to the Manager queue.")}}).status,
            204);
  EXPECT_EQ(Task(task_id)["status"], "canceled");
  const std::string log = manager_->TaskLog(task_id);
  EXPECT_NE(log.find("stopped running this task"), std::string::npos) << log;
  EXPECT_NE(log.find("returned this task to the Manager queue."), std::string::npos) << log;
}

TEST_F(FlamencoWorkerProtocolTest, SignOffReturnsTheRunningTask) {
  PyWorker w(manager_->url(), "leaver");
  PyWorker other(manager_->url(), "other");
  ASSERT_NO_FATAL_FAILURE(w.Register());
  ASSERT_NO_FATAL_FAILURE(other.Register());
  manager_->SubmitJob(SleepJob(30));
  auto r = w.FetchTask();
  ASSERT_EQ(r.status, 200) << r.body;
  const std::string task_id = json::parse(r.body)["_id"];
  ASSERT_EQ(w.Update(task_id, Activity("starting sleep", 1, 0, {{"total", 0.1}}, "active")).status, 204);

  // SIGINT: the aborted command is not reported; pending activity is flushed; then sign-off.
  EXPECT_EQ(w.Update(task_id, Activity("starting sleep", 1, 0, {{"total", 7.1}}, "active",
                                       LogLine("sleep: command timing information: {\"total\": 7.1}")))
                .status,
            204);
  EXPECT_EQ(w.Post("/sign-off").status, 204);
  // The job side hears of it through the upstream queue, pushed right after
  // the commit but on the link's thread: wait for it rather than race it.
  EXPECT_TRUE(WaitFor([&] { return Task(task_id)["status"] == "claimed-by-manager"; }, 10s)) << Task(task_id);
  auto t = Task(task_id);
  EXPECT_EQ(t["status"], "claimed-by-manager") << t;
  EXPECT_EQ(t["worker"], "-");
  auto workers = manager_->Get("/api/workers")["workers"];
  for (const auto& wk : workers)
    if (wk["_id"] == w.id()) {
      EXPECT_EQ(wk["status"], "offline");
    }
  auto ro = other.FetchTask();
  ASSERT_EQ(ro.status, 200) << ro.body;
  EXPECT_EQ(json::parse(ro.body)["_id"], task_id);
}

TEST_F(FlamencoWorkerProtocolTest, SleepAndWakeThroughStatusChanges) {
  PyWorker w(manager_->url(), "sleeper");
  ASSERT_NO_FATAL_FAILURE(w.Register());
  // SIGUSR1: the worker acknowledges 'asleep' unsolicited and polls /status-change.
  EXPECT_EQ(w.Post("/ack-status-change/asleep").status, 204);
  EXPECT_EQ(w.Get("/status-change").status, 204);
  // Shut down while asleep, start again: the Manager asks it to sleep again.
  EXPECT_EQ(w.Post("/sign-off").status, 204);
  ASSERT_NO_FATAL_FAILURE(w.SignOn());
  auto r = w.Post("/task");
  ASSERT_EQ(r.status, 423) << r.body;
  auto j = json::parse(r.body, nullptr, false);
  ASSERT_TRUE(j.is_object()) << r.body;
  EXPECT_EQ(Keys(j), std::set<std::string>{"status_requested"}) << r.body;
  EXPECT_EQ(j["status_requested"], "asleep");
  EXPECT_EQ(w.Post("/ack-status-change/asleep").status, 204);
  EXPECT_EQ(w.Get("/status-change").status, 204);
  // SIGUSR2: wake up, acknowledge, fetch again.
  EXPECT_EQ(w.Post("/ack-status-change/awake").status, 204);
  EXPECT_EQ(w.Post("/task").status, 204);
  // --test mode acknowledges 'testing' right after start-up.
  EXPECT_EQ(w.Post("/ack-status-change/testing").status, 204);
}

}  // namespace
}  // namespace duende::testing
