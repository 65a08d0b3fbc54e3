#include "cli/cli.h"

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/diagnostics_commands.h"
#include "cli/job_type_commands.h"
#include "cli/log_command.h"
#include "cli/manager_api.h"
#include "cli/settings.h"
#include "cli/site_commands.h"
#include "cli/views.h"
#include "cli/worker_commands.h"

namespace duende::cli {
namespace {

using nlohmann::json;

constexpr const char* kDefaultManager = "http://127.0.0.1:8080";
constexpr const char* kVersion = DUENDE_VERSION;
// `submit --wait` polls the job this often: fast enough to feel live, slow
// enough that a farm full of waiting scripts does not load the manager.
constexpr auto kPollInterval = std::chrono::milliseconds(500);
// While waiting, a manager restart is not the end of the job: keep polling
// through this many consecutive network failures (~30 s) before giving up.
constexpr int kMaxPollFailures = 60;

// Invalid UTF-8 (from argv, say) must not throw while serialising.
std::string Dump(const json& j, int indent = 2) { return j.dump(indent, ' ', false, json::error_handler_t::replace); }

bool IsTerminalJobStatus(const std::string& status) {
  return status == "completed" || status == "failed" || status == "canceled";
}

std::string StringMember(const json& object, const char* key) {
  if (!object.is_object()) return "";
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : "";
}

// The platform name workers of this kind of machine report (spec §3.3).
#if defined(_WIN32)
constexpr const char* kThisPlatform = "windows";
#elif defined(__APPLE__)
constexpr const char* kThisPlatform = "darwin";
#else
constexpr const char* kThisPlatform = "linux";
#endif

class Commands {
 public:
  Commands(std::ostream& out, std::ostream& err, http::Client& client, Clock& clock, const CliOptions& options,
           const std::string& manager_url, bool json_output)
      : out_(out), err_(err), api_(client, manager_url), clock_(clock), options_(options), json_(json_output) {}

  int Submit(const std::string& job_type, const std::string& name, int priority, const json& settings,
             bool start_paused, const std::string& platform, bool wait) {
    json body = {{"name", name},
                 {"job_type", job_type},
                 {"priority", priority},
                 {"settings", settings},
                 {"start_paused", start_paused}};
    if (!platform.empty()) body["submitter_platform"] = platform;
    auto job = api_.Post("/api/jobs", body);
    if (!job) return Fail(job.error());
    const std::string id = StringMember(*job, "_id");
    if (id.empty()) return Fail({kExitFailed, "the manager accepted the job but sent no job ID"});
    if (!wait) {
      out_ << (json_ ? Dump(*job) : id) << '\n';
      return kExitOk;
    }
    if (!json_) out_ << id << '\n' << std::flush;
    return WaitForJob(id);
  }

  int Jobs(const std::string& status_filter) {
    std::string path = "/api/jobs";
    if (!status_filter.empty()) path += "?status=" + http::PercentEncode(status_filter);
    auto body = api_.Get(path);
    if (!body) return Fail(body.error());
    if (json_) return PrintJson(*body);
    auto jobs = List(*body, "jobs");
    if (!jobs) return Fail(jobs.error());
    // Filter here too, so the table is right even if the manager ignores
    // the query parameter.
    json shown = json::array();
    for (auto& job : *jobs)
      if (status_filter.empty() || StringMember(job, "status") == status_filter) shown.push_back(std::move(job));
    out_ << JobsTable(shown);
    return kExitOk;
  }

  int Job(const std::string& id) {
    auto job = api_.Get(JobPath(id));
    if (!job) return Fail(job.error());
    if (json_) return PrintJson(*job);
    out_ << JobDetails(*job);
    return kExitOk;
  }

  int Tasks(const std::string& job_id) {
    auto body = api_.Get(JobPath(job_id, "/tasks"));
    if (!body) return Fail(body.error());
    if (json_) return PrintJson(*body);
    auto tasks = List(*body, "tasks");
    if (!tasks) return Fail(tasks.error());
    out_ << TasksTable(*tasks);
    return kExitOk;
  }

  int Workers() {
    auto body = api_.Get("/api/workers");
    if (!body) return Fail(body.error());
    if (json_) return PrintJson(*body);
    auto workers = List(*body, "workers");
    if (!workers) return Fail(workers.error());
    out_ << WorkersTable(*workers, clock_.Now());
    return kExitOk;
  }

  // One request per job; keeps going after a failed one so `cancel A B C`
  // cancels what it can. Stops at the first network failure: the others
  // would fail the same way.
  int ChangeStatus(const std::vector<std::string>& ids, const std::string& status) {
    int exit_code = kExitOk;
    for (const auto& id : ids) {
      auto job = api_.Post(JobPath(id, "/status"), json{{"status", status}});
      if (!job) {
        exit_code = Fail(job.error());
        if (exit_code == kExitUnreachable) return exit_code;
        continue;
      }
      if (json_) {
        out_ << Dump(*job, -1) << '\n';  // one document per line for several IDs
      } else {
        const std::string now = StringMember(*job, "status");
        out_ << "job " << id << ": " << (now.empty() ? status + " requested" : now) << '\n';
      }
    }
    return exit_code;
  }

  int Priority(const std::string& id, int priority) {
    auto job = api_.Post(JobPath(id, "/priority"), json{{"priority", priority}});
    if (!job) return Fail(job.error());
    if (json_) return PrintJson(*job);
    out_ << "job " << id << ": priority " << priority << '\n';
    return kExitOk;
  }

 private:
  int Fail(const CliError& error) {
    err_ << "duende: error: " << error.message << '\n';
    return error.exit_code;
  }

  int PrintJson(const json& body) {
    out_ << Dump(body) << '\n';
    return kExitOk;
  }

  // Accepts {"<key>": [...]} (the documented shape) or a bare array.
  CliResult<json> List(const json& body, const char* key) {
    if (body.is_array()) return body;
    if (body.is_object() && body.contains(key) && body[key].is_array()) return body[key];
    return std::unexpected(
        CliError{kExitFailed, std::string("unexpected answer from the manager: no \"") + key + "\" list"});
  }

  // Polls until the job ends. Progress goes to `out`, or to `err` with
  // --json so that `out` carries only the final job document.
  int WaitForJob(const std::string& id) {
    std::ostream& progress = json_ ? err_ : out_;
    const bool redraw = options_.out_is_tty && !json_;
    std::string last_line;
    bool line_open = false;  // a '\r'-redrawn line that still needs its '\n'
    int failures = 0;
    auto close_line = [&] {
      if (line_open) progress << '\n' << std::flush;
      line_open = false;
    };

    for (;;) {
      auto job = api_.Get(JobPath(id));
      if (!job) {
        if (job.error().exit_code != kExitUnreachable || ++failures >= kMaxPollFailures) {
          close_line();
          return Fail(job.error());
        }
      } else {
        failures = 0;
        const std::string line = ProgressLine(*job);
        if (redraw) {
          // Pad to wipe the tail of a longer previous line.
          std::string padded = line;
          if (last_line.size() > line.size()) padded += std::string(last_line.size() - line.size(), ' ');
          progress << '\r' << padded << std::flush;
          line_open = true;
        } else if (line != last_line) {
          progress << line << '\n' << std::flush;
        }
        last_line = line;

        const std::string status = StringMember(*job, "status");
        if (IsTerminalJobStatus(status)) {
          close_line();
          if (json_) out_ << Dump(*job) << '\n';
          std::string reason = StringMember(*job, "status_reason");
          if (status == "completed") {
            if (!json_) out_ << "job " << id << " completed\n";
            return kExitOk;
          }
          std::string message = "job " + id + (status == "failed" ? " failed" : " was canceled");
          if (!reason.empty()) message += ": " + reason;
          return Fail({kExitFailed, OneLine(message)});
        }
      }
      if (!clock_.WaitFor(kPollInterval, options_.stop)) {
        close_line();
        err_ << "duende: stopped waiting; job " << id << " keeps running\n";
        return kExitInterrupted;
      }
    }
  }

  std::ostream& out_;
  std::ostream& err_;
  ManagerApi api_;
  Clock& clock_;
  const CliOptions& options_;
  bool json_;
};

// Adds the API token to every request, and says where a token comes from
// when the Manager asks for one.
class BearerClient final : public http::Client {
 public:
  BearerClient(http::Client& inner, std::string token, std::string ca_path)
      : inner_(inner), token_(std::move(token)), ca_path_(std::move(ca_path)) {}
  Result<http::ClientResponse> Send(const http::ClientRequest& request) override {
    http::ClientRequest r = request;
    if (!token_.empty()) r.headers.emplace_back("Authorization", "Bearer " + token_);
    if (r.ca_path.empty()) r.ca_path = ca_path_;
    auto resp = inner_.Send(r);
    if (resp && resp->status == 401) {
      auto body = json::parse(resp->body, nullptr, false);
      if (body.is_object() && body.contains("message") && body["message"].is_string()) {
        body["message"] = body["message"].get<std::string>() +
                          (token_.empty() ? " (give --token, $DUENDE_TOKEN or --token-file; a Manager without "
                                            "configured users keeps its admin token in DATA_DIR/admin-token)"
                                          : " (the API token was refused)");
        resp->body = body.dump();
      }
    }
    return resp;
  }

 private:
  http::Client& inner_;
  std::string token_;
  std::string ca_path_;
};

// --token, else $DUENDE_TOKEN, else the first line of --token-file or
// $DUENDE_TOKEN_FILE.
std::expected<std::string, std::string> ResolveToken(const std::string& token, const std::string& token_file) {
  if (!token.empty()) return token;
  if (const char* env = std::getenv("DUENDE_TOKEN"); env != nullptr && *env != '\0') return std::string(env);
  std::string path = token_file;
  if (path.empty())
    if (const char* env = std::getenv("DUENDE_TOKEN_FILE"); env != nullptr) path = env;
  if (path.empty()) return std::string();
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line)) return std::unexpected("cannot read the token file " + path);
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
  return line;
}

// One readable line for a CLI11 parse error.
int UsageError(std::ostream& err, const std::string& what) {
  err << "duende: error: " << OneLine(what) << " (see 'duende --help')\n";
  return kExitUsage;
}

int Run(int argc, const char* const* argv, std::ostream& out, std::ostream& err, http::Client& client, Clock& clock,
        const CliOptions& options) {
  std::string manager_url;
  if (options.default_manager) {
    manager_url = *options.default_manager;
  } else if (const char* env = std::getenv("DUENDE_MANAGER"); env != nullptr && *env != '\0') {
    manager_url = env;
  } else {
    manager_url = kDefaultManager;
  }
  bool json_output = false;

  CLI::App app{"duende: submit and watch render jobs on a Duende (Flamenco v2) manager", "duende"};
  app.set_version_flag("--version", std::string("duende ") + kVersion);
  app.require_subcommand(1);
  app.footer(
      "Exit codes: 0 ok, 1 operation failed or job did not complete, 2 usage error, "
      "3 manager unreachable, 130 interrupted while waiting (the job keeps running).");
  // Global flags work before or after the command ("duende jobs --json").
  app.fallthrough();
  app.add_option("--manager", manager_url, "Manager URL (default: $DUENDE_MANAGER, else http://127.0.0.1:8080)");
  app.add_flag("--json", json_output, "Print the manager's JSON instead of text");
  std::string token_arg, token_file;
  app.add_option("--token", token_arg, "API token (default: $DUENDE_TOKEN, else --token-file)");
  app.add_option("--token-file", token_file,
                 "File holding the API token, e.g. the Manager's DATA_DIR/admin-token (default: $DUENDE_TOKEN_FILE)");
  std::string ca_cert;
  app.add_option("--ca-cert", ca_cert,
                 "https:// Managers: CA file or directory that signed the Manager's certificate (default: "
                 "$DUENDE_CA_CERT, else the system's CA store)");

  // submit
  std::string job_type, job_name;
  int priority = 50;
  std::vector<std::string> sets;
  bool start_paused = false, wait = false;
  std::string submitter_platform = kThisPlatform;
  auto* submit = app.add_subcommand("submit", "Submit a job; prints its ID");
  submit->add_option("type", job_type, "Job type: sleep, exec-command, blender-render, ...")->required();
  submit->add_option("--name", job_name, "Job name")->required();
  submit->add_option("--priority", priority, "Priority 1..100 (default 50)")->check(CLI::Range(1, 100));
  submit->add_option("--set", sets, "Job setting key=value (JSON numbers/bools/arrays/objects, else text); repeatable")
      ->allow_extra_args(false);
  submit->add_flag("--start-paused", start_paused, "Create the job paused");
  submit->add_option("--platform", submitter_platform,
                     "Platform the settings' paths are written for (windows, darwin, linux; default: this machine's, "
                     "empty: none): the Manager turns paths under its two-way variables into paths for each worker");
  submit->add_flag("--wait", wait, "Show progress until the job ends; exit 0 only if it completed");

  // jobs, job, tasks, workers
  std::string status_filter;
  auto* jobs = app.add_subcommand("jobs", "List jobs");
  jobs->add_option("--status", status_filter, "Only jobs with this status");
  std::string job_id;
  auto* job = app.add_subcommand("job", "Show one job");
  job->add_option("id", job_id, "Job ID")->required();
  auto* tasks = app.add_subcommand("tasks", "List a job's tasks");
  tasks->add_option("job_id", job_id, "Job ID")->required();
  auto* workers = app.add_subcommand("workers", "List workers");
  LogCommand log_command(app);           // duende log TASK_ID [--follow]
  WorkerCommands worker_commands(app);   // duende worker sleep|wake|...
  SiteCommands site_commands(app);       // duende managers [create|revoke] (duende-server)
  DiagnosticsCommands diagnostics(app);  // duende explain | blacklist
  JobTypeCommands job_types(app);        // duende job-types [show NAME | reload]

  // status changes
  struct StatusCommand {
    const char* name;
    const char* status;
    const char* help;
  };
  static constexpr StatusCommand kStatusCommands[] = {
      {"cancel", "cancel-requested", "Cancel jobs"},
      {"requeue", "requeued", "Requeue jobs (failed/canceled tasks run again)"},
      {"pause", "paused", "Pause jobs"},
      {"resume", "queued", "Resume paused jobs"},
  };
  std::vector<std::string> ids;
  std::vector<std::pair<CLI::App*, const char*>> status_apps;
  for (const auto& command : kStatusCommands) {
    auto* sub = app.add_subcommand(command.name, command.help);
    sub->add_option("ids", ids, "Job IDs")->required();
    status_apps.emplace_back(sub, command.status);
  }
  int new_priority = 0;
  auto* prio = app.add_subcommand("priority", "Change a job's priority");
  prio->add_option("id", job_id, "Job ID")->required();
  prio->add_option("priority", new_priority, "Priority 1..100")->required()->check(CLI::Range(1, 100));

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) {  // --help, --version
      app.exit(e, out, err);
      return kExitOk;
    }
    return UsageError(err, e.what());
  }

  json settings = json::object();
  if (submit->parsed()) {
    auto parsed = SettingsFromArgs(sets);
    if (!parsed) return UsageError(err, parsed.error());
    settings = std::move(*parsed);
    if (job_name.empty()) return UsageError(err, "--name must not be empty");
  }
  if (manager_url.empty()) return UsageError(err, "--manager must not be empty");
  auto token = ResolveToken(token_arg, token_file);
  if (!token) return UsageError(err, token.error());
  if (ca_cert.empty())
    if (const char* env = std::getenv("DUENDE_CA_CERT"); env != nullptr) ca_cert = env;
  if (!ca_cert.empty()) {
    if (auto st = http::CheckCaPath(ca_cert); !st) return UsageError(err, st.error().message);
  }
  BearerClient authed_client(client, *token, ca_cert);
  CliOptions authed_options = options;
  authed_options.token = *token;
  authed_options.ca_path = ca_cert;
  if (worker_commands.parsed()) {
    ManagerApi api(authed_client, manager_url);
    return worker_commands.Run(api, out, err, json_output);
  }
  if (site_commands.parsed()) {
    ManagerApi api(authed_client, manager_url);
    return site_commands.Run(api, out, err, json_output);
  }
  if (diagnostics.parsed()) {
    ManagerApi api(authed_client, manager_url);
    return diagnostics.Run(api, out, err, json_output);
  }
  if (job_types.parsed()) {
    ManagerApi api(authed_client, manager_url);
    return job_types.Run(api, out, err, json_output);
  }

  if (log_command.parsed()) return log_command.Run(authed_client, manager_url, authed_options, out, err);
  Commands commands(out, err, authed_client, clock, authed_options, manager_url, json_output);
  if (submit->parsed())
    return commands.Submit(job_type, job_name, priority, settings, start_paused, submitter_platform, wait);
  if (jobs->parsed()) return commands.Jobs(status_filter);
  if (job->parsed()) return commands.Job(job_id);
  if (tasks->parsed()) return commands.Tasks(job_id);
  if (workers->parsed()) return commands.Workers();
  if (prio->parsed()) return commands.Priority(job_id, new_priority);
  for (const auto& [sub, status] : status_apps)
    if (sub->parsed()) return commands.ChangeStatus(ids, status);
  return UsageError(err, "no command given");
}

}  // namespace

int RunCli(int argc, const char* const* argv, std::ostream& out, std::ostream& err, http::Client& client, Clock& clock,
           const CliOptions& options) {
  try {
    return Run(argc, argv, out, err, client, clock, options);
  } catch (const std::exception& e) {
    // Nothing should get here; if it does, still one line, no trace.
    err << "duende: error: internal error: " << OneLine(e.what()) << '\n';
    return kExitFailed;
  }
}

int RunCli(int argc, const char* const* argv, std::ostream& out, std::ostream& err, http::Client& client,
           Clock& clock) {
  return RunCli(argc, argv, out, err, client, clock, CliOptions{});
}

}  // namespace duende::cli
