// Multi-site integration tests: one real duende-server, two linked
// duende-managers (each with its own duende-worker), all on loopback with
// temp directories.
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <thread>

#include "support/backends.h"
#include "support/farm.h"
#include "support/temp_dir.h"

namespace duende::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

// duende-server on 127.0.0.1:`port` (0 = ephemeral) with `data_dir`.
class ServerProcess {
 public:
  // `database`: empty for SQLite in the data directory, else a PostgreSQL URL.
  ServerProcess(std::string data_dir, uint16_t port = 0, int tasks_per_worker = 1, const std::string& database = "")
      : data_dir_(std::move(data_dir)), client_(http::MakeCurlClient("duende-tests")) {
    std::filesystem::create_directories(data_dir_);
    std::filesystem::remove(data_dir_ + "/server.url");
    std::vector<std::string> argv{BinPath("duende-server"),
                                  "--listen",
                                  "127.0.0.1:" + std::to_string(port),
                                  "--data-dir",
                                  data_dir_,
                                  "--tasks-per-worker",
                                  std::to_string(tasks_per_worker)};
    if (!database.empty()) {
      argv.push_back("--database");
      argv.push_back(database);
    }
    process_ = std::make_unique<Process>(argv, data_dir_ + "/server.log");
    WaitFor(
        [&] {
          std::ifstream in(data_dir_ + "/server.url");
          return static_cast<bool>(in >> url_);
        },
        20s);
    if (!url_.empty()) port_ = static_cast<uint16_t>(std::stoi(url_.substr(url_.rfind(':') + 1)));
    std::ifstream token_in(token_file());
    std::getline(token_in, token_);
  }
  ~ServerProcess() { Stop(); }
  void Stop() {
    if (!process_->running()) return;
    process_->Signal(SIGTERM);
    if (!process_->Wait(10s)) process_->Kill();
  }

  const std::string& url() const { return url_; }
  uint16_t port() const { return port_; }
  // The admin token the Server wrote to its data directory.
  std::string token_file() const { return data_dir_ + "/admin-token"; }
  std::string Log() const { return process_->Log(); }

  http::ClientResponse Send(const std::string& method, const std::string& path, const json& body = nullptr,
                            bool authorized = true) {
    http::ClientRequest r;
    r.method = method;
    r.url = url_ + path;
    if (authorized) r.headers.emplace_back("Authorization", "Bearer " + token_);
    if (!body.is_null()) {
      r.body = body.dump();
      r.headers.emplace_back("Content-Type", "application/json");
    }
    return client_->Send(r).value_or(http::ClientResponse{});
  }
  json Get(const std::string& path) {
    auto r = Send("GET", path);
    if (r.status != 200) return nullptr;
    return json::parse(r.body, nullptr, false);
  }
  bool WaitForJobStatus(const std::string& job, const std::string& status, std::chrono::milliseconds timeout) {
    return WaitFor(
        [&] {
          auto j = Get("/api/jobs/" + job);
          return j.is_object() && j["status"] == status;
        },
        timeout);
  }

 private:
  std::string data_dir_;
  std::string url_;
  std::string token_;
  uint16_t port_ = 0;
  std::unique_ptr<Process> process_;
  std::unique_ptr<http::Client> client_;
};

// Every test runs with the Server on SQLite and on PostgreSQL.
class MultiSiteTest : public ::testing::TestWithParam<Backend> {
 protected:
  // A Server on this test's backend (the same database across restarts).
  std::unique_ptr<ServerProcess> StartServer(const TempDir& dir, uint16_t port = 0, int tasks_per_worker = 1) {
    std::string database;
    if (GetParam() == Backend::kPostgres) {
      if (!pg_) pg_ = std::make_unique<TempPostgresDatabase>();
      EXPECT_TRUE(pg_->ok()) << pg_->error();
      database = pg_->url();
    }
    return std::make_unique<ServerProcess>(dir / "server", port, tasks_per_worker, database);
  }

 private:
  std::unique_ptr<TempPostgresDatabase> pg_;
};

json SleepJob(const std::string& frames, double seconds) {
  return {{"name", "nap"},
          {"job_type", "sleep"},
          {"settings", {{"frames", frames}, {"chunk_size", 1}, {"time_in_seconds", seconds}}}};
}

std::vector<std::string> WorkerArgs() {
  return {"--task-types", "sleep", "--may-i-run-interval", "1s", "--poll-interval", "500ms"};
}

// A site: a linked Manager and one worker.
struct Site {
  std::string id;
  std::string token;
  std::string data_dir;
  std::unique_ptr<ManagerProcess> manager;
  std::unique_ptr<WorkerProcess> worker;
};

// Short intervals so a test takes seconds, not minutes.
std::string LinkedConfig(const std::string& server_url, const std::string& id, const std::string& token,
                         const std::string& download_sleep = "1s") {
  return "flamenco: " + server_url + "\nmanager_id: " + id + "\nmanager_secret: " + token +
         "\ndownload_task_sleep: " + download_sleep +
         "\ndownload_task_recheck_throttle: 200ms\ntask_update_push_max_interval: 300ms\n"
         "cancel_task_fetch_max_interval: 1s\n";
}

Site StartSite(ServerProcess& server, const TempDir& dir, const std::string& name,
               const std::string& download_sleep = "1s") {
  Site s;
  auto created = server.Send("POST", "/api/managers", json{{"name", name}});
  EXPECT_EQ(created.status, 201) << created.body;
  json j = json::parse(created.body, nullptr, false);
  s.id = j.value("_id", "");
  s.token = j.value("token", "");
  s.data_dir = dir / name;
  s.manager = std::make_unique<ManagerProcess>(s.data_dir, LinkedConfig(server.url(), s.id, s.token, download_sleep));
  EXPECT_FALSE(s.manager->url().empty()) << s.manager->process().Log();
  s.worker =
      std::make_unique<WorkerProcess>(s.manager->url(), dir / (name + "-worker"), name + "-worker", WorkerArgs());
  return s;
}

// One unlabelled sample from a /metrics page (with the admin token in
// `token_file`, when there is one); -1 when it cannot be read.
int64_t Metric(const std::string& base_url, const std::string& token_file, const std::string& name) {
  http::ClientRequest r;
  r.url = base_url + "/metrics";
  std::string token;
  std::ifstream token_in(token_file);
  if (std::getline(token_in, token) && !token.empty()) r.headers.emplace_back("Authorization", "Bearer " + token);
  auto resp = http::MakeCurlClient("duende-tests")->Send(r);
  if (!resp || resp->status != 200) return -1;
  const std::string key = "\n" + name + " ";
  const size_t pos = resp->body.find(key);
  if (pos == std::string::npos) return -1;
  return std::stoll(resp->body.substr(pos + key.size()));
}

// The site's undelivered task updates.
int64_t QueueSize(const Site& site) {
  return Metric(site.manager->url(), site.data_dir + "/admin-token", "duende_upstream_queue_updates");
}
int64_t Delivered(const Site& site) {
  return Metric(site.manager->url(), site.data_dir + "/admin-token", "duende_upstream_updates_delivered_total");
}

TEST_P(MultiSiteTest, OneJobRenderedAtTwoSitesCompletesOnTheServer) {
  TempDir dir;
  auto started = StartServer(dir);
  ServerProcess& server = *started;
  ASSERT_FALSE(server.url().empty()) << server.Log();
  Site a = StartSite(server, dir, "site-a");
  Site b = StartSite(server, dir, "site-b");

  auto submitted = server.Send("POST", "/api/jobs", SleepJob("1-8", 0.5));
  ASSERT_EQ(submitted.status, 201) << submitted.body;
  const std::string job = json::parse(submitted.body)["_id"];
  ASSERT_TRUE(server.WaitForJobStatus(job, "completed", 90s))
      << server.Get("/api/jobs/" + job + "/tasks").dump() << "\n"
      << a.manager->process().Log() << b.manager->process().Log();

  std::map<std::string, int> per_site;
  const json tasks = server.Get("/api/jobs/" + job + "/tasks");  // kept alive for the loop
  ASSERT_TRUE(tasks.is_object());
  for (const auto& t : tasks["tasks"]) {
    EXPECT_EQ(t["status"], "completed");
    ++per_site[t["manager"].get<std::string>()];
  }
  EXPECT_GT(per_site[a.id], 0) << "site A rendered nothing";
  EXPECT_GT(per_site[b.id], 0) << "site B rendered nothing";
  EXPECT_EQ(per_site[a.id] + per_site[b.id], 8);
  // Everything was delivered: nothing left in either site's queue.
  EXPECT_TRUE(WaitFor([&] { return QueueSize(a) == 0 && QueueSize(b) == 0; }, 10s));
}

// The issue asks for 60 s of downtime; CI uses ~8 s, long enough for several
// failed pushes and downloads on both sites while they keep rendering.
// The Server is down for DUENDE_SITE_OUTAGE_SECONDS (15 s by default; the
// CTest entry MultiSiteMinuteOutage, label long, runs it with 60 s).
TEST_P(MultiSiteTest, ServerDownMidJobSitesKeepRenderingAndDeliverEverythingOnce) {
  TempDir dir;
  // Three tasks in hand per worker, so both sites have work while it is down.
  auto server = StartServer(dir, 0, 3);
  ASSERT_FALSE(server->url().empty()) << server->Log();
  const uint16_t port = server->port();
  Site a = StartSite(*server, dir, "site-a");
  Site b = StartSite(*server, dir, "site-b");
  auto submitted = server->Send("POST", "/api/jobs", SleepJob("1-16", 3.0));
  ASSERT_EQ(submitted.status, 201);
  const std::string job = json::parse(submitted.body)["_id"];
  // Mid-job: some tasks done, not all.
  ASSERT_TRUE(WaitFor(
      [&] {
        auto j = server->Get("/api/jobs/" + job);
        return j.is_object() && j["tasks_status"].value("completed", 0) >= 2;
      },
      60s));
  server->Stop();
  const int64_t a_before = QueueSize(a);
  const int64_t b_before = QueueSize(b);
  std::this_thread::sleep_for(std::chrono::seconds(EnvInt("DUENDE_SITE_OUTAGE_SECONDS", 15)));
  // Both sites kept working: their queues of undelivered updates grew.
  EXPECT_GT(QueueSize(a), a_before);
  EXPECT_GT(QueueSize(b), b_before);

  // Back on the same port and data: every update arrives, the job completes.
  server = StartServer(dir, port, 3);
  ASSERT_FALSE(server->url().empty()) << server->Log();
  ASSERT_TRUE(server->WaitForJobStatus(job, "completed", 180s)) << server->Get("/api/jobs/" + job + "/tasks").dump();
  int completed = 0;
  const json tasks = server->Get("/api/jobs/" + job + "/tasks");
  for (const auto& t : tasks["tasks"]) completed += t["status"] == "completed";
  EXPECT_EQ(completed, 16);
  ASSERT_TRUE(WaitFor([&] { return QueueSize(a) == 0 && QueueSize(b) == 0; }, 30s));
  // None lost, none twice: the Server holds one handled record per update
  // ID, and their number is exactly what the sites delivered, however often
  // an update was re-sent.
  EXPECT_GT(Metric(server->url(), server->token_file(), "duende_server_task_updates_applied_total"), 0);
  EXPECT_GE(Metric(server->url(), server->token_file(), "duende_server_task_updates_duplicate_total"), 0);
  EXPECT_EQ(Metric(server->url(), server->token_file(), "duende_server_handled_updates"), Delivered(a) + Delivered(b));
}

TEST_P(MultiSiteTest, CancelOnTheServerStopsTheActiveTaskAtTheSite) {
  TempDir dir;
  auto started = StartServer(dir);
  ServerProcess& server = *started;
  ASSERT_FALSE(server.url().empty()) << server.Log();
  Site a = StartSite(server, dir, "site-a");
  auto submitted = server.Send("POST", "/api/jobs", SleepJob("1-2", 120));
  ASSERT_EQ(submitted.status, 201);
  const std::string job = json::parse(submitted.body)["_id"];
  ASSERT_TRUE(WaitFor(
      [&] {
        auto j = server.Get("/api/jobs/" + job);
        return j.is_object() && j["tasks_status"].value("active", 0) == 1;
      },
      30s))
      << server.Get("/api/jobs/" + job + "/tasks").dump();
  ASSERT_EQ(server.Send("POST", "/api/jobs/" + job + "/status", json{{"status", "cancel-requested"}}).status, 200);
  // Well before the 120 s sleep would end: the worker was told to stop.
  ASSERT_TRUE(server.WaitForJobStatus(job, "canceled", 30s)) << server.Get("/api/jobs/" + job + "/tasks").dump();
  const json tasks = server.Get("/api/jobs/" + job + "/tasks");
  ASSERT_EQ(tasks["tasks"].size(), 2u);
  for (const auto& t : tasks["tasks"]) EXPECT_EQ(t["status"], "canceled");
}

// `duende log-request TASK --wait 30 -o FILE` against the Server; returns
// the exit code, with the file's text in `text`.
int RequestLog(const ServerProcess& server, const TempDir& dir, const std::string& task, std::string& text) {
  const std::string out = dir / ("log-" + task + ".txt");
  Process cli({BinPath("duende"), "--manager", server.url(), "--token-file", server.token_file(), "log-request", task,
               "--wait", "30", "-o", out},
              dir / ("cli-" + task + ".log"));
  const auto rc = cli.Wait(60s);
  std::ifstream in(out);
  text.assign(std::istreambuf_iterator<char>(in), {});
  return rc.value_or(-1);
}

int Count(const std::string& haystack, const std::string& needle) {
  int n = 0;
  for (size_t at = haystack.find(needle); at != std::string::npos; at = haystack.find(needle, at + 1)) ++n;
  return n;
}

TEST_P(MultiSiteTest, LogRequestRoundTripIncludingATaskWithoutALog) {
  TempDir dir;
  auto started = StartServer(dir, 0, 2);  // the site holds two tasks
  ServerProcess& server = *started;
  ASSERT_FALSE(server.url().empty()) << server.Log();
  Site a = StartSite(server, dir, "site-a");
  auto submitted = server.Send("POST", "/api/jobs", SleepJob("1-4", 120));
  ASSERT_EQ(submitted.status, 201);
  const std::string job = json::parse(submitted.body)["_id"];
  std::string running, waiting, unclaimed;
  ASSERT_TRUE(WaitFor(
      [&] {
        const json tasks = server.Get("/api/jobs/" + job + "/tasks");
        if (!tasks.is_object()) return false;
        running = waiting = unclaimed = "";
        for (const auto& t : tasks["tasks"]) {
          if (t["status"] == "active") running = t["_id"];
          if (t["status"] == "claimed-by-manager") waiting = t["_id"];
          if (t["manager"] == "") unclaimed = t["_id"];
        }
        return !running.empty() && !waiting.empty() && !unclaimed.empty();
      },
      30s))
      << server.Get("/api/jobs/" + job + "/tasks").dump();

  // The running task's log as the site has it (the worker's own lines follow
  // at its log push interval). Asked twice before it arrives: uploaded once.
  ASSERT_EQ(server.Send("POST", "/api/tasks/" + running + "/log-request").status, 202);
  std::string text;
  ASSERT_EQ(RequestLog(server, dir, running, text), 0);
  EXPECT_NE(text.find("Manager assigned task " + running + " to worker"), std::string::npos) << text;
  // The claimed task has not run: its log says there is none, and the
  // Server stops asking.
  ASSERT_EQ(RequestLog(server, dir, waiting, text), 0);
  EXPECT_NE(text.find("log file does not exist"), std::string::npos) << text;
  // A few more push cycles: nothing is uploaded again.
  std::this_thread::sleep_for(3s);
  const std::string site_log = a.manager->process().Log();
  EXPECT_EQ(Count(site_log, "uploaded the log of task " + running), 1) << site_log;
  EXPECT_EQ(Count(site_log, "uploaded the log of task " + waiting), 1) << site_log;
  // No Manager has the third task yet: a clear 409, nothing queued.
  auto refused = server.Send("POST", "/api/tasks/" + unclaimed + "/log-request");
  EXPECT_EQ(refused.status, 409) << refused.body;
  EXPECT_NE(refused.body.find("not been handed to a Manager"), std::string::npos) << refused.body;
  EXPECT_EQ(server.Send("POST", "/api/tasks/0123456789abcdef01234567/log-request").status, 404);
}

TEST_P(MultiSiteTest, PeopleNeedATokenOnTheServerManagersTheirOwn) {
  TempDir dir;
  auto started = StartServer(dir);
  ServerProcess& server = *started;
  ASSERT_FALSE(server.url().empty()) << server.Log();
  EXPECT_EQ(server.Send("GET", "/api/health", nullptr, false).status, 200);
  for (const auto& [method, path] : std::vector<std::pair<std::string, std::string>>{
           {"GET", "/api/jobs"}, {"POST", "/api/jobs"}, {"GET", "/api/managers"}, {"POST", "/api/managers"}}) {
    auto r = server.Send(method, path, json::object(), false);
    EXPECT_EQ(r.status, 401) << method << " " << path << ": " << r.body;
    EXPECT_NE(r.body.find("message"), std::string::npos) << r.body;
  }
  EXPECT_EQ(server.Get("/api/managers")["managers"].size(), 0u);  // nothing was created
  // A Manager's token is for its own endpoints, not the people's API.
  auto created = server.Send("POST", "/api/managers", json{{"name", "site-a"}});
  ASSERT_EQ(created.status, 201);
  const std::string manager_token = json::parse(created.body)["token"];
  http::ClientRequest r{"GET", server.url() + "/api/jobs"};
  r.headers.emplace_back("Authorization", "Bearer " + manager_token);
  EXPECT_EQ(http::MakeCurlClient("duende-tests")->Send(r)->status, 401);
}

TEST_P(MultiSiteTest, AWorkerAskingForWorkMakesItsSiteFetchNewTasksAtOnce) {
  TempDir dir;
  auto started = StartServer(dir);
  ServerProcess& server = *started;
  ASSERT_FALSE(server.url().empty());
  // The site's own timer would fetch tasks only every 5 minutes: a job
  // submitted after it started can reach it in time only because its idle
  // worker's POST /task, finding nothing, asks the link to fetch now
  // (WorkerApiOptions::on_no_task, throttled to one fetch per 200 ms).
  Site a = StartSite(server, dir, "site-a", "300s");
  // Its worker is up and asking: the link's start-up fetch is over.
  ASSERT_TRUE(WaitFor(
      [&] {
        const json w = a.manager->Get("/api/workers");
        const json& list = w.is_object() && w.contains("workers") ? w["workers"] : w;
        return list.is_array() && !list.empty() && list[0].value("status", "") == "awake";
      },
      15s))
      << a.worker->process().Log();
  std::this_thread::sleep_for(500ms);
  auto submitted = server.Send("POST", "/api/jobs", SleepJob("1", 0.1));
  ASSERT_EQ(submitted.status, 201) << submitted.body;
  const std::string job = json::parse(submitted.body)["_id"];
  const auto deadline = std::chrono::steady_clock::now() + 40s;
  std::string status;
  while (std::chrono::steady_clock::now() < deadline) {
    status = server.Get("/api/jobs/" + job).value("status", "");
    if (status == "completed") break;
    std::this_thread::sleep_for(200ms);
  }
  EXPECT_EQ(status, "completed") << a.manager->process().Log();
}

TEST_P(MultiSiteTest, RevokedTokenIsRefusedAndItsSiteClaimsNothing) {
  TempDir dir;
  auto started = StartServer(dir);
  ServerProcess& server = *started;
  ASSERT_FALSE(server.url().empty());
  Site a = StartSite(server, dir, "site-a");
  ASSERT_EQ(server.Send("POST", "/api/managers/" + a.id + "/revoke").status, 200);
  auto submitted = server.Send("POST", "/api/jobs", SleepJob("1-2", 0.1));
  ASSERT_EQ(submitted.status, 201);
  const std::string job = json::parse(submitted.body)["_id"];
  std::this_thread::sleep_for(3s);
  auto j = server.Get("/api/jobs/" + job);
  EXPECT_EQ(j["status"], "queued");
  const json tasks = server.Get("/api/jobs/" + job + "/tasks");
  ASSERT_EQ(tasks["tasks"].size(), 2u);
  for (const auto& t : tasks["tasks"]) EXPECT_EQ(t["manager"], "");
}

INSTANTIATE_TEST_SUITE_P(Backends, MultiSiteTest, ::testing::Values(Backend::kSqlite, Backend::kPostgres), BackendName);

}  // namespace
}  // namespace duende::testing
