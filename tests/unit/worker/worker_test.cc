// The worker against a fake in-process Manager: registration, sign-on, task
// flow, status changes, may-i-run revocation, settings failures, shutdown.
#include "worker/worker.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>
#include <nlohmann/json.hpp>

#include "common/jwt.h"
#include "unit/worker/worker_test_util.h"
#include "worker/credentials.h"

namespace duende::worker {
namespace {

using ::testing::Contains;
using testing::FakeManager;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::Recorded;
using testing::TempDir;
using json = nlohmann::json;

json TaskJson(const std::string& id, json commands) {
  return {{"_id", id},
          {"_etag", "e"},
          {"job", NewObjectId()},
          {"manager", NewObjectId()},
          {"project", NewObjectId()},
          {"user", NewObjectId()},
          {"name", "task-" + id},
          {"status", "queued"},
          {"priority", 50},
          {"job_priority", 50},
          {"job_type", "sleep"},
          {"task_type", "sleep"},
          {"commands", std::move(commands)}};
}

// Answers POST /task with the given tasks once each, then with `after`.
void ServeTasks(FakeManager& fm, std::vector<json> tasks, int after = 204) {
  auto queue = std::make_shared<std::vector<json>>(std::move(tasks));
  auto mu = std::make_shared<std::mutex>();
  fm.On("POST", "/task", [queue, mu, after](const http::Request&) {
    std::lock_guard lock(*mu);
    if (queue->empty()) return after == 204 ? http::Response::NoContent() : http::Response::Message(after, "x");
    json t = queue->front();
    queue->erase(queue->begin());
    return http::Response::Json(200, t);
  });
}

std::vector<std::string> Paths(const std::vector<Recorded>& rs) {
  std::vector<std::string> out;
  for (const auto& r : rs) out.push_back(r.method + " " + r.path);
  return out;
}

class WorkerTest : public ::testing::Test {
 protected:
  // A failed assertion must not leave the worker thread running forever.
  ~WorkerTest() override { stop_.request_stop(); }
  WorkerConfig Config() {
    WorkerConfig c;
    c.manager_url = fm_.url();
    c.data_dir = dir_.path() / "data";
    c.nickname = "test-node";
    return c;
  }
  void Start(WorkerConfig c) {
    worker_ = std::make_unique<Worker>(std::move(c), *http_, *launcher_, clock_);
    thread_ = std::jthread([this] {
      exit_code_ = worker_->Run(stop_.get_token());
      done_ = true;
    });
  }
  // Waits (bounded) for Run() to return; -1 on timeout.
  int Join() {
    if (!fm_.WaitFor([&] { return done_.load(); }, std::chrono::seconds(60))) {
      stop_.request_stop();
      thread_.join();
      return -1;
    }
    thread_.join();
    return exit_code_;
  }
  std::vector<json> StatusUpdates() {
    std::vector<json> out;
    for (auto& u : fm_.Updates())
      if (u.contains("task_status")) out.push_back(u);
    return out;
  }

  FakeManager fm_;
  TempDir dir_;
  duende::testing::FakeClock clock_;
  testing::TimePump pump_{clock_};
  std::unique_ptr<http::Client> http_ = http::MakeCurlClient("Duende-Worker/test");
  std::unique_ptr<ProcessLauncher> launcher_ = MakePosixProcessLauncher(clock_);
  std::unique_ptr<Worker> worker_;
  std::stop_source stop_;
  std::atomic<bool> done_{false};
  int exit_code_ = -1;
  std::jthread thread_;
};

TEST_F(WorkerTest, RegistersSignsOnRunsATaskAndCompletesIt) {
  const std::string task_id = NewObjectId();
  ServeTasks(fm_, {TaskJson(task_id, json::array({{{"name", "echo"}, {"settings", {{"message", "hello farm"}}}},
                                                  {{"name", "sleep"}, {"settings", {{"time_in_seconds", 2}}}}}))});
  auto c = Config();
  c.single = true;
  Start(c);
  ASSERT_EQ(Join(), kExitOk) << worker_->fatal_error();

  const auto requests = fm_.Requests();
  const auto paths = Paths(requests);
  ASSERT_GE(paths.size(), 5u);
  EXPECT_EQ(paths[0], "POST /register-worker");
  EXPECT_EQ(paths[1], "POST /sign-on");
  EXPECT_EQ(paths[2], "POST /task");
  EXPECT_EQ(paths.back(), "POST /sign-off");

  // Registration (spec §10.3).
  const json reg = requests[0].Json();
  EXPECT_EQ(reg["secret"].get<std::string>().size(), 64u);
  EXPECT_EQ(reg["platform"], "linux");
  EXPECT_EQ(reg["nickname"], "test-node");
  EXPECT_EQ(reg["supported_task_types"], json(DefaultTaskTypes()));
  EXPECT_EQ(requests[0].Header("authorization"), "");
  EXPECT_THAT(requests[1].Header("authorization"), ::testing::StartsWith("Basic "));
  EXPECT_EQ(requests[1].Header("user-agent"), "Duende-Worker/test");
  EXPECT_EQ(requests[1].Json()["nickname"], "test-node");

  // Credentials stored with mode 0600.
  const auto cred_file = dir_.path() / "data/credentials.json";
  auto creds = LoadCredentials(cred_file);
  ASSERT_TRUE(creds.has_value() && creds->has_value());
  EXPECT_EQ((*creds)->worker_id, fm_.worker_id());
  EXPECT_EQ((*creds)->worker_secret, reg["secret"].get<std::string>());
  struct stat st {};
  ASSERT_EQ(::stat(cred_file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);

  // Updates: active first, completed last, everything before sign-off.
  const auto statuses = StatusUpdates();
  ASSERT_EQ(statuses.size(), 2u);
  EXPECT_EQ(statuses[0]["task_status"], "active");
  EXPECT_EQ(statuses[1]["task_status"], "completed");
  EXPECT_EQ(statuses[1]["activity"], "Task completed");
  EXPECT_EQ(statuses[1]["task_progress_percentage"], 100);
  EXPECT_TRUE(statuses[1]["metrics"]["timing"].contains("sleep"));
  EXPECT_GE(statuses[1]["metrics"]["timing"]["sleep"].get<double>(), 2.0);
  for (const auto& r : fm_.Requests("POST", "/tasks/")) EXPECT_EQ(r.path, "/tasks/" + task_id + "/update");
  const std::string logs = fm_.AllLogs();
  for (const char* line :
       {"echo: Starting", "echo: hello farm", "echo: Finished", "sleep: Starting", "sleep: Finished"})
    EXPECT_THAT(logs, HasSubstr(line));
  EXPECT_THAT(logs, ::testing::ContainsRegex("^20[0-9-]+T[0-9:.]+Z: "));
}

TEST_F(WorkerTest, StoredCredentialsSkipRegistration) {
  ASSERT_TRUE(std::filesystem::create_directories(dir_.path() / "data"));
  ASSERT_TRUE(SaveCredentials(dir_.path() / "data/credentials.json", {fm_.worker_id(), "known-secret"}));
  ServeTasks(fm_, {}, 423);  // 423 without a status → "other" → sleep
  fm_.On("POST", "/task", [](const http::Request&) {
    return http::Response::Json(423, {{"status_requested", "shutdown"}});
  });
  Start(Config());
  ASSERT_EQ(Join(), kExitOk);
  EXPECT_TRUE(fm_.Requests("POST", "/register-worker").empty());
  const auto signon = fm_.Requests("POST", "/sign-on");
  ASSERT_EQ(signon.size(), 1u);
  // "Basic base64(id:known-secret)"
  EXPECT_THAT(signon[0].Header("authorization"), HasSubstr("Basic "));
  EXPECT_TRUE(fm_.Requests("POST", "/ack-status-change/").empty());  // shutdown is not acknowledged
  EXPECT_EQ(Paths(fm_.Requests()).back(), "POST /sign-off");
}

TEST_F(WorkerTest, SignOn401RegistersAgainOnce) {
  ASSERT_TRUE(std::filesystem::create_directories(dir_.path() / "data"));
  ASSERT_TRUE(SaveCredentials(dir_.path() / "data/credentials.json", {"forgotten-id", "forgotten"}));
  auto calls = std::make_shared<std::atomic<int>>(0);
  fm_.On("POST", "/sign-on", [calls](const http::Request&) {
    return ++*calls == 1 ? http::Response::Message(401, "who are you") : http::Response::NoContent();
  });
  fm_.On("POST", "/task", [](const http::Request&) {
    return http::Response::Json(423, {{"status_requested", "shutdown"}});
  });
  Start(Config());
  ASSERT_EQ(Join(), kExitOk);
  EXPECT_THAT(Paths(fm_.Requests()), ::testing::ElementsAre("POST /sign-on", "POST /register-worker", "POST /sign-on",
                                                            "POST /task", "POST /sign-off"));
  EXPECT_EQ((*LoadCredentials(dir_.path() / "data/credentials.json"))->worker_id, fm_.worker_id());
}

TEST_F(WorkerTest, RegistrationSecretIsSentAsHs256Jwt) {
  fm_.On("POST", "/task", [](const http::Request&) {
    return http::Response::Json(423, {{"status_requested", "shutdown"}});
  });
  auto c = Config();
  c.registration_secret = "pre-shared";
  Start(c);
  ASSERT_EQ(Join(), kExitOk);
  const auto reg = fm_.Requests("POST", "/register-worker");
  ASSERT_EQ(reg.size(), 1u);
  const std::string auth = reg[0].Header("authorization");
  ASSERT_TRUE(auth.starts_with("Bearer "));
  const std::string token = auth.substr(7);
  const size_t last_dot = token.rfind('.');
  EXPECT_EQ(token.substr(last_dot + 1), Base64UrlEncode(HmacSha256("pre-shared", token.substr(0, last_dot))));
}

TEST_F(WorkerTest, RegistrationRefusedIsFatalWithOneClearLine) {
  fm_.On("POST", "/register-worker",
         [](const http::Request&) { return http::Response::Message(403, "invalid registration token"); });
  Start(Config());
  EXPECT_EQ(Join(), kExitFailure);
  EXPECT_THAT(worker_->fatal_error(), HasSubstr("registration refused by the Manager (HTTP 403: invalid "
                                                "registration token)"));
  EXPECT_THAT(worker_->fatal_error(), Not(HasSubstr("\n")));
  EXPECT_TRUE(fm_.Requests("POST", "/sign-on").empty());
}

TEST_F(WorkerTest, RegistrationRetriesWhileTheManagerIsMisbehaving) {
  auto calls = std::make_shared<std::atomic<int>>(0);
  const std::string id = fm_.worker_id();
  fm_.On("POST", "/register-worker", [calls, id](const http::Request&) {
    return ++*calls < 3 ? http::Response::Message(500, "db down") : http::Response::Json(200, {{"_id", id}});
  });
  fm_.On("POST", "/task", [](const http::Request&) {
    return http::Response::Json(423, {{"status_requested", "shutdown"}});
  });
  Start(Config());
  ASSERT_EQ(Join(), kExitOk);
  EXPECT_EQ(fm_.Requests("POST", "/register-worker").size(), 3u);
}

TEST_F(WorkerTest, AsleepPollsStatusChangeUntilAwake) {
  auto task_calls = std::make_shared<std::atomic<int>>(0);
  fm_.On("POST", "/task", [task_calls](const http::Request&) {
    const int n = ++*task_calls;
    return http::Response::Json(423, {{"status_requested", n == 1 ? "asleep" : "shutdown"}});
  });
  auto polls = std::make_shared<std::atomic<int>>(0);
  fm_.On("GET", "/status-change", [polls](const http::Request&) {
    return ++*polls < 3 ? http::Response::NoContent() : http::Response::Json(200, {{"status_requested", "awake"}});
  });
  Start(Config());
  ASSERT_EQ(Join(), kExitOk);
  EXPECT_THAT(
      Paths(fm_.Requests()),
      ::testing::ElementsAre("POST /register-worker", "POST /sign-on", "POST /task", "POST /ack-status-change/asleep",
                             "GET /status-change", "GET /status-change", "GET /status-change",
                             "POST /ack-status-change/awake", "POST /task", "POST /sign-off"));
}

TEST_F(WorkerTest, RestartRequestExitsWithTheRestartCode) {
  fm_.On("POST", "/task", [](const http::Request&) {
    return http::Response::Json(423, {{"status_requested", "restart"}});
  });
  Start(Config());
  EXPECT_EQ(Join(), kExitRestart);
  EXPECT_EQ(Paths(fm_.Requests()).back(), "POST /sign-off");
}

TEST_F(WorkerTest, UnknownRequestedStatusPutsTheWorkerToSleep) {
  auto calls = std::make_shared<std::atomic<int>>(0);
  fm_.On("POST", "/task", [calls](const http::Request&) {
    return http::Response::Json(423, {{"status_requested", ++*calls == 1 ? "error" : "shutdown"}});
  });
  fm_.On("GET", "/status-change", [](const http::Request&) {
    return http::Response::Json(200, {{"status_requested", "awake"}});
  });
  Start(Config());
  ASSERT_EQ(Join(), kExitOk);
  const auto acks = Paths(fm_.Requests("POST", "/ack-status-change/"));
  EXPECT_THAT(acks, ::testing::ElementsAre("POST /ack-status-change/asleep", "POST /ack-status-change/awake"));
}

TEST_F(WorkerTest, LocalSleepAndWakeRequestsAreAcknowledged) {
  auto c = Config();
  c.sleep_poll_interval = std::chrono::hours(1);  // only the local request wakes it
  Start(c);
  ASSERT_TRUE(fm_.WaitForRequest("POST", "/task"));
  worker_->RequestStatus("asleep");  // SIGUSR1
  ASSERT_TRUE(fm_.WaitForRequest("POST", "/ack-status-change/asleep"));
  const size_t fetches = fm_.Requests("POST", "/task").size();
  worker_->RequestStatus("awake");  // SIGUSR2
  ASSERT_TRUE(fm_.WaitForRequest("POST", "/ack-status-change/awake"));
  ASSERT_TRUE(fm_.WaitForRequest("POST", "/task", fetches + 1));
  stop_.request_stop();  // SIGTERM
  EXPECT_EQ(Join(), kExitOk);
  EXPECT_EQ(Paths(fm_.Requests()).back(), "POST /sign-off");
}

TEST_F(WorkerTest, InvalidSettingsFailTheTaskBeforeAnyCommandRuns) {
  const std::string task_id = NewObjectId();
  ServeTasks(fm_, {TaskJson(task_id, json::array({{{"name", "echo"}, {"settings", {{"message", "never"}}}},
                                                  {{"name", "exec"}, {"settings", json::object()}}}))});
  auto c = Config();
  c.single = true;
  Start(c);
  ASSERT_EQ(Join(), kExitOk);
  const auto statuses = StatusUpdates();
  ASSERT_EQ(statuses.size(), 2u);
  EXPECT_EQ(statuses[0]["task_status"], "active");
  EXPECT_EQ(statuses[1]["task_status"], "failed");
  EXPECT_EQ(statuses[1]["activity"], "Error in settings: exec: missing 'cmd'");
  EXPECT_THAT(fm_.AllLogs(), HasSubstr("Z: Error in settings: exec: missing 'cmd'"));
  EXPECT_THAT(fm_.AllLogs(), Not(HasSubstr("echo: Starting")));
}

TEST_F(WorkerTest, UnknownCommandFailsTheTask) {
  ServeTasks(fm_, {TaskJson(NewObjectId(), json::array({{{"name", "frobnicate"}, {"settings", json::object()}}}))});
  auto c = Config();
  c.single = true;
  Start(c);
  ASSERT_EQ(Join(), kExitOk);
  const auto statuses = StatusUpdates();
  ASSERT_EQ(statuses.size(), 2u);
  EXPECT_EQ(statuses[1]["task_status"], "failed");
  EXPECT_EQ(statuses[1]["activity"], "Error in settings: unknown command 'frobnicate'");
}

TEST_F(WorkerTest, FailingCommandFailsTheTaskWithItsError) {
  ServeTasks(fm_, {TaskJson(NewObjectId(),
                            json::array({{{"name", "exec"}, {"settings", {{"cmd", "sh -c 'echo oops; exit 3'"}}}},
                                         {{"name", "echo"}, {"settings", {{"message", "never"}}}}}))});
  auto c = Config();
  c.single = true;
  Start(c);
  ASSERT_EQ(Join(), kExitOk);
  const auto statuses = StatusUpdates();
  ASSERT_EQ(statuses.size(), 2u);
  EXPECT_EQ(statuses[1]["task_status"], "failed");
  EXPECT_EQ(statuses[1]["activity"], "exec exited with status 3");
  EXPECT_EQ(statuses[1]["current_command_idx"], 0);
  const std::string logs = fm_.AllLogs();
  EXPECT_THAT(logs, ::testing::ContainsRegex("pid=[0-9]+ > oops"));
  EXPECT_THAT(logs, HasSubstr("exec: Error: exec exited with status 3"));
  EXPECT_THAT(logs, Not(HasSubstr("echo: Starting")));
}

TEST_F(WorkerTest, MayIRunFalseAbortsSilentlyAndReturnsTheTask) {
  const std::string task_id = NewObjectId();
  ServeTasks(fm_, {TaskJson(task_id, json::array({{{"name", "exec"}, {"settings", {{"cmd", "sleep 100"}}}}}))});
  fm_.On("GET", "/may-i-run/", [](const http::Request&) {
    return http::Response::Json(200, {{"may_keep_running", false}, {"reason", "task was canceled"}});
  });
  auto c = Config();
  c.single = true;
  Start(c);
  ASSERT_EQ(Join(), kExitOk);
  EXPECT_EQ(fm_.Requests("GET", "/may-i-run/" + task_id).size(), 1u);
  // Only "active" was reported; afterwards logs only.
  const auto statuses = StatusUpdates();
  ASSERT_EQ(statuses.size(), 1u);
  EXPECT_EQ(statuses[0]["task_status"], "active");
  const auto updates = fm_.Updates();
  ASSERT_GE(updates.size(), 2u);
  EXPECT_EQ(updates.back().size(), 1u) << updates.back().dump();  // {"log": ...}
  EXPECT_THAT(updates.back()["log"].get<std::string>(),
              HasSubstr("Worker test-node stopped running this task, no longer allowed to run by Manager"));
  // The return comes after the flushed updates, before sign-off.
  const auto paths = Paths(fm_.Requests());
  const auto ret = std::find(paths.begin(), paths.end(), "POST /tasks/" + task_id + "/return");
  ASSERT_NE(ret, paths.end());
  EXPECT_EQ(*std::prev(ret), "POST /tasks/" + task_id + "/update");
  EXPECT_EQ(paths.back(), "POST /sign-off");
}

TEST_F(WorkerTest, MayIRunDenialAppliesTheRequestedStatus) {
  ServeTasks(fm_, {TaskJson(NewObjectId(), json::array({{{"name", "exec"}, {"settings", {{"cmd", "sleep 100"}}}}}))});
  fm_.On("GET", "/may-i-run/", [](const http::Request&) {
    return http::Response::Json(200, {{"may_keep_running", false},
                                      {"reason", "worker status change to asleep requested"},
                                      {"status_requested", "asleep"}});
  });
  Start(Config());
  ASSERT_TRUE(fm_.WaitForRequest("POST", "/ack-status-change/asleep"));
  stop_.request_stop();
  EXPECT_EQ(Join(), kExitOk);
}

TEST_F(WorkerTest, UnreachableMayIRunIsIgnored) {
  ServeTasks(fm_,
             {TaskJson(NewObjectId(), json::array({{{"name", "sleep"}, {"settings", {{"time_in_seconds", 12}}}}}))});
  fm_.On("GET", "/may-i-run/", [](const http::Request&) { return http::Response::Message(502, "bad gateway"); });
  auto c = Config();
  c.single = true;
  Start(c);
  ASSERT_EQ(Join(), kExitOk);
  EXPECT_GE(fm_.Requests("GET", "/may-i-run/").size(), 2u);
  const auto statuses = StatusUpdates();
  ASSERT_EQ(statuses.size(), 2u);
  EXPECT_EQ(statuses[1]["task_status"], "completed");
}

TEST_F(WorkerTest, ShutdownDuringATaskReportsNoStatusAndSignsOff) {
  const std::string task_id = NewObjectId();
  ServeTasks(fm_, {TaskJson(task_id, json::array({{{"name", "exec"}, {"settings", {{"cmd", "sleep 100"}}}}}))});
  Start(Config());
  ASSERT_TRUE(fm_.WaitFor([&] { return !StatusUpdates().empty(); }));  // "active" arrived
  stop_.request_stop();
  ASSERT_EQ(Join(), kExitOk);
  const auto statuses = StatusUpdates();
  ASSERT_EQ(statuses.size(), 1u);
  EXPECT_EQ(statuses[0]["task_status"], "active");
  EXPECT_EQ(Paths(fm_.Requests()).back(), "POST /sign-off");
  EXPECT_TRUE(fm_.Requests("POST", "/tasks/" + task_id + "/return").empty());
}

// Regression: with the 3 s pause of v2 gone, the worker fetched its next
// task before the Manager had the previous one's "completed", and the
// Manager -- still seeing that task active on this worker -- served it again,
// so it ran twice. The worker now delivers its updates before fetching.
TEST_F(WorkerTest, DoesNotFetchUntilThePreviousTasksUpdatesAreDelivered) {
  std::atomic<bool> manager_overloaded{true};
  fm_.On("POST", "/tasks/", [&](const http::Request&) {
    if (manager_overloaded) return http::Response::Message(500, "overloaded");
    return http::Response::NoContent();
  });
  fm_.On("POST", "/task", [](const http::Request&) {
    return http::Response::Json(
        200, TaskJson(NewObjectId(), json::array({{{"name", "echo"}, {"settings", {{"message", "x"}}}}})));
  });
  Start(Config());
  auto fetches = [&] {
    const auto paths = Paths(fm_.Requests());
    return std::count(paths.begin(), paths.end(), "POST /task");
  };
  ASSERT_TRUE(fm_.WaitFor([&] { return fetches() >= 1; }));
  const SteadyTime later = clock_.SteadyNow() + std::chrono::minutes(2);
  ASSERT_TRUE(fm_.WaitFor([&] { return clock_.SteadyNow() > later; }));
  EXPECT_EQ(fetches(), 1) << "no new task while the last one's status is undelivered";
  manager_overloaded = false;
  ASSERT_TRUE(fm_.WaitFor([&] { return fetches() >= 3; })) << "fetching resumes once delivered";
  stop_.request_stop();
  EXPECT_EQ(Join(), kExitOk);
}

TEST_F(WorkerTest, UpdatesQueuedWhileTheManagerWasDownAreDeliveredAfterRestart) {
  // First run: updates are refused (503), worker exits after its task.
  auto down = std::make_shared<std::atomic<bool>>(true);
  fm_.On("POST", "/tasks/", [down](const http::Request&) {
    return *down ? http::Response::Message(503, "down") : http::Response::NoContent();
  });
  const std::string task_id = NewObjectId();
  ServeTasks(fm_, {TaskJson(task_id, json::array({{{"name", "echo"}, {"settings", {{"message", "one"}}}}}))});
  auto c = Config();
  c.single = true;
  c.shutdown_flush_timeout = std::chrono::seconds(1);
  Start(c);
  ASSERT_EQ(Join(), kExitOk);
  EXPECT_TRUE(fm_.Updates().size() >= 1u);  // attempted, refused

  // Second run with the same data dir: the queue is delivered in order.
  *down = false;
  const size_t before = fm_.Requests().size();
  fm_.On("POST", "/task", [](const http::Request&) {
    return http::Response::Json(423, {{"status_requested", "shutdown"}});
  });
  done_ = false;
  stop_ = std::stop_source();
  Start(c);
  ASSERT_EQ(Join(), kExitOk);
  std::vector<json> delivered;
  const auto all = fm_.Requests();
  for (size_t i = before; i < all.size(); ++i)
    if (all[i].path.ends_with("/update")) delivered.push_back(all[i].Json());
  ASSERT_EQ(delivered.size(), 2u);
  EXPECT_EQ(delivered[0]["task_status"], "active");
  EXPECT_EQ(delivered[1]["task_status"], "completed");
}

TEST_F(WorkerTest, OutputProducedIsPostedAtMostOncePerThirtySeconds) {
  const std::string blender = dir_ / "fake-blender";
  testing::WriteFile(blender,
                     "#!/bin/sh\nfor f in 1 2 3; do echo \"Fra:$f Mem:1M\"; echo \"Saved: '/out/000$f.png'\"; done\n");
  std::filesystem::permissions(blender, std::filesystem::perms(0755));
  testing::WriteFile(dir_.path() / "s.blend", "B");
  ServeTasks(
      fm_, {TaskJson(
               NewObjectId(),
               json::array(
                   {{{"name", "blender_render"},
                     {"settings", {{"blender_cmd", blender}, {"filepath", dir_ / "s.blend"}, {"frames", "1..3"}}}}}))});
  auto c = Config();
  c.single = true;
  Start(c);
  ASSERT_EQ(Join(), kExitOk);
  const auto posts = fm_.Requests("POST", "/output-produced");
  ASSERT_GE(posts.size(), 1u);
  EXPECT_LE(posts.size(), 2u);  // the first, and the latest only if 30 s passed
  EXPECT_EQ(posts[0].Json()["paths"].size(), 1u);
  const auto statuses = StatusUpdates();
  ASSERT_EQ(statuses.size(), 2u);
  EXPECT_EQ(statuses[1]["task_status"], "completed");
}

}  // namespace
}  // namespace duende::worker
