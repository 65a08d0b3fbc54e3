// A thin SQLite layer shared by the job side and the farm side stores.
//
// One connection, one mutex: every read and write transaction runs under it,
// so writes are serialised (WriteTx) and reads see a consistent snapshot.
// Pragmas: WAL, foreign_keys=ON, synchronous=NORMAL, busy_timeout.
//
// Inside a transaction function, SQLite failures throw StoreError; WriteTx
// and Read catch it, roll back, and return an Error (kBusy for SQLITE_BUSY,
// kUnavailable for disk full / I/O errors, kInternal otherwise). The exception
// never leaves the store component.
#pragma once

#include <sqlite3.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "common/histogram.h"
#include "common/result.h"

namespace duende::store {

class StoreError : public std::runtime_error {
 public:
  StoreError(int code, const std::string& what) : std::runtime_error(what), code_(code) {}
  int code() const { return code_; }

 private:
  int code_;
};

// A cached prepared statement. Bind* indexes are 1-based, column indexes
// 0-based (as in SQLite).
class Statement {
 public:
  Statement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  ~Statement();
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  Statement& Bind(int i, int64_t v);
  Statement& Bind(int i, int v) { return Bind(i, static_cast<int64_t>(v)); }
  Statement& Bind(int i, double v);
  Statement& Bind(int i, std::string_view v);
  Statement& Bind(int i, const std::string& v) { return Bind(i, std::string_view(v)); }
  Statement& Bind(int i, const char* v) { return Bind(i, std::string_view(v)); }
  Statement& BindBlob(int i, std::string_view v);
  Statement& BindNull(int i);
  template <typename T>
  Statement& Bind(int i, const std::optional<T>& v) {
    return v ? Bind(i, *v) : BindNull(i);
  }

  // Advances; true when a row is available. Throws StoreError on failure.
  bool Step();
  // Steps to completion (for statements without result rows).
  void Run();
  // sqlite3_changes() after Run().
  int Changes() const;

  bool IsNull(int col) const;
  int64_t Int(int col) const;
  double Double(int col) const;
  std::string Text(int col) const;
  std::optional<int64_t> OptInt(int col) const;

  void Reset();

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_;
};

class Conn {
 public:
  explicit Conn(sqlite3* db) : db_(db) {}
  // Returns a reset, unbound cached statement for `sql`.
  Statement& Prepare(const std::string& sql);
  // Executes one or more statements without parameters.
  void Exec(const std::string& sql);
  int64_t LastInsertRowid() const;
  // Resets every statement still in progress, so no read snapshot outlives
  // its transaction.
  void ResetBusyStatements();
  sqlite3* raw() const { return db_; }

 private:
  sqlite3* db_;
  std::unordered_map<std::string, std::unique_ptr<Statement>> cache_;
};

class Database {
 public:
  // Opens (creating) the database at `path` (":memory:" allowed) and applies
  // the pragmas. 
  static Result<std::unique_ptr<Database>> Open(const std::string& path);
  ~Database();

  // Applies the numbered migrations of `component` not yet applied, each in
  // its own transaction. Migration N is migrations[N-1].
  Status Migrate(std::string_view component, const std::vector<std::string>& migrations);

  // Runs fn(Conn&) in BEGIN IMMEDIATE ... COMMIT. fn returns Result<T> or
  // Status; an error result or a thrown StoreError rolls back.
  template <typename F>
  auto WriteTx(F&& fn) -> decltype(fn(std::declval<Conn&>())) {
    return RunTx("BEGIN IMMEDIATE", std::forward<F>(fn));
  }
  // Runs fn(Conn&) in a read transaction.
  template <typename F>
  auto Read(F&& fn) -> decltype(fn(std::declval<Conn&>())) {
    return RunTx("BEGIN", std::forward<F>(fn));
  }

  // Test seam: when set, called before each transaction; an error it returns
  // fails the transaction as if SQLite had failed (fault injection).
  void SetFaultInjector(std::function<Status()> injector);

  // PRAGMA integrity_check == "ok".
  Result<bool> IntegrityCheck();

  // Metrics: duration of COMMIT of write transactions, and of whole write
  // transactions (BEGIN IMMEDIATE to COMMIT, lock held). Measured with
  // steady_clock: observation only, no behaviour depends on it.
  const Histogram& commit_latency() const { return commit_latency_; }
  const Histogram& write_tx_latency() const { return write_tx_latency_; }

 private:
  explicit Database(sqlite3* db) : db_(db), conn_(db) {}

  template <typename F>
  auto RunTx(const char* begin, F&& fn) -> decltype(fn(std::declval<Conn&>())) {
    using R = decltype(fn(std::declval<Conn&>()));
    std::lock_guard lock(mu_);
    const bool write = begin[5] == ' ';  // "BEGIN IMMEDIATE"
    const auto t0 = std::chrono::steady_clock::now();
    if (fault_injector_) {
      if (auto st = fault_injector_(); !st) return R(std::unexpect, st.error());
    }
    try {
      conn_.Exec(begin);
    } catch (const StoreError& e) {
      return R(std::unexpect, ToError(e));
    }
    try {
      R result = fn(conn_);
      conn_.ResetBusyStatements();
      if (result) {
        const auto c0 = std::chrono::steady_clock::now();
        conn_.Exec("COMMIT");
        if (write) {
          const auto c1 = std::chrono::steady_clock::now();
          commit_latency_.Observe(c1 - c0);
          write_tx_latency_.Observe(c1 - t0);
        }
      } else {
        Rollback();
      }
      return result;
    } catch (const StoreError& e) {
      conn_.ResetBusyStatements();
      Rollback();
      return R(std::unexpect, ToError(e));
    }
  }

  void Rollback() noexcept;
  static Error ToError(const StoreError& e);

  std::mutex mu_;
  sqlite3* db_;
  Conn conn_;
  std::function<Status()> fault_injector_;
  Histogram commit_latency_;
  Histogram write_tx_latency_;
};

}  // namespace duende::store
