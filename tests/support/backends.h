// The databases a store test suite runs on: every suite of the job side and
// of duende-server's registry runs once on SQLite and once on PostgreSQL
// (issue 8: "the same test suite runs against both").
//
// PostgreSQL: each test gets a database of its own, created on the server
// at DUENDE_TEST_POSTGRES (a connection URI without the database name;
// default "postgresql://", the local server's Unix socket as the current
// user; scripts/setup.sh starts it and creates that role) and dropped at
// the end. A server that cannot be reached fails the test with the reason:
// it is never skipped silently.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <memory>
#include <ostream>
#include <pqxx/pqxx>
#include <string>

#include "store/postgres.h"
#include "store/sqlite.h"

namespace duende::testing {

enum class Backend { kSqlite, kPostgres };

// How gtest (and so CTest's test names) print a parameter.
inline void PrintTo(Backend b, std::ostream* os) { *os << (b == Backend::kSqlite ? "SQLite" : "PostgreSQL"); }

inline std::string BackendName(const ::testing::TestParamInfo<Backend>& info) {
  return info.param == Backend::kSqlite ? "Sqlite" : "Postgres";
}

inline std::string PostgresServerUrl() {
  const char* env = std::getenv("DUENDE_TEST_POSTGRES");
  std::string url = env && *env ? env : "postgresql://";
  while (url.size() > std::string("postgresql://").size() && url.back() == '/') url.pop_back();
  return url;
}

// A database of its own on the test PostgreSQL server, dropped on
// destruction. `error()` says why it could not be made.
class TempPostgresDatabase {
 public:
  TempPostgresDatabase() {
    static std::atomic<int> counter{0};
    name_ = "duende_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++) + "_" +
            std::to_string(std::rand() % 100000);
    try {
      pqxx::connection admin(PostgresServerUrl() + "/postgres");
      pqxx::nontransaction tx(admin);
      tx.exec("CREATE DATABASE " + name_ + " TEMPLATE template0");
      created_ = true;
    } catch (const std::exception& e) {
      error_ = std::string("PostgreSQL at ") + PostgresServerUrl() +
               " is not usable (start it with scripts/setup.sh, or set DUENDE_TEST_POSTGRES): " + e.what();
    }
  }
  ~TempPostgresDatabase() {
    if (!created_) return;
    try {
      pqxx::connection admin(PostgresServerUrl() + "/postgres");
      pqxx::nontransaction tx(admin);
      tx.exec("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
    } catch (const std::exception&) {
    }
  }
  TempPostgresDatabase(const TempPostgresDatabase&) = delete;
  TempPostgresDatabase& operator=(const TempPostgresDatabase&) = delete;

  std::string url() const { return PostgresServerUrl() + "/" + name_; }
  const std::string& error() const { return error_; }
  bool ok() const { return created_; }

 private:
  std::string name_;
  std::string error_;
  bool created_ = false;
};

// Opens a database of `backend`: SQLite at `sqlite_path` (":memory:"
// allowed), PostgreSQL in `pg` (created on first use). Fails the test when
// it cannot.
inline std::unique_ptr<store::SqlDatabase> OpenBackend(Backend backend, const std::string& sqlite_path,
                                                       std::unique_ptr<TempPostgresDatabase>& pg) {
  if (backend == Backend::kSqlite) {
    auto db = store::Database::Open(sqlite_path);
    EXPECT_TRUE(db) << db.error().message;
    return db ? std::move(*db) : nullptr;
  }
  if (!pg) pg = std::make_unique<TempPostgresDatabase>();
  EXPECT_TRUE(pg->ok()) << pg->error();
  if (!pg->ok()) return nullptr;
  auto db = store::PgDatabase::Open(pg->url());
  EXPECT_TRUE(db) << db.error().message;
  return db ? std::move(*db) : nullptr;
}

}  // namespace duende::testing
