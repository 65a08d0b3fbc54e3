// duende-server's Manager-facing endpoints (spec §2.6) through the Router, on
// SQLite and on PostgreSQL:
// the exact v2 JSON shapes and headers, authentication, task distribution
// over several Managers, and "bad input changes nothing".
#include "server/manager_api.h"

#include <gtest/gtest.h>
#include <strings.h>

#include <nlohmann/json.hpp>
#include <set>

#include "common/gzip.h"
#include "common/ids.h"
#include "common/timefmt.h"
#include "http/http.h"
#include "jobs/job_api.h"
#include "jobs/job_service.h"
#include "server/manager_registry.h"
#include "support/backends.h"
#include "support/fake_clock.h"
#include "support/temp_dir.h"

namespace duende::server {
namespace {

using nlohmann::json;
using protocol::TaskStatus;

std::set<std::string> Keys(const json& j) {
  std::set<std::string> out;
  for (const auto& [k, v] : j.items()) out.insert(k);
  return out;
}

class ManagerApiTest : public ::testing::TestWithParam<testing::Backend> {
 protected:
  void SetUp() override {
    db_ = testing::OpenBackend(GetParam(), ":memory:", pg_);
    ASSERT_TRUE(db_);
    jobs::JobServiceOptions o;
    o.manager_id = "";
    o.log_dir = dir_.path() + "/uploaded-logs";
    jobs_ = std::move(*jobs::JobService::Open(*db_, clock_, o));
    registry_ = std::move(*ManagerRegistry::Open(*db_, clock_));
    jobs::RegisterJobApi(router_, *jobs_);
    RegisterManagerApi(router_, *jobs_, *registry_, ManagerApiOptions{.tasks_per_worker = 2});
  }

  struct Reply {
    int status;
    json body;
    http::Headers headers;
    std::string raw;
    std::string Header(const std::string& name) const {
      for (const auto& [k, v] : headers)
        if (strcasecmp(k.c_str(), name.c_str()) == 0) return v;
      return "";
    }
  };
  Reply Call(std::string method, std::string path, std::string body = "", http::Headers headers = {}) {
    http::Request req;
    req.method = std::move(method);
    req.path = std::move(path);
    req.body = std::move(body);
    for (auto& [k, v] : headers) {
      std::string lk = k;
      for (auto& c : lk) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      req.headers.emplace_back(lk, v);
    }
    http::Response resp = router_.Dispatch(req);
    Reply r{resp.status, json(), resp.headers, resp.body};
    if (!resp.body.empty()) r.body = json::parse(resp.body, nullptr, false);
    return r;
  }

  struct Mgr {
    std::string id;
    std::string token;
  };
  Mgr NewManager(const std::string& name, int workers) {
    auto r = Call("POST", "/api/managers", json{{"name", name}}.dump());
    EXPECT_EQ(r.status, 201) << r.raw;
    Mgr m{r.body.value("_id", ""), r.body.value("token", "")};
    if (workers > 0) {
      auto s = Call("POST", "/api/flamenco/managers/" + m.id + "/startup",
                    json{{"_meta", {{"version", 2}}},
                         {"manager_url", "http://" + name},
                         {"variables", json::object()},
                         {"nr_of_workers", workers},
                         {"worker_task_types", {"sleep", "blender-render", "video-encoding"}}}
                        .dump(),
                    Auth(m));
      EXPECT_EQ(s.status, 204) << s.raw;
    }
    return m;
  }
  // v2's scheme: the token as Basic user name, empty password.
  static http::Headers Auth(const Mgr& m) { return {{"Authorization", BasicHeader(m.token, "")}}; }
  static std::string BasicHeader(const std::string& user, const std::string& password) {
    static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const std::string in = user + ":" + password;
    std::string out;
    int val = 0, bits = -6;
    for (unsigned char c : in) {
      val = (val << 8) + c;
      bits += 8;
      while (bits >= 0) {
        out.push_back(kAlphabet[(val >> bits) & 0x3F]);
        bits -= 6;
      }
    }
    if (bits > -6) out.push_back(kAlphabet[((val << 8) >> (bits + 8)) & 0x3F]);
    while (out.size() % 4) out.push_back('=');
    return "Basic " + out;
  }
  std::string SubmitSleepJob(int tasks) {
    jobs::JobSubmission s;
    s.name = "nap";
    s.job_type = "sleep";
    s.settings = {{"frames", "1-" + std::to_string(tasks)}, {"chunk_size", 1}, {"time_in_seconds", 1}};
    auto job = jobs_->Submit(s);
    EXPECT_TRUE(job.has_value());
    return job->id;
  }
  Reply Depsgraph(const Mgr& m, const std::string& since = "") {
    auto h = Auth(m);
    if (!since.empty()) h.emplace_back("X-Flamenco-If-Updated-Since", since);
    return Call("GET", "/api/flamenco/managers/" + m.id + "/depsgraph", "", h);
  }
  json Update(const std::string& task, const std::string& status, json extra = json::object()) {
    json u = {{"_id", NewObjectId()},
              {"task_id", task},
              {"task_status", status},
              {"received_on_manager", "2026-11-27T10:00:00.000000Z"}};
    u.update(extra);
    return u;
  }
  Reply Push(const Mgr& m, const json& batch) {
    return Call("POST", "/api/flamenco/managers/" + m.id + "/task-update-batch", batch.dump(), Auth(m));
  }

  testing::TempDir dir_;
  testing::FakeClock clock_;
  std::unique_ptr<testing::TempPostgresDatabase> pg_;
  std::unique_ptr<store::SqlDatabase> db_;
  std::unique_ptr<jobs::JobService> jobs_;
  std::unique_ptr<ManagerRegistry> registry_;
  http::Router router_;
};

TEST_P(ManagerApiTest, CreateListAndRevokeManagersTokenShownOnlyOnCreation) {
  auto created = Call("POST", "/api/managers", json{{"name", "site-a"}}.dump());
  ASSERT_EQ(created.status, 201);
  EXPECT_EQ(created.body["name"], "site-a");
  EXPECT_TRUE(IsObjectId(created.body["_id"].get<std::string>()));
  EXPECT_GE(created.body["token"].get<std::string>().size(), 32u);
  auto list = Call("GET", "/api/managers");
  ASSERT_EQ(list.status, 200);
  ASSERT_EQ(list.body["managers"].size(), 1u);
  EXPECT_FALSE(list.body["managers"][0].contains("token"));
  EXPECT_FALSE(list.body["managers"][0]["revoked"].get<bool>());

  Mgr m{created.body.value("_id", ""), created.body.value("token", "")};
  EXPECT_EQ(Depsgraph(m).status, 204);
  auto revoked = Call("POST", "/api/managers/" + m.id + "/revoke");
  ASSERT_EQ(revoked.status, 200);
  EXPECT_TRUE(revoked.body["revoked"].get<bool>());
  auto refused = Depsgraph(m);
  EXPECT_EQ(refused.status, 401);
  EXPECT_TRUE(refused.body.contains("message"));
}

TEST_P(ManagerApiTest, BadAdminInputIs4xxAndCreatesNothing) {
  EXPECT_EQ(Call("POST", "/api/managers", "{not json").status, 400);
  EXPECT_EQ(Call("POST", "/api/managers", json{{"name", 3}}.dump()).status, 400);
  EXPECT_EQ(Call("POST", "/api/managers", json{{"name", ""}}.dump()).status, 400);
  EXPECT_EQ(Call("POST", "/api/managers", json{{"name", std::string(200, 'x')}}.dump()).status, 400);
  EXPECT_EQ(Call("POST", "/api/managers/" + NewObjectId() + "/revoke").status, 404);
  EXPECT_EQ(Call("GET", "/api/managers").body["managers"].size(), 0u);
}

TEST_P(ManagerApiTest, WrongOrMissingCredentialsAre401WithMessage) {
  Mgr a = NewManager("a", 1);
  Mgr b = NewManager("b", 1);
  auto none = Call("GET", "/api/flamenco/managers/" + a.id + "/depsgraph");
  EXPECT_EQ(none.status, 401);
  EXPECT_EQ(none.body["message"], "unknown manager or wrong token");
  // b's token is not a's.
  EXPECT_EQ(Call("GET", "/api/flamenco/managers/" + a.id + "/depsgraph", "", Auth(b)).status, 401);
  // ID + token as user and password, and Bearer, are accepted too.
  EXPECT_EQ(
      Call("GET", "/api/flamenco/managers/" + a.id + "/depsgraph", "", {{"Authorization", BasicHeader(a.id, a.token)}})
          .status,
      204);
  EXPECT_EQ(
      Call("GET", "/api/flamenco/managers/" + a.id + "/depsgraph", "", {{"Authorization", "Bearer " + a.token}}).status,
      204);
  EXPECT_EQ(
      Call("GET", "/api/flamenco/managers/" + a.id + "/depsgraph", "", {{"Authorization", BasicHeader(b.id, a.token)}})
          .status,
      401);
}

TEST_P(ManagerApiTest, DepsgraphShapesAndStatusesOfV2) {
  Mgr a = NewManager("a", 1);
  auto empty = Depsgraph(a);
  EXPECT_EQ(empty.status, 204);
  EXPECT_TRUE(empty.raw.empty());

  SubmitSleepJob(3);
  auto full = Depsgraph(a);
  ASSERT_EQ(full.status, 200) << full.raw;
  EXPECT_EQ(Keys(full.body), std::set<std::string>{"depsgraph"});
  // One worker, two tasks per worker.
  ASSERT_EQ(full.body["depsgraph"].size(), 2u);
  for (const auto& t : full.body["depsgraph"]) {
    for (const char* k : {"_id", "_etag", "job", "manager", "name", "status", "priority", "job_priority", "job_type",
                          "task_type", "commands", "parents", "worker", "log", "activity"})
      EXPECT_TRUE(t.contains(k)) << k << " missing in " << t.dump();
    EXPECT_EQ(t["status"], "claimed-by-manager");
    EXPECT_EQ(t["manager"], a.id);
  }
  const std::string last = full.Header("X-Flamenco-Last-Updated");
  EXPECT_FALSE(last.empty());
  EXPECT_EQ(full.Header("X-Flamenco-Last-Updated-Format"), "ISO-8601");
  EXPECT_TRUE(ParseIso8601(last).has_value()) << last;
  // The handed-out tasks are claimed on the job side too.
  const std::string first = full.body["depsgraph"][0]["_id"];
  EXPECT_EQ(jobs_->GetTask(first)->status, TaskStatus::kClaimedByManager);

  // The Manager holds two unstarted tasks, its whole share: nothing more.
  EXPECT_EQ(Depsgraph(a, last).status, 304);
  // Once one runs, the incremental download claims the third task.
  ASSERT_EQ(Push(a, json::array({Update(first, "active")})).status, 200);
  auto more = Depsgraph(a, last);
  ASSERT_EQ(more.status, 200) << more.raw;
  std::set<std::string> before;
  for (const auto& t : full.body["depsgraph"]) before.insert(t["_id"].get<std::string>());
  int claimed_now = 0;
  for (const auto& t : more.body["depsgraph"]) {
    if (before.contains(t["_id"].get<std::string>())) continue;
    ++claimed_now;
    EXPECT_EQ(t["status"], "claimed-by-manager");
  }
  EXPECT_EQ(claimed_now, 1);
  // Nothing changed, nothing left to claim.
  auto same = Depsgraph(a, more.Header("X-Flamenco-Last-Updated"));
  EXPECT_EQ(same.status, 304);
  EXPECT_TRUE(same.raw.empty());
}

TEST_P(ManagerApiTest, TasksOfOneJobAreSharedBetweenManagers) {
  Mgr a = NewManager("a", 1);
  Mgr b = NewManager("b", 1);
  Mgr idle = NewManager("idle", 0);
  SubmitSleepJob(4);
  EXPECT_EQ(Depsgraph(idle).status, 204);  // no workers: claims nothing
  auto ga = Depsgraph(a);
  auto gb = Depsgraph(b);
  ASSERT_EQ(ga.status, 200);
  ASSERT_EQ(gb.status, 200);
  std::set<std::string> ids;
  for (const auto& t : ga.body["depsgraph"]) ids.insert(t["_id"].get<std::string>());
  for (const auto& t : gb.body["depsgraph"]) {
    EXPECT_EQ(t["manager"], b.id);
    EXPECT_FALSE(ids.contains(t["_id"].get<std::string>())) << "task handed to both managers";
    ids.insert(t["_id"].get<std::string>());
  }
  EXPECT_EQ(ids.size(), 4u);
  // A full re-download (restart) gives each Manager its own tasks only.
  EXPECT_EQ(Depsgraph(a).body["depsgraph"].size(), 2u);
}

TEST_P(ManagerApiTest, UnstartedTasksAManagerHoldsCountAgainstItsShare) {
  Mgr a = NewManager("a", 2);  // a share of 4
  Mgr b = NewManager("b", 2);
  SubmitSleepJob(12);
  auto held_by = [&](const Mgr& m) {
    const auto job_list = jobs_->ListJobs({});
    const auto tasks = jobs_->GetTasks(job_list->front().id);
    int n = 0;
    for (const auto& t : *tasks) n += t.manager == m.id;
    return n;
  };
  ASSERT_EQ(Depsgraph(a).body["depsgraph"].size(), 4u);
  // Asking again (a worker found nothing to do, a restart) takes no more
  // while none of the four has started...
  EXPECT_EQ(Depsgraph(a).body["depsgraph"].size(), 4u);
  EXPECT_EQ(held_by(a), 4);
  // ...so the other site gets its share of what is left.
  EXPECT_EQ(Depsgraph(b).body["depsgraph"].size(), 4u);
  // Three of a's tasks run or ended: three more for a.
  const json ga = Depsgraph(a).body["depsgraph"];
  ASSERT_EQ(Push(a, json::array({Update(ga[0]["_id"], "active"), Update(ga[1]["_id"], "completed"),
                                 Update(ga[2]["_id"], "completed")}))
                .status,
            200);
  Depsgraph(a);
  EXPECT_EQ(held_by(a), 7);
}

TEST_P(ManagerApiTest, TaskWhoseParentsRunElsewhereIsNotHandedOut) {
  Mgr a = NewManager("a", 10);
  jobs::JobSubmission s;
  s.name = "shot";
  s.job_type = "blender-render";
  s.settings = {{"filepath", "/shots/a.blend"},
                {"render_output", "/renders/a/frame-######"},
                {"frames", "1-2"},
                {"chunk_size", 1},
                {"fps", 24},
                {"format", "PNG"}};
  auto job = jobs_->Submit(s);
  ASSERT_TRUE(job.has_value()) << job.error().message;
  auto tasks = *jobs_->GetTasks(job->id);
  std::string child;
  for (const auto& t : tasks)
    if (!t.parents.empty()) child = t.id;
  ASSERT_FALSE(child.empty()) << "expected a task with parents (video encoding)";
  auto g = Depsgraph(a);
  ASSERT_EQ(g.status, 200);
  for (const auto& t : g.body["depsgraph"]) EXPECT_NE(t["_id"], child);
  EXPECT_EQ(g.body["depsgraph"].size(), tasks.size() - 1);
  // Once its parents completed, it goes out.
  json batch = json::array();
  for (const auto& t : g.body["depsgraph"]) batch.push_back(Update(t["_id"], "completed"));
  ASSERT_EQ(Push(a, batch).status, 200);
  auto g2 = Depsgraph(a, g.Header("X-Flamenco-Last-Updated"));
  ASSERT_EQ(g2.status, 200);
  ASSERT_EQ(g2.body["depsgraph"].size(), 1u);
  EXPECT_EQ(g2.body["depsgraph"][0]["_id"], child);
}

TEST_P(ManagerApiTest, TaskRevalidationByEtag) {
  Mgr a = NewManager("a", 1);
  Mgr b = NewManager("b", 1);
  SubmitSleepJob(1);
  auto g = Depsgraph(a);
  ASSERT_EQ(g.status, 200);
  const std::string id = g.body["depsgraph"][0]["_id"];
  const std::string etag = g.body["depsgraph"][0]["_etag"];
  auto same = Call("GET", "/api/flamenco/tasks/" + id, "", {Auth(a)[0], {"If-None-Match", "\"" + etag + "\""}});
  EXPECT_EQ(same.status, 304);
  EXPECT_TRUE(same.raw.empty());
  auto full = Call("GET", "/api/flamenco/tasks/" + id, "", Auth(a));
  ASSERT_EQ(full.status, 200);
  EXPECT_EQ(full.body["_id"], id);
  EXPECT_EQ(full.Header("ETag"), "\"" + etag + "\"");
  // The Manager's own updates leave the etag alone: its copy is not stale.
  ASSERT_EQ(Push(a, json::array({Update(id, "active", {{"worker", "w1"}})})).status, 200);
  EXPECT_EQ(Call("GET", "/api/flamenco/tasks/" + id, "", {Auth(a)[0], {"If-None-Match", etag}}).status, 304);
  // A job-side change (priority) does change it.
  ASSERT_TRUE(jobs_->ChangeJobPriority(jobs_->GetTask(id)->job, 90));
  auto changed = Call("GET", "/api/flamenco/tasks/" + id, "", {Auth(a)[0], {"If-None-Match", etag}});
  ASSERT_EQ(changed.status, 200);
  EXPECT_EQ(changed.body["job_priority"], 90);
  // Another Manager, an unknown task: 404 (gone, for that Manager).
  EXPECT_EQ(Call("GET", "/api/flamenco/tasks/" + id, "", {{"Authorization", BasicHeader(b.id, b.token)}}).status, 404);
  EXPECT_EQ(Call("GET", "/api/flamenco/tasks/" + NewObjectId(), "", Auth(a)).status, 404);
  EXPECT_EQ(Call("GET", "/api/flamenco/tasks/" + id).status, 401);
}

TEST_P(ManagerApiTest, TaskUpdateBatchExactResponseAndBothCommandIndexNames) {
  Mgr a = NewManager("a", 1);
  Mgr b = NewManager("b", 1);
  SubmitSleepJob(3);
  auto ga = Depsgraph(a);
  auto gb = Depsgraph(b);
  ASSERT_EQ(ga.body["depsgraph"].size(), 2u);
  ASSERT_EQ(gb.body["depsgraph"].size(), 1u);
  const std::string t1 = ga.body["depsgraph"][0]["_id"], t2 = ga.body["depsgraph"][1]["_id"];
  const std::string tb = gb.body["depsgraph"][0]["_id"];
  json u1 = Update(t1, "active", {{"current_command_idx", 2}, {"worker", "w1"}, {"log_tail", "line 1\n"}});
  json u2 = Update(t2, "active", {{"current_command_index", 3}});
  json ub = Update(tb, "completed");  // b's task, pushed by a: ignored but handled
  auto r = Push(a, json::array({u1, u2, ub}));
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(Keys(r.body), (std::set<std::string>{"modified_count", "handled_update_ids", "cancel_task_ids",
                                                 "upload_task_file_queue"}));
  EXPECT_EQ(r.body["modified_count"], 2);
  EXPECT_EQ(r.body["handled_update_ids"], json::array({u1["_id"], u2["_id"], ub["_id"]}));
  EXPECT_EQ(r.body["cancel_task_ids"], json::array());
  EXPECT_EQ(r.body["upload_task_file_queue"], json::array());
  EXPECT_EQ(jobs_->GetTask(t1)->current_command_index, 2);
  EXPECT_EQ(jobs_->GetTask(t2)->current_command_index, 3);
  EXPECT_EQ(jobs_->GetTask(t1)->worker, "w1");
  EXPECT_EQ(jobs_->GetTask(tb)->status, TaskStatus::kClaimedByManager);
  // Re-sent (lost response): handled again, applied once.
  auto again = Push(a, json::array({u1}));
  EXPECT_EQ(again.body["handled_update_ids"], json::array({u1["_id"]}));
  EXPECT_EQ(again.body["modified_count"], 0);
}

TEST_P(ManagerApiTest, MalformedBatchIs400AndAppliesNothing) {
  Mgr a = NewManager("a", 1);
  SubmitSleepJob(1);
  auto g = Depsgraph(a);
  const std::string id = g.body["depsgraph"][0]["_id"];
  json good = Update(id, "completed");
  json bad = Update(id, "no-such-status");
  auto r = Push(a, json::array({good, bad}));
  EXPECT_EQ(r.status, 400);
  EXPECT_TRUE(r.body.contains("message"));
  EXPECT_EQ(jobs_->GetTask(id)->status, TaskStatus::kClaimedByManager);
  EXPECT_EQ(Push(a, json{{"not", "an array"}}).status, 400);
  EXPECT_EQ(Call("POST", "/api/flamenco/managers/" + a.id + "/task-update-batch", "[{", Auth(a)).status, 400);
  EXPECT_EQ(Push(a, json::array({json{{"task_id", id}}})).status, 400);  // no _id
  EXPECT_EQ(jobs_->GetTask(id)->status, TaskStatus::kClaimedByManager);
}

TEST_P(ManagerApiTest, CancelOnTheServerReachesTheManagerInTheBatchResponse) {
  Mgr a = NewManager("a", 2);
  const std::string job = SubmitSleepJob(2);
  auto g = Depsgraph(a);
  ASSERT_EQ(g.body["depsgraph"].size(), 2u);
  const std::string t1 = g.body["depsgraph"][0]["_id"], t2 = g.body["depsgraph"][1]["_id"];
  ASSERT_EQ(Push(a, json::array({Update(t1, "active")})).status, 200);
  ASSERT_TRUE(jobs_->ChangeJobStatus(job, protocol::JobStatus::kCancelRequested, "stop"));
  auto r = Push(a, json::array());  // the empty push to learn about cancellations
  ASSERT_EQ(r.status, 200);
  // The active task and the claimed one (§4.2.1).
  EXPECT_EQ(r.body["cancel_task_ids"], json::array({t1, t2}));
  EXPECT_EQ(r.body["modified_count"], 0);
  // Only canceled/failed/completed is accepted from a cancel-requested task.
  auto ignored = Push(a, json::array({Update(t1, "active")}));
  EXPECT_EQ(ignored.body["cancel_task_ids"], json::array({t1, t2}));
  auto done = Push(a, json::array({Update(t1, "canceled"), Update(t2, "canceled")}));
  EXPECT_EQ(done.body["cancel_task_ids"], json::array());
  EXPECT_EQ(jobs_->GetJob(job)->status, protocol::JobStatus::kCanceled);
}

TEST_P(ManagerApiTest, AttachTaskLogMultipartGzip) {
  Mgr a = NewManager("a", 1);
  Mgr b = NewManager("b", 1);
  SubmitSleepJob(1);
  auto g = Depsgraph(a);
  const std::string id = g.body["depsgraph"][0]["_id"];
  ASSERT_TRUE(jobs_->RequestTaskLog(id));
  auto queued = Push(a, json::array());
  ASSERT_EQ(queued.body["upload_task_file_queue"].size(), 1u);
  EXPECT_EQ(queued.body["upload_task_file_queue"][0], (json{{"job", g.body["depsgraph"][0]["job"]}, {"task", id}}));

  const std::string gz = *Gzip("line 1\nline 2\n");
  auto multipart = [&](const std::string& name, const std::string& filename, const std::string& data) {
    return "--XyZ\r\nContent-Disposition: form-data; name=\"" + name + "\"; filename=\"" + filename +
           "\"\r\nContent-Type: text/plain+gzip\r\n\r\n" + data + "\r\n--XyZ--\r\n";
  };
  const http::Headers h = {Auth(a)[0], {"Content-Type", "multipart/form-data; boundary=XyZ"}};
  const std::string path = "/api/flamenco/managers/" + a.id + "/attach-task-log/" + id;
  EXPECT_EQ(Call("POST", path, multipart("other", "task.txt.gz", gz), h).status, 400);
  EXPECT_EQ(Call("POST", path, multipart("logfile", "task.txt", gz), h).status, 400);
  EXPECT_EQ(Call("POST", path, multipart("logfile", "task.txt.gz", "plain text"), h).status, 400);
  EXPECT_EQ(Call("POST", "/api/flamenco/managers/" + b.id + "/attach-task-log/" + id,
                 multipart("logfile", "task.txt.gz", gz), {Auth(b)[0], h[1]})
                .status,
            404);
  EXPECT_EQ(Push(a, json::array()).body["upload_task_file_queue"].size(), 1u);  // still wanted

  auto created = Call("POST", path, multipart("logfile", "task-" + id + ".txt.gz", gz), h);
  ASSERT_EQ(created.status, 201) << created.raw;
  EXPECT_EQ(created.body, (json{{"_message", "ok"}}));
  EXPECT_EQ(created.Header("Location"), "/api/tasks/" + id + "/uploaded-log");
  EXPECT_EQ(Push(a, json::array()).body["upload_task_file_queue"], json::array());
  EXPECT_EQ(Call("POST", path, multipart("logfile", "task-" + id + ".txt.gz", gz), h).status, 200);
  http::Request get;
  get.method = "GET";
  get.path = "/api/tasks/" + id + "/uploaded-log";
  auto served = router_.Dispatch(get);
  EXPECT_EQ(served.status, 200);
  EXPECT_EQ(served.content_type, "application/gzip");
  ASSERT_TRUE(served.file);
}

TEST_P(ManagerApiTest, StartupAndUpdateNotifications) {
  Mgr a = NewManager("a", 0);
  const std::string path = "/api/flamenco/managers/" + a.id;
  EXPECT_EQ(Call("POST", path + "/startup", json{{"manager_url", "x"}}.dump(), Auth(a)).status, 400);
  EXPECT_EQ(Call("POST", path + "/startup", "nope", Auth(a)).status, 400);
  EXPECT_EQ(Call("POST", path + "/update", json{{"nr_of_workers", 1}}.dump(), Auth(a)).status, 400);
  EXPECT_EQ(registry_->Get(a.id)->nr_of_workers, 0);
  auto ok = Call("POST", path + "/update",
                 json{{"_meta", {{"version", 2}}},
                      {"manager_url", "http://a:8080"},
                      {"variables", json::object()},
                      {"nr_of_workers", 3},
                      {"worker_task_types", {"sleep", "video-encoding"}}}
                     .dump(),
                 Auth(a));
  EXPECT_EQ(ok.status, 204);
  auto m = Call("GET", path, "", Auth(a));
  ASSERT_EQ(m.status, 200);
  EXPECT_EQ(m.body["url"], "http://a:8080");
  EXPECT_EQ(m.body["stats"]["nr_of_workers"], 3);
  EXPECT_EQ(jobs_->WorkerTaskTypes(), (std::set<std::string>{"sleep", "video-encoding"}));
}

INSTANTIATE_TEST_SUITE_P(Backends, ManagerApiTest,
                         ::testing::Values(testing::Backend::kSqlite, testing::Backend::kPostgres),
                         testing::BackendName);

TEST(FindFormPartTest, FindsTheNamedPartWithBinaryData) {
  const std::string data = std::string("\x1f\x8b\0\r\nbin", 8);
  const std::string body =
      "--b\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\nfirst\r\n--b\r\n"
      "Content-Disposition: form-data; name=\"logfile\"; filename=\"t.txt.gz\"\r\n"
      "Content-Type: text/plain+gzip\r\n\r\n" +
      data + "\r\n--b--\r\n";
  auto part = FindFormPart("multipart/form-data; boundary=b", body, "logfile");
  ASSERT_TRUE(part.has_value());
  EXPECT_EQ(part->filename, "t.txt.gz");
  EXPECT_EQ(part->content_type, "text/plain+gzip");
  EXPECT_EQ(part->data, data);
  EXPECT_FALSE(FindFormPart("multipart/form-data; boundary=b", body, "nope"));
  EXPECT_FALSE(FindFormPart("application/json", body, "logfile"));
  EXPECT_FALSE(FindFormPart("multipart/form-data; boundary=b",
                            "--b\r\nContent-Disposition: form-data; name=\"logfile\"", "logfile"));
}

}  // namespace
}  // namespace duende::server
