#include "store/sqlite.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <mutex>
#include <stop_token>
#include <thread>

#include "common/thread_name.h"

namespace duende::store {
namespace {

// SQLite's memory statistics (sqlite3_memory_used) take a process-wide
// mutex around every allocation and free, a tenth of the store writer's
// time under load (issue 6); nothing here reads them. Turned off before
// SQLite initializes, at the first open (a no-op, SQLITE_MISUSE, when
// something else in the process initialized SQLite first).
void TurnOffMemoryStatistics() {
  static std::once_flag once;
  std::call_once(once, [] { sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0); });
}

[[noreturn]] void Throw(sqlite3* db, int rc, std::string_view what) {
  throw StoreError(rc, std::string(what) + ": " + (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc)));
}

}  // namespace

Statement::~Statement() { sqlite3_finalize(stmt_); }

Statement& Statement::Bind(int i, int64_t v) {
  if (int rc = sqlite3_bind_int64(stmt_, i, v); rc != SQLITE_OK) Throw(db_, rc, "bind");
  return *this;
}
Statement& Statement::Bind(int i, double v) {
  if (int rc = sqlite3_bind_double(stmt_, i, v); rc != SQLITE_OK) Throw(db_, rc, "bind");
  return *this;
}
Statement& Statement::Bind(int i, std::string_view v) {
  if (int rc = sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT); rc != SQLITE_OK)
    Throw(db_, rc, "bind");
  return *this;
}
Statement& Statement::BindBlob(int i, std::string_view v) {
  if (int rc = sqlite3_bind_blob(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT); rc != SQLITE_OK)
    Throw(db_, rc, "bind");
  return *this;
}
Statement& Statement::BindNull(int i) {
  if (int rc = sqlite3_bind_null(stmt_, i); rc != SQLITE_OK) Throw(db_, rc, "bind");
  return *this;
}

bool Statement::Step() {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  Throw(db_, rc, sqlite3_sql(stmt_));
}

void Statement::Run() {
  while (Step()) {
  }
}

int Statement::Changes() const { return sqlite3_changes(db_); }
bool Statement::IsNull(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
int64_t Statement::Int(int col) const { return sqlite3_column_int64(stmt_, col); }
double Statement::Double(int col) const { return sqlite3_column_double(stmt_, col); }
std::string Statement::Text(int col) const {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_blob(stmt_, col));
  const int n = sqlite3_column_bytes(stmt_, col);
  return p ? std::string(p, static_cast<size_t>(n)) : std::string();
}
std::optional<int64_t> Statement::OptInt(int col) const {
  if (IsNull(col)) return std::nullopt;
  return Int(col);
}
void Statement::Reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

Statement& Conn::Prepare(const std::string& sql) {
  auto it = cache_.find(sql);
  if (it != cache_.end()) {
    it->second->Reset();
    return *it->second;
  }
  sqlite3_stmt* stmt = nullptr;
  const int rc =
      sqlite3_prepare_v3(db_, sql.c_str(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
  if (rc != SQLITE_OK) Throw(db_, rc, "prepare '" + sql + "'");
  auto [pos, _] = cache_.emplace(sql, std::make_unique<Statement>(db_, stmt));
  return *pos->second;
}

void Conn::Exec(const std::string& sql) {
  char* err = nullptr;
  const int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string msg = err ? err : sqlite3_errstr(rc);
    sqlite3_free(err);
    throw StoreError(rc, sql.substr(0, 60) + ": " + msg);
  }
}

void Conn::ResetBusyStatements() {
  for (sqlite3_stmt* s = sqlite3_next_stmt(db_, nullptr); s; s = sqlite3_next_stmt(db_, s))
    if (sqlite3_stmt_busy(s)) sqlite3_reset(s);
}

int64_t Conn::LastInsertRowid() const { return sqlite3_last_insert_rowid(db_); }

int64_t Conn::TotalChanges() const { return sqlite3_total_changes64(db_); }

bool Conn::InTransaction() const { return sqlite3_get_autocommit(db_) == 0; }

// The background checkpoint thread (see the top of sqlite.h).
class Database::Checkpointer {
 public:
  Checkpointer(std::string path, std::string synchronous)
      : path_(std::move(path)),
        synchronous_(std::move(synchronous)),
        thread_(NamedThread("store-checkpt", [this](std::stop_token st) { Run(st); })) {}
  ~Checkpointer() {
    thread_.request_stop();
    thread_.join();
    sqlite3_close(db_);
  }
  // From the WAL hook: a checkpoint is due.
  void Request() {
    {
      std::lock_guard lock(mu_);
      if (due_) return;
      due_ = true;
    }
    cv_.notify_one();
  }
  uint64_t done() const { return done_.load(std::memory_order_relaxed); }

 private:
  void Run(std::stop_token stop) {
    while (!stop.stop_requested()) {
      {
        std::unique_lock lock(mu_);
        if (!cv_.wait(lock, stop, [&] { return due_; })) return;
        due_ = false;
      }
      Checkpoint();
    }
  }
  void Checkpoint() {
    if (!db_) {
      if (sqlite3_open_v2(path_.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr) != SQLITE_OK) {
        Warn("cannot open the database for checkpoints");
        sqlite3_close(db_);
        db_ = nullptr;
        return;
      }
      sqlite3_exec(db_, ("PRAGMA synchronous=" + synchronous_).c_str(), nullptr, nullptr, nullptr);
    }
    const int rc = sqlite3_wal_checkpoint_v2(db_, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
    if (rc == SQLITE_OK) {
      done_.fetch_add(1, std::memory_order_relaxed);
      warned_ = false;
    } else if ((rc & 0xff) != SQLITE_BUSY) {
      Warn("WAL checkpoint failed");  // the next commit over the limit asks again
    }
  }
  void Warn(std::string_view what) {
    if (warned_) return;
    warned_ = true;
    spdlog::warn("database {}: {}: {}", path_, what, db_ ? sqlite3_errmsg(db_) : "");
  }

  const std::string path_;
  const std::string synchronous_;
  sqlite3* db_ = nullptr;  // used by the thread only
  bool warned_ = false;    // used by the thread only
  std::mutex mu_;
  std::condition_variable_any cv_;
  bool due_ = false;
  std::atomic<uint64_t> done_{0};
  std::jthread thread_;  // last: starts once the members above exist
};

Database::Database(sqlite3* db, std::string path, std::chrono::milliseconds busy_timeout)
    : db_(db), conn_(db), path_(std::move(path)), busy_timeout_(busy_timeout) {}

int Database::OnWalCommit(void* self, sqlite3* db, const char* schema, int wal_pages) {
  auto* d = static_cast<Database*>(self);
  if (wal_pages >= kInlineCheckpointPages) {
    // Copies what the background checkpoints have not yet (BUSY while one
    // runs: a later commit tries again), so the next write starts the WAL
    // over.
    sqlite3_wal_checkpoint_v2(db, schema, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
  } else if (wal_pages < d->wal_pages_seen_) {
    d->next_checkpoint_at_ = kCheckpointPages;  // the WAL started over
  } else if (wal_pages >= d->next_checkpoint_at_) {
    // Once per kCheckpointPages of new WAL, as SQLite's own checkpoint: a
    // WAL that keeps growing under load is copied a piece at a time.
    d->next_checkpoint_at_ = wal_pages + kCheckpointPages;
    d->checkpointer_->Request();
  }
  d->wal_pages_seen_ = wal_pages;
  return SQLITE_OK;
}

uint64_t Database::background_checkpoints() const { return checkpointer_ ? checkpointer_->done() : 0; }

Result<std::unique_ptr<Database>> Database::Open(const std::string& path, const std::string& synchronous,
                                                 std::chrono::milliseconds busy_timeout) {
  if (busy_timeout.count() < 0) return InvalidArgument("busy timeout must not be negative");
  if (synchronous != "NORMAL" && synchronous != "FULL")
    return InvalidArgument("synchronous must be NORMAL or FULL, not '" + synchronous + "'");
  TurnOffMemoryStatistics();
  sqlite3* db = nullptr;
  const int rc =
      sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    return Unavailable("cannot open database " + path + ": " + msg);
  }
  std::unique_ptr<Database> out(new Database(db, path, busy_timeout));
  try {
    sqlite3_busy_timeout(db, static_cast<int>(busy_timeout.count()));
    // cache_size: up to 64 MiB of pages (grows only as used) instead of the
    // default 2 MiB, which made a busy farm re-read its task index from the
    // OS (pread was a fifth of the Manager's time under load).
    out->conn_.Exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=" + synchronous +
                    "; PRAGMA foreign_keys=ON; PRAGMA cache_size=-65536; PRAGMA temp_store=MEMORY;");
    out->conn_.Exec(
        "CREATE TABLE IF NOT EXISTS schema_migrations (component TEXT NOT NULL, version INTEGER NOT NULL, "
        "PRIMARY KEY (component, version))");
    auto& mode = out->conn_.Prepare("PRAGMA journal_mode");
    const bool wal = mode.Step() && mode.Text(0) == "wal";
    mode.Reset();
    if (wal) {
      // Replaces SQLite's automatic checkpoint (itself a WAL hook).
      out->checkpointer_ = std::make_unique<Checkpointer>(path, synchronous);
      sqlite3_wal_hook(db, &Database::OnWalCommit, out.get());
    }
  } catch (const StoreError& e) {
    return Unavailable("cannot initialise database " + path + ": " + e.what());
  }
  return out;
}

Database::~Database() {
  checkpointer_.reset();  // its connection closes first: this one's close then checkpoints and removes the WAL
  conn_ = Conn(nullptr);  // finalize cached statements before closing
  sqlite3_close(db_);
  sqlite3_close(probe_db_);
}

void Database::SetFaultInjector(std::function<Status()> injector) {
  std::lock_guard lock(mu_);
  fault_injector_ = std::move(injector);
}

Result<bool> Database::IntegrityCheck() {
  return Read([](Conn& c) -> Result<bool> {
    auto& q = c.Prepare("PRAGMA integrity_check");
    return q.Step() && q.Text(0) == "ok";
  });
}

std::unique_lock<std::mutex> Database::Enter() {
  waiting_.fetch_add(1);
  std::unique_lock lock(mu_);
  waiting_.fetch_sub(1);
  return lock;
}

Status Database::EnterWrite(std::unique_lock<std::mutex>& lock) {
  // A few rounds: a write that finds the lock taken (or taken again right
  // after it was seen free) waits for it once more as the prober.
  for (int round = 0; round < 3; ++round) {
    if (busy_.load()) {
      if (lock.owns_lock()) lock.unlock();
      if (auto st = AwaitWriteLock(); !st) return st;
    }
    if (!lock.owns_lock()) lock = Enter();
    // Became busy while this caller queued for the lock: do not wait for
    // the other process again under the lock.
    if (busy_.load() && !group_open_) continue;
    auto st = BeginMember();
    if (st) return st;
    LeaveGroup();
    if (!busy_.load()) return st;
  }
  return MakeError(ErrorCode::kBusy, "database busy: another process holds the write lock");
}

Status Database::AwaitWriteLock() {
  if (probing_.exchange(true))
    return MakeError(ErrorCode::kBusy, "database busy: another process holds the write lock (waiting for it)");
  int rc = SQLITE_OK;
  if (!probe_db_) {
    rc = sqlite3_open_v2(path_.c_str(), &probe_db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
    if (rc == SQLITE_OK) sqlite3_busy_timeout(probe_db_, static_cast<int>(busy_timeout_.count()));
  }
  if (rc == SQLITE_OK) rc = sqlite3_exec(probe_db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr);
  Status st = Ok();
  if (rc == SQLITE_OK) {
    sqlite3_exec(probe_db_, "ROLLBACK", nullptr, nullptr, nullptr);
  } else if (const int primary = rc & 0xff; primary == SQLITE_BUSY || primary == SQLITE_LOCKED) {
    st = std::unexpected(ToError(StoreError(rc, std::string("BEGIN IMMEDIATE: ") + sqlite3_errmsg(probe_db_))));
  } else {
    // Failing for another reason: the store's own connection tries and
    // reports what fails.
    sqlite3_close(probe_db_);
    probe_db_ = nullptr;
  }
  if (st && busy_.exchange(false)) spdlog::info("database: the write lock is free again");
  probing_.store(false);
  return st;
}

Status Database::BeginMember() {
  if (fault_injector_) {
    if (auto st = fault_injector_(); !st) return st;
  }
  if (!group_open_) {
    // Wait only briefly for another process's write lock under the store's
    // lock; longer waits happen in AwaitWriteLock.
    sqlite3_busy_timeout(db_, static_cast<int>(std::min(kBusyGrace, busy_timeout_).count()));
    try {
      conn_.Prepare("BEGIN IMMEDIATE").Run();
    } catch (const StoreError& e) {
      sqlite3_busy_timeout(db_, static_cast<int>(busy_timeout_.count()));
      const int primary = e.code() & 0xff;
      if ((primary == SQLITE_BUSY || primary == SQLITE_LOCKED) && !busy_.exchange(true))
        spdlog::warn("database: another process holds the write lock; writes fail with 503 until it is released");
      return std::unexpected(ToError(e));
    }
    sqlite3_busy_timeout(db_, static_cast<int>(busy_timeout_.count()));
    group_open_ = true;
    ++group_;
    group_members_ = 0;
    group_start_ = std::chrono::steady_clock::now();
    // The first member is alone in the transaction: on failure it rolls
    // back all of it, no savepoint needed (and none of the statement
    // journalling SQLite does inside one).
    member_savepoint_ = false;
  } else {
    try {
      conn_.Prepare("SAVEPOINT member").Run();
    } catch (const StoreError& e) {
      const Error error = ToError(e);
      FailGroup(error);
      return std::unexpected(error);
    }
    member_savepoint_ = true;
  }
  ++group_members_;
  write_transactions_.fetch_add(1, std::memory_order_relaxed);
  return Ok();
}

Status Database::EndMember(bool keep) {
  conn_.ResetBusyStatements();
  if (!member_savepoint_) {
    if (!keep) {
      // A group of one: nobody else's writes to keep, nobody waiting on it.
      Rollback();
      group_open_ = false;
      done_group_ = group_;
    }
    return Ok();
  }
  try {
    if (!keep) conn_.Prepare("ROLLBACK TO member").Run();
    conn_.Prepare("RELEASE member").Run();
  } catch (const StoreError& e) {
    return std::unexpected(ToError(e));
  }
  return Ok();
}

Status Database::FinishMember(std::unique_lock<std::mutex>& lock) {
  const uint64_t mine = group_;
  // Someone is waiting for the lock: let them join and commit for us. The
  // cap bounds how long the first member of a busy group waits.
  if (group_open_ && waiting_.load() > 0 && group_members_ < kMaxGroupMembers) {
    group_done_.wait(lock, [&] { return done_group_ >= mine; });
  } else {
    CommitGroup();
  }
  if (failed_group_ == mine) return std::unexpected(failed_error_);
  return Ok();
}

void Database::LeaveGroup() {
  if (group_open_ && waiting_.load() == 0) CommitGroup();
}

void Database::CommitGroup() {
  if (!group_open_) return;
  const auto c0 = std::chrono::steady_clock::now();
  try {
    conn_.Prepare("COMMIT").Run();
  } catch (const StoreError& e) {
    FailGroup(ToError(e));
    return;
  }
  const auto c1 = std::chrono::steady_clock::now();
  commit_latency_.Observe(c1 - c0);
  write_tx_latency_.Observe(c1 - group_start_);
  commits_.fetch_add(1, std::memory_order_relaxed);
  group_open_ = false;
  done_group_ = group_;
  group_done_.notify_all();
}

void Database::FailGroup(const Error& error) {
  if (!group_open_) return;
  conn_.ResetBusyStatements();
  Rollback();
  group_open_ = false;
  failed_group_ = group_;
  failed_error_ = error;
  done_group_ = group_;
  group_done_.notify_all();
}

void Database::Rollback() noexcept { sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr); }

Error ErrorFromStoreError(const StoreError& e) {
  const int primary = e.code() & 0xff;
  if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED)
    return Error{ErrorCode::kBusy, std::string("database busy: ") + e.what()};
  if (primary == SQLITE_FULL || primary == SQLITE_IOERR || primary == SQLITE_CANTOPEN || primary == SQLITE_READONLY)
    return Error{ErrorCode::kUnavailable, std::string("database unavailable: ") + e.what()};
  return Error{ErrorCode::kInternal, std::string("database error: ") + e.what()};
}

}  // namespace duende::store
