// Manager configuration: a YAML file with Flamenco v2's key names (spec
// §12.1) where they exist, plus command-line overrides.
//
// Unknown keys and bad values are errors (one clear line). v2 keys for
// features Duende does not have (SSDP, Shaman, Azure pools, ...) are accepted
// and reported as ignored, so a v2 config file still loads.
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "common/result.h"
#include "manager/access.h"
#include "manager/variables.h"
#include "webhooks/webhooks.h"

namespace duende::manager {

struct Config {
  std::string manager_name = "Duende Manager";
  std::string mode = "production";
  std::string listen = "127.0.0.1:8080";
  std::string data_dir;
  std::string task_logs_path;  // default {data_dir}/task-logs
  // Definitions of data-defined job types (*.yaml, *.yml, *.json), read at
  // start and by POST /api/job-types/reload. Default {data_dir}/job-types.
  std::string job_types_dir;
  // The built web dashboard (web/dist); empty = "not built" page. Set by
  // duende-manager's --web-dir (default: next to the binary or the source
  // tree's web/dist).
  std::string web_dir;
  // Logs of tasks that ended this long ago are gzipped (0 = never, as v2).
  std::chrono::milliseconds task_log_compress_after{0};
  // /logfile shows the first head and last tail KiB of a plain log (§8.3).
  int task_log_head_kib = 5;
  int task_log_tail_kib = 10;
  std::string own_url;
  std::string worker_registration_secret;

  std::chrono::milliseconds download_task_sleep{std::chrono::minutes(10)};
  // Linked mode: a worker that finds no task triggers a depsgraph download,
  // at most once per this interval (v2 default 10 s).
  std::chrono::milliseconds download_task_recheck_throttle{std::chrono::seconds(10)};
  // Linked mode (v2 keys `flamenco`, `manager_id`, `manager_secret`; flags
  // --upstream, --manager-id, --manager-token): the duende-server base URL,
  // this Manager's ID and its token. Empty upstream_url = standalone.
  std::string upstream_url;
  std::string manager_id;
  std::string manager_secret;
  std::chrono::milliseconds task_update_push_max_interval{std::chrono::seconds(5)};
  int task_update_push_max_count = 3000;
  std::chrono::milliseconds cancel_task_fetch_max_interval{std::chrono::seconds(10)};

  std::chrono::milliseconds active_task_timeout_interval{std::chrono::minutes(10)};
  std::chrono::milliseconds active_worker_timeout_interval{std::chrono::minutes(1)};
  // v2 waits 5 minutes after start before timing anything out, so workers
  // can reconnect and flush after a Manager restart.
  std::chrono::milliseconds timeout_startup_grace{std::chrono::minutes(5)};
  std::chrono::milliseconds timeout_check_interval{std::chrono::minutes(1)};
  std::chrono::milliseconds task_cleanup_max_age{std::chrono::hours(336)};
  std::chrono::milliseconds worker_cleanup_max_age{0};  // 0 = no auto-removal
  std::chrono::milliseconds worker_cleanup_initial_delay{std::chrono::minutes(5)};
  std::chrono::milliseconds worker_cleanup_interval{std::chrono::seconds(30)};
  std::vector<std::string> worker_cleanup_status{"offline"};
  std::chrono::milliseconds blacklist_expiry{std::chrono::hours(24 * 7)};
  // Offline/timed-out workers count as able to run tasks for this long.
  std::chrono::milliseconds worker_gone_grace{std::chrono::minutes(10)};
  std::chrono::milliseconds starvation_check_interval{std::chrono::minutes(1)};
  // Tasks no worker can run fail after this long (0 = never).
  std::chrono::milliseconds starvation_fail_after{std::chrono::hours(1)};

  int blacklist_threshold = 3;
  int task_fail_after_softfail_count = 3;
  int task_fail_job_percentage = 10;

  size_t request_body_limit_bytes = 10 * 1024 * 1024;
  // Request line plus headers (key `request_header_limit`).
  size_t request_header_limit_bytes = 64 * 1024;
  // Connection deadlines (http::ServerOptions): a keep-alive connection
  // waiting for its next request, the whole request head from its first
  // byte (v2's header timeout was 15 s), the whole body after the head.
  std::chrono::milliseconds http_idle_timeout{std::chrono::seconds(120)};
  std::chrono::milliseconds http_header_timeout{std::chrono::seconds(15)};
  std::chrono::milliseconds http_body_timeout{std::chrono::seconds(300)};
  // HTTPS (v2 keys `tlscert`, `tlskey`; flags --tls-cert, --tls-key): PEM
  // certificate chain and key. Both empty: plain HTTP on `listen`.
  std::string tls_cert;
  std::string tls_key;
  // Linked mode over HTTPS with a private CA (flag --upstream-ca): the CA
  // file or directory that signed the Server's certificate. Empty: the
  // system's CA store.
  std::string upstream_ca_path;
  // A task's log file stops growing at this size (0 = no cap): a runaway
  // worker cannot fill the disk. The cut is marked in the log once.
  size_t task_log_max_bytes = 64 * 1024 * 1024;
  // The whole task_logs_path stops growing at this size (0 = no cap): a
  // runaway job of many tasks, each under task_log_max_bytes, cannot fill
  // the disk either. Text that does not fit is dropped with a notice in
  // the log; task updates are still accepted (docs/reliability.md).
  uint64_t task_logs_max_total_bytes = uint64_t{20} * 1024 * 1024 * 1024;
  // Threads serving HTTP. Handlers block while their writes commit, and
  // writers that arrive meanwhile share the next commit (group commit), so
  // a few more threads than cores keep both the CPU and the store busy.
  int http_threads = 4;
  // SQLite synchronous setting: "NORMAL" (commits survive a Manager crash)
  // or "FULL" (an fsync per commit group: commits survive power loss too).
  std::string database_synchronous = "NORMAL";
  // How long a write waits for the database's write lock while another
  // process holds it (then 503 "database busy"; see docs/reliability.md).
  std::chrono::milliseconds database_busy_timeout{std::chrono::seconds(5)};
  std::string log_level = "info";
  // Time zone of sleep schedules (tz database name); empty = the system's.
  std::string timezone;
  // How often the sleep scheduler looks for due schedules (v2: 1 minute).
  std::chrono::milliseconds sleep_schedule_check_interval{std::chrono::minutes(1)};

  Variables variables = DefaultVariables();

  // People who may use the dashboard and /api (hashes only). Empty: the
  // Manager makes an admin token on first start (BootstrapAdminToken).
  std::vector<UserConfig> users;

  // Where job completed/failed/canceled and worker timeout notifications
  // are POSTed (key `webhooks`); empty = none.
  std::vector<webhooks::WebhookConfig> webhooks;

  // Keys present in the file that were accepted but have no effect.
  std::vector<std::string> ignored_keys;
};

// Parses YAML text into a Config starting from defaults. `data_dir` fills
// defaults that depend on it.
Result<Config> ParseConfig(const std::string& yaml_text, const std::string& data_dir);
Result<Config> LoadConfigFile(const std::string& path, const std::string& data_dir);

// The effective configuration as YAML-ish lines for the start-up log (the
// registration secret and webhook secrets are masked).
std::string DescribeConfig(const Config& config);

}  // namespace duende::manager
