#include "manager/app.h"

#include <spdlog/spdlog.h>

#include <filesystem>

#include "common/thread_name.h"
#include "common/timefmt.h"
#include "http/http.h"
#include "jobs/job_api.h"
#include "jobs/job_service.h"
#include "jobs/job_types.h"
#include "jobs/job_types_api.h"
#include "manager/access.h"
#include "manager/dashboard.h"
#include "manager/diagnostics_api.h"
#include "manager/farm.h"
#include "manager/farm_store.h"
#include "manager/housekeeping.h"
#include "manager/http_upstream.h"
#include "manager/log_api.h"
#include "manager/log_compressor.h"
#include "manager/metrics.h"
#include "manager/sleep_scheduler.h"
#include "manager/task_logs.h"
#include "manager/task_waiters.h"
#include "manager/upstream_link.h"
#include "manager/webhook_events.h"
#include "manager/worker_api.h"
#include "manager/worker_status_api.h"
#include "store/sqlite.h"

namespace duende::manager {

namespace {
constexpr const char* kVersion = "0.1.0";
}

struct ManagerApp::Impl {
  Config config;
  Clock& clock;
  std::unique_ptr<store::Database> db;
  std::unique_ptr<jobs::JobService> jobs;
  // Built-in and data-defined job types (issue 10 §4).
  jobs::JobTypeRegistry job_types;
  std::unique_ptr<FarmStore> farm_store;
  std::unique_ptr<TaskLogs> logs;
  std::unique_ptr<FarmTaskLogLookup> log_lookup;
  std::unique_ptr<LogFollowers> log_followers;
  std::unique_ptr<FarmEndedTaskSource> ended_tasks;
  std::unique_ptr<LogCompressor> log_compressor;
  std::jthread log_follow_thread;
  std::jthread log_compress_thread;
  std::unique_ptr<Farm> farm;
  std::unique_ptr<WorkerAuthenticator> auth;
  std::unique_ptr<AccessControl> access;
  std::unique_ptr<UpstreamLink> link;
  // Linked mode: the HTTP client to duende-server behind the same link.
  std::unique_ptr<http::Client> upstream_client;
  std::unique_ptr<HttpUpstream> http_upstream;
  // Dashboard: live events and the farm listeners' fan-out.
  std::unique_ptr<EventHub> events;
  std::unique_ptr<EventingUpstream> eventing_jobs;
  std::unique_ptr<DashboardFarmListener> dashboard_listener;
  FarmListenerFanout farm_listeners;
  std::jthread events_thread;
  std::unique_ptr<WorkerStatusService> worker_status;
  std::unique_ptr<SleepScheduler> sleep_scheduler;
  std::jthread sleep_thread;
  std::unique_ptr<Housekeeping> housekeeping;
  // Performance (issue 6): POST /task long poll and /metrics.
  std::unique_ptr<TaskWaiters> task_waiters;
  std::jthread task_waiters_thread;
  Metrics metrics;
  http::Router router;
  std::unique_ptr<http::Server> server;
  std::jthread link_thread;
  std::unique_ptr<LogUploader> log_uploader;
  std::jthread log_upload_thread;
  std::jthread housekeeping_thread;
  // Webhooks (issue 10): job and worker-timeout notifications.
  std::unique_ptr<http::Client> webhook_client;
  std::unique_ptr<webhooks::Dispatcher> webhooks;
  std::unique_ptr<WebhookNotifier> webhook_notifier;
  std::jthread webhook_thread;
  bool started = false;

  Impl(Config c, Clock& clk) : config(std::move(c)), clock(clk) {}
};

ManagerApp::ManagerApp(Config config, Clock& clock) : impl_(std::make_unique<Impl>(std::move(config), clock)) {}

ManagerApp::~ManagerApp() { Stop(); }

std::string ManagerApp::version() const { return kVersion; }

Result<uint16_t> ManagerApp::Start() {
  auto& s = *impl_;
  const auto& c = s.config;
  std::error_code ec;
  std::filesystem::create_directories(c.data_dir, ec);
  if (ec) return Unavailable("cannot create data directory " + c.data_dir + ": " + ec.message());
  std::filesystem::create_directories(c.task_logs_path, ec);
  if (ec) return Unavailable("cannot create task log directory " + c.task_logs_path + ": " + ec.message());

  auto db = store::Database::Open(c.data_dir + "/duende.sqlite", c.database_synchronous, c.database_busy_timeout);
  if (!db) return std::unexpected(db.error());
  s.db = std::move(*db);

  jobs::JobServiceOptions job_options;
  job_options.task_fail_job_percentage = c.task_fail_job_percentage;
  job_options.log_dir = c.data_dir + "/uploaded-logs";
  // Paths a user submits go in as two-way placeholders (spec §12.3).
  job_options.settings_to_placeholders = [vars = c.variables](const nlohmann::json& settings,
                                                              const std::string& platform) {
    return SettingsToPlaceholders(settings, ResolveVariables(vars, "users", platform));
  };
  // A bad definition is logged and skipped; it never stops the Manager.
  const auto job_types = s.job_types.LoadDirectory(c.job_types_dir);
  spdlog::info("job types: {} loaded from {}{}, {} skipped", job_types.loaded.size(), c.job_types_dir,
               job_types.dir_exists ? "" : " (no such directory)", job_types.errors.size());
  job_options.job_types = &s.job_types;
  if (c.upstream_url.empty()) {
    // Standalone: the job side keeps the statuses of the farm's updates and
    // reads the rest, and the log tail, from the farm (issue 6).
    job_options.reported_fields_table = FarmStore::kTaskTable;
    job_options.log_tail = [&s](const std::string& job, const std::string& task) { return s.logs->Tail(job, task); };
  }
  auto jobs = jobs::JobService::Open(*s.db, s.clock, job_options);
  if (!jobs) return std::unexpected(jobs.error().WithContext("job store"));
  s.jobs = std::move(*jobs);

  auto farm_store = FarmStore::Open(*s.db, s.clock);
  if (!farm_store) return std::unexpected(farm_store.error().WithContext("farm store"));
  s.farm_store = std::move(*farm_store);
  // Measures the directory once (one walk); kept up to date from here on.
  s.logs = std::make_unique<TaskLogs>(c.task_logs_path, c.task_log_max_bytes, c.task_logs_max_total_bytes);
  spdlog::info("task logs: {} in {} (task_logs_max_total_bytes: {})", HumanBytes(s.logs->total_bytes()),
               c.task_logs_path, c.task_logs_max_total_bytes == 0 ? "no cap" : HumanBytes(c.task_logs_max_total_bytes));
  FarmOptions farm_options;
  farm_options.variables = c.variables;
  farm_options.blacklist_threshold = c.blacklist_threshold;
  farm_options.task_fail_after_softfail_count = c.task_fail_after_softfail_count;
  farm_options.blacklist_expiry = c.blacklist_expiry;
  farm_options.worker_gone_grace = c.worker_gone_grace;
  farm_options.starvation_fail_after = c.starvation_fail_after;
  s.farm = std::make_unique<Farm>(*s.farm_store, *s.logs, s.clock, farm_options);
  s.auth = std::make_unique<WorkerAuthenticator>(
      [farm = s.farm.get()](const std::string& id) { return farm->SecretHashOf(id); });

  UpstreamLinkOptions link_options;
  link_options.download_task_sleep = c.download_task_sleep;
  // Standalone: the job side takes task updates in the farm's own
  // transaction (SetSameStoreUpstream below), so the queue holds only the
  // rare update that cannot go that way (a cancellation for a task the farm
  // does not know, rows left by an older version); those are pushed within
  // kStandalonePushInterval.
  constexpr std::chrono::milliseconds kStandalonePushInterval{20};
  link_options.push_max_interval = kStandalonePushInterval;
  link_options.push_max_count = c.task_update_push_max_count;
  link_options.cancel_fetch_max_interval = c.cancel_task_fetch_max_interval;
  s.events = std::make_unique<EventHub>(s.clock);
  s.eventing_jobs = std::make_unique<EventingUpstream>(*s.jobs, *s.events);
  link_options.download_recheck_throttle = c.download_task_recheck_throttle;
  protocol::Upstream* upstream = s.eventing_jobs.get();
  const bool linked = !c.upstream_url.empty();
  if (linked) {
    if (c.manager_id.empty() || c.manager_secret.empty())
      return InvalidArgument("linked mode needs the manager ID and token (--manager-id, --manager-token)");
    if (!c.upstream_ca_path.empty()) {
      if (auto st = http::CheckCaPath(c.upstream_ca_path); !st) return std::unexpected(st.error());
    }
    s.upstream_client =
        http::MakeCurlClient(std::string("Duende-Manager/") + kVersion, http::ClientOptions{c.upstream_ca_path});
    HttpUpstreamOptions upstream_options;
    upstream_options.base_url = c.upstream_url;
    upstream_options.manager_id = c.manager_id;
    upstream_options.token = c.manager_secret;
    s.http_upstream = std::make_unique<HttpUpstream>(*s.upstream_client, upstream_options);
    upstream = s.http_upstream.get();
    // The Server is remote: batch the pushes (spec §1.3).
    link_options.push_max_interval = c.task_update_push_max_interval;
    spdlog::info("linked mode: jobs come from {} (manager {})", c.upstream_url, c.manager_id);
  }
  s.link = std::make_unique<UpstreamLink>(*upstream, *s.farm, *s.farm_store, s.clock, link_options);
  s.log_uploader = std::make_unique<LogUploader>(
      *upstream,
      [logs = s.logs.get()](const std::string& job, const std::string& task) { return logs->GzipForUpload(job, task); },
      s.clock);
  s.link->SetLogUploader(s.log_uploader.get());
  if (linked) {
    s.link->SetNotificationSource([&s] {
      protocol::UpstreamNotification n;
      n.manager_url = s.config.own_url;
      n.variables = ToJson(s.config.variables);
      std::set<std::string> types;
      if (auto workers = s.farm->ListWorkers()) {
        for (const auto& w : *workers) {
          if (w.status == "offline") continue;
          ++n.nr_of_workers;
          types.insert(w.supported_task_types.begin(), w.supported_task_types.end());
        }
      }
      n.worker_task_types.assign(types.begin(), types.end());
      return n;
    });
    s.farm->SetTaskValidator([link = s.link.get()](const protocol::Task& t) { return link->Revalidate(t); });
  } else {
    // The job side shares the farm's database: it takes each task update in
    // the farm's own transaction (no upstream queue, no push per update).
    // The link still fetches cancellations and log requests; a job that
    // changed status may have asked for its other tasks to be canceled.
    s.eventing_jobs->SetJobChangedHook([link = s.link.get()] { link->KickCancelFetch(); });
    s.farm->SetSameStoreUpstream(s.eventing_jobs.get());
  }
  s.dashboard_listener = std::make_unique<DashboardFarmListener>(*s.events);
  s.farm_listeners.Add(s.link.get());
  s.farm_listeners.Add(s.dashboard_listener.get());
  if (!c.webhooks.empty()) {
    s.webhook_client = http::MakeCurlClient(std::string("Duende-Manager/") + kVersion);
    s.webhooks = std::make_unique<webhooks::Dispatcher>(c.webhooks, *s.webhook_client, s.clock);
    s.webhook_notifier =
        std::make_unique<WebhookNotifier>(*s.webhooks, s.clock, EventSource{c.manager_name, c.own_url});
    // Standalone: the job side here decides job statuses. Linked: the
    // Server does, and only worker timeouts are this Manager's to report.
    s.jobs->SetStatusListener(s.webhook_notifier.get());
    s.farm_listeners.Add(s.webhook_notifier.get());
    spdlog::info("webhooks: {} configured", c.webhooks.size());
  }
  s.farm->SetListener(&s.farm_listeners);

  auto tz = TimeZone::Load(c.timezone);
  if (!tz) return std::unexpected(tz.error().WithContext("config key 'timezone'"));
  auto worker_status = WorkerStatusService::Open(*s.farm_store, *s.farm, *tz,
                                                 [auth = s.auth.get()](const std::string& id) { auth->Forget(id); });
  if (!worker_status) return std::unexpected(worker_status.error().WithContext("worker schedules"));
  s.worker_status = std::move(*worker_status);
  SleepSchedulerOptions sleep_options;
  sleep_options.interval = c.sleep_schedule_check_interval;
  // Schedule-made requests reach the dashboard and long-polling workers at
  // once, as requests made over HTTP do.
  sleep_options.on_requests = [&s] {
    s.events->Publish("workers", "*");
    s.task_waiters->RecheckAll();
  };
  s.sleep_scheduler = std::make_unique<SleepScheduler>(*s.worker_status, s.clock, sleep_options);
  spdlog::info("sleep schedules use time zone {}", tz->name());

  HousekeepingOptions hk;
  hk.timeout_startup_grace = c.timeout_startup_grace;
  hk.timeout_check_interval = c.timeout_check_interval;
  hk.task_timeout = c.active_task_timeout_interval;
  hk.worker_timeout = c.active_worker_timeout_interval;
  hk.worker_cleanup_initial_delay = c.worker_cleanup_initial_delay;
  hk.worker_cleanup_interval = c.worker_cleanup_interval;
  hk.worker_cleanup_max_age = c.worker_cleanup_max_age;
  hk.worker_cleanup_status = c.worker_cleanup_status;
  hk.starvation_check_interval = c.starvation_check_interval;
  hk.on_change = [&s](const std::string& what) { s.events->Publish(what, "*"); };
  s.housekeeping = std::make_unique<Housekeeping>(*s.farm, s.clock, hk);

  // People: configured users, else the generated admin token.
  AccessOptions access_options;
  access_options.users = c.users;
  if (access_options.users.empty()) {
    auto admin = BootstrapAdminToken(c.data_dir);
    if (!admin) return std::unexpected(admin.error().WithContext("admin token"));
    access_options.users.push_back(std::move(*admin));
    spdlog::info("no users configured: the admin API token is in {}/admin-token", c.data_dir);
  }
  s.access = std::make_unique<AccessControl>(std::move(access_options), s.clock);
  s.router.SetGuard([a = s.access.get()](http::Request& r) { return a->Check(r); });
  RegisterAuthApi(s.router, *s.access);

  WorkerApiOptions api_options;
  api_options.registration_secret = c.worker_registration_secret;
  api_options.version = kVersion;
  s.task_waiters = std::make_unique<TaskWaiters>(*s.farm, s.clock, TaskOfferResponse);
  s.farm->SetWorkAvailableHook([w = s.task_waiters.get()] { w->Kick(); });
  api_options.task_waiters = s.task_waiters.get();
  // Linked mode: a worker that found no task asks the Server for more,
  // throttled (spec §1.3).
  if (!c.upstream_url.empty()) api_options.on_no_task = [l = s.link.get()] { l->KickDownloadThrottled(); };
  MetricsSources metrics_sources{&s.metrics, s.farm_store.get(), [w = s.task_waiters.get()] { return w->size(); },
                                 [l = s.link.get()] { return l->delivered(); }};
  metrics_sources.task_log_dropped_bytes = [logs = s.logs.get()] { return logs->dropped_bytes(); };
  metrics_sources.task_logs_capped = [logs = s.logs.get()] { return logs->capped_logs(); };
  metrics_sources.task_logs_bytes = [logs = s.logs.get()] { return logs->total_bytes(); };
  metrics_sources.task_logs_max_total_bytes = c.task_logs_max_total_bytes;
  metrics_sources.task_log_total_cap_dropped_bytes = [logs = s.logs.get()] { return logs->total_cap_dropped_bytes(); };
  RegisterMetricsApi(s.router, metrics_sources);
  RegisterWorkerApi(s.router, *s.farm, *s.auth, s.clock, api_options);
  RegisterFarmApi(s.router, *s.farm, kVersion);
  RegisterWorkerStatusApi(s.router, *s.worker_status);
  RegisterDiagnosticsApi(s.router, *s.farm);
  // Linked: jobs are submitted to (and served by) the Server.
  if (!linked) {
    jobs::RegisterJobApi(s.router, *s.jobs);
    jobs::RegisterJobTypesApi(s.router, s.job_types, c.job_types_dir);
  }
  LogServingOptions log_serving;
  log_serving.head_bytes = static_cast<uint64_t>(c.task_log_head_kib) * 1024;
  log_serving.tail_bytes = static_cast<uint64_t>(c.task_log_tail_kib) * 1024;
  s.log_lookup = std::make_unique<FarmTaskLogLookup>(*s.farm_store);
  s.log_followers = std::make_unique<LogFollowers>(*s.logs, *s.log_lookup, s.clock, log_serving);
  RegisterLogApi(s.router, *s.logs, *s.log_lookup, *s.log_followers, log_serving);
  DashboardOptions dashboard;
  dashboard.web_dir = c.web_dir;
  dashboard.manager_name = c.manager_name;
  dashboard.mode = c.mode;
  dashboard.version = kVersion;
  RegisterDashboard(s.router, *s.events, dashboard);
  if (c.web_dir.empty()) {
    spdlog::warn("no web dashboard directory configured");
  } else {
    spdlog::info("web dashboard served from {}", c.web_dir);
  }
  s.ended_tasks = std::make_unique<FarmEndedTaskSource>(*s.farm_store);
  LogCompressorOptions compress_options;
  compress_options.compress_after = c.task_log_compress_after;
  s.log_compressor = std::make_unique<LogCompressor>(*s.logs, *s.ended_tasks, s.clock, compress_options);

  auto listen = http::ParseListen(c.listen);
  if (!listen) return std::unexpected(listen.error());
  http::ServerOptions server_options;
  server_options.address = listen->first;
  server_options.port = listen->second;
  server_options.threads = c.http_threads;
  server_options.body_limit_bytes = c.request_body_limit_bytes;
  server_options.header_limit_bytes = c.request_header_limit_bytes;
  server_options.idle_timeout = c.http_idle_timeout;
  server_options.header_timeout = c.http_header_timeout;
  server_options.body_timeout = c.http_body_timeout;
  server_options.tls = http::ServerTls{c.tls_cert, c.tls_key};
  server_options.server_name = std::string("Duende-Manager/") + kVersion;
  s.server = std::make_unique<http::Server>(server_options, [&s](http::Request& r) {
    const auto t0 = std::chrono::steady_clock::now();  // metrics only
    http::Response resp = s.router.Dispatch(r);
    if (resp.deferred) {
      // Answered later (a queued write, a long poll): timed until the answer.
      auto answered = std::make_shared<http::Deferred>();
      resp.deferred->SetSink([&s, answered, t0, method = r.method, route = r.route](http::Response later) {
        s.metrics.ObserveRequest(method, route, std::chrono::steady_clock::now() - t0);
        answered->Complete(std::move(later));
      });
      resp.deferred = std::move(answered);
    } else {
      s.metrics.ObserveRequest(r.method, r.route, std::chrono::steady_clock::now() - t0);
    }
    // A changed job (submitted, requeued, canceled, paused, re-prioritised)
    // reaches the task cache at once instead of at the next periodic
    // download.
    if (r.method == "POST" && r.path.starts_with("/api/jobs") && resp.status < 300) s.link->KickDownload();
    // A deleted job leaves nothing behind on the farm side: cached tasks and
    // task logs go too.
    if (r.method == "DELETE" && r.path.starts_with("/api/jobs/") && resp.status < 300 && !r.params.empty()) {
      if (auto st = s.farm->ForgetJob(r.params[0]); !st) spdlog::warn("forgetting job: {}", st.error().message);
      if (auto st = s.logs->DeleteJobLogs(r.params[0]); !st) spdlog::warn("deleting job logs: {}", st.error().message);
    }
    // A status request (or forget, schedule) must reach a long-polling
    // worker now, not at the end of its wait.
    if (r.method != "GET" && r.path.starts_with("/api/workers") && resp.status < 300) s.task_waiters->RecheckAll();
    PublishRequestEvents(*s.events, r, resp);
    return resp;
  });

  s.link_thread = NamedThread("upstream-link", [&s](std::stop_token st) { s.link->Run(st); });
  s.log_upload_thread = NamedThread("log-upload", [&s](std::stop_token st) { s.log_uploader->Run(st); });
  s.log_follow_thread = NamedThread("log-follow", [&s](std::stop_token st) { s.log_followers->Run(st); });
  s.log_compress_thread = NamedThread("log-compress", [&s](std::stop_token st) { s.log_compressor->Run(st); });
  s.sleep_thread = NamedThread("sleep-sched", [&s](std::stop_token st) { s.sleep_scheduler->Run(st); });
  s.housekeeping_thread = NamedThread("housekeeping", [&s](std::stop_token st) { s.housekeeping->Run(st); });
  s.task_waiters_thread = NamedThread("task-waiters", [&s](std::stop_token st) { s.task_waiters->Run(st); });
  s.events_thread = NamedThread("events", [&s](std::stop_token st) { s.events->Run(st); });
  if (s.webhooks) s.webhook_thread = NamedThread("webhooks", [&s](std::stop_token st) { s.webhooks->Run(st); });
  auto port = s.server->Start();
  if (!port) {
    Stop();
    return std::unexpected(port.error());
  }
  s.started = true;
  spdlog::info("Duende Manager {} listening on {}://{}:{}", kVersion, server_options.tls.enabled() ? "https" : "http",
               server_options.address, *port);
  return *port;
}

void ManagerApp::Stop() {
  auto& s = *impl_;
  // Parked long polls get their 204 while the server still sends.
  StopServiceThread(s.task_waiters_thread, s.clock);
  if (s.events) s.events->CloseAll();
  if (s.server) s.server->Stop();
  // Queued writes still commit; their answers are dropped with the I/O
  // threads (the io_contexts live on until the server is destroyed).
  if (s.farm_store) s.farm_store->StopWriter();
  StopServiceThread(s.events_thread, s.clock);
  StopServiceThread(s.log_follow_thread, s.clock);
  StopServiceThread(s.log_compress_thread, s.clock);
  if (s.log_followers) s.log_followers->CloseAll();
  for (auto* t : {&s.sleep_thread, &s.link_thread, &s.log_upload_thread, &s.housekeeping_thread, &s.webhook_thread})
    StopServiceThread(*t, s.clock);
  if (s.started && s.farm) {
    if (auto n = s.farm->FlushLastSeen(); !n) spdlog::warn("final last-seen write failed: {}", n.error().message);
  }
  if (s.started && s.link) {
    if (auto st = s.link->SyncOnce(); !st) spdlog::warn("final upstream push failed: {}", st.error().message);
  }
  s.started = false;
}

}  // namespace duende::manager
