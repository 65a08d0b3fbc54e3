#include "server/manager_registry.h"

#include <sodium.h>

#include <cstring>
#include <nlohmann/json.hpp>

#include "common/ids.h"
#include "common/timefmt.h"
#include "manager/worker_auth.h"
#include "store/sql.h"

namespace duende::server {
namespace {

using nlohmann::json;

const std::vector<std::string>& Migrations() {
  static const auto* m = new std::vector<std::string>{
      // 1: the Manager registry.
      R"sql(
CREATE TABLE managers (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  token_hash TEXT NOT NULL,
  revoked INTEGER NOT NULL DEFAULT 0,
  created_us INTEGER NOT NULL,
  last_seen_us INTEGER,
  url TEXT NOT NULL DEFAULT '',
  nr_of_workers INTEGER NOT NULL DEFAULT 0,
  worker_task_types TEXT NOT NULL DEFAULT '[]'
);
)sql",
  };
  return *m;
}

const std::vector<std::string>& PostgresMigrations() {
  static const auto* m = new std::vector<std::string>{
      // 1: the Manager registry.
      R"sql(
CREATE TABLE managers (
  id TEXT COLLATE "C" PRIMARY KEY,
  name TEXT NOT NULL,
  token_hash TEXT NOT NULL,
  revoked INTEGER NOT NULL DEFAULT 0,
  created_us BIGINT NOT NULL,
  last_seen_us BIGINT,
  url TEXT NOT NULL DEFAULT '',
  nr_of_workers INTEGER NOT NULL DEFAULT 0,
  worker_task_types TEXT NOT NULL DEFAULT '[]'
);
)sql",
  };
  return *m;
}

// Secrets are random: 48 alphanumerics (~285 bits).
constexpr size_t kTokenLength = 48;
constexpr size_t kMaxNameLength = 128;

const char* kColumns = "id, name, revoked, created_us, last_seen_us, url, nr_of_workers, worker_task_types";

ManagerRecord ReadRecord(store::SqlStatement& q) {
  ManagerRecord r;
  r.id = q.Text(0);
  r.name = q.Text(1);
  r.revoked = q.Int(2) != 0;
  r.created = FromUnixMicros(q.Int(3));
  if (auto v = q.OptInt(4)) r.last_seen = FromUnixMicros(*v);
  r.url = q.Text(5);
  r.nr_of_workers = static_cast<int>(q.Int(6));
  json types = json::parse(q.Text(7), nullptr, false);
  if (types.is_array())
    for (const auto& t : types)
      if (t.is_string()) r.worker_task_types.push_back(t.get<std::string>());
  return r;
}

std::string BasicHeader(std::string_view user, std::string_view password) {
  const std::string plain = std::string(user) + ":" + std::string(password);
  std::string out(sodium_base64_encoded_len(plain.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(plain.data()), plain.size(),
                    sodium_base64_VARIANT_ORIGINAL);
  out.resize(std::strlen(out.c_str()));
  return "Basic " + out;
}

}  // namespace

ManagerRegistry::ManagerRegistry(store::SqlDatabase& db, Clock& clock) : db_(db), clock_(clock) {
  auth_ = std::make_unique<manager::WorkerAuthenticator>(
      [this](const std::string& id) -> Result<std::optional<std::string>> {
        return db_.Query([&](store::SqlConn& c) -> Result<std::optional<std::string>> {
          auto& q = c.Prepare("SELECT token_hash FROM managers WHERE id = ?1 AND revoked = 0");
          q.Bind(1, id);
          if (!q.Step()) return std::optional<std::string>();
          return std::optional<std::string>(q.Text(0));
        });
      });
}

ManagerRegistry::~ManagerRegistry() = default;

Result<std::unique_ptr<ManagerRegistry>> ManagerRegistry::Open(store::SqlDatabase& db, Clock& clock) {
  const auto& migrations = db.dialect() == store::Dialect::kPostgres ? PostgresMigrations() : Migrations();
  if (auto st = db.Migrate("server", migrations); !st) return std::unexpected(st.error());
  return std::unique_ptr<ManagerRegistry>(new ManagerRegistry(db, clock));
}

Result<std::pair<ManagerRecord, std::string>> ManagerRegistry::Create(const std::string& name) {
  if (name.empty()) return InvalidArgument("manager name must not be empty");
  if (name.size() > kMaxNameLength) return InvalidArgument("manager name must be at most 128 characters");
  ManagerRecord r;
  r.id = NewObjectId();
  r.name = name;
  r.created = clock_.Now();
  std::string token = RandomToken(kTokenLength);
  auto hash = manager::HashSecret(token);
  if (!hash) return std::unexpected(hash.error());
  auto st = db_.Transact([&](store::SqlConn& c) -> Status {
    c.Prepare("INSERT INTO managers (id, name, token_hash, created_us) VALUES (?1, ?2, ?3, ?4)")
        .Bind(1, r.id)
        .Bind(2, r.name)
        .Bind(3, *hash)
        .Bind(4, ToUnixMicros(r.created))
        .Run();
    return Ok();
  });
  if (!st) return std::unexpected(st.error());
  return std::pair{std::move(r), std::move(token)};
}

Status ManagerRegistry::Revoke(const std::string& id) {
  auto st = db_.Transact([&](store::SqlConn& c) -> Status {
    auto& q = c.Prepare("UPDATE managers SET revoked = 1, token_hash = '' WHERE id = ?1");
    q.Bind(1, id).Run();
    if (q.Changes() == 0) return NotFound("manager " + id + " not found");
    return Ok();
  });
  if (!st) return st;
  auth_->Forget(id);
  return Ok();
}

Result<std::vector<ManagerRecord>> ManagerRegistry::List() {
  return db_.Query([&](store::SqlConn& c) -> Result<std::vector<ManagerRecord>> {
    auto& q = c.Prepare(std::string("SELECT ") + kColumns + " FROM managers ORDER BY created_us, id");
    std::vector<ManagerRecord> out;
    while (q.Step()) out.push_back(ReadRecord(q));
    return out;
  });
}

Result<ManagerRecord> ManagerRegistry::Get(const std::string& id) {
  return db_.Query([&](store::SqlConn& c) -> Result<ManagerRecord> {
    auto& q = c.Prepare(std::string("SELECT ") + kColumns + " FROM managers WHERE id = ?1");
    q.Bind(1, id);
    if (!q.Step()) return NotFound("manager " + id + " not found");
    return ReadRecord(q);
  });
}

Status ManagerRegistry::Authenticate(const std::string& id, std::string_view token) {
  if (token.empty()) return Unauthorized("missing manager token");
  auto who = auth_->Authenticate(BasicHeader(id, token));
  if (!who) return Unauthorized("unknown manager or wrong token");
  return Ok();
}

Status ManagerRegistry::RecordNotification(const std::string& id, const protocol::UpstreamNotification& n) {
  return db_.Transact([&](store::SqlConn& c) -> Status {
    auto& q = c.Prepare(
        "UPDATE managers SET url = ?2, nr_of_workers = ?3, worker_task_types = ?4, last_seen_us = ?5 WHERE id = ?1");
    q.Bind(1, id)
        .Bind(2, n.manager_url)
        .Bind(3, n.nr_of_workers)
        .Bind(4, json(n.worker_task_types).dump())
        .Bind(5, ToUnixMicros(clock_.Now()))
        .Run();
    if (q.Changes() == 0) return NotFound("manager " + id + " not found");
    return Ok();
  });
}

Result<std::set<std::string>> ManagerRegistry::AllWorkerTaskTypes() {
  auto list = List();
  if (!list) return std::unexpected(list.error());
  std::set<std::string> out;
  for (const auto& m : *list)
    if (!m.revoked) out.insert(m.worker_task_types.begin(), m.worker_task_types.end());
  return out;
}

}  // namespace duende::server
