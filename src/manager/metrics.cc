#include "manager/metrics.h"

#include <algorithm>
#include <vector>

namespace duende::manager {

namespace {

std::string Escape(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

void Gauge(std::string& out, const std::string& name, const std::string& help) {
  out += "# HELP " + name + " " + help + "\n# TYPE " + name + " gauge\n";
}

}  // namespace

void AppendCounter(std::string& out, const std::string& name, const std::string& help, uint64_t value) {
  out += "# HELP " + name + " " + help + "\n# TYPE " + name + " counter\n" + name + " " + std::to_string(value) + "\n";
}

void Metrics::ObserveRequest(const std::string& method, const std::string& route, std::chrono::nanoseconds d) {
  const std::string key = method + " " + (route.empty() ? std::string("unmatched") : route);
  Histogram* h;
  {
    std::lock_guard lock(mu_);
    auto& slot = by_endpoint_[key];
    if (!slot) slot = std::make_unique<Histogram>();
    h = slot.get();
  }
  h->Observe(d);
}

void Metrics::AppendRequests(std::string& out) const {
  out +=
      "# HELP duende_http_request_duration_seconds Time to handle a request until its answer is ready (a "
      "queued write until its commit, a long poll until it is answered).\n# TYPE duende_http_request_duration_seconds "
      "histogram\n";
  std::lock_guard lock(mu_);
  std::vector<std::string> keys;
  for (const auto& [k, _] : by_endpoint_) keys.push_back(k);
  std::sort(keys.begin(), keys.end());
  for (const auto& k : keys) {
    const auto space = k.find(' ');
    by_endpoint_.at(k)->AppendPrometheus(
        out, "duende_http_request_duration_seconds",
        "method=\"" + Escape(k.substr(0, space)) + "\",endpoint=\"" + Escape(k.substr(space + 1)) + "\"");
  }
}

void RegisterMetricsApi(http::Router& router, MetricsSources sources) {
  router.Add("GET", "/metrics", [sources](http::Request&) -> http::Response {
    struct Counts {
      std::vector<std::pair<std::string, int64_t>> tasks, workers;
      int64_t queue = 0;
    };
    auto counts = sources.store->Read([](FarmTx& tx) -> Result<Counts> {
      return Counts{tx.CountTasksByStatus(), tx.CountWorkersByStatus(), tx.UpstreamQueueSize()};
    });
    if (!counts) return http::Response::FromError(counts.error());
    std::string out;
    Gauge(out, "duende_tasks", "Tasks in the Manager's task cache by status.");
    for (const auto& [status, n] : counts->tasks)
      out += "duende_tasks{status=\"" + Escape(status) + "\"} " + std::to_string(n) + "\n";
    Gauge(out, "duende_workers", "Registered workers by status (\"\" = never signed on).");
    for (const auto& [status, n] : counts->workers)
      out += "duende_workers{status=\"" + Escape(status) + "\"} " + std::to_string(n) + "\n";
    Gauge(out, "duende_upstream_queue_updates", "Task updates waiting to be pushed to the job side.");
    out += "duende_upstream_queue_updates " + std::to_string(counts->queue) + "\n";
    if (sources.long_poll_waiters) {
      Gauge(out, "duende_long_poll_waiting_workers", "Workers parked in a POST /task long poll.");
      out += "duende_long_poll_waiting_workers " + std::to_string(sources.long_poll_waiters()) + "\n";
    }
    if (sources.upstream_delivered) {
      AppendCounter(out, "duende_upstream_updates_delivered_total",
                    "Task updates pushed to the job side and confirmed handled (then removed from the queue).",
                    sources.upstream_delivered());
    }
    if (sources.task_log_dropped_bytes) {
      AppendCounter(out, "duende_task_log_dropped_bytes_total",
                    "Task-log text dropped because its log reached task_log_max_bytes.",
                    sources.task_log_dropped_bytes());
    }
    if (sources.task_logs_capped) {
      AppendCounter(out, "duende_task_logs_capped_total", "Task logs that reached task_log_max_bytes and were cut.",
                    sources.task_logs_capped());
    }
    if (sources.task_logs_bytes) {
      Gauge(out, "duende_task_logs_bytes",
            "Bytes of task logs in task_logs_path (what task_logs_max_total_bytes caps).");
      out += "duende_task_logs_bytes " + std::to_string(sources.task_logs_bytes()) + "\n";
      Gauge(out, "duende_task_logs_max_total_bytes", "task_logs_max_total_bytes (0 = no cap).");
      out += "duende_task_logs_max_total_bytes " + std::to_string(sources.task_logs_max_total_bytes) + "\n";
    }
    if (sources.task_log_total_cap_dropped_bytes) {
      AppendCounter(out, "duende_task_log_total_cap_dropped_bytes_total",
                    "Task-log text dropped because the task-log directory reached task_logs_max_total_bytes.",
                    sources.task_log_total_cap_dropped_bytes());
    }
    if (sources.requests) sources.requests->AppendRequests(out);
    out +=
        "# HELP duende_store_commit_duration_seconds Duration of COMMIT of write transactions.\n"
        "# TYPE duende_store_commit_duration_seconds histogram\n";
    sources.store->db().commit_latency().AppendPrometheus(out, "duende_store_commit_duration_seconds", "");
    out +=
        "# HELP duende_store_write_transaction_duration_seconds Commit groups, BEGIN to COMMIT (one group holds "
        "the writes of every request that arrived while it was open).\n"
        "# TYPE duende_store_write_transaction_duration_seconds histogram\n";
    sources.store->db().write_tx_latency().AppendPrometheus(out, "duende_store_write_transaction_duration_seconds", "");
    // A batch of the store's writer is one WriteTx holding many atomic writes.
    const uint64_t queued = sources.store->queued_writes();
    const uint64_t batches = sources.store->queued_write_batches();
    const uint64_t atomic_writes = sources.store->db().write_transactions() + queued - std::min(queued, batches);
    out +=
        "# HELP duende_store_write_transactions_total Atomic writes (one per request or background step).\n"
        "# TYPE duende_store_write_transactions_total counter\nduende_store_write_transactions_total " +
        std::to_string(atomic_writes) +
        "\n# HELP duende_store_queued_writes_total Atomic writes run by the store's writer thread (worker task "
        "requests and updates).\n"
        "# TYPE duende_store_queued_writes_total counter\nduende_store_queued_writes_total " +
        std::to_string(queued) +
        "\n# HELP duende_store_queued_write_batches_total Transactions of the store's writer thread; "
        "queued_writes / queued_write_batches is its mean batch size.\n"
        "# TYPE duende_store_queued_write_batches_total counter\nduende_store_queued_write_batches_total " +
        std::to_string(batches) +
        "\n# HELP duende_store_queued_write_reruns_total Batches of the store's writer run a second time, a "
        "savepoint per write, because one write failed after changing rows.\n"
        "# TYPE duende_store_queued_write_reruns_total counter\nduende_store_queued_write_reruns_total " +
        std::to_string(sources.store->queued_write_reruns()) +
        "\n# HELP duende_store_commits_total SQLite commits; write_transactions / commits is the mean group size.\n"
        "# TYPE duende_store_commits_total counter\nduende_store_commits_total " +
        std::to_string(sources.store->db().commits()) +
        "\n# HELP duende_store_background_checkpoints_total WAL checkpoints run off the request path.\n"
        "# TYPE duende_store_background_checkpoints_total counter\nduende_store_background_checkpoints_total " +
        std::to_string(sources.store->db().background_checkpoints()) + "\n";
    http::Response r = http::Response::Text(200, std::move(out));
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    return r;
  });
}

}  // namespace duende::manager
