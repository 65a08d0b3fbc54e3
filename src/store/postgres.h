// PostgreSQL implementation of the SQL seam (sql.h), through libpqxx 6.4:
// duende-server's store for studios that run it on PostgreSQL.
//
// One connection and one mutex, as with SQLite: transactions run one at a
// time, so the job side's revision counter and status derivation see the
// same serial order on both engines. Statements are prepared once per
// connection (`?N` rewritten to `$N`) and parameters are sent as text; the
// server infers their types from the schema. A lost connection fails the
// transaction with kUnavailable (503 at the API) and is re-opened for the
// next one.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "store/sql.h"

namespace duende::store {

class PgConn;

class PgDatabase final : public SqlDatabase {
 public:
  // `url` is a libpq connection string ("postgresql://user@host/db" or
  // "host=... dbname=..."). Unavailable when the server cannot be reached.
  static Result<std::unique_ptr<PgDatabase>> Open(const std::string& url);
  ~PgDatabase() override;

  Dialect dialect() const override { return Dialect::kPostgres; }
  Status SqlWrite(const std::function<Status(SqlConn&)>& fn) override;
  Status SqlRead(const std::function<Status(SqlConn&)>& fn) override;

 protected:
  void BeforeMigration(SqlConn& conn) override;

 private:
  explicit PgDatabase(std::string url);
  Status Run(bool write, const std::function<Status(SqlConn&)>& fn);

  std::string url_;
  std::mutex mu_;
  std::unique_ptr<PgConn> conn_;  // null after a lost connection
};

// "?1 ... ?12" -> "$1 ... $12", leaving string literals and quoted names
// alone. Exposed for tests.
std::string RewriteParameters(std::string_view sql);

// True for connection strings PgDatabase::Open takes as PostgreSQL
// ("postgresql://", "postgres://").
bool IsPostgresUrl(std::string_view url);

}  // namespace duende::store
