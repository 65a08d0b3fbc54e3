// The job API through the Router (no sockets): status codes, JSON shapes,
// and "bad input changes nothing".
#include "jobs/job_api.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "http/http.h"
#include "jobs/job_service.h"
#include "store/sqlite.h"
#include "support/fake_clock.h"

namespace duende::jobs {
namespace {

using nlohmann::json;

class JobApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = std::move(*store::Database::Open(":memory:"));
    svc_ = std::move(*JobService::Open(*db_, clock_, {}));
    RegisterJobApi(router_, *svc_);
  }

  struct Reply {
    int status;
    json body;
  };
  Reply Call(std::string method, std::string path, std::string body = "") {
    http::Request req;
    req.method = std::move(method);
    const size_t q = path.find('?');
    if (q != std::string::npos) {
      req.query = path.substr(q + 1);
      path.resize(q);
    }
    req.path = std::move(path);
    req.body = std::move(body);
    http::Response resp = router_.Dispatch(req);
    json j = json::parse(resp.body, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << resp.body;
    return {resp.status, j};
  }

  std::string SleepJob(const std::string& frames = "1-3") {
    return json{{"name", "nap"},
                {"job_type", "sleep"},
                {"priority", 60},
                {"user", "bob"},
                {"settings", {{"frames", frames}, {"chunk_size", 1}, {"time_in_seconds", 1}}}}
        .dump();
  }
  size_t JobCount() { return svc_->ListJobs({})->size(); }

  testing::FakeClock clock_;
  std::unique_ptr<store::Database> db_;
  std::unique_ptr<JobService> svc_;
  http::Router router_;
};

TEST_F(JobApiTest, SubmitReturnsCreatedJobInV2Shape) {
  auto r = Call("POST", "/api/jobs", SleepJob());
  ASSERT_EQ(r.status, 201) << r.body.dump();
  const json& j = r.body;
  EXPECT_EQ(j["_id"].get<std::string>().size(), 24u);
  EXPECT_EQ(j["name"], "nap");
  EXPECT_EQ(j["job_type"], "sleep");
  EXPECT_EQ(j["priority"], 60);
  EXPECT_EQ(j["status"], "queued");
  EXPECT_EQ(j["status_reason"], "");
  EXPECT_EQ(j["user"], "bob");
  EXPECT_EQ(j["manager"], "000000000000000000000001");
  EXPECT_EQ(j["start_paused"], false);
  EXPECT_EQ(j["settings"]["frames"], "1-3");
  EXPECT_EQ(j["_created"], "2027-01-15T08:00:00.000000Z");
  EXPECT_EQ(j["_updated"], j["_created"]);
  EXPECT_EQ(j["tasks_status"], (json{{"count", 3}, {"queued", 3}}));
}

TEST_F(JobApiTest, TasksCarryWhenTheyLastChanged) {
  const std::string id = Call("POST", "/api/jobs", SleepJob()).body["_id"];
  auto tasks = Call("GET", "/api/jobs/" + id + "/tasks").body["tasks"];
  ASSERT_EQ(tasks.size(), 3u);
  EXPECT_EQ(tasks[0]["_updated"], "2027-01-15T08:00:00.000000Z") << "submission time";
  // A Manager's update stamps the task with the time the Manager received it.
  clock_.Advance(std::chrono::minutes(5));
  protocol::TaskUpdate u;
  u.id = "5f0000000000000000000001";
  u.task_id = tasks[1]["_id"];
  u.task_status = protocol::TaskStatus::kActive;
  u.received_on_manager = clock_.Now() - std::chrono::seconds(30);
  ASSERT_TRUE(svc_->PushTaskUpdates({u}).has_value());
  auto after = Call("GET", "/api/jobs/" + id + "/tasks").body["tasks"];
  EXPECT_EQ(after[1]["_updated"], "2027-01-15T08:04:30.000000Z");
  EXPECT_EQ(after[0]["_updated"], "2027-01-15T08:00:00.000000Z") << "untouched tasks keep theirs";
}

TEST_F(JobApiTest, GetListAndTasks) {
  const std::string id = Call("POST", "/api/jobs", SleepJob()).body["_id"];
  auto one = Call("GET", "/api/jobs/" + id);
  ASSERT_EQ(one.status, 200);
  EXPECT_EQ(one.body["_id"], id);

  auto list = Call("GET", "/api/jobs");
  ASSERT_EQ(list.status, 200);
  ASSERT_EQ(list.body["jobs"].size(), 1u);
  EXPECT_EQ(Call("GET", "/api/jobs?status=paused").body["jobs"].size(), 0u);
  EXPECT_EQ(Call("GET", "/api/jobs?status=queued").body["jobs"].size(), 1u);

  auto tasks = Call("GET", "/api/jobs/" + id + "/tasks");
  ASSERT_EQ(tasks.status, 200);
  ASSERT_EQ(tasks.body["tasks"].size(), 3u);
  const json& t = tasks.body["tasks"][0];
  EXPECT_EQ(t["name"], "sleep-1");
  EXPECT_EQ(t["job"], id);
  EXPECT_EQ(t["status"], "queued");
  EXPECT_EQ(t["job_priority"], 60);
  EXPECT_EQ(t["commands"][1]["name"], "sleep");

  auto task = Call("GET", "/api/tasks/" + t["_id"].get<std::string>());
  ASSERT_EQ(task.status, 200);
  EXPECT_EQ(task.body["name"], "sleep-1");
}

TEST_F(JobApiTest, StatusAndPriorityChanges) {
  const std::string id = Call("POST", "/api/jobs", SleepJob()).body["_id"];
  auto paused = Call("POST", "/api/jobs/" + id + "/status", R"({"status":"paused","reason":"lunch"})");
  ASSERT_EQ(paused.status, 200) << paused.body.dump();
  EXPECT_EQ(paused.body["status"], "paused");
  EXPECT_EQ(paused.body["status_reason"], "lunch");
  EXPECT_EQ(paused.body["tasks_status"]["paused"], 3);

  auto prio = Call("POST", "/api/jobs/" + id + "/priority", R"({"priority":99})");
  ASSERT_EQ(prio.status, 200);
  EXPECT_EQ(prio.body["priority"], 99);

  auto cancel = Call("POST", "/api/jobs/" + id + "/status", R"({"status":"cancel-requested"})");
  ASSERT_EQ(cancel.status, 200);
  EXPECT_EQ(cancel.body["status"], "canceled");
  // Resuming a canceled job makes no sense: 409, nothing changes.
  auto resume = Call("POST", "/api/jobs/" + id + "/status", R"({"status":"queued"})");
  EXPECT_EQ(resume.status, 409);
  EXPECT_TRUE(resume.body.contains("message"));
  EXPECT_EQ(Call("GET", "/api/jobs/" + id).body["status"], "canceled");
}

struct BadRequest {
  std::string name;
  std::string method;
  std::string path;  // "{job}" is replaced by an existing job ID
  std::string body;
  int want_status;
  std::string message_part;
};

class JobApiRejects : public JobApiTest, public ::testing::WithParamInterface<BadRequest> {};

TEST_P(JobApiRejects, WithMessageAndChangesNothing) {
  const auto existing = Call("POST", "/api/jobs", SleepJob());
  const std::string id = existing.body["_id"];
  std::string path = GetParam().path;
  if (auto pos = path.find("{job}"); pos != std::string::npos) path.replace(pos, 5, id);

  auto r = Call(GetParam().method, path, GetParam().body);
  EXPECT_EQ(r.status, GetParam().want_status) << r.body.dump();
  ASSERT_TRUE(r.body.contains("message")) << r.body.dump();
  EXPECT_NE(r.body["message"].get<std::string>().find(GetParam().message_part), std::string::npos) << r.body["message"];
  EXPECT_EQ(JobCount(), 1u);
  auto after = Call("GET", "/api/jobs/" + id);
  EXPECT_EQ(after.body, existing.body);
}

INSTANTIATE_TEST_SUITE_P(
    Table, JobApiRejects,
    ::testing::Values(
        BadRequest{"MalformedJson", "POST", "/api/jobs", "{\"name\":", 400, "malformed JSON"},
        BadRequest{"NotAnObject", "POST", "/api/jobs", "[1,2]", 400, "malformed JSON"},
        // Found by fuzz_job_api: a number beyond a double threw past the
        // parse_error handler (500 instead of 400).
        BadRequest{"NumberTooLarge", "POST", "/api/jobs", R"({"name":"x","priority":1e999})", 400, "malformed JSON"},
        BadRequest{"PriorityNumberTooLarge", "POST", "/api/jobs/{job}/priority", R"({"priority":1e999})", 400,
                   "malformed JSON"},
        BadRequest{"MissingName", "POST", "/api/jobs", R"({"job_type":"sleep","settings":{}})", 400,
                   "field 'name' is required"},
        BadRequest{"UnknownField", "POST", "/api/jobs", R"({"name":"x","job_type":"sleep","colour":"red"})", 400,
                   "unknown field 'colour'"},
        BadRequest{"SubmitterPlatformNotAString", "POST", "/api/jobs",
                   R"({"name":"x","job_type":"sleep","submitter_platform":3,"settings":{}})", 400,
                   "field 'submitter_platform' must be a string"},
        BadRequest{"UnknownJobType", "POST", "/api/jobs", R"({"name":"x","job_type":"teleport","settings":{}})", 400,
                   "unknown job type 'teleport'"},
        BadRequest{"InvalidFrames", "POST", "/api/jobs",
                   R"({"name":"x","job_type":"sleep","settings":{"frames":"9-1","chunk_size":1,"time_in_seconds":1}})",
                   400, "setting 'frames'"},
        BadRequest{"MissingSettings", "POST", "/api/jobs", R"({"name":"x","job_type":"blender-render"})", 400,
                   "setting 'filepath' is required"},
        BadRequest{"SubmitPriorityOutOfRange", "POST", "/api/jobs",
                   R"({"name":"x","job_type":"exec-command","priority":101,"settings":{"cmd":"ls"}})", 400,
                   "field 'priority' must be an integer from 1 to 100"},
        BadRequest{"UnknownJob", "GET", "/api/jobs/0123456789abcdef01234567", "", 404, "not found"},
        BadRequest{"MalformedJobId", "GET", "/api/jobs/x'; DROP TABLE jobs", "", 404, "not found"},
        BadRequest{"UnknownJobTasks", "GET", "/api/jobs/0123456789abcdef01234567/tasks", "", 404, "not found"},
        BadRequest{"UnknownTask", "GET", "/api/tasks/0123456789abcdef01234567", "", 404, "not found"},
        BadRequest{"BadStatusFilter", "GET", "/api/jobs?status=sleeping", "", 400, "unknown job status"},
        BadRequest{"BadLimit", "GET", "/api/jobs?limit=0", "", 400, "limit"},
        BadRequest{"StatusNotRequestable", "POST", "/api/jobs/{job}/status", R"({"status":"completed"})", 400,
                   "cannot be requested"},
        BadRequest{"StatusUnknown", "POST", "/api/jobs/{job}/status", R"({"status":"sleeping"})", 400,
                   "cannot be requested"},
        BadRequest{"StatusMissing", "POST", "/api/jobs/{job}/status", "{}", 400, "field 'status'"},
        BadRequest{"StatusMalformed", "POST", "/api/jobs/{job}/status", "status=paused", 400, "malformed JSON"},
        BadRequest{"StatusOfUnknownJob", "POST", "/api/jobs/0123456789abcdef01234567/status", R"({"status":"paused"})",
                   404, "not found"},
        BadRequest{"PriorityZero", "POST", "/api/jobs/{job}/priority", R"({"priority":0})", 400, "1 to 100"},
        BadRequest{"PriorityTooHigh", "POST", "/api/jobs/{job}/priority", R"({"priority":101})", 400, "1 to 100"},
        BadRequest{"PriorityNotInt", "POST", "/api/jobs/{job}/priority", R"({"priority":"high"})", 400, "1 to 100"},
        BadRequest{"PriorityOfUnknownJob", "POST", "/api/jobs/0123456789abcdef01234567/priority", R"({"priority":5})",
                   404, "not found"}),
    [](const auto& info) { return info.param.name; });

TEST_F(JobApiTest, LogRequestQueuesUpload) {
  const std::string id = Call("POST", "/api/jobs", SleepJob()).body["_id"];
  const std::string task = Call("GET", "/api/jobs/" + id + "/tasks").body["tasks"][0]["_id"];
  auto r = Call("POST", "/api/tasks/" + task + "/log-request");
  EXPECT_EQ(r.status, 202);
  auto batch = svc_->PushTaskUpdates({});
  ASSERT_TRUE(batch);
  EXPECT_EQ(batch->upload_task_file_queue, (std::vector<protocol::UploadRequest>{{id, task}}));
  EXPECT_EQ(Call("POST", "/api/tasks/0123456789abcdef01234567/log-request").status, 404);
}

}  // namespace
}  // namespace duende::jobs
