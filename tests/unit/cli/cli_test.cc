// RunCli() end to end against an in-process fake manager.
#include "cli/cli.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "common/timefmt.h"
#include "fake_manager.h"

namespace duende::cli {
namespace {

using nlohmann::json;
using testing::FakeManager;
using ::testing::HasSubstr;
using ::testing::StartsWith;
using testing::StepClock;

constexpr const char* kJobId = "5f0000000000000000000001";

json Job(const std::string& status, int completed, int active, int count, const std::string& reason = "") {
  json tasks_status = {
      {"count", count}, {"completed", completed}, {"active", active}, {"queued", count - completed - active}};
  return {{"_id", kJobId},
          {"name", "demo"},
          {"job_type", "sleep"},
          {"priority", 50},
          {"status", status},
          {"status_reason", reason},
          {"settings", {{"frames", "1-6"}}},
          {"user", "alice"},
          {"_created", "2027-01-15T08:00:00.000000Z"},
          {"_updated", "2027-01-15T08:05:00.000000Z"},
          {"tasks_status", tasks_status}};
}

// Counts lines: every error or result must be exactly that many lines.
int Lines(const std::string& s) { return static_cast<int>(std::count(s.begin(), s.end(), '\n')); }

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override { client_ = http::MakeCurlClient("cli-test"); }

  // Runs `duende --manager <fake> args...`.
  int Run(std::vector<std::string> args, CliOptions options = {}) {
    std::vector<std::string> argv_storage = {"duende", "--manager", manager_.url()};
    argv_storage.insert(argv_storage.end(), args.begin(), args.end());
    return RunRaw(argv_storage, std::move(options));
  }
  int RunRaw(const std::vector<std::string>& args, CliOptions options = {}) {
    std::vector<const char*> argv;
    for (const auto& a : args) argv.push_back(a.c_str());
    out_.str("");
    err_.str("");
    return RunCli(static_cast<int>(argv.size()), argv.data(), out_, err_, *client_, clock_, options);
  }

  // Serves GET /api/jobs/{id} from `states` in order, repeating the last.
  void ServeJobStates(std::vector<json> states, std::function<void(int)> on_get = nullptr) {
    manager_.On("GET", "/api/jobs/{}", [this, states, on_get](http::Request&) {
      const int n = gets_++;
      if (on_get) on_get(n);
      return http::Response::Json(200, states[std::min<size_t>(n, states.size() - 1)]);
    });
  }

  FakeManager manager_;
  StepClock clock_;
  std::unique_ptr<http::Client> client_;
  std::ostringstream out_, err_;
  std::atomic<int> gets_{0};
};

// --- submit -----------------------------------------------------------------

TEST_F(CliTest, SubmitTypesSettingsFromSet) {
  manager_.OnJson("POST", "/api/jobs", 201, Job("queued", 0, 0, 6));
  manager_.Start();

  const int code =
      Run({"submit", "blender-render",   "--name", "shot 010",     "--set", "frames=1-24", "--set", "chunk_size=4",
           "--set",  "fps=23.976",       "--set",  "format=PNG",   "--set", "use_x=true",  "--set", "list=[1,2]",
           "--set",  "obj={\"a\":null}", "--set",  "nothing=null", "--set", "empty=",      "--set", "expr=a=b",
           "--set",  "chunk_size=8"});

  EXPECT_EQ(code, kExitOk) << err_.str();
  EXPECT_EQ(out_.str(), std::string(kJobId) + "\n");
  EXPECT_EQ(err_.str(), "");
  auto posts = manager_.requests("POST");
  ASSERT_EQ(posts.size(), 1u);
  EXPECT_EQ(posts[0].path, "/api/jobs");
  const json expected = {{"name", "shot 010"},
                         {"job_type", "blender-render"},
                         {"priority", 50},
                         {"start_paused", false},
                         {"submitter_platform", "linux"},  // this machine's
                         {"settings",
                          {{"frames", "1-24"},
                           {"chunk_size", 8},  // the last --set wins
                           {"fps", 23.976},
                           {"format", "PNG"},
                           {"use_x", true},
                           {"list", {1, 2}},
                           {"obj", {{"a", nullptr}}},
                           {"nothing", nullptr},
                           {"empty", ""},
                           {"expr", "a=b"}}}};
  EXPECT_EQ(posts[0].Json(), expected);
}

TEST_F(CliTest, SubmitPriorityStartPausedAndSetBeforeType) {
  manager_.OnJson("POST", "/api/jobs", 201, Job("paused", 0, 0, 6));
  manager_.Start();

  // Each --set takes exactly one value: "sleep" is the type, not a setting.
  const int code =
      Run({"submit", "--set", "time_in_seconds=3", "sleep", "--name", "nap", "--priority", "80", "--start-paused"});

  ASSERT_EQ(code, kExitOk) << err_.str();
  auto body = manager_.requests("POST").at(0).Json();
  EXPECT_EQ(body["job_type"], "sleep");
  EXPECT_EQ(body["priority"], 80);
  EXPECT_EQ(body["start_paused"], true);
  EXPECT_EQ(body["settings"], (json{{"time_in_seconds", 3}}));
}

TEST_F(CliTest, SubmitPlatformNamesWherePathsComeFrom) {
  manager_.OnJson("POST", "/api/jobs", 201, Job("queued", 0, 0, 6));
  manager_.Start();
  ASSERT_EQ(Run({"submit", "sleep", "--name", "nap", "--platform", "windows"}), kExitOk) << err_.str();
  ASSERT_EQ(Run({"submit", "sleep", "--name", "nap", "--platform", ""}), kExitOk) << err_.str();
  auto posts = manager_.requests("POST");
  ASSERT_EQ(posts.size(), 2u);
  EXPECT_EQ(posts[0].Json()["submitter_platform"], "windows");
  EXPECT_FALSE(posts[1].Json().contains("submitter_platform")) << "empty: the paths are taken as they are";
}

TEST_F(CliTest, SubmitJsonPrintsTheCreatedJob) {
  manager_.OnJson("POST", "/api/jobs", 201, Job("queued", 0, 0, 6));
  manager_.Start();

  ASSERT_EQ(Run({"submit", "sleep", "--name", "nap", "--json"}), kExitOk) << err_.str();
  EXPECT_EQ(json::parse(out_.str()), Job("queued", 0, 0, 6));
}

TEST_F(CliTest, SubmitRejectedByManagerIsOneLine) {
  manager_.OnJson("POST", "/api/jobs", 400, {{"message", "unknown job type \"nope\""}});
  manager_.Start();

  EXPECT_EQ(Run({"submit", "nope", "--name", "x"}), kExitFailed);
  EXPECT_EQ(err_.str(), "duende: error: unknown job type \"nope\" (HTTP 400)\n");
  EXPECT_EQ(out_.str(), "");
}

TEST_F(CliTest, SubmitWaitShowsProgressUntilCompleted) {
  manager_.OnJson("POST", "/api/jobs", 201, Job("queued", 0, 0, 6));
  ServeJobStates({Job("queued", 0, 0, 6), Job("active", 0, 2, 6), Job("active", 0, 2, 6), Job("active", 3, 2, 6),
                  Job("completed", 6, 0, 6)});
  manager_.Start();

  const int code = Run({"submit", "sleep", "--name", "nap", "--wait"});

  EXPECT_EQ(code, kExitOk) << err_.str();
  EXPECT_EQ(out_.str(), std::string(kJobId) + "\n" +
                            "[                    ]   0%  0/6 tasks  0 active  queued\n"
                            "[                    ]   0%  0/6 tasks  2 active  active\n"
                            "[##########          ]  50%  3/6 tasks  2 active  active\n"
                            "[####################] 100%  6/6 tasks  0 active  completed\n"
                            "job " +
                            kJobId + " completed\n");
  EXPECT_EQ(err_.str(), "");
  // Five polls, 0.5 s apart, all for this job.
  EXPECT_EQ(gets_.load(), 5);
  EXPECT_EQ(clock_.waits(), 4);
  EXPECT_EQ(clock_.SteadyNow() - duende::testing::FakeClock().SteadyNow(), std::chrono::milliseconds(2000));
  for (const auto& r : manager_.requests("GET")) EXPECT_EQ(r.path, std::string("/api/jobs/") + kJobId);
}

TEST_F(CliTest, SubmitWaitFailedJobExitsOneWithReason) {
  manager_.OnJson("POST", "/api/jobs", 201, Job("queued", 0, 0, 6));
  ServeJobStates({Job("active", 1, 1, 6), Job("failed", 1, 0, 6, "1 of its 6 tasks (16%) failed")});
  manager_.Start();

  EXPECT_EQ(Run({"submit", "sleep", "--name", "nap", "--wait"}), kExitFailed);
  EXPECT_EQ(err_.str(), std::string("duende: error: job ") + kJobId + " failed: 1 of its 6 tasks (16%) failed\n");
  EXPECT_THAT(out_.str(), HasSubstr("failed\n"));
}

TEST_F(CliTest, SubmitWaitCanceledJobExitsOne) {
  manager_.OnJson("POST", "/api/jobs", 201, Job("queued", 0, 0, 6));
  ServeJobStates({Job("cancel-requested", 0, 1, 6), Job("canceled", 0, 0, 6)});
  manager_.Start();

  EXPECT_EQ(Run({"submit", "sleep", "--name", "nap", "--wait"}), kExitFailed);
  EXPECT_EQ(err_.str(), std::string("duende: error: job ") + kJobId + " was canceled\n");
}

TEST_F(CliTest, SubmitWaitOnTtyRedrawsOneLine) {
  manager_.OnJson("POST", "/api/jobs", 201, Job("queued", 0, 0, 4));
  ServeJobStates({Job("active", 0, 1, 4), Job("active", 2, 1, 4), Job("completed", 4, 0, 4)});
  manager_.Start();

  CliOptions options;
  options.out_is_tty = true;
  ASSERT_EQ(Run({"submit", "sleep", "--name", "nap", "--wait"}, options), kExitOk);
  const std::string out = out_.str();
  EXPECT_EQ(std::count(out.begin(), out.end(), '\r'), 3);
  // ID line, the one progress line, the completion line.
  EXPECT_EQ(Lines(out), 3);
  EXPECT_THAT(out, HasSubstr("\r[####################] 100%  4/4 tasks  0 active  completed\n"));
}

TEST_F(CliTest, SubmitWaitCtrlCExits130WithoutCancelling) {
  std::stop_source stop;
  manager_.OnJson("POST", "/api/jobs", 201, Job("queued", 0, 0, 6));
  ServeJobStates({Job("active", 0, 2, 6)}, [&stop](int n) {
    if (n == 2) stop.request_stop();  // Ctrl-C during the third poll
  });
  manager_.Start();

  CliOptions options;
  options.stop = stop.get_token();
  EXPECT_EQ(Run({"submit", "sleep", "--name", "nap", "--wait"}, options), kExitInterrupted);
  EXPECT_EQ(gets_.load(), 3);
  EXPECT_EQ(err_.str(), std::string("duende: stopped waiting; job ") + kJobId + " keeps running\n");
  // The only POST is the submission: nothing cancelled the job.
  ASSERT_EQ(manager_.requests("POST").size(), 1u);
  EXPECT_EQ(manager_.requests("POST")[0].path, "/api/jobs");
}

TEST_F(CliTest, SubmitWaitJsonKeepsStdoutForTheFinalJob) {
  manager_.OnJson("POST", "/api/jobs", 201, Job("queued", 0, 0, 6));
  ServeJobStates({Job("active", 3, 1, 6), Job("completed", 6, 0, 6)});
  manager_.Start();

  ASSERT_EQ(Run({"submit", "sleep", "--name", "nap", "--wait", "--json"}), kExitOk);
  EXPECT_EQ(json::parse(out_.str()), Job("completed", 6, 0, 6));
  EXPECT_THAT(err_.str(), HasSubstr("3/6 tasks"));
}

TEST_F(CliTest, SubmitWaitJobVanishingIsAnError) {
  manager_.OnJson("POST", "/api/jobs", 201, Job("queued", 0, 0, 6));
  manager_.OnJson("GET", "/api/jobs/{}", 404, {{"message", std::string("job ") + kJobId + " not found"}});
  manager_.Start();

  EXPECT_EQ(Run({"submit", "sleep", "--name", "nap", "--wait"}), kExitFailed);
  EXPECT_EQ(err_.str(), std::string("duende: error: job ") + kJobId + " not found (HTTP 404)\n");
}

// Fails the calls whose 0-based index is in [fail_from, fail_to) with a
// network error, like a manager that restarts; passes the rest through.
class FlakyClient final : public http::Client {
 public:
  FlakyClient(http::Client& inner, int fail_from, int fail_to)
      : inner_(inner), fail_from_(fail_from), fail_to_(fail_to) {}
  Result<http::ClientResponse> Send(const http::ClientRequest& request) override {
    const int n = calls_++;
    if (n >= fail_from_ && n < fail_to_)
      return Unavailable(request.method + " " + request.url + ": Connection refused");
    return inner_.Send(request);
  }

 private:
  http::Client& inner_;
  int fail_from_, fail_to_;
  int calls_ = 0;
};

TEST_F(CliTest, SubmitWaitRidesOutAManagerRestart) {
  manager_.OnJson("POST", "/api/jobs", 201, Job("queued", 0, 0, 6));
  ServeJobStates({Job("active", 3, 1, 6), Job("completed", 6, 0, 6)});
  manager_.Start();
  FlakyClient flaky(*client_, 2, 12);  // call 0 submits, 1 polls, 2..11 fail

  const std::vector<std::string> args = {"duende", "--manager", manager_.url(), "submit",
                                         "sleep",  "--name",    "nap",          "--wait"};
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  EXPECT_EQ(RunCli(static_cast<int>(argv.size()), argv.data(), out_, err_, flaky, clock_), kExitOk) << err_.str();
  EXPECT_EQ(err_.str(), "");
  EXPECT_THAT(out_.str(), HasSubstr("completed\n"));
}

TEST_F(CliTest, SubmitWaitGivesUpWhenTheManagerStaysAway) {
  manager_.OnJson("POST", "/api/jobs", 201, Job("queued", 0, 0, 6));
  ServeJobStates({Job("active", 3, 1, 6)});
  manager_.Start();
  FlakyClient flaky(*client_, 2, 1'000'000);

  const std::vector<std::string> args = {"duende", "--manager", manager_.url(), "submit",
                                         "sleep",  "--name",    "nap",          "--wait"};
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  EXPECT_EQ(RunCli(static_cast<int>(argv.size()), argv.data(), out_, err_, flaky, clock_), kExitUnreachable);
  EXPECT_EQ(err_.str(), "duende: error: cannot reach manager at " + manager_.url() + ": Connection refused\n");
  // It kept trying for about 30 s of (fake) time first.
  EXPECT_GE(clock_.waits(), 59);
}

TEST_F(CliTest, ManagerUrlFromEnvironment) {
  manager_.OnJson("GET", "/api/workers", 200, {{"workers", json::array()}});
  manager_.Start();

  ASSERT_EQ(setenv("DUENDE_MANAGER", manager_.url().c_str(), 1), 0);
  const int code = RunRaw({"duende", "workers"});
  unsetenv("DUENDE_MANAGER");
  EXPECT_EQ(code, kExitOk) << err_.str();
  EXPECT_EQ(manager_.requests("GET").size(), 1u);
}

// --- listing ------------------------------------------------------------------

TEST_F(CliTest, JobsTable) {
  json second = Job("queued", 0, 0, 0);
  second["_id"] = "5f0000000000000000000002";
  second["name"] = "ünïcode";
  second["job_type"] = "blender-render";
  second["priority"] = 100;
  second.erase("tasks_status");
  manager_.OnJson("GET", "/api/jobs", 200, {{"jobs", {Job("active", 3, 1, 6), second}}});
  manager_.Start();

  ASSERT_EQ(Run({"jobs"}), kExitOk) << err_.str();
  EXPECT_EQ(out_.str(),
            "ID                        NAME     TYPE            STATUS  PROGRESS   PRIORITY  CREATED\n"
            "5f0000000000000000000001  demo     sleep           active  3/6 (50%)  50        2027-01-15 08:00:00\n"
            "5f0000000000000000000002  ünïcode  blender-render  queued  -          100       2027-01-15 08:00:00\n");
}

TEST_F(CliTest, JobsStatusFilterIsSentAndApplied) {
  manager_.OnJson("GET", "/api/jobs", 200, {{"jobs", {Job("active", 3, 1, 6), Job("queued", 0, 0, 6)}}});
  manager_.Start();

  ASSERT_EQ(Run({"jobs", "--status", "queued"}), kExitOk) << err_.str();
  EXPECT_EQ(manager_.requests("GET").at(0).query, "status=queued");
  EXPECT_EQ(Lines(out_.str()), 2);  // header + the queued job
  EXPECT_THAT(out_.str(), HasSubstr("queued"));
  EXPECT_THAT(out_.str(), Not(HasSubstr("active")));
}

TEST_F(CliTest, JobsJsonPrintsTheManagerAnswerBeforeOrAfterTheCommand) {
  const json body = {{"jobs", {Job("active", 3, 1, 6)}}};
  manager_.OnJson("GET", "/api/jobs", 200, body);
  manager_.Start();

  ASSERT_EQ(Run({"jobs", "--json"}), kExitOk);
  EXPECT_EQ(json::parse(out_.str()), body);
  ASSERT_EQ(Run({"--json", "jobs"}), kExitOk);
  EXPECT_EQ(json::parse(out_.str()), body);
}

TEST_F(CliTest, JobDetails) {
  ServeJobStates({Job("failed", 1, 0, 6, "too many failures")});
  manager_.Start();

  ASSERT_EQ(Run({"job", kJobId}), kExitOk) << err_.str();
  EXPECT_EQ(out_.str(),
            "ID:        5f0000000000000000000001\n"
            "Name:      demo\n"
            "Type:      sleep\n"
            "Status:    failed (too many failures)\n"
            "Priority:  50\n"
            "User:      alice\n"
            "Created:   2027-01-15 08:00:00\n"
            "Updated:   2027-01-15 08:05:00\n"
            "Progress:  1/6 tasks completed (16%), 0 active\n"
            "Tasks:     completed 1, queued 5\n"
            "Settings:\n"
            "  frames = \"1-6\"\n");
}

TEST_F(CliTest, JobNotFoundIsOneLineWithServerMessage) {
  manager_.OnJson("GET", "/api/jobs/{}", 404, {{"message", "job 123 not found"}});
  manager_.Start();

  EXPECT_EQ(Run({"job", "123"}), kExitFailed);
  EXPECT_EQ(err_.str(), "duende: error: job 123 not found (HTTP 404)\n");
  EXPECT_EQ(out_.str(), "");
}

TEST_F(CliTest, IdsAreOnePathSegment) {
  manager_.OnJson("GET", "/api/jobs/{}/tasks", 200, {{"tasks", json::array()}});
  manager_.Start();

  // A hostile "ID" must not reach another endpoint.
  Run({"tasks", "../workers"});
  EXPECT_EQ(manager_.requests("GET").at(0).path, "/api/jobs/../workers/tasks");
}

TEST_F(CliTest, TasksTable) {
  const json tasks = {{{"_id", "5f00000000000000000000a1"},
                       {"job", kJobId},
                       {"name", "render-1-4"},
                       {"status", "active"},
                       {"task_type", "blender-render"},
                       {"worker", "10.0.0.5 (render-01)"},
                       {"activity", "Rendering frame 3 of 4, sample 8/8, and a much longer text that goes on"}},
                      {{"_id", "5f00000000000000000000a2"},
                       {"job", kJobId},
                       {"name", "create-video"},
                       {"status", "queued"},
                       {"task_type", "video-encoding"},
                       {"worker", "-"},
                       {"activity", ""}}};
  manager_.OnJson("GET", "/api/jobs/{}/tasks", 200, {{"tasks", tasks}});
  manager_.Start();

  ASSERT_EQ(Run({"tasks", kJobId}), kExitOk) << err_.str();
  EXPECT_EQ(manager_.requests("GET").at(0).path, std::string("/api/jobs/") + kJobId + "/tasks");
  EXPECT_EQ(out_.str(),
            "ID                        NAME          TYPE            STATUS  WORKER                ACTIVITY\n"
            "5f00000000000000000000a1  render-1-4    blender-render  active  10.0.0.5 (render-01)  "
            "Rendering frame 3 of 4, sample 8/8, and a much longer tex...\n"
            "5f00000000000000000000a2  create-video  video-encoding  queued  -                     -\n");
}

TEST_F(CliTest, WorkersTable) {
  const SystemTime now = clock_.Now();
  const json workers = {{{"_id", "5f00000000000000000000b1"},
                         {"nickname", "render-01"},
                         {"address", "10.0.0.5"},
                         {"status", "awake"},
                         {"status_requested", "asleep"},
                         {"lazy_status_request", true},
                         {"supported_task_types", {"blender-render", "sleep"}},
                         {"last_activity", FormatIso8601(now - std::chrono::seconds(42))}},
                        {{"_id", "5f00000000000000000000b2"},
                         {"nickname", "render-02"},
                         {"address", "10.0.0.6"},
                         {"status", ""},
                         {"status_requested", ""},
                         {"lazy_status_request", false},
                         {"supported_task_types", json::array()}}};
  manager_.OnJson("GET", "/api/workers", 200, {{"workers", workers}});
  manager_.Start();

  ASSERT_EQ(Run({"workers"}), kExitOk) << err_.str();
  EXPECT_EQ(out_.str(),
            "ID                        NICKNAME   STATUS  REQUESTED      ADDRESS   TASK TYPES            LAST SEEN\n"
            "5f00000000000000000000b1  render-01  awake   asleep (lazy)  10.0.0.5  blender-render,sleep  42s ago\n"
            "5f00000000000000000000b2  render-02  -       -              10.0.0.6  -                     never\n");
}

// --- status and priority ----------------------------------------------------------

TEST_F(CliTest, StatusCommandsPostTheV2Status) {
  manager_.On("POST", "/api/jobs/{}/status", [](http::Request& request) {
    json job = Job(json::parse(request.body)["status"].get<std::string>(), 0, 0, 6);
    job["_id"] = request.params.at(0);
    return http::Response::Json(200, job);
  });
  manager_.Start();

  const std::vector<std::pair<std::string, std::string>> cases = {
      {"cancel", "cancel-requested"}, {"requeue", "requeued"}, {"pause", "paused"}, {"resume", "queued"}};
  for (const auto& [command, status] : cases) {
    EXPECT_EQ(Run({command, "a1", "a2"}), kExitOk) << command << ": " << err_.str();
    EXPECT_EQ(out_.str(), "job a1: " + status + "\njob a2: " + status + "\n");
  }
  auto posts = manager_.requests("POST");
  ASSERT_EQ(posts.size(), 8u);
  EXPECT_EQ(posts[0].path, "/api/jobs/a1/status");
  EXPECT_EQ(posts[1].path, "/api/jobs/a2/status");
  EXPECT_EQ(posts[0].Json(), (json{{"status", "cancel-requested"}}));
  EXPECT_EQ(posts[7].Json(), (json{{"status", "queued"}}));
}

TEST_F(CliTest, CancelKeepsGoingAfterAFailedIdAndExitsOne) {
  manager_.On("POST", "/api/jobs/{}/status", [](http::Request& request) {
    if (request.params.at(0) == "gone") return http::Response::Message(404, "job gone not found");
    return http::Response::NoContent();
  });
  manager_.Start();

  EXPECT_EQ(Run({"cancel", "gone", "b"}), kExitFailed);
  EXPECT_EQ(err_.str(), "duende: error: job gone not found (HTTP 404)\n");
  EXPECT_EQ(out_.str(), "job b: cancel-requested requested\n");
  EXPECT_EQ(manager_.requests("POST").size(), 2u);
}

TEST_F(CliTest, PriorityPostsTheNumber) {
  manager_.OnJson("POST", "/api/jobs/{}/priority", 200, Job("queued", 0, 0, 6));
  manager_.Start();

  ASSERT_EQ(Run({"priority", kJobId, "75"}), kExitOk) << err_.str();
  auto post = manager_.requests("POST").at(0);
  EXPECT_EQ(post.path, std::string("/api/jobs/") + kJobId + "/priority");
  EXPECT_EQ(post.Json(), (json{{"priority", 75}}));
  EXPECT_EQ(out_.str(), std::string("job ") + kJobId + ": priority 75\n");
}

// --- errors -------------------------------------------------------------------------

TEST_F(CliTest, UnreachableManagerExitsThree) {
  manager_.Start();
  const std::string url = manager_.url();
  manager_.Stop();  // nothing listens on that port any more

  EXPECT_EQ(Run({"jobs"}), kExitUnreachable);
  EXPECT_THAT(err_.str(), StartsWith("duende: error: cannot reach manager at " + url + ": "));
  EXPECT_EQ(Lines(err_.str()), 1);
  EXPECT_EQ(out_.str(), "");
}

TEST_F(CliTest, ServerErrorWithoutJsonIsStillOneLine) {
  manager_.On("GET", "/api/workers",
              [](http::Request&) { return http::Response::Text(500, "database on fire\nstack frame 1\n"); });
  manager_.Start();

  EXPECT_EQ(Run({"workers"}), kExitFailed);
  EXPECT_EQ(err_.str(), "duende: error: database on fire (HTTP 500)\n");
}

TEST_F(CliTest, UnknownEndpointReportsTheRoutersMessage) {
  manager_.Start();  // no routes at all: an old manager without /api/
  EXPECT_EQ(Run({"workers"}), kExitFailed);
  EXPECT_EQ(err_.str(), "duende: error: no such endpoint: /api/workers (HTTP 404)\n");
}

TEST_F(CliTest, UsageErrorsAreOneLineAndExitTwo) {
  manager_.Start();
  const std::vector<std::vector<std::string>> cases = {
      {},
      {"bogus"},
      {"jobs", "--bogus"},
      {"submit", "sleep"},
      {"submit", "--name", "x"},
      {"submit", "sleep", "--name", ""},
      {"submit", "sleep", "--name", "x", "--set", "novalue"},
      {"submit", "sleep", "--name", "x", "--set", "=1"},
      {"submit", "sleep", "--name", "x", "--priority", "abc"},
      {"submit", "sleep", "--name", "x", "--priority", "101"},
      {"job"},
      {"cancel"},
      {"priority", "a1"},
      {"priority", "a1", "0"},
  };
  for (const auto& args : cases) {
    std::string joined;
    for (const auto& a : args) joined += a + " ";
    EXPECT_EQ(Run(args), kExitUsage) << joined;
    EXPECT_THAT(err_.str(), StartsWith("duende: error: ")) << joined;
    EXPECT_EQ(Lines(err_.str()), 1) << joined << err_.str();
    EXPECT_EQ(out_.str(), "") << joined;
  }
  EXPECT_TRUE(manager_.requests().empty());
}

TEST_F(CliTest, HelpAndVersionExitZero) {
  EXPECT_EQ(RunRaw({"duende", "--help"}), kExitOk);
  EXPECT_THAT(out_.str(), HasSubstr("submit"));
  EXPECT_EQ(RunRaw({"duende", "submit", "--help"}), kExitOk);
  EXPECT_THAT(out_.str(), HasSubstr("--start-paused"));
  EXPECT_EQ(RunRaw({"duende", "--version"}), kExitOk);
  EXPECT_THAT(out_.str(), StartsWith("duende "));
}

TEST_F(CliTest, ManagerUrlFromOptionsWithTrailingSlash) {
  manager_.OnJson("GET", "/api/workers", 200, {{"workers", json::array()}});
  manager_.Start();

  CliOptions options;
  options.default_manager = manager_.url() + "/";
  ASSERT_EQ(RunRaw({"duende", "workers"}, options), kExitOk) << err_.str();
  EXPECT_EQ(manager_.requests("GET").at(0).path, "/api/workers");
  // --manager beats the default.
  options.default_manager = "http://127.0.0.1:1";
  ASSERT_EQ(RunRaw({"duende", "workers", "--manager", manager_.url()}, options), kExitOk) << err_.str();
}

TEST_F(CliTest, SendsTheTokenFromFlagEnvironmentOrFile) {
  std::vector<std::string> seen;
  manager_.On("GET", "/api/workers", [&](http::Request& r) {
    seen.emplace_back(r.Header("authorization"));
    if (r.Header("authorization") != "Bearer good") return http::Response::Message(401, "unknown API token");
    return http::Response::Json(200, json{{"workers", json::array()}});
  });
  manager_.Start();
  const std::string file = ::testing::TempDir() + "/cli-admin-token";
  std::ofstream(file) << "good\n";
  unsetenv("DUENDE_TOKEN");
  unsetenv("DUENDE_TOKEN_FILE");
  EXPECT_EQ(Run({"--token", "good", "workers"}), kExitOk) << err_.str();
  EXPECT_EQ(Run({"--token-file", file, "workers"}), kExitOk) << err_.str();
  setenv("DUENDE_TOKEN_FILE", file.c_str(), 1);
  EXPECT_EQ(Run({"workers"}), kExitOk) << err_.str();
  setenv("DUENDE_TOKEN", "bad", 1);
  EXPECT_EQ(Run({"workers"}), kExitFailed) << "DUENDE_TOKEN comes before the file";
  EXPECT_THAT(err_.str(), HasSubstr("unknown API token (the API token was refused) (HTTP 401)"));
  EXPECT_EQ(Lines(err_.str()), 1);
  EXPECT_EQ(Run({"--token", "good", "workers"}), kExitOk) << "--token comes first";
  unsetenv("DUENDE_TOKEN");
  unsetenv("DUENDE_TOKEN_FILE");
  EXPECT_EQ(seen, (std::vector<std::string>{"Bearer good", "Bearer good", "Bearer good", "Bearer bad", "Bearer good"}));

  // No token: the one line says where one comes from.
  EXPECT_EQ(Run({"workers"}), kExitFailed);
  EXPECT_THAT(err_.str(), HasSubstr("give --token, $DUENDE_TOKEN or --token-file"));
  EXPECT_EQ(seen.back(), "");
  EXPECT_EQ(Run({"--token-file", file + ".missing", "workers"}), kExitUsage);
  EXPECT_THAT(err_.str(), HasSubstr("cannot read the token file"));
}

}  // namespace
}  // namespace duende::cli
