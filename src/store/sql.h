// The SQL seam between the stores that must run on both engines (the job
// side's JobStore and duende-server's Manager registry) and the engines:
// SQLite (sqlite.h, also used directly by the Manager's farm store) and
// PostgreSQL (postgres.h).
//
// SQL text is written once, in the dialect both engines accept: `?N`
// parameters (PostgreSQL's connection rewrites them to `$N`), `INSERT ...
// ON CONFLICT DO NOTHING / DO UPDATE` (no `INSERT OR ...`), qualified column
// names in upserts. Schemas differ (types), so each store keeps a migration
// list per dialect.
//
// As in sqlite.h, failures inside a transaction function throw StoreError;
// the database's SqlWrite / SqlRead catch it, roll back, and return an Error
// (kBusy, kUnavailable for a lost connection or a full disk, kInternal).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"

namespace duende::store {

// `code` is an SQLite result code; the PostgreSQL layer maps its failures
// onto the same codes (SQLITE_IOERR for a lost connection, ...).
class StoreError : public std::runtime_error {
 public:
  StoreError(int code, const std::string& what) : std::runtime_error(what), code_(code) {}
  int code() const { return code_; }

 private:
  int code_;
};

// The Error a StoreError becomes when its transaction is rolled back.
Error ErrorFromStoreError(const StoreError& e);

// A prepared statement. Bind* indexes are 1-based, column indexes 0-based.
class SqlStatement {
 public:
  virtual ~SqlStatement() = default;
  virtual SqlStatement& Bind(int i, int64_t v) = 0;
  virtual SqlStatement& Bind(int i, double v) = 0;
  virtual SqlStatement& Bind(int i, std::string_view v) = 0;
  virtual SqlStatement& BindNull(int i) = 0;
  SqlStatement& Bind(int i, int v) { return Bind(i, static_cast<int64_t>(v)); }
  SqlStatement& Bind(int i, const std::string& v) { return Bind(i, std::string_view(v)); }
  SqlStatement& Bind(int i, const char* v) { return Bind(i, std::string_view(v)); }
  template <typename T>
  SqlStatement& Bind(int i, const std::optional<T>& v) {
    return v ? Bind(i, *v) : BindNull(i);
  }

  // Advances; true when a row is available. Throws StoreError on failure.
  virtual bool Step() = 0;
  // Runs to completion (statements without result rows).
  virtual void Run() = 0;
  // Rows changed by the last Run().
  virtual int Changes() const = 0;

  virtual bool IsNull(int col) const = 0;
  virtual int64_t Int(int col) const = 0;
  virtual double Double(int col) const = 0;
  virtual std::string Text(int col) const = 0;
  std::optional<int64_t> OptInt(int col) const { return IsNull(col) ? std::nullopt : std::optional(Int(col)); }

  // Ends the current execution (bindings are replaced by the next Bind).
  virtual void Reset() = 0;
};

class SqlConn {
 public:
  virtual ~SqlConn() = default;
  // Returns a cached statement for `sql`, ready to bind.
  virtual SqlStatement& Prepare(const std::string& sql) = 0;
  // Executes one or more statements without parameters.
  virtual void Exec(const std::string& sql) = 0;
};

enum class Dialect { kSqlite, kPostgres };

// What a store needs from its database: transactions and migrations.
class SqlDatabase {
 public:
  virtual ~SqlDatabase() = default;
  virtual Dialect dialect() const = 0;
  // Runs fn atomically: all of its writes commit or none do (an error
  // result or a StoreError rolls back). Returns after the commit.
  virtual Status SqlWrite(const std::function<Status(SqlConn&)>& fn) = 0;
  // Runs fn in a read transaction that sees committed data only.
  virtual Status SqlRead(const std::function<Status(SqlConn&)>& fn) = 0;
  // Applies the numbered migrations of `component` not yet applied, each in
  // its own transaction, recorded in the table schema_migrations (which the
  // database creates when it opens). Migration N is migrations[N-1].
  Status Migrate(std::string_view component, const std::vector<std::string>& migrations);

  // SqlWrite / SqlRead for functions returning Result<T> (or Status).
  template <typename F>
  auto Transact(F&& fn) -> decltype(fn(std::declval<SqlConn&>())) {
    return Run(true, std::forward<F>(fn));
  }
  template <typename F>
  auto Query(F&& fn) -> decltype(fn(std::declval<SqlConn&>())) {
    return Run(false, std::forward<F>(fn));
  }

 private:
  template <typename F>
  auto Run(bool write, F&& fn) -> decltype(fn(std::declval<SqlConn&>())) {
    using R = decltype(fn(std::declval<SqlConn&>()));
    std::optional<R> out;
    auto body = [&](SqlConn& c) -> Status {
      out.emplace(fn(c));
      if (!out->has_value()) return std::unexpected(out->error());
      return Ok();
    };
    const Status st = write ? SqlWrite(body) : SqlRead(body);
    if (!st) return R(std::unexpect, st.error());
    return std::move(*out);
  }

 protected:
  // Runs first in each migration transaction (PostgreSQL: a lock, so two
  // Servers starting at once do not both apply a migration).
  virtual void BeforeMigration(SqlConn& /*conn*/) {}
};

}  // namespace duende::store
