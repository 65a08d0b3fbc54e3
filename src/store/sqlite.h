// A thin SQLite layer shared by the job side and the farm side stores.
//
// One connection, one mutex: every read and write transaction runs under it,
// so writes are serialised (WriteTx) and reads see a consistent snapshot.
// Concurrent writers share commits (group commit, see WriteTx).
// Pragmas: WAL, foreign_keys=ON, synchronous=NORMAL, busy_timeout.
//
// Another process holding the write lock (an admin's sqlite3 shell, a backup
// tool): a write waits for it briefly under the store's lock, then the
// database counts as busy. While it is, one writer at a time waits for the
// lock (the busy timeout) on a connection of its own, outside the store's
// lock, and every other write fails at once with kBusy (HTTP 503 +
// Retry-After), so requests do not queue for a busy timeout each and reads
// keep going. The first write that finds the lock free again clears it.
//
// WAL checkpoints run in the background: SQLite's automatic checkpoint would
// copy the WAL into the database file (and fsync it) inside whichever commit
// took the WAL past its limit, under the store's lock, so that request and
// every write queued behind it waited for it (0.7 s at the end of a
// 100,000-task submission). Instead the commit only notes the WAL's size,
// and a thread with a connection of its own runs a PASSIVE checkpoint (it
// never blocks the store's writers or readers) each time the WAL has grown
// by kCheckpointPages pages. Under a steady stream of commits the WAL can
// only start over once a checkpoint has copied all of it, which one that
// runs beside the writers rarely does: a commit that finds the WAL at
// kInlineCheckpointPages checkpoints inline, copying only what the
// background thread has not, so the WAL starts over and stays bounded.
//
// Inside a transaction function, SQLite failures throw StoreError; WriteTx
// and Read catch it, roll back, and return an Error (kBusy for SQLITE_BUSY,
// kUnavailable for disk full / I/O errors, kInternal otherwise). The exception
// never leaves the store component.
#pragma once

#include <sqlite3.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
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
#include <utility>
#include <vector>

#include "common/histogram.h"
#include "common/result.h"
#include "store/sql.h"

namespace duende::store {

// A cached prepared statement. Bind* indexes are 1-based, column indexes
// 0-based (as in SQLite). Final: callers holding a Statement& (the farm
// store) call it directly, not through the SqlStatement interface.
class Statement final : public SqlStatement {
 public:
  Statement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  ~Statement() override;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  Statement& Bind(int i, int64_t v) override;
  Statement& Bind(int i, int v) { return Bind(i, static_cast<int64_t>(v)); }
  Statement& Bind(int i, double v) override;
  Statement& Bind(int i, std::string_view v) override;
  Statement& Bind(int i, const std::string& v) { return Bind(i, std::string_view(v)); }
  Statement& Bind(int i, const char* v) { return Bind(i, std::string_view(v)); }
  Statement& BindBlob(int i, std::string_view v);
  Statement& BindNull(int i) override;
  template <typename T>
  Statement& Bind(int i, const std::optional<T>& v) {
    return v ? Bind(i, *v) : BindNull(i);
  }

  // Advances; true when a row is available. Throws StoreError on failure.
  bool Step() override;
  // Steps to completion (for statements without result rows).
  void Run() override;
  // sqlite3_changes() after Run().
  int Changes() const override;

  bool IsNull(int col) const override;
  int64_t Int(int col) const override;
  double Double(int col) const override;
  std::string Text(int col) const override;
  std::optional<int64_t> OptInt(int col) const;

  void Reset() override;

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_;
};

class Conn final : public SqlConn {
 public:
  explicit Conn(sqlite3* db) : db_(db) {}
  // Returns a reset, unbound cached statement for `sql`.
  Statement& Prepare(const std::string& sql) override;
  // Executes one or more statements without parameters.
  void Exec(const std::string& sql) override;
  int64_t LastInsertRowid() const;
  // Rows inserted, updated or deleted on this connection so far, triggers
  // included (sqlite3_total_changes64): a difference tells whether code in
  // between changed anything.
  int64_t TotalChanges() const;
  // Whether a transaction is open (false after SQLite rolled one back by
  // itself, e.g. on an I/O error or a full disk).
  bool InTransaction() const;
  // Resets every statement still in progress, so no read snapshot outlives
  // its transaction.
  void ResetBusyStatements();
  sqlite3* raw() const { return db_; }

 private:
  sqlite3* db_;
  std::unordered_map<std::string, std::unique_ptr<Statement>> cache_;
};

class Database final : public SqlDatabase {
 public:
  // Opens (creating) the database at `path` (":memory:" allowed) and applies
  // the pragmas. `synchronous` is SQLite's setting for the WAL: "NORMAL"
  // (a commit survives a crash of the process, not of the machine) or
  // "FULL" (fsync on every commit, also survives power loss).
  // `busy_timeout`: how long a write waits for a lock another process holds
  // before it fails with kBusy (see the top of this file).
  static Result<std::unique_ptr<Database>> Open(const std::string& path, const std::string& synchronous = "NORMAL",
                                                std::chrono::milliseconds busy_timeout = kDefaultBusyTimeout);
  ~Database() override;

  // SqlDatabase: WriteTx / Read through the SqlConn interface.
  Dialect dialect() const override { return Dialect::kSqlite; }
  Status SqlWrite(const std::function<Status(SqlConn&)>& fn) override {
    return WriteTx([&](Conn& c) { return fn(c); });
  }
  Status SqlRead(const std::function<Status(SqlConn&)>& fn) override {
    return Read([&](Conn& c) { return fn(c); });
  }

  // Runs fn(Conn&) atomically: all of its writes commit or none do. fn
  // returns Result<T> or Status; an error result or a thrown StoreError rolls
  // back fn's writes. Returns only after fn's writes are committed.
  //
  // Group commit: callers that arrive while another one runs join one
  // SQLite transaction; each caller's fn runs in its own SAVEPOINT (so a
  // failing fn undoes only its own writes) and the last caller of the group
  // commits for all, then wakes the others. A failed COMMIT fails every
  // member of the group. fn runs under the store's lock, one at a time, and
  // sees the writes of earlier members of its group.
  template <typename F>
  auto WriteTx(F&& fn) -> decltype(fn(std::declval<Conn&>())) {
    using R = decltype(fn(std::declval<Conn&>()));
    std::unique_lock<std::mutex> lock;
    if (auto st = EnterWrite(lock); !st) return R(std::unexpect, st.error());
    std::optional<R> result;
    try {
      result.emplace(fn(conn_));
    } catch (const StoreError& e) {
      result.emplace(std::unexpect, ToError(e));
    } catch (...) {
      // Not ours to handle, but the group must not keep fn's partial writes.
      if (auto st = EndMember(false); !st)
        FailGroup(st.error());
      else
        LeaveGroup();
      throw;
    }
    if (auto st = EndMember(result->has_value()); !st) {
      FailGroup(st.error());
      return R(std::unexpect, st.error());
    }
    if (auto st = FinishMember(lock); !st && result->has_value()) return R(std::unexpect, st.error());
    return std::move(*result);
  }
  // Runs fn(Conn&) in a read transaction. It sees committed data only: a
  // group still open is committed first.
  template <typename F>
  auto Read(F&& fn) -> decltype(fn(std::declval<Conn&>())) {
    using R = decltype(fn(std::declval<Conn&>()));
    std::unique_lock lock = Enter();
    CommitGroup();
    if (fault_injector_) {
      if (auto st = fault_injector_(); !st) return R(std::unexpect, st.error());
    }
    try {
      conn_.Prepare("BEGIN").Run();
    } catch (const StoreError& e) {
      return R(std::unexpect, ToError(e));
    }
    try {
      R result = fn(conn_);
      conn_.ResetBusyStatements();
      conn_.Prepare("COMMIT").Run();
      return result;
    } catch (const StoreError& e) {
      conn_.ResetBusyStatements();
      Rollback();
      return R(std::unexpect, ToError(e));
    }
  }

  // Test seam: when set, called before each transaction; an error it returns
  // fails the transaction as if SQLite had failed (fault injection).
  void SetFaultInjector(std::function<Status()> injector);

  // PRAGMA integrity_check == "ok".
  Result<bool> IntegrityCheck();

  // Metrics: duration of each COMMIT, and of each group (BEGIN to COMMIT,
  // lock held between members). Measured with steady_clock: observation
  // only, no behaviour depends on it.
  const Histogram& commit_latency() const { return commit_latency_; }
  const Histogram& write_tx_latency() const { return write_tx_latency_; }
  // Write transactions (WriteTx calls) and SQLite commits so far; their
  // ratio is the mean group size.
  uint64_t write_transactions() const { return write_transactions_.load(std::memory_order_relaxed); }
  uint64_t commits() const { return commits_.load(std::memory_order_relaxed); }

  // Most callers a group takes before it commits regardless of who waits.
  static constexpr int kMaxGroupMembers = 256;
  static constexpr std::chrono::milliseconds kDefaultBusyTimeout{5000};
  // How long a write waits for another process's write lock under the
  // store's lock before the database counts as busy.
  static constexpr std::chrono::milliseconds kBusyGrace{100};

  // True while another process holds the write lock (as last seen).
  bool busy() const { return busy_.load(); }

  // WAL pages that start a background checkpoint (SQLite's own default
  // for its automatic checkpoint), and the size at which a commit runs one
  // itself.
  static constexpr int kCheckpointPages = 1000;
  static constexpr int kInlineCheckpointPages = 4 * kCheckpointPages;
  // Checkpoints the background thread has completed (0 for ":memory:").
  uint64_t background_checkpoints() const;

 private:
  class Checkpointer;

  Database(sqlite3* db, std::string path, std::chrono::milliseconds busy_timeout);
  // sqlite3_wal_hook: runs on the committing thread after each commit.
  static int OnWalCommit(void* self, sqlite3* db, const char* schema, int wal_pages);

  // Takes the lock, counting the caller as waiting meanwhile (a member that
  // sees others waiting leaves its group open for them).
  std::unique_lock<std::mutex> Enter();
  // Takes the lock into `lock` and joins (or opens) a group, waiting for
  // another process's write lock as the top of this file describes. On
  // failure the caller did not join; `lock` may or may not be held.
  Status EnterWrite(std::unique_lock<std::mutex>& lock);
  // While busy: waits for the write lock on the probe connection (outside
  // the store's lock) and clears busy() once it is free; fails at once
  // when another caller is already waiting.
  Status AwaitWriteLock();
  // Under the lock: opens a group when none is open and a savepoint.
  Status BeginMember();
  // Under the lock: releases (keep) or rolls back the savepoint.
  Status EndMember(bool keep);
  // Under the lock: commits the group when nobody else waits to join it,
  // else waits (lock released) until a later member has committed it.
  // Returns the group's outcome.
  Status FinishMember(std::unique_lock<std::mutex>& lock);
  // Under the lock, for a caller that did not join: commits the open group
  // when nobody else is coming to commit it.
  void LeaveGroup();
  // Under the lock: commits the open group, if any, and wakes its members.
  void CommitGroup();
  // Under the lock: rolls back the open group and fails all its members.
  void FailGroup(const Error& error);
  void Rollback() noexcept;
  static Error ToError(const StoreError& e) { return ErrorFromStoreError(e); }

  std::mutex mu_;
  std::condition_variable group_done_;
  sqlite3* db_;
  Conn conn_;
  std::function<Status()> fault_injector_;
  std::atomic<int> waiting_{0};  // callers blocked in Enter()
  std::string path_;
  std::chrono::milliseconds busy_timeout_;
  std::atomic<bool> busy_{false};     // another process holds the write lock
  std::atomic<bool> probing_{false};  // a caller is in AwaitWriteLock
  sqlite3* probe_db_ = nullptr;       // used only by the caller in AwaitWriteLock
  bool group_open_ = false;           // a BEGIN IMMEDIATE is open
  uint64_t group_ = 0;                // number of the open (or last) group
  int group_members_ = 0;
  bool member_savepoint_ = false;  // the running member has a savepoint
  std::chrono::steady_clock::time_point group_start_{};
  uint64_t done_group_ = 0;    // groups up to this one have ended
  uint64_t failed_group_ = 0;  // the last group that failed, with why
  Error failed_error_{};
  Histogram commit_latency_;
  Histogram write_tx_latency_;
  std::atomic<uint64_t> write_transactions_{0};
  std::atomic<uint64_t> commits_{0};
  std::unique_ptr<Checkpointer> checkpointer_;  // null for ":memory:"
  int wal_pages_seen_ = 0;                      // under the lock, from OnWalCommit
  int next_checkpoint_at_ = kCheckpointPages;
};

}  // namespace duende::store
