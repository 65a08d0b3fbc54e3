#include "store/sqlite.h"

#include <spdlog/spdlog.h>

namespace duende::store {
namespace {

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
  const int rc = sqlite3_prepare_v3(db_, sql.c_str(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT,
                                    &stmt, nullptr);
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

Result<std::unique_ptr<Database>> Database::Open(const std::string& path) {
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &db,
                                 SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    return Unavailable("cannot open database " + path + ": " + msg);
  }
  std::unique_ptr<Database> out(new Database(db));
  try {
    sqlite3_busy_timeout(db, 5000);
    out->conn_.Exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;");
    out->conn_.Exec(
        "CREATE TABLE IF NOT EXISTS schema_migrations (component TEXT NOT NULL, version INTEGER NOT NULL, "
        "PRIMARY KEY (component, version))");
  } catch (const StoreError& e) {
    return Unavailable("cannot initialise database " + path + ": " + e.what());
  }
  return out;
}

Database::~Database() {
  conn_ = Conn(nullptr);  // finalize cached statements before closing
  sqlite3_close(db_);
}

Status Database::Migrate(std::string_view component, const std::vector<std::string>& migrations) {
  for (size_t i = 0; i < migrations.size(); ++i) {
    const int version = static_cast<int>(i + 1);
    auto st = WriteTx([&](Conn& c) -> Status {
      auto& q = c.Prepare("SELECT 1 FROM schema_migrations WHERE component = ?1 AND version = ?2");
      q.Bind(1, component).Bind(2, version);
      if (q.Step()) return Ok();
      c.Exec(migrations[i]);
      c.Prepare("INSERT INTO schema_migrations (component, version) VALUES (?1, ?2)")
          .Bind(1, component)
          .Bind(2, version)
          .Run();
      spdlog::debug("applied migration {} #{}", component, version);
      return Ok();
    });
    if (!st) return std::unexpected(st.error().WithContext("migration " + std::string(component) + " #" +
                                                           std::to_string(version)));
  }
  return Ok();
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

void Database::Rollback() noexcept {
  sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
}

Error Database::ToError(const StoreError& e) {
  const int primary = e.code() & 0xff;
  if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) return Error{ErrorCode::kBusy, std::string("database busy: ") + e.what()};
  if (primary == SQLITE_FULL || primary == SQLITE_IOERR || primary == SQLITE_CANTOPEN || primary == SQLITE_READONLY)
    return Error{ErrorCode::kUnavailable, std::string("database unavailable: ") + e.what()};
  return Error{ErrorCode::kInternal, std::string("database error: ") + e.what()};
}

}  // namespace duende::store
