#include "cli/site_commands.h"

#include <CLI/CLI.hpp>
#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "cli/cli.h"
#include "common/gzip.h"

namespace duende::cli {
namespace {

using nlohmann::json;

int Fail(std::ostream& err, const CliError& error) {
  err << "duende: error: " << error.message << '\n';
  return error.exit_code;
}

std::string Str(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "-";
}

}  // namespace

SiteCommands::SiteCommands(CLI::App& app) {
  managers_ = app.add_subcommand("managers", "duende-server: list, create (with a token) or revoke linked Managers");
  managers_->require_subcommand(0, 1);
  create_ = managers_->add_subcommand("create", "Register a Manager; prints its ID and token (shown only once)");
  create_->add_option("name", name_, "Name of the Manager (site)")->required();
  revoke_ = managers_->add_subcommand("revoke", "Revoke a Manager's token");
  revoke_->add_option("id", id_, "Manager ID")->required();

  log_request_ = app.add_subcommand(
      "log-request", "duende-server: ask the Manager running a task to upload its log (--wait: then print it)");
  log_request_->add_option("task", task_, "Task ID")->required();
  log_request_->add_option("--wait", wait_seconds_, "Wait up to this many seconds for the log and print it")
      ->check(CLI::Range(0.0, 86400.0));
  log_request_->add_option("-o,--output", output_, "With --wait: write the log to this file instead of stdout");
}

bool SiteCommands::parsed() const { return managers_->parsed() || log_request_->parsed(); }

int SiteCommands::RunLogRequest(ManagerApi& api, std::ostream& out, std::ostream& err) {
  const std::string task_path = "/api/tasks/" + http::PercentEncode(task_);
  auto requested = api.Post(task_path + "/log-request", json::object());
  if (!requested) return Fail(err, requested.error());
  if (wait_seconds_ <= 0) {
    out << "log of task " << task_ << " requested; it is uploaded when its Manager next reports (duende log-request "
        << task_ << " --wait 60 prints it)\n";
    return kExitOk;
  }
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + std::chrono::duration<double>(wait_seconds_);
  const std::string log_path = task_path + "/uploaded-log";
  for (;;) {
    auto r = api.Fetch(log_path);
    if (!r) return Fail(err, r.error());
    if (r->status == 200) {
      auto text = Gunzip(r->body);
      if (!text) return Fail(err, {kExitFailed, "the uploaded log of task " + task_ + " is not valid gzip"});
      if (output_.empty()) {
        out << *text;
        return kExitOk;
      }
      std::ofstream file(output_, std::ios::binary | std::ios::trunc);
      file << *text;
      if (!file.flush()) return Fail(err, {kExitFailed, "cannot write " + output_});
      out << "log of task " << task_ << " written to " << output_ << " (" << text->size() << " bytes)\n";
      return kExitOk;
    }
    if (r->status != 404) return Fail(err, {kExitFailed, ManagerApi::ErrorLine(*r, "GET", log_path)});
    if (Clock::now() >= deadline) {
      return Fail(err, {kExitFailed, "the log of task " + task_ + " has not arrived within " +
                                         std::to_string(static_cast<int>(wait_seconds_)) +
                                         " s (is its Manager linked and running?)"});
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
}

int SiteCommands::Run(ManagerApi& api, std::ostream& out, std::ostream& err, bool json_output) {
  if (log_request_->parsed()) return RunLogRequest(api, out, err);
  if (create_->parsed()) {
    auto created = api.Post("/api/managers", json{{"name", name_}});
    if (!created) return Fail(err, created.error());
    if (json_output) {
      out << created->dump(2) << '\n';
    } else {
      out << "manager " << Str(*created, "_id") << " (" << Str(*created, "name") << ") created\n"
          << "token: " << Str(*created, "token") << "\n"
          << "Start its duende-manager with --upstream " << api.base_url() << " --manager-id " << Str(*created, "_id")
          << " and this token (it is not shown again).\n";
    }
    return kExitOk;
  }
  if (revoke_->parsed()) {
    auto revoked = api.Post("/api/managers/" + http::PercentEncode(id_) + "/revoke", json::object());
    if (!revoked) return Fail(err, revoked.error());
    out << (json_output ? revoked->dump(2) + "\n" : "manager " + id_ + ": token revoked\n");
    return kExitOk;
  }
  auto list = api.Get("/api/managers");
  if (!list) return Fail(err, list.error());
  if (json_output) {
    out << list->dump(2) << '\n';
    return kExitOk;
  }
  out << "ID                        NAME                 WORKERS  STATE    URL\n";
  for (const auto& m : list->value("managers", json::array())) {
    char line[512];
    const int workers = m.contains("stats") ? m["stats"].value("nr_of_workers", 0) : 0;
    std::snprintf(line, sizeof line, "%-25s %-20s %7d  %-8s %s\n", Str(m, "_id").c_str(), Str(m, "name").c_str(),
                  workers, m.value("revoked", false) ? "revoked" : "active", Str(m, "url").c_str());
    out << line;
  }
  return kExitOk;
}

}  // namespace duende::cli
