#include "store/sql.h"

#include <spdlog/spdlog.h>

namespace duende::store {

Status SqlDatabase::Migrate(std::string_view component, const std::vector<std::string>& migrations) {
  for (size_t i = 0; i < migrations.size(); ++i) {
    const int version = static_cast<int>(i + 1);
    auto st = SqlWrite([&](SqlConn& c) -> Status {
      BeforeMigration(c);
      auto& q = c.Prepare("SELECT 1 FROM schema_migrations WHERE component = ?1 AND version = ?2");
      q.Bind(1, component).Bind(2, version);
      if (q.Step()) return Ok();
      q.Reset();
      c.Exec(migrations[i]);
      c.Prepare("INSERT INTO schema_migrations (component, version) VALUES (?1, ?2)")
          .Bind(1, component)
          .Bind(2, version)
          .Run();
      spdlog::debug("applied migration {} #{}", component, version);
      return Ok();
    });
    if (!st)
      return std::unexpected(
          st.error().WithContext("migration " + std::string(component) + " #" + std::to_string(version)));
  }
  return Ok();
}

}  // namespace duende::store
