#include "cli/diagnostics_commands.h"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/cli.h"
#include "cli/views.h"

namespace duende::cli {

using nlohmann::json;

namespace {

int Fail(std::ostream& err, const CliError& error) {
  err << "duende: error: " << error.message << '\n';
  return error.exit_code;
}

std::string Str(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

std::string ExplanationText(const json& e) {
  std::string out = "task " + Str(e, "task_id") + " (" + Str(e, "name") + "), " + Str(e, "status") + ", type " +
                    Str(e, "task_type") + "\n" + Str(e, "summary") + "\n";
  if (auto it = e.find("task_reasons"); it != e.end() && it->is_array())
    for (const auto& r : *it)
      if (r.is_string()) out += "  - " + r.get<std::string>() + "\n";
  std::vector<Row> rows;
  if (auto it = e.find("workers"); it != e.end() && it->is_array())
    for (const auto& w : *it)
      rows.push_back({Str(w, "worker_id"), Str(w, "identifier"), Str(w, "status"), Str(w, "reason")});
  if (rows.empty()) return out + "no workers registered\n";
  return out + RenderTable({"WORKER", "NAME", "STATUS", "VERDICT"}, rows);
}

DiagnosticsCommands::DiagnosticsCommands(CLI::App& app) {
  explain_ = app.add_subcommand("explain", "Explain why a task is (not) running: the rule that excludes each worker");
  explain_->add_option("task_id", task_id_, "Task ID")->required();
  blacklist_ = app.add_subcommand("blacklist", "List blacklist entries (worker, job, task type), or forget one");
  blacklist_->add_option("--worker", worker_, "Only entries of this worker");
  blacklist_->add_option("--job", job_, "Only entries of this job");
  forget_ = blacklist_->add_subcommand("forget", "Remove one blacklist entry so the worker gets such tasks again");
  forget_->add_option("worker", worker_, "Worker ID")->required();
  forget_->add_option("job", job_, "Job ID")->required();
  forget_->add_option("task_type", task_type_, "Task type")->required();
}

bool DiagnosticsCommands::parsed() const { return explain_->parsed() || blacklist_->parsed(); }

int DiagnosticsCommands::Run(ManagerApi& api, std::ostream& out, std::ostream& err, bool json_output) {
  if (explain_->parsed()) {
    auto e = api.Get("/api/tasks/" + http::PercentEncode(task_id_) + "/explain");
    if (!e) return Fail(err, e.error());
    out << (json_output ? e->dump(2) + "\n" : ExplanationText(*e));
    return kExitOk;
  }
  if (forget_->parsed()) {
    auto r =
        api.Post("/api/blacklist/forget", json{{"worker_id", worker_}, {"job_id", job_}, {"task_type", task_type_}});
    if (!r) return Fail(err, r.error());
    if (!json_output)
      out << "worker " << worker_ << " may run " << task_type_ << " tasks of job " << job_ << " again\n";
    return kExitOk;
  }
  std::string path = "/api/blacklist";
  std::string sep = "?";
  if (!worker_.empty()) {
    path += sep + "worker=" + http::PercentEncode(worker_);
    sep = "&";
  }
  if (!job_.empty()) path += sep + "job=" + http::PercentEncode(job_);
  auto r = api.Get(path);
  if (!r) return Fail(err, r.error());
  if (json_output) {
    out << r->dump(2) << "\n";
    return kExitOk;
  }
  std::vector<Row> rows;
  if (auto it = r->find("blacklist"); it != r->end() && it->is_array())
    for (const auto& e : *it)
      rows.push_back({Str(e, "worker_id"), Str(e, "job_id"), Str(e, "task_type"), Str(e, "_created")});
  if (rows.empty()) {
    out << "no blacklist entries\n";
    return kExitOk;
  }
  out << RenderTable({"WORKER", "JOB", "TASK TYPE", "SINCE"}, rows);
  return kExitOk;
}

}  // namespace duende::cli
