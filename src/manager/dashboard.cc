#include "manager/dashboard.h"

#include <spdlog/spdlog.h>

#include <filesystem>
#include <set>

#include "jobs/job_service.h"
#include "manager/worker_auth.h"
#include "protocol/status.h"

namespace duende::manager {

using http::Request;
using http::Response;
using nlohmann::json;

// --- fan-out ---------------------------------------------------------------

void FarmListenerFanout::OnUpstreamQueued() {
  for (auto* l : listeners_) l->OnUpstreamQueued();
}

void FarmListenerFanout::OnTaskStatus(const std::string& task_id, protocol::TaskStatus status) {
  for (auto* l : listeners_) l->OnTaskStatus(task_id, status);
}

void FarmListenerFanout::OnWorkerTimedOut(const WorkerRecord& worker) {
  for (auto* l : listeners_) l->OnWorkerTimedOut(worker);
}

// --- event hub -------------------------------------------------------------

void EventHub::Publish(const std::string& type, const std::string& id, json data) {
  if (subscriber_count_.load(std::memory_order_relaxed) == 0 || id.empty()) return;
  data["id"] = id;
  std::lock_guard lock(mu_);
  auto [it, inserted] = pending_.try_emplace({type, id}, std::move(data));
  // Coalesce: later fields win, earlier ones (e.g. a job ID) are kept.
  if (!inserted) it->second.update(data);
}

std::shared_ptr<http::Stream> EventHub::Subscribe() {
  // 1 MiB: a browser that stops reading for long is cut off; it reconnects
  // and reloads its tables.
  auto stream = std::make_shared<http::Stream>(1024 * 1024);
  stream->Write(": duende dashboard events\nretry: 2000\n\n");
  std::lock_guard lock(mu_);
  streams_.push_back(stream);
  subscriber_count_ = streams_.size();
  return stream;
}

void EventHub::Flush() {
  std::map<std::pair<std::string, std::string>, json> pending;
  std::vector<std::shared_ptr<http::Stream>> streams;
  {
    std::lock_guard lock(mu_);
    std::erase_if(streams_, [](const auto& s) { return s->closed(); });
    subscriber_count_ = streams_.size();
    pending.swap(pending_);
    streams = streams_;
  }
  std::string text;
  for (const auto& [key, data] : pending) text += "event: " + key.first + "\ndata: " + data.dump() + "\n\n";
  const auto now = clock_.SteadyNow();
  if (text.empty() && now - last_write_ >= kKeepAliveInterval) text = ": keep-alive\n\n";
  if (text.empty()) return;
  last_write_ = now;
  for (const auto& s : streams) s->Write(text);
}

void EventHub::CloseAll() {
  std::vector<std::shared_ptr<http::Stream>> streams;
  {
    std::lock_guard lock(mu_);
    streams.swap(streams_);
    subscriber_count_ = 0;
  }
  for (const auto& s : streams) s->Close();
}

void EventHub::Run(std::stop_token stop) {
  while (clock_.WaitFor(kFlushInterval, stop)) Flush();
  CloseAll();
}

void DashboardFarmListener::OnTaskStatus(const std::string& task_id, protocol::TaskStatus status) {
  hub_.Publish("task", task_id, json{{"status", std::string(protocol::ToString(status))}});
}

// --- job side wrapper -----------------------------------------------------

Result<protocol::Depsgraph> EventingUpstream::FetchDepsgraph(const std::string& if_updated_since) {
  return jobs_.FetchDepsgraph(if_updated_since);
}

Result<protocol::BatchResponse> EventingUpstream::PushTaskUpdates(const std::vector<protocol::TaskUpdate>& updates) {
  auto result = jobs_.PushTaskUpdates(updates);
  if (!result || hub_.subscribers() == 0) return result;
  std::set<std::string> task_ids;
  for (const auto& u : updates) task_ids.insert(u.task_id);
  for (const auto& id : task_ids) {
    auto task = jobs_.GetTask(id);
    if (task) PublishTaskChanged(id, task->job);
  }
  return result;
}

Result<std::function<void()>> EventingUpstream::ApplyInTx(store::SqlConn& conn, const std::string& job_id,
                                                          const protocol::TaskUpdate& update, bool batched) {
  auto effects = jobs_.ApplyOwnUpdateIn(conn, update, batched);
  if (!effects) return std::unexpected(effects.error());
  return [this, effects = std::move(*effects), job_id, task_id = update.task_id] {
    effects.after_commit();
    if (effects.job_status_changed && job_changed_) job_changed_();
    if (hub_.subscribers() > 0) PublishTaskChanged(task_id, job_id);
  };
}

void EventingUpstream::BeginBatch() { jobs_.DropPendingOwnUpdates(); }

Result<std::function<void()>> EventingUpstream::FinishBatch(store::SqlConn& conn) {
  auto effects = jobs_.FinishOwnUpdates(conn);
  if (!effects) return std::unexpected(effects.error());
  if (!effects->after_commit && !effects->job_status_changed) return std::function<void()>{};
  // The jobs' "job" events went out with their tasks' updates.
  return [this, effects = std::move(*effects)] {
    if (effects.after_commit) effects.after_commit();
    if (effects.job_status_changed && job_changed_) job_changed_();
  };
}

void EventingUpstream::PublishTaskChanged(const std::string& task_id, const std::string& job_id) {
  hub_.Publish("task", task_id, json{{"job", job_id}});
  hub_.Publish("job", job_id);
}

Status EventingUpstream::AttachTaskLog(const std::string& job_id, const std::string& task_id,
                                       const std::string& gzipped_log) {
  return jobs_.AttachTaskLog(job_id, task_id, gzipped_log);
}

Status EventingUpstream::Notify(const protocol::UpstreamNotification& notification) {
  return jobs_.Notify(notification);
}

// --- events implied by requests ------------------------------------------

void PublishRequestEvents(EventHub& hub, const Request& r, const Response& resp) {
  if (hub.subscribers() == 0 || resp.status >= 300) return;
  const std::string_view path = r.path;
  if (path.starts_with("/api/jobs")) {
    if (r.method != "POST") return;
    if (!r.params.empty()) {
      hub.Publish("job", r.params[0]);
    } else {
      auto j = json::parse(resp.body, nullptr, false);
      if (j.is_object() && j.contains("_id") && j["_id"].is_string()) hub.Publish("job", j["_id"]);
    }
    return;
  }
  if (path.starts_with("/api/workers") || path.starts_with("/api/blacklist")) {
    if (r.method == "GET" || r.method == "HEAD") return;
    if (path.starts_with("/api/workers/") && !r.params.empty()) {
      hub.Publish("worker", r.params[0]);
      return;
    }
    // POST /api/workers/status {workers: [...]}, POST /api/blacklist/forget {worker, ...}
    auto body = json::parse(r.body, nullptr, false);
    if (!body.is_object()) return;
    if (auto it = body.find("workers"); it != body.end() && it->is_array())
      for (const auto& w : *it)
        if (w.is_string()) hub.Publish("worker", w.get<std::string>());
    if (auto it = body.find("worker"); it != body.end() && it->is_string())
      hub.Publish("worker", it->get<std::string>());
    return;
  }
  if (path.starts_with("/api/") || path.starts_with("/logfile/")) return;
  // The worker-facing API: whatever a worker does may change its row.
  auto auth = ParseBasicAuth(r.Header("authorization"));
  if (auth) hub.Publish("worker", auth->first);
}

std::string DefaultWebDir() {
  std::error_code ec;
  auto installed = std::filesystem::canonical("/proc/self/exe", ec).parent_path().parent_path() / "share/duende/web";
  if (!ec && std::filesystem::exists(installed / "index.html", ec)) return installed.string();
#ifdef DUENDE_DEFAULT_WEB_DIR
  return DUENDE_DEFAULT_WEB_DIR;
#else
  return "";
#endif
}

// --- static files ----------------------------------------------------------

namespace {

std::string ContentTypeFor(const std::filesystem::path& p) {
  static const std::map<std::string, std::string> kTypes = {
      {".html", "text/html; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".json", "application/json"},
      {".map", "application/json"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".jpg", "image/jpeg"},
      {".ico", "image/x-icon"},
      {".woff2", "font/woff2"},
      {".txt", "text/plain; charset=utf-8"},
  };
  auto it = kTypes.find(p.extension().string());
  return it == kTypes.end() ? "application/octet-stream" : it->second;
}

constexpr const char* kNotBuiltPage = R"(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Duende Manager</title></head>
<body style="font-family: sans-serif; margin: 2em">
<h1>Duende Manager</h1>
<p>The web dashboard is not built. Build it with <code>make build</code> (runs <code>npm ci</code> and
<code>npm run build</code> in <code>web/</code>), or start the Manager with <code>--web-dir</code> pointing at
a built <code>web/dist</code> directory.</p>
<p>The JSON API is available under <a href="/api/health">/api/</a>.</p>
</body></html>
)";

Response FileResponse(const std::filesystem::path& file, bool immutable) {
  auto slice = http::FileSlice::Open(file.string());
  if (!slice) return Response::FromError(slice.error());
  Response r;
  r.content_type = ContentTypeFor(file);
  r.file = std::move(*slice);
  r.headers.emplace_back("Cache-Control", immutable ? "public, max-age=31536000, immutable" : "no-cache");
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  return r;
}

}  // namespace

Response ServeWebFile(const std::string& web_dir, const std::string& path) {
  namespace fs = std::filesystem;
  if (path.find('\0') != std::string::npos || path.find("..") != std::string::npos ||
      path.find('\\') != std::string::npos)
    return Response::Message(400, "invalid path");
  std::error_code ec;
  const fs::path root = web_dir.empty() ? fs::path() : fs::weakly_canonical(web_dir, ec);
  if (web_dir.empty() || ec || !fs::is_regular_file(root / "index.html", ec)) {
    Response r = Response::Text(path == "/" || path == "/index.html" ? 200 : 404, kNotBuiltPage);
    r.content_type = "text/html; charset=utf-8";
    r.headers.emplace_back("Cache-Control", "no-cache");
    return r;
  }
  std::string rel = path;
  while (!rel.empty() && rel.front() == '/') rel.erase(0, 1);
  if (rel.empty()) return FileResponse(root / "index.html", false);
  const fs::path file = fs::weakly_canonical(root / rel, ec);
  // Symlinks or odd paths leading outside the web directory are refused.
  const auto [root_end, file_it] = std::mismatch(root.begin(), root.end(), file.begin(), file.end());
  if (ec || root_end != root.end()) return Response::Message(400, "invalid path");
  if (fs::is_regular_file(file, ec)) return FileResponse(file, rel.starts_with("assets/"));
  // Client-side routes (no extension) get the app; missing files are 404.
  if (rel.starts_with("assets/") || fs::path(rel).has_extension())
    return Response::Message(404, "no such file: " + path);
  return FileResponse(root / "index.html", false);
}

void RegisterDashboard(http::Router& router, EventHub& hub, const DashboardOptions& options) {
  router.Add("GET", "/api/events", [&hub](Request&) -> Response {
    Response r;
    r.content_type = "text/event-stream";
    r.headers.emplace_back("Cache-Control", "no-cache");
    r.headers.emplace_back("X-Accel-Buffering", "no");
    r.stream = hub.Subscribe();
    return r;
  });
  // The app uses hash routes (#/jobs, #/workers), so "/" and Vite's
  // content-hashed /assets/ are all there is to serve; explicit routes keep
  // every other path (and the worker API's own 404s) JSON.
  auto serve = [dir = options.web_dir](Request& r) -> Response { return ServeWebFile(dir, r.path); };
  router.Add("GET", "/", serve);
  router.Add("GET", "/index.html", serve);
  router.Add("GET", "/assets/{}", serve);
  router.Add("GET", "/api/manager", [options](Request&) -> Response {
    return Response::Json(200,
                          json{{"name", options.manager_name}, {"mode", options.mode}, {"version", options.version}});
  });
}

}  // namespace duende::manager
