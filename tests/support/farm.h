// Integration-test support: starts the real duende-manager / duende-worker
// binaries on loopback with temp directories, and talks to the Manager's API.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "http/http.h"

namespace duende::testing {

// A child process with stdout/stderr captured to `log_path`. Killed (SIGKILL)
// on destruction if still running.
class Process {
 public:
  // `env` entries ("NAME=value") are added to (or replace) the inherited
  // environment.
  Process(std::vector<std::string> argv, std::string log_path, std::vector<std::string> env = {});
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }
  bool running();
  void Signal(int sig);
  // Waits for exit; returns the exit status (or -signal), or nullopt on timeout.
  std::optional<int> Wait(std::chrono::milliseconds timeout);
  // SIGKILL and reap.
  void Kill();
  std::string Log() const;

 private:
  pid_t pid_ = -1;
  std::optional<int> status_;
  std::string log_path_;
};

std::string BinPath(const std::string& name);

// The integer in environment variable `name`, or `fallback` when it is unset
// or empty (lets a test run longer or harder by hand).
int EnvInt(const char* name, int fallback);

// Polls `predicate` every 50 ms for up to `timeout`.
bool WaitFor(const std::function<bool()>& predicate, std::chrono::milliseconds timeout);

// The URL a starting duende-server (or Manager) writes to `path` (its
// DATA_DIR/server.url), once it is there; empty after `timeout`.
std::string WaitForUrlFile(const std::string& path, std::chrono::milliseconds timeout);

class ManagerProcess {
 public:
  // Starts duende-manager on 127.0.0.1:0 with `data_dir` and an optional
  // YAML config text; waits until it serves /api/health.
  ManagerProcess(std::string data_dir, std::string config_yaml = "", uint16_t port = 0);
  ~ManagerProcess();

  const std::string& url() const { return url_; }
  // The admin API token the Manager wrote to DATA_DIR/admin-token (no
  // users configured), and its path.
  const std::string& token() const { return token_; }
  std::string token_file() const { return data_dir_ + "/admin-token"; }
  // For a Manager serving HTTPS: the CA that signed its certificate, used
  // by Get/Post/SubmitJob from now on.
  void TrustCa(const std::string& ca_path);
  // Adds "Authorization: Bearer <token>" to `request`.
  void Authorize(http::ClientRequest& request) const;
  uint16_t port() const { return port_; }
  Process& process() { return *process_; }
  void Kill() { process_->Kill(); }

  // Convenience API calls (authenticated with token()); abort the test with a clear message on failure.
  nlohmann::json Get(const std::string& path);
  // The whole log of a task's current run, or of the run `earlier` runs
  // before it ("" when there is none).
  std::string TaskLog(const std::string& task_id, unsigned earlier = 0);
  http::ClientResponse Post(const std::string& path, const nlohmann::json& body);
  std::string SubmitJob(const nlohmann::json& body);  // returns job ID
  // Waits for the job to reach `status`; returns false on timeout.
  bool WaitForJobStatus(const std::string& job_id, const std::string& status, std::chrono::milliseconds timeout);

 private:
  std::string data_dir_;
  std::string url_;
  std::string token_;
  uint16_t port_ = 0;
  std::unique_ptr<Process> process_;
  std::unique_ptr<http::Client> client_;
};

class WorkerProcess {
 public:
  WorkerProcess(const std::string& manager_url, std::string data_dir, const std::string& nickname,
                std::vector<std::string> extra_args = {}, std::vector<std::string> env = {});
  Process& process() { return *process_; }

 private:
  std::unique_ptr<Process> process_;
};

}  // namespace duende::testing
