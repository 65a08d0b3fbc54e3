#include "cli/worker_commands.h"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/cli.h"
#include "cli/views.h"

namespace duende::cli {
namespace {

using nlohmann::json;

std::string WorkerPath(const std::string& id, std::string_view suffix = "") {
  return "/api/workers/" + http::PercentEncode(id) + std::string(suffix);
}

int Fail(std::ostream& err, const CliError& error) {
  err << "duende: error: " << error.message << '\n';
  return error.exit_code;
}

std::string Name(const json& worker) {
  const std::string id = Field(worker, "_id");
  const std::string nick = Field(worker, "nickname");
  return nick == "-" ? id : id + " (" + nick + ")";
}

}  // namespace

WorkerCommands::WorkerCommands(CLI::App& app) {
  worker_ = app.add_subcommand("worker", "Act on workers: sleep, wake, shutdown, restart, forget, schedules");
  worker_->require_subcommand(1);
  struct StatusCommand {
    const char* name;
    const char* status;
    const char* help;
    bool lazy;
  };
  static constexpr StatusCommand kCommands[] = {
      {"sleep", "asleep", "Send workers to sleep (they stop fetching tasks)", true},
      {"wake", "awake", "Wake sleeping workers", false},
      {"shutdown", "shutdown", "Shut workers down (they sign off and exit)", true},
      {"restart", "restart", "Restart workers (they exit with code 75 for their supervisor)", true},
  };
  for (const auto& c : kCommands) {
    auto* sub = worker_->add_subcommand(c.name, c.help);
    sub->add_option("ids", ids_, "Worker IDs")->required();
    if (c.lazy) sub->add_flag("--lazy", lazy_, "After the current task (default: stop it and re-queue it)");
    status_commands_.emplace_back(sub, c.status);
  }
  ack_timeout_ = worker_->add_subcommand("ack-timeout", "Acknowledge timed-out workers (they become offline)");
  ack_timeout_->add_option("ids", ids_, "Worker IDs")->required();
  forget_ = worker_->add_subcommand("forget", "Delete workers; their running tasks are re-queued");
  forget_->add_option("ids", ids_, "Worker IDs")->required();
  show_ = worker_->add_subcommand("show", "Show one worker with its sleep schedule");
  show_->add_option("id", id_, "Worker ID")->required();
  schedule_ = worker_->add_subcommand(
      "schedule", "Set, clear or (without options) show a worker's sleep schedule (Manager's local time)");
  schedule_->add_option("id", id_, "Worker ID")->required();
  schedule_->add_option("--days", days_, "Days to sleep, e.g. \"mo tu we\" (default: every day)");
  schedule_->add_option("--start", start_, "Sleep from HH:MM (default 00:00)");
  schedule_->add_option("--end", end_, "Wake at HH:MM (default 24:00; before --start = the next morning)");
  schedule_->add_flag("--inactive", inactive_, "Store the schedule without applying it");
  schedule_->add_flag("--clear", clear_, "Remove the schedule");
}

bool WorkerCommands::parsed() const { return worker_->parsed(); }

int WorkerCommands::Run(ManagerApi& api, std::ostream& out, std::ostream& err, bool json_output) {
  for (const auto& [sub, status] : status_commands_)
    if (sub->parsed()) return RequestStatus(api, out, err, json_output, status);
  if (ack_timeout_->parsed())
    return PerWorker(api, out, err, json_output, "/ack-timeout", "timeout acknowledged, now offline");
  if (forget_->parsed()) return PerWorker(api, out, err, json_output, "/forget", "forgotten");
  if (show_->parsed()) {
    auto worker = api.Get(WorkerPath(id_));
    if (!worker) return Fail(err, worker.error());
    out << (json_output ? worker->dump(2) + "\n" : WorkerDetails(*worker));
    return kExitOk;
  }
  if (schedule_->parsed()) return Schedule(api, out, err, json_output);
  err << "duende: error: no worker command given (see 'duende worker --help')\n";
  return kExitUsage;
}

int WorkerCommands::RequestStatus(ManagerApi& api, std::ostream& out, std::ostream& err, bool json_output,
                                  const std::string& status) {
  // One request for all: the Manager changes all of them or none.
  auto body = api.Post("/api/workers/status", json{{"workers", ids_}, {"status", status}, {"lazy", lazy_}});
  if (!body) return Fail(err, body.error());
  if (json_output) {
    out << body->dump(2) << '\n';
    return kExitOk;
  }
  if (!body->is_object() || !body->contains("workers") || !(*body)["workers"].is_array())
    return Fail(err, {kExitFailed, "unexpected answer from the manager: no \"workers\" list"});
  for (const auto& w : (*body)["workers"]) {
    const std::string requested = Field(w, "status_requested");
    out << "worker " << Name(w) << ": ";
    if (requested == "-") {
      out << "already " << Field(w, "status") << '\n';
    } else {
      out << requested << " requested" << (w.value("lazy_status_request", false) ? " (after its current task)" : "")
          << '\n';
    }
  }
  return kExitOk;
}

int WorkerCommands::PerWorker(ManagerApi& api, std::ostream& out, std::ostream& err, bool json_output,
                              const std::string& suffix, const std::string& done) {
  int exit_code = kExitOk;
  for (const auto& id : ids_) {
    auto body = api.Post(WorkerPath(id, suffix), json::object());
    if (!body) {
      exit_code = Fail(err, body.error());
      if (exit_code == kExitUnreachable) return exit_code;
      continue;
    }
    if (json_output && !body->is_null()) {
      out << body->dump(-1) << '\n';
    } else {
      out << "worker " << id << ": " << done << '\n';
    }
  }
  return exit_code;
}

int WorkerCommands::Schedule(ManagerApi& api, std::ostream& out, std::ostream& err, bool json_output) {
  const bool setting = !days_.empty() || !start_.empty() || !end_.empty() || inactive_;
  if (clear_ && setting) {
    err << "duende: error: --clear cannot be combined with --days/--start/--end/--inactive (see 'duende --help')\n";
    return kExitUsage;
  }
  CliResult<json> worker;
  if (clear_) {
    worker = api.Delete(WorkerPath(id_, "/sleep-schedule"));
  } else if (setting) {
    json body = {{"schedule_active", !inactive_}, {"days_of_week", days_}};
    body["time_start"] = start_.empty() ? json(nullptr) : json(start_);
    body["time_end"] = end_.empty() ? json(nullptr) : json(end_);
    worker = api.Post(WorkerPath(id_, "/sleep-schedule"), body);
  } else {
    worker = api.Get(WorkerPath(id_));
  }
  if (!worker) return Fail(err, worker.error());
  const json schedule = worker->is_object() ? worker->value("sleep_schedule", json()) : json();
  if (json_output) {
    out << schedule.dump(2) << '\n';
    return kExitOk;
  }
  out << "worker " << Name(*worker) << ": sleep schedule " << ScheduleSummary(schedule) << '\n';
  return kExitOk;
}

std::string ScheduleSummary(const json& s) {
  if (!s.is_object()) return "none";
  const bool active = s.value("schedule_active", false);
  const std::string days = Field(s, "days_of_week");
  const std::string start = Field(s, "time_start");
  const std::string end = Field(s, "time_end");
  if (!active && days == "-" && start == "-" && end == "-") return "none";
  std::string line = active ? "active" : "inactive";
  line += ", " + (days == "-" ? std::string("every day") : days);
  line += ", asleep " + (start == "-" ? std::string("00:00") : start) + "-" + (end == "-" ? std::string("24:00") : end);
  if (active && s.contains("next_check") && s["next_check"].is_string())
    line += ", next check " + ShortTime(s["next_check"].get<std::string>());
  return line;
}

std::string WorkerDetails(const json& w) {
  std::string requested = Field(w, "status_requested");
  if (requested != "-" && w.is_object() && w.value("lazy_status_request", false)) requested += " (lazy)";
  std::string types = "-";
  if (w.is_object() && w.contains("supported_task_types") && w["supported_task_types"].is_array()) {
    types.clear();
    for (const auto& t : w["supported_task_types"])
      if (t.is_string()) types += (types.empty() ? "" : ",") + t.get<std::string>();
    if (types.empty()) types = "-";
  }
  std::string text;
  auto line = [&](const char* key, const std::string& value) { text += std::string(key) + ": " + value + "\n"; };
  line("ID", Field(w, "_id"));
  line("Nickname", Field(w, "nickname"));
  line("Status", Field(w, "status"));
  line("Requested", requested);
  line("Address", Field(w, "address"));
  line("Platform", Field(w, "platform"));
  line("Task types", types);
  line("Current task", Field(w, "current_task"));
  line("Software", Field(w, "software"));
  line("Last seen", ShortTime(w.is_object() ? w.value("last_activity", "") : ""));
  line("Sleep schedule", ScheduleSummary(w.is_object() ? w.value("sleep_schedule", json()) : json()));
  return text;
}

}  // namespace duende::cli
