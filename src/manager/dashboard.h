// The web dashboard's server side: the static assets of the Vue app (built
// into web/dist by the build), a live event stream (GET /api/events,
// Server-Sent Events) fed by listeners on the Farm, the job side and the
// HTTP layer, and a small fan-out so the Farm's one listener slot can feed
// several listeners (upstream link, dashboard events, later metrics).
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <stop_token>
#include <string>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "http/http.h"
#include "manager/farm.h"
#include "protocol/upstream.h"

namespace duende::jobs {
class JobService;
}

namespace duende::manager {

// Forwards every FarmListener call to each listener, in the order added.
// Add listeners before the Farm starts calling (not synchronised).
class FarmListenerFanout final : public FarmListener {
 public:
  void Add(FarmListener* listener) { listeners_.push_back(listener); }
  void OnUpstreamQueued() override;
  void OnTaskStatus(const std::string& task_id, protocol::TaskStatus status) override;
  void OnWorkerTimedOut(const WorkerRecord& worker) override;

 private:
  std::vector<FarmListener*> listeners_;
};

// Dashboard events, delivered to every subscribed browser as SSE:
//   event: <type>            type is "task", "job" or "worker"
//   data: {"id": ..., ...}   the entity's ID plus what the producer knows
// Events are coalesced by (type, id): within one flush interval only the
// latest payload of an entity is sent, so a busy farm costs at most one
// event per entity per interval. The browser fetches the entity it needs.
// With no subscriber, Publish() returns at once. Thread-safe.
class EventHub {
 public:
  // Why 100 ms: changes reach the browser well within a second while a
  // worker's burst of progress updates becomes one event.
  static constexpr std::chrono::milliseconds kFlushInterval{100};
  // Why 15 s: a comment line keeps proxies from closing an idle stream and
  // lets the server notice a client that went away.
  static constexpr std::chrono::seconds kKeepAliveInterval{15};

  explicit EventHub(Clock& clock) : clock_(clock) {}

  void Publish(const std::string& type, const std::string& id, nlohmann::json data = nlohmann::json::object());
  // A new SSE stream subscribed to every later event.
  std::shared_ptr<http::Stream> Subscribe();
  size_t subscribers() const { return subscriber_count_.load(); }
  // Writes pending events to the subscribers now (Run() calls it).
  void Flush();
  // Closes every stream (at shutdown).
  void CloseAll();
  // Flushes every kFlushInterval until stopped.
  void Run(std::stop_token stop);

 private:
  Clock& clock_;
  std::mutex mu_;
  std::map<std::pair<std::string, std::string>, nlohmann::json> pending_;
  std::vector<std::shared_ptr<http::Stream>> streams_;
  std::atomic<size_t> subscriber_count_{0};
  SteadyTime last_write_{};
};

// Farm listener: task status changes as "task" events.
class DashboardFarmListener final : public FarmListener {
 public:
  explicit DashboardFarmListener(EventHub& hub) : hub_(hub) {}
  void OnTaskStatus(const std::string& task_id, protocol::TaskStatus status) override;

 private:
  EventHub& hub_;
};

// Wraps the job side (standalone mode): after task updates are applied
// (each in the farm's transaction, or a queued batch pushed) it publishes a
// "task" event per updated task and a "job" event per affected job, so
// progress bars and job statuses follow the farm.
class EventingUpstream final : public protocol::Upstream, public SameStoreUpstream {
 public:
  EventingUpstream(jobs::JobService& jobs, EventHub& hub) : jobs_(jobs), hub_(hub) {}
  // Standalone mode's path for task updates (Farm::SetSameStoreUpstream).
  // `job_changed` runs after a commit in which a job changed status: the
  // job side may have asked for its other tasks to be canceled.
  Result<std::function<void()>> ApplyInTx(store::SqlConn& conn, const std::string& job_id,
                                          const protocol::TaskUpdate& update, bool batched) override;
  void BeginBatch() override;
  Result<std::function<void()>> FinishBatch(store::SqlConn& conn) override;
  void SetJobChangedHook(std::function<void()> job_changed) { job_changed_ = std::move(job_changed); }
  Result<protocol::Depsgraph> FetchDepsgraph(const std::string& if_updated_since) override;
  Result<protocol::BatchResponse> PushTaskUpdates(const std::vector<protocol::TaskUpdate>& updates) override;
  Status AttachTaskLog(const std::string& job_id, const std::string& task_id, const std::string& gzipped_log) override;
  Status Notify(const protocol::UpstreamNotification& notification) override;

 private:
  // A "task" event (with its job) and a "job" event.
  void PublishTaskChanged(const std::string& task_id, const std::string& job_id);

  jobs::JobService& jobs_;
  EventHub& hub_;
  std::function<void()> job_changed_;
};

// Publishes the events an HTTP request implies once it succeeded: "job" for
// POST /api/jobs..., "worker" for worker management under /api/workers and
// /api/blacklist, and "worker" for the worker-facing API (the worker's ID
// from its Basic auth). Call after Router::Dispatch (path params filled).
void PublishRequestEvents(EventHub& hub, const http::Request& request, const http::Response& response);

struct DashboardOptions {
  // Directory holding index.html and assets/ (web/dist); empty or missing
  // serves a page saying the dashboard is not built.
  std::string web_dir;
  std::string manager_name;
  std::string mode;
  std::string version;
};

// Where the dashboard's files are when no --web-dir is given: next to an
// installed binary (../share/duende/web), else the source tree's web/dist
// that `make build` produced. Empty when neither exists.
std::string DefaultWebDir();

// GET /api/events (SSE), GET /api/manager (name, mode, version), and the
// dashboard's static files: GET /, /index.html and /assets/{file}.
void RegisterDashboard(http::Router& router, EventHub& hub, const DashboardOptions& options);

// Serves `request.path` from `web_dir`: "/" and unknown paths without a file
// extension get index.html (client-side routes), "no-cache"; files under
// /assets/ (content-hashed names) are cached for a year as immutable.
// Paths containing ".." or NUL answer 400. Exposed for tests.
http::Response ServeWebFile(const std::string& web_dir, const std::string& path);

}  // namespace duende::manager
