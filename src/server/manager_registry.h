// The Server's registry of linked Managers (spec §3.7 flamenco_managers):
// each Manager has an ID, a name, a secret token (stored as an argon2id
// hash, shown once when created), and what its last startup/update
// notification said (URL, number of workers, the workers' task types).
#pragma once

#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "protocol/upstream.h"

namespace duende::store {
class SqlDatabase;
}
namespace duende::manager {
class WorkerAuthenticator;
}

namespace duende::server {

struct ManagerRecord {
  std::string id;
  std::string name;
  bool revoked = false;
  SystemTime created{};
  std::optional<SystemTime> last_seen;
  std::string url;
  int nr_of_workers = 0;
  std::vector<std::string> worker_task_types;
};

class ManagerRegistry {
 public:
  // Applies the "server" migrations to `db` (which must outlive the
  // registry).
  static Result<std::unique_ptr<ManagerRegistry>> Open(store::SqlDatabase& db, Clock& clock);

  // A new Manager with a new random token. Returns the record and the token
  // (its only appearance in clear). InvalidArgument for an empty name or one
  // over 128 characters.
  Result<std::pair<ManagerRecord, std::string>> Create(const std::string& name);
  // Revokes the Manager's token: it is refused from now on. NotFound for
  // unknown IDs. Idempotent.
  Status Revoke(const std::string& id);
  Result<std::vector<ManagerRecord>> List();
  Result<ManagerRecord> Get(const std::string& id);  // NotFound

  // Ok when `token` is the current token of Manager `id` (not revoked);
  // Unauthorized otherwise. The slow argon2id check runs once per (id,
  // token); later calls compare a keyed BLAKE2b digest held in memory.
  // Thread-safe.
  Status Authenticate(const std::string& id, std::string_view token);
  // Records a startup/update notification and marks the Manager seen.
  Status RecordNotification(const std::string& id, const protocol::UpstreamNotification& n);
  // The union of every non-revoked Manager's worker task types.
  Result<std::set<std::string>> AllWorkerTaskTypes();

  ~ManagerRegistry();

 private:
  ManagerRegistry(store::SqlDatabase& db, Clock& clock);

  store::SqlDatabase& db_;
  Clock& clock_;
  // The Manager's secret check is the workers' (same hashing, same cache),
  // keyed by Manager ID.
  std::unique_ptr<manager::WorkerAuthenticator> auth_;
};

}  // namespace duende::server
