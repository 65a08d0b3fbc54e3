// ServerApp wires duende-server: the store (SQLite or PostgreSQL), the job side
// (jobs::JobService, the same library the standalone Manager uses), the
// Manager registry and the HTTP API (job API + Manager-facing v2 endpoints).
#pragma once

#include <memory>
#include <string>

#include "common/clock.h"
#include "common/result.h"
#include "http/http.h"

namespace duende::server {

struct ServerConfig {
  std::string listen = "127.0.0.1:8090";
  std::string data_dir;
  // Empty: SQLite in data_dir. "postgresql://...": PostgreSQL (data_dir
  // still holds uploaded task logs and the admin token).
  std::string database;
  int http_threads = 2;
  // A job fails once failed tasks reach this percentage (§4.2.2).
  int task_fail_job_percentage = 10;
  // Unassigned tasks claimed per depsgraph download, per worker of the
  // asking Manager.
  int tasks_per_worker = 2;
  // Connection limits: of these options only the size limits and the
  // idle, header and body deadlines are used (flags --request-body-limit,
  // --http-idle-timeout, ...: http::ServerLimits). The body limit is larger
  // than the Manager's: Managers upload task logs.
  http::ServerOptions limits = [] {
    http::ServerOptions o;
    o.body_limit_bytes = 64 * 1024 * 1024;
    return o;
  }();
  // HTTPS: PEM certificate chain and key; both empty = plain HTTP.
  std::string tls_cert;
  std::string tls_key;
  // The dashboard's files (web/dist); empty: a page saying it is not built.
  std::string web_dir;
};

class ServerApp {
 public:
  ServerApp(ServerConfig config, Clock& clock);
  ~ServerApp();

  // Opens the database and starts the HTTP server. Returns the bound port.
  Result<uint16_t> Start();
  // Stops the HTTP server. Idempotent.
  void Stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace duende::server
