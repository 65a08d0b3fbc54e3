#include "store/postgres.h"

#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include <charconv>
#include <cstdio>
#include <pqxx/pqxx>
#include <unordered_map>

namespace duende::store {

std::string RewriteParameters(std::string_view sql) {
  std::string out;
  out.reserve(sql.size());
  char quote = 0;
  for (char c : sql) {
    if (quote) {
      if (c == quote) quote = 0;
    } else if (c == '\'' || c == '"') {
      quote = c;
    } else if (c == '?') {
      c = '$';
    }
    out.push_back(c);
  }
  return out;
}

bool IsPostgresUrl(std::string_view url) { return url.starts_with("postgresql://") || url.starts_with("postgres://"); }

namespace {

// pqxx failures as the store's errors (sql.h: SQLite codes).
[[noreturn]] void Rethrow(const std::string& sql) {
  try {
    throw;
  } catch (const StoreError&) {
    throw;
  } catch (const pqxx::broken_connection& e) {
    throw StoreError(SQLITE_IOERR, std::string("connection to PostgreSQL lost: ") + e.what());
  } catch (const pqxx::in_doubt_error& e) {
    throw StoreError(SQLITE_IOERR, std::string("PostgreSQL commit in doubt: ") + e.what());
  } catch (const pqxx::deadlock_detected& e) {
    throw StoreError(SQLITE_BUSY, e.what());
  } catch (const pqxx::serialization_failure& e) {
    throw StoreError(SQLITE_BUSY, e.what());
  } catch (const pqxx::insufficient_resources& e) {
    throw StoreError(SQLITE_FULL, e.what());
  } catch (const pqxx::integrity_constraint_violation& e) {
    throw StoreError(SQLITE_CONSTRAINT, e.what());
  } catch (const std::exception& e) {
    std::string what = e.what();
    while (!what.empty() && what.back() == '\n') what.pop_back();
    throw StoreError(SQLITE_ERROR, what + (sql.empty() ? "" : " [" + sql.substr(0, 200) + "]"));
  }
}

}  // namespace

class PgStatement final : public SqlStatement {
 public:
  PgStatement(PgConn& conn, std::string name, std::string sql)
      : conn_(conn), name_(std::move(name)), sql_(std::move(sql)) {}

  PgStatement& Bind(int i, int64_t v) override { return Set(i, std::to_string(v)); }
  PgStatement& Bind(int i, double v) override {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.17g", v);
    return Set(i, buf);
  }
  PgStatement& Bind(int i, std::string_view v) override { return Set(i, std::string(v)); }
  PgStatement& BindNull(int i) override {
    Slot(i) = std::nullopt;
    return *this;
  }

  bool Step() override;
  void Run() override {
    Execute();
    executed_ = false;
  }
  int Changes() const override { return changes_; }

  bool IsNull(int col) const override { return Field(col).is_null(); }
  int64_t Int(int col) const override {
    const auto f = Field(col);
    if (f.is_null()) return 0;
    const std::string_view s = f.c_str();
    int64_t v = 0;
    if (s == "t") return 1;  // booleans
    if (s == "f") return 0;
    std::from_chars(s.data(), s.data() + s.size(), v);
    return v;
  }
  double Double(int col) const override {
    const auto f = Field(col);
    return f.is_null() ? 0.0 : std::strtod(f.c_str(), nullptr);
  }
  std::string Text(int col) const override {
    const auto f = Field(col);
    return f.is_null() ? std::string() : std::string(f.c_str(), f.size());
  }
  void Reset() override {
    executed_ = false;
    result_ = pqxx::result();
  }

 private:
  PgStatement& Set(int i, std::string v) {
    Slot(i) = std::move(v);
    return *this;
  }
  std::optional<std::string>& Slot(int i) {
    if (executed_) Reset();
    if (i < 1) throw StoreError(SQLITE_RANGE, "parameter index " + std::to_string(i));
    if (params_.size() < static_cast<size_t>(i)) params_.resize(i);
    return params_[i - 1];
  }
  pqxx::field Field(int col) const {
    if (row_ < 0 || row_ >= static_cast<int64_t>(result_.size()))
      throw StoreError(SQLITE_MISUSE, "no current row [" + sql_.substr(0, 200) + "]");
    return result_[static_cast<pqxx::result::size_type>(row_)][col];
  }
  void Execute();

  PgConn& conn_;
  std::string name_;
  std::string sql_;
  std::vector<std::optional<std::string>> params_;
  pqxx::result result_;
  bool executed_ = false;
  int64_t row_ = -1;
  int changes_ = 0;
};

class PgConn final : public SqlConn {
 public:
  explicit PgConn(const std::string& url) : conn_(url) {}

  PgStatement& Prepare(const std::string& sql) override {
    auto it = cache_.find(sql);
    if (it == cache_.end()) {
      std::string name = "s" + std::to_string(cache_.size() + 1);
      try {
        conn_.prepare(name, RewriteParameters(sql));
      } catch (...) {
        Rethrow(sql);
      }
      it = cache_.emplace(sql, std::make_unique<PgStatement>(*this, std::move(name), sql)).first;
    }
    it->second->Reset();
    return *it->second;
  }
  void Exec(const std::string& sql) override {
    try {
      tx_->exec(sql);
    } catch (...) {
      Rethrow(sql);
    }
  }

  pqxx::connection& raw() { return conn_; }
  pqxx::transaction_base& tx() {
    if (!tx_) throw StoreError(SQLITE_MISUSE, "statement outside a transaction");
    return *tx_;
  }
  void set_tx(pqxx::transaction_base* tx) { tx_ = tx; }

 private:
  pqxx::connection conn_;
  pqxx::transaction_base* tx_ = nullptr;
  std::unordered_map<std::string, std::unique_ptr<PgStatement>> cache_;
};

void PgStatement::Execute() {
  std::vector<const char*> values;
  values.reserve(params_.size());
  for (const auto& p : params_) values.push_back(p ? p->c_str() : nullptr);
  try {
    result_ = conn_.tx().exec_prepared(name_, pqxx::prepare::make_dynamic_params(values));
  } catch (...) {
    Rethrow(sql_);
  }
  changes_ = static_cast<int>(result_.affected_rows());
  executed_ = true;
  row_ = -1;
}

bool PgStatement::Step() {
  if (!executed_) Execute();
  ++row_;
  return row_ < static_cast<int64_t>(result_.size());
}

PgDatabase::PgDatabase(std::string url) : url_(std::move(url)) {}
PgDatabase::~PgDatabase() = default;

Result<std::unique_ptr<PgDatabase>> PgDatabase::Open(const std::string& url) {
  std::unique_ptr<PgDatabase> db(new PgDatabase(url));
  try {
    db->conn_ = std::make_unique<PgConn>(url);
  } catch (const std::exception& e) {
    std::string what = e.what();
    while (!what.empty() && (what.back() == '\n' || what.back() == ' ')) what.pop_back();
    return Unavailable("cannot connect to PostgreSQL: " + what);
  }
  auto st = db->SqlWrite([](SqlConn& c) -> Status {
    c.Exec(
        "CREATE TABLE IF NOT EXISTS schema_migrations (component TEXT NOT NULL, version INTEGER NOT NULL, "
        "PRIMARY KEY (component, version))");
    return Ok();
  });
  if (!st) return std::unexpected(st.error());
  return db;
}

Status PgDatabase::Run(bool write, const std::function<Status(SqlConn&)>& fn) {
  std::lock_guard lock(mu_);
  if (!conn_ || !conn_->raw().is_open()) {
    try {
      conn_ = std::make_unique<PgConn>(url_);
      spdlog::info("reconnected to PostgreSQL");
    } catch (const std::exception& e) {
      conn_.reset();
      return Unavailable(std::string("database unavailable: cannot connect to PostgreSQL: ") + e.what());
    }
  }
  PgConn& conn = *conn_;
  try {
    std::unique_ptr<pqxx::transaction_base> tx;
    if (write) {
      tx = std::make_unique<pqxx::work>(conn.raw());
    } else {
      tx = std::make_unique<pqxx::read_transaction>(conn.raw());
    }
    conn.set_tx(tx.get());
    Status result = Ok();
    try {
      result = fn(conn);
    } catch (...) {
      conn.set_tx(nullptr);
      tx->abort();
      throw;
    }
    conn.set_tx(nullptr);
    if (!result) {
      tx->abort();
      return result;
    }
    tx->commit();
    return Ok();
  } catch (const StoreError& e) {
    if (!conn_->raw().is_open()) conn_.reset();
    return std::unexpected(ErrorFromStoreError(e));
  } catch (const pqxx::broken_connection& e) {
    conn_.reset();
    return Unavailable(std::string("database unavailable: connection to PostgreSQL lost: ") + e.what());
  } catch (const pqxx::in_doubt_error& e) {
    conn_.reset();
    return Unavailable(std::string("database unavailable: PostgreSQL commit in doubt: ") + e.what());
  } catch (const pqxx::sql_error& e) {
    return Internal(std::string("database error: ") + e.what());
  }
}

Status PgDatabase::SqlWrite(const std::function<Status(SqlConn&)>& fn) { return Run(true, fn); }
Status PgDatabase::SqlRead(const std::function<Status(SqlConn&)>& fn) { return Run(false, fn); }

void PgDatabase::BeforeMigration(SqlConn& conn) {
  static_cast<PgConn&>(conn).Exec("LOCK TABLE schema_migrations IN EXCLUSIVE MODE");
}

}  // namespace duende::store
