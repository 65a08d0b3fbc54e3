#include "cli/job_type_commands.h"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/cli.h"
#include "cli/views.h"

namespace duende::cli {

using nlohmann::json;

namespace {

const json& Array(const json& j, const char* key) {
  static const json kEmpty = json::array();
  auto it = j.find(key);
  return it != j.end() && it->is_array() ? *it : kEmpty;
}

// What a setting accepts, e.g. "integer >= 1", "one of images, video".
std::string Accepts(const json& s) {
  std::string out = Field(s, "type");
  if (const auto& choices = Array(s, "choices"); !choices.empty()) {
    out = "one of ";
    for (size_t i = 0; i < choices.size(); ++i)
      out += (i ? ", " : "") + (choices[i].is_string() ? choices[i].get<std::string>() : choices[i].dump());
  }
  if (s.contains("min")) out += " >= " + Field(s, "min");
  if (s.contains("max")) out += " <= " + Field(s, "max");
  return out;
}

}  // namespace

std::string JobTypeText(const json& schema) {
  std::string out = Field(schema, "name") + " (" + Field(schema, "source") + "): " + Field(schema, "label") + "\n";
  if (const std::string d = Field(schema, "description"); d != "-") out += d + "\n";
  std::vector<Row> rows;
  for (const auto& s : Array(schema, "settings")) {
    const bool required = s.value("required", false);
    rows.push_back(
        {Field(s, "key"), Accepts(s), required ? "yes" : "no", Field(s, "default"), Field(s, "description")});
  }
  if (rows.empty()) return out + "no settings\n";
  return out + RenderTable({"SETTING", "TYPE", "REQUIRED", "DEFAULT", "DESCRIPTION"}, rows);
}

std::string ReloadReportText(const json& report) {
  std::string names;
  for (const auto& n : Array(report, "loaded")) names += (names.empty() ? "" : ", ") + n.get<std::string>();
  std::string out = "loaded " + std::to_string(Array(report, "loaded").size()) + " job types from " +
                    Field(report, "dir") + (names.empty() ? "" : ": " + names) + "\n";
  for (const auto& e : Array(report, "errors"))
    out += "skipped " + Field(e, "path") + ": " + Field(e, "message") + "\n";
  return out;
}

JobTypeCommands::JobTypeCommands(CLI::App& app) {
  list_ = app.add_subcommand("job-types", "List the job types the Manager knows (built-in and from files)");
  show_ = list_->add_subcommand("show", "Show one job type and its settings");
  show_->add_option("name", name_, "Job type name")->required();
  reload_ = list_->add_subcommand("reload", "Re-read the Manager's job types directory (admin)");
}

bool JobTypeCommands::parsed() const { return list_->parsed(); }

int JobTypeCommands::Run(ManagerApi& api, std::ostream& out, std::ostream& err, bool json_output) {
  auto fail = [&err](const CliError& e) {
    err << "duende: error: " << e.message << '\n';
    return e.exit_code;
  };
  if (show_->parsed()) {
    auto r = api.Get("/api/job-types/" + http::PercentEncode(name_));
    if (!r) return fail(r.error());
    out << (json_output ? r->dump(2) + "\n" : JobTypeText(*r));
    return kExitOk;
  }
  if (reload_->parsed()) {
    auto r = api.Post("/api/job-types/reload", json::object());
    if (!r) return fail(r.error());
    out << (json_output ? r->dump(2) + "\n" : ReloadReportText(*r));
    const size_t skipped = Array(*r, "errors").size();
    if (skipped == 0) return kExitOk;
    return fail({kExitFailed, std::to_string(skipped) + " job type file(s) skipped"});
  }
  auto r = api.Get("/api/job-types");
  if (!r) return fail(r.error());
  if (json_output) {
    out << r->dump(2) << "\n";
    return kExitOk;
  }
  std::vector<Row> rows;
  for (const auto& t : Array(*r, "job_types"))
    rows.push_back({Field(t, "name"), Field(t, "source"), Field(t, "label")});
  out << RenderTable({"NAME", "SOURCE", "LABEL"}, rows);
  return kExitOk;
}

}  // namespace duende::cli
