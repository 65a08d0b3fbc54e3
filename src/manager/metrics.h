// Prometheus text metrics of the Manager (GET /metrics, issue 6): tasks and
// workers by status, request counts and latency per endpoint, upstream queue
// size, long-poll waiters, store commit latency.
//
// Request observation is on the hot path: one map lookup under a mutex and
// two relaxed atomic adds. Status counts are read from the store at scrape
// time (a GROUP BY over the tasks table: ~milliseconds per 100k tasks), so
// they cost nothing between scrapes. Thread-safe.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "common/histogram.h"
#include "http/http.h"
#include "manager/farm_store.h"

namespace duende::manager {

class Metrics {
 public:
  // `route` is the matched pattern ("" when no route matched).
  void ObserveRequest(const std::string& method, const std::string& route, std::chrono::nanoseconds d);
  // Appends the request histograms.
  void AppendRequests(std::string& out) const;

 private:
  mutable std::mutex mu_;
  std::unordered_map<std::string, std::unique_ptr<Histogram>> by_endpoint_;  // "METHOD route"
};

struct MetricsSources {
  Metrics* requests = nullptr;
  FarmStore* store = nullptr;
  std::function<size_t()> long_poll_waiters;  // may be empty
  // Task updates the job side confirmed handled (may be empty).
  std::function<uint64_t()> upstream_delivered;
  // Task-log text dropped at task_log_max_bytes, and logs cut there (may be
  // empty).
  std::function<uint64_t()> task_log_dropped_bytes;
  std::function<uint64_t()> task_logs_capped;
  // The task-log directory: bytes in it, its cap (task_logs_max_total_bytes,
  // 0 = none) and text dropped there because it was at the cap (may be
  // empty).
  std::function<uint64_t()> task_logs_bytes;
  uint64_t task_logs_max_total_bytes = 0;
  std::function<uint64_t()> task_log_total_cap_dropped_bytes;
};

// Appends one counter family with a single unlabelled sample.
void AppendCounter(std::string& out, const std::string& name, const std::string& help, uint64_t value);

// GET /metrics.
void RegisterMetricsApi(http::Router& router, MetricsSources sources);

}  // namespace duende::manager
