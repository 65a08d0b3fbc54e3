#include "cli/site_commands.h"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/cli.h"

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
}

bool SiteCommands::parsed() const { return managers_->parsed(); }

int SiteCommands::Run(ManagerApi& api, std::ostream& out, std::ostream& err, bool json_output) {
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
