#include "server/app.h"

#include <spdlog/spdlog.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "common/thread_name.h"
#include "http/http.h"
#include "http/server_limits.h"
#include "jobs/job_api.h"
#include "jobs/job_service.h"
#include "manager/access.h"
#include "manager/dashboard.h"
#include "manager/metrics.h"
#include "server/manager_api.h"
#include "server/manager_registry.h"
#include "store/postgres.h"
#include "store/sqlite.h"

namespace duende::server {

namespace {
constexpr const char* kVersion = "0.1.0";
}

struct ServerApp::Impl {
  ServerConfig config;
  Clock& clock;
  std::unique_ptr<store::SqlDatabase> db;
  std::unique_ptr<jobs::JobService> jobs;
  std::unique_ptr<ManagerRegistry> registry;
  std::unique_ptr<manager::AccessControl> access;
  std::unique_ptr<manager::EventHub> events;
  std::jthread events_thread;
  http::Router router;
  std::unique_ptr<http::Server> server;

  Impl(ServerConfig c, Clock& clk) : config(std::move(c)), clock(clk) {}
};

namespace {

// Dashboard events a request implies: the job API's (as on a Manager), and
// for a site's task-update batch a "task" event per task with its job, so
// open job pages follow the sites' progress.
void PublishEvents(manager::EventHub& events, jobs::JobService& jobs, const http::Request& r,
                   const http::Response& resp) {
  if (events.subscribers() == 0 || resp.status >= 300) return;
  manager::PublishRequestEvents(events, r, resp);
  if (r.method != "POST" || !r.route.ends_with("/task-update-batch")) return;
  const auto batch = nlohmann::json::parse(r.body, nullptr, false);
  if (!batch.is_array()) return;
  std::set<std::string> seen;
  for (const auto& u : batch) {
    if (!u.is_object() || !u.contains("task_id") || !u["task_id"].is_string()) continue;
    const std::string id = u["task_id"];
    if (!seen.insert(id).second) continue;
    auto task = jobs.GetTask(id);
    if (!task) continue;
    events.Publish("task", id, {{"job", task->job}, {"status", std::string(protocol::ToString(task->status))}});
  }
}

}  // namespace

ServerApp::ServerApp(ServerConfig config, Clock& clock) : impl_(std::make_unique<Impl>(std::move(config), clock)) {}

ServerApp::~ServerApp() { Stop(); }

Result<uint16_t> ServerApp::Start() {
  auto& s = *impl_;
  const auto& c = s.config;
  if (c.tasks_per_worker < 1) return InvalidArgument("tasks per worker must be at least 1");
  std::error_code ec;
  std::filesystem::create_directories(c.data_dir, ec);
  if (ec) return Unavailable("cannot create data directory " + c.data_dir + ": " + ec.message());
  if (!c.database.empty() && !store::IsPostgresUrl(c.database))
    return InvalidArgument("--database must be a postgresql:// URL (without it the Server uses SQLite in --data-dir)");
  if (c.database.empty()) {
    auto db = store::Database::Open(c.data_dir + "/duende-server.sqlite");
    if (!db) return std::unexpected(db.error());
    s.db = std::move(*db);
  } else {
    auto db = store::PgDatabase::Open(c.database);
    if (!db) return std::unexpected(db.error());
    s.db = std::move(*db);
    spdlog::info("jobs and the Manager registry are in PostgreSQL");
  }

  jobs::JobServiceOptions job_options;
  job_options.task_fail_job_percentage = c.task_fail_job_percentage;
  // Jobs belong to no Manager: each task goes to the site that claims it.
  job_options.manager_id = "";
  job_options.log_dir = c.data_dir + "/uploaded-logs";
  auto jobs = jobs::JobService::Open(*s.db, s.clock, job_options);
  if (!jobs) return std::unexpected(jobs.error().WithContext("job store"));
  s.jobs = std::move(*jobs);
  auto registry = ManagerRegistry::Open(*s.db, s.clock);
  if (!registry) return std::unexpected(registry.error().WithContext("manager registry"));
  s.registry = std::move(*registry);

  // People need a token (or a dashboard login) as on a Manager: the same
  // roles and policy; Managers use their own tokens on their endpoints.
  manager::AccessOptions access_options;
  auto admin = manager::BootstrapAdminToken(c.data_dir);
  if (!admin) return std::unexpected(admin.error().WithContext("admin token"));
  access_options.users.push_back(std::move(*admin));
  spdlog::info("the admin API token is in {}/admin-token", c.data_dir);
  s.access = std::make_unique<manager::AccessControl>(std::move(access_options), s.clock);
  s.router.SetGuard([a = s.access.get()](http::Request& r) { return a->Check(r); });
  manager::RegisterAuthApi(s.router, *s.access);

  s.router.Add("GET", "/api/health", [](http::Request&) {
    return http::Response::Json(200, nlohmann::json{{"status", "ok"}, {"version", kVersion}, {"role", "server"}});
  });
  jobs::RegisterJobApi(s.router, *s.jobs);
  s.router.Add("GET", "/metrics", [&s](http::Request&) {
    std::string out;
    manager::AppendCounter(out, "duende_server_task_updates_applied_total",
                           "Task updates from Managers applied (each update ID once).", s.jobs->updates_applied());
    manager::AppendCounter(out, "duende_server_task_updates_duplicate_total",
                           "Task updates received again after they were handled (answered, not re-applied).",
                           s.jobs->updates_duplicate());
    if (auto handled = s.jobs->HandledUpdateCount()) {
      out +=
          "# HELP duende_server_handled_updates Task-update IDs remembered as handled (one per update).\n"
          "# TYPE duende_server_handled_updates gauge\nduende_server_handled_updates " +
          std::to_string(*handled) + "\n";
    }
    http::Response r = http::Response::Text(200, std::move(out));
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    return r;
  });
  ManagerApiOptions api_options;
  api_options.tasks_per_worker = c.tasks_per_worker;
  RegisterManagerApi(s.router, *s.jobs, *s.registry, api_options);

  // The dashboard's job pages, live as on a Manager: job and task events
  // from the job API and from the sites' task-update batches.
  s.events = std::make_unique<manager::EventHub>(s.clock);
  manager::DashboardOptions dashboard;
  dashboard.web_dir = c.web_dir;
  dashboard.manager_name = "duende-server";
  dashboard.mode = "server";
  dashboard.version = kVersion;
  manager::RegisterDashboard(s.router, *s.events, dashboard);
  s.events_thread = NamedThread("events", [&s](std::stop_token st) { s.events->Run(st); });

  auto listen = http::ParseListen(c.listen);
  if (!listen) return std::unexpected(listen.error());
  // The configured connection limits; the rest is set here.
  http::ServerOptions server_options = c.limits;
  server_options.address = listen->first;
  server_options.port = listen->second;
  server_options.threads = c.http_threads;
  server_options.tls = http::ServerTls{c.tls_cert, c.tls_key};
  server_options.server_name = std::string("Duende-Server/") + kVersion;
  s.server = std::make_unique<http::Server>(server_options, [&s](http::Request& r) {
    http::Response resp = s.router.Dispatch(r);
    PublishEvents(*s.events, *s.jobs, r, resp);
    return resp;
  });
  auto port = s.server->Start();
  if (!port) return std::unexpected(port.error());
  spdlog::info("Duende Server {} listening on {}://{}:{}", kVersion, server_options.tls.enabled() ? "https" : "http",
               server_options.address, *port);
  std::string limits;
  for (const auto& limit : http::ServerLimits())
    limits +=
        (limits.empty() ? "" : ", ") + std::string(limit.key) + " " + http::ServerLimitValue(server_options, limit.key);
  spdlog::info("connection limits: {}", limits);
  return *port;
}

void ServerApp::Stop() {
  auto& s = *impl_;
  if (s.events) s.events->CloseAll();
  if (s.server) s.server->Stop();
  StopServiceThread(s.events_thread, s.clock);
}

}  // namespace duende::server
