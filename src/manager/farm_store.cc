#include "manager/farm_store.h"

#include <array>

#include "common/timefmt.h"

namespace duende::manager {

using nlohmann::json;
using protocol::Task;
using protocol::TaskStatus;
using protocol::TaskUpdate;

namespace {

const std::vector<std::string> kMigrations = {
    // 1: the task cache, workers, the upstream queue, blacklist, settings.
    R"sql(
CREATE TABLE tasks (
  id TEXT PRIMARY KEY,
  etag TEXT NOT NULL DEFAULT '',
  job TEXT NOT NULL DEFAULT '',
  manager TEXT NOT NULL DEFAULT '',
  project TEXT NOT NULL DEFAULT '',
  user TEXT NOT NULL DEFAULT '',
  name TEXT NOT NULL DEFAULT '',
  status TEXT NOT NULL,
  priority INTEGER NOT NULL DEFAULT 50,
  job_priority INTEGER NOT NULL DEFAULT 50,
  job_type TEXT NOT NULL DEFAULT '',
  task_type TEXT NOT NULL DEFAULT 'unknown',
  commands TEXT NOT NULL DEFAULT '[]',
  log TEXT NOT NULL DEFAULT '',
  activity TEXT NOT NULL DEFAULT '',
  worker TEXT NOT NULL DEFAULT '',
  metrics TEXT NOT NULL DEFAULT '{}',
  task_progress_percentage INTEGER NOT NULL DEFAULT 0,
  current_command_index INTEGER NOT NULL DEFAULT 0,
  command_progress_percentage INTEGER NOT NULL DEFAULT 0,
  worker_id TEXT,
  last_worker_ping INTEGER,
  last_updated INTEGER
);
-- The scheduler walks this index in priority order and stops at the first
-- task the worker may run.
CREATE INDEX tasks_schedulable ON tasks (job_priority DESC, priority DESC, id)
  WHERE status IN ('queued', 'claimed-by-manager', 'soft-failed');
CREATE INDEX tasks_active_worker ON tasks (worker_id) WHERE status = 'active';
CREATE INDEX tasks_job ON tasks (job);

CREATE TABLE task_parents (
  task_id TEXT NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
  parent_id TEXT NOT NULL,
  PRIMARY KEY (task_id, parent_id)
) WITHOUT ROWID;

CREATE TABLE task_failures (
  task_id TEXT NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
  worker_id TEXT NOT NULL,
  identifier TEXT NOT NULL,
  seq INTEGER NOT NULL,
  PRIMARY KEY (task_id, worker_id)
) WITHOUT ROWID;

CREATE TABLE workers (
  id TEXT PRIMARY KEY,
  secret_hash TEXT NOT NULL,
  nickname TEXT NOT NULL DEFAULT '',
  address TEXT NOT NULL DEFAULT '',
  status TEXT NOT NULL DEFAULT '',
  platform TEXT NOT NULL DEFAULT 'linux',
  current_task TEXT NOT NULL DEFAULT '',
  last_activity INTEGER,
  supported_task_types TEXT NOT NULL DEFAULT '[]',
  software TEXT NOT NULL DEFAULT '',
  current_task_status TEXT NOT NULL DEFAULT '',
  current_task_updated INTEGER,
  status_requested TEXT NOT NULL DEFAULT '',
  lazy_status_request INTEGER NOT NULL DEFAULT 0,
  created INTEGER NOT NULL
);

CREATE TABLE task_update_queue (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  task_id TEXT NOT NULL,
  payload TEXT NOT NULL
);

CREATE TABLE worker_blacklist (
  worker_id TEXT NOT NULL,
  job_id TEXT NOT NULL,
  task_type TEXT NOT NULL,
  created INTEGER NOT NULL,
  PRIMARY KEY (worker_id, job_id, task_type)
) WITHOUT ROWID;

CREATE TABLE settings (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;
)sql",
    // 2: tasks no capable worker can run (starvation detection), with the
    // time they were first seen so.
    R"sql(
CREATE TABLE task_blocked (
  task_id TEXT PRIMARY KEY,
  since INTEGER NOT NULL,
  reason TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX worker_blacklist_job ON worker_blacklist (job_id, task_type);
)sql",
    // 3: every status a task took on this Manager, in order, written by
    // triggers in the transaction that changed it (whatever code path made
    // the change). What an operator asks after an incident ("who ran frame
    // 12, and did it complete twice?") and what the crash tests check.
    R"sql(
CREATE TABLE task_status_history (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  task_id TEXT NOT NULL,
  from_status TEXT,
  to_status TEXT NOT NULL,
  worker_id TEXT,
  at INTEGER
);
CREATE INDEX task_status_history_task ON task_status_history (task_id, seq);
CREATE TRIGGER task_status_inserted AFTER INSERT ON tasks BEGIN
  INSERT INTO task_status_history (task_id, from_status, to_status, worker_id, at)
  VALUES (NEW.id, NULL, NEW.status, NEW.worker_id, NEW.last_updated);
END;
CREATE TRIGGER task_status_changed AFTER UPDATE OF status ON tasks WHEN OLD.status IS NOT NEW.status BEGIN
  INSERT INTO task_status_history (task_id, from_status, to_status, worker_id, at)
  VALUES (NEW.id, OLD.status, NEW.status, COALESCE(NEW.worker_id, OLD.worker_id), NEW.last_updated);
END;
CREATE TRIGGER task_status_forgotten AFTER DELETE ON tasks BEGIN
  DELETE FROM task_status_history WHERE task_id = OLD.id;
END;
)sql",
    // 4: the schedulable-task index with its condition as comparisons. SQLite
    // evaluates a partial index's `status IN (three values)` by building a
    // temporary b-tree of the values, twice per UPDATE of a task (old row,
    // new row): that was a quarter of the cost of every task status change
    // (issue 6). Queries that use the index name the same condition
    // (kSchedulable).
    R"sql(
DROP INDEX tasks_schedulable;
CREATE INDEX tasks_schedulable ON tasks (job_priority DESC, priority DESC, id)
  WHERE status = 'queued' OR status = 'claimed-by-manager' OR status = 'soft-failed';
)sql",
    // 5: the status history is written by the three statements that change
    // a task's status or remove it (FarmTx::UpsertTask, ApplyMutation,
    // DeleteTasksOfJob) instead of triggers. A statement that fires a
    // trigger runs with a statement journal and the trigger's sub-program:
    // with the history written that way every task status change cost
    // about an eighth more of the store writer's time (issue 6). Its `seq`
    // loses AUTOINCREMENT (which reads and writes sqlite_sequence on every
    // insert): it orders a task's rows, and a task's rows go together.
    R"sql(
DROP TRIGGER task_status_inserted;
DROP TRIGGER task_status_changed;
DROP TRIGGER task_status_forgotten;
CREATE TABLE task_status_history_5 (
  seq INTEGER PRIMARY KEY,
  task_id TEXT NOT NULL,
  from_status TEXT,
  to_status TEXT NOT NULL,
  worker_id TEXT,
  at INTEGER
);
INSERT INTO task_status_history_5 (seq, task_id, from_status, to_status, worker_id, at)
  SELECT seq, task_id, from_status, to_status, worker_id, at FROM task_status_history;
DROP TABLE task_status_history;
ALTER TABLE task_status_history_5 RENAME TO task_status_history;
CREATE INDEX task_status_history_task ON task_status_history (task_id, seq);
)sql",
};

constexpr const char* kTaskColumns =
    "id, etag, job, manager, project, user, name, status, priority, job_priority, job_type, task_type, commands, "
    "log, activity, worker, metrics, task_progress_percentage, current_command_index, command_progress_percentage, "
    "worker_id, last_worker_ping, last_updated";

std::optional<SystemTime> OptTime(const store::Statement& q, int col) {
  if (q.IsNull(col)) return std::nullopt;
  return FromUnixMicros(q.Int(col));
}

std::optional<int64_t> OptMicros(const std::optional<SystemTime>& t) {
  if (!t) return std::nullopt;
  return ToUnixMicros(*t);
}

// With the commands (parsed), the parents and the workers that failed it
// (two more queries).
Task ReadTask(store::Conn& conn, store::Statement& q) {
  Task t;
  t.id = q.Text(0);
  t.etag = q.Text(1);
  t.job = q.Text(2);
  t.manager = q.Text(3);
  t.project = q.Text(4);
  t.user = q.Text(5);
  t.name = q.Text(6);
  t.status = protocol::TaskStatusFromString(q.Text(7)).value_or(TaskStatus::kQueued);
  t.priority = static_cast<int>(q.Int(8));
  t.job_priority = static_cast<int>(q.Int(9));
  t.job_type = q.Text(10);
  t.task_type = q.Text(11);
  for (const auto& c : json::parse(q.Text(12), nullptr, false))
    if (c.is_object()) t.commands.push_back({c.value("name", ""), c.value("settings", json::object())});
  t.log = q.Text(13);
  t.activity = q.Text(14);
  t.worker = q.Text(15);
  // Most tasks have none: "{}" needs no parser.
  if (const std::string metrics = q.Text(16); metrics != "{}" && !metrics.empty()) {
    t.metrics = json::parse(metrics, nullptr, false);
    if (t.metrics.is_discarded()) t.metrics = json::object();
  } else {
    t.metrics = json::object();
  }
  t.task_progress_percentage = static_cast<int>(q.Int(17));
  t.current_command_index = static_cast<int>(q.Int(18));
  t.command_progress_percentage = static_cast<int>(q.Int(19));
  t.worker_id = q.Text(20);
  t.last_worker_ping = OptTime(q, 21);
  t.last_updated = OptTime(q, 22);
  auto& p = conn.Prepare("SELECT parent_id FROM task_parents WHERE task_id = ?1");
  p.Bind(1, t.id);
  while (p.Step()) t.parents.push_back(p.Text(0));
  auto& f = conn.Prepare("SELECT worker_id, identifier FROM task_failures WHERE task_id = ?1 ORDER BY seq");
  f.Bind(1, t.id);
  while (f.Step()) t.failed_by_workers.push_back({f.Text(0), f.Text(1)});
  return t;
}

constexpr const char* kWorkerColumns =
    "id, secret_hash, nickname, address, status, platform, current_task, last_activity, supported_task_types, "
    "software, current_task_status, current_task_updated, status_requested, lazy_status_request, created";

WorkerRecord ReadWorker(store::Statement& q) {
  WorkerRecord w;
  w.id = q.Text(0);
  w.secret_hash = q.Text(1);
  w.nickname = q.Text(2);
  w.address = q.Text(3);
  w.status = q.Text(4);
  w.platform = q.Text(5);
  w.current_task = q.Text(6);
  w.last_activity = OptTime(q, 7);
  auto types = json::parse(q.Text(8), nullptr, false);
  if (types.is_array())
    for (const auto& t : types)
      if (t.is_string()) w.supported_task_types.push_back(t.get<std::string>());
  w.software = q.Text(9);
  w.current_task_status = q.Text(10);
  w.current_task_updated = OptTime(q, 11);
  w.status_requested = q.Text(12);
  w.lazy_status_request = q.Int(13) != 0;
  w.created = FromUnixMicros(q.Int(14));
  return w;
}

json CommandsJson(const std::vector<protocol::Command>& cmds) {
  json arr = json::array();
  for (const auto& c : cmds) arr.push_back({{"name", c.name}, {"settings", c.settings}});
  return arr;
}

}  // namespace

json ToJson(const BlacklistEntry& e) {
  return {{"worker_id", e.worker_id},
          {"job_id", e.job_id},
          {"task_type", e.task_type},
          {"_created", FormatIso8601(e.created)}};
}

std::string WorkerRecord::Identifier() const {
  if (nickname.empty()) return address;
  return address + " (" + nickname + ")";
}

json ToJson(const WorkerRecord& w) {
  json j = {
      {"_id", w.id},
      {"nickname", w.nickname},
      {"address", w.address},
      {"status", w.status},
      {"platform", w.platform},
      {"current_task", w.current_task},
      {"supported_task_types", w.supported_task_types},
      {"software", w.software},
      {"current_task_status", w.current_task_status},
      {"status_requested", w.status_requested},
      {"lazy_status_request", w.lazy_status_request},
      {"time_cost", 0},
  };
  if (w.last_activity) j["last_activity"] = FormatIso8601(*w.last_activity);
  if (w.current_task_updated) j["current_task_updated"] = FormatIso8601(*w.current_task_updated);
  return j;
}

const std::vector<std::string>& FarmStore::Migrations() { return kMigrations; }

Result<std::unique_ptr<FarmStore>> FarmStore::Open(store::Database& db, Clock& clock) {
  if (auto st = db.Migrate("farm", Migrations()); !st) return std::unexpected(st.error());
  return std::unique_ptr<FarmStore>(new FarmStore(db, clock));
}

// --- tasks ------------------------------------------------------------------

std::optional<Task> FarmTx::GetTask(const std::string& id) {
  static const std::string kSql = std::string("SELECT ") + kTaskColumns + " FROM tasks WHERE id = ?1";
  auto& q = conn_.Prepare(kSql);
  q.Bind(1, id);
  if (!q.Step()) return std::nullopt;
  Task t = ReadTask(conn_, q);
  q.Reset();
  return t;
}

std::optional<Task> FarmTx::GetTaskForUpdate(const std::string& id) {
  auto& q = conn_.Prepare("SELECT job, status, worker_id FROM tasks WHERE id = ?1");
  q.Bind(1, id);
  if (!q.Step()) return std::nullopt;
  Task t;
  t.id = id;
  t.job = q.Text(0);
  t.status = protocol::TaskStatusFromString(q.Text(1)).value_or(TaskStatus::kQueued);
  t.worker_id = q.Text(2);
  q.Reset();
  return t;
}

void FarmTx::UpsertTask(const Task& t) {
  // A task new to the cache (every task of a big job's first download) is
  // one INSERT; only a known one needs the update and its parents and
  // failures replaced.
  constexpr const char* kInsert =
      "INSERT INTO tasks (id, etag, job, manager, project, user, name, status, priority, job_priority, job_type, "
      "task_type, commands, log, activity, worker, metrics, task_progress_percentage, current_command_index, "
      "command_progress_percentage, last_updated) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21) ";
  const std::string commands = CommandsJson(t.commands).dump();
  const std::string metrics = t.metrics.dump();
  auto bind = [&](store::Statement& q) -> store::Statement& {
    return q.Bind(1, t.id)
        .Bind(2, t.etag)
        .Bind(3, t.job)
        .Bind(4, t.manager)
        .Bind(5, t.project)
        .Bind(6, t.user)
        .Bind(7, t.name)
        .Bind(8, protocol::ToString(t.status))
        .Bind(9, t.priority)
        .Bind(10, t.job_priority)
        .Bind(11, t.job_type)
        .Bind(12, t.task_type.empty() ? std::string("unknown") : t.task_type)
        .Bind(13, commands)
        .Bind(14, t.log)
        .Bind(15, t.activity)
        .Bind(16, t.worker)
        .Bind(17, metrics)
        .Bind(18, t.task_progress_percentage)
        .Bind(19, t.current_command_index)
        .Bind(20, t.command_progress_percentage)
        .Bind(21, ToUnixMicros(now_));
  };
  Touch(t.id);
  auto& insert = conn_.Prepare(std::string(kInsert) + "ON CONFLICT (id) DO NOTHING");
  bind(insert).Run();
  const bool known = insert.Changes() == 0;
  const std::string_view status = protocol::ToString(t.status);
  if (!known) {
    RecordStatus(t.id, std::nullopt, status, std::nullopt);
  } else {
    const auto before = StatusAndWorker(t.id);
    // The worker stays (a local field the upsert does not set).
    if (before && before->first != status) RecordStatus(t.id, before->first, status, before->second);
    bind(conn_.Prepare(
             std::string(kInsert) +
             "ON CONFLICT (id) DO UPDATE SET etag = excluded.etag, job = excluded.job, manager = excluded.manager, "
             "project = excluded.project, user = excluded.user, name = excluded.name, status = excluded.status, "
             "priority = excluded.priority, job_priority = excluded.job_priority, job_type = excluded.job_type, "
             "task_type = excluded.task_type, commands = excluded.commands, log = excluded.log, "
             "activity = excluded.activity, worker = excluded.worker, metrics = excluded.metrics, "
             "task_progress_percentage = excluded.task_progress_percentage, "
             "current_command_index = excluded.current_command_index, "
             "command_progress_percentage = excluded.command_progress_percentage, last_updated = "
             "excluded.last_updated"))
        .Run();
    conn_.Prepare("DELETE FROM task_parents WHERE task_id = ?1").Bind(1, t.id).Run();
    conn_.Prepare("DELETE FROM task_failures WHERE task_id = ?1").Bind(1, t.id).Run();
  }
  for (const auto& p : t.parents)
    conn_.Prepare("INSERT OR IGNORE INTO task_parents (task_id, parent_id) VALUES (?1, ?2)")
        .Bind(1, t.id)
        .Bind(2, p)
        .Run();
  int seq = 0;
  for (const auto& f : t.failed_by_workers)
    conn_.Prepare("INSERT OR IGNORE INTO task_failures (task_id, worker_id, identifier, seq) VALUES (?1, ?2, ?3, ?4)")
        .Bind(1, t.id)
        .Bind(2, f.id)
        .Bind(3, f.identifier)
        .Bind(4, seq++)
        .Run();
}

std::optional<std::pair<std::string, std::optional<std::string>>> FarmTx::StatusAndWorker(const std::string& task_id) {
  auto& q = conn_.Prepare("SELECT status, worker_id FROM tasks WHERE id = ?1");
  q.Bind(1, task_id);
  std::optional<std::pair<std::string, std::optional<std::string>>> out;
  if (q.Step()) out.emplace(q.Text(0), q.IsNull(1) ? std::nullopt : std::optional<std::string>(q.Text(1)));
  q.Reset();
  return out;
}

void FarmTx::RecordStatus(const std::string& task_id, std::optional<std::string_view> from, std::string_view to,
                          const std::optional<std::string>& worker_id) {
  auto& q = conn_.Prepare(
      "INSERT INTO task_status_history (task_id, from_status, to_status, worker_id, at) VALUES (?1, ?2, ?3, ?4, ?5)");
  q.Bind(1, task_id).Bind(3, to).Bind(4, worker_id).Bind(5, ToUnixMicros(now_));
  if (from) {
    q.Bind(2, *from);
  } else {
    q.BindNull(2);
  }
  q.Run();
}

void FarmTx::ApplyMutation(const std::string& task_id, const TaskMutation& m) {
  if (m.status || !m.add_failed_by_workers.empty()) Touch(task_id, m.status && !protocol::IsSchedulable(*m.status));
  // The UPDATE names only the fields the mutation sets. SQLite rewrites the
  // index entries on, and runs the `UPDATE OF status` trigger for, every
  // column a SET names, changed or not; a worker's progress update sets
  // neither the status nor the worker.
  // The status the task leaves and its worker, for the history: read here,
  // as the caller's copy may be older than this transaction's row.
  if (m.status) {
    if (const auto before = StatusAndWorker(task_id); before && before->first != protocol::ToString(*m.status)) {
      const std::optional<std::string> worker =
          m.worker_id && !m.unset_worker_id ? std::optional<std::string>(*m.worker_id) : before->second;
      RecordStatus(task_id, before->first, protocol::ToString(*m.status), worker);
    }
  }
  std::string sql = "UPDATE tasks SET last_updated = ?2";
  if (m.status) sql += ", status = ?3";
  if (m.activity) sql += ", activity = ?4";
  if (m.worker) sql += ", worker = ?5";
  if (m.unset_worker_id) {
    sql += ", worker_id = NULL";
  } else if (m.worker_id) {
    sql += ", worker_id = ?6";
  }
  if (m.last_worker_ping) sql += ", last_worker_ping = ?7";
  if (m.task_progress_percentage) sql += ", task_progress_percentage = ?8";
  if (m.current_command_index) sql += ", current_command_index = ?9";
  if (m.command_progress_percentage) sql += ", command_progress_percentage = ?10";
  if (m.metrics) sql += ", metrics = ?11";
  sql += " WHERE id = ?1";
  auto& q = conn_.Prepare(sql);
  q.Bind(1, task_id).Bind(2, ToUnixMicros(now_));
  if (m.status) q.Bind(3, protocol::ToString(*m.status));
  if (m.activity) q.Bind(4, *m.activity);
  if (m.worker) q.Bind(5, *m.worker);
  if (m.worker_id && !m.unset_worker_id) q.Bind(6, *m.worker_id);
  if (m.last_worker_ping) q.Bind(7, ToUnixMicros(*m.last_worker_ping));
  if (m.task_progress_percentage) q.Bind(8, *m.task_progress_percentage);
  if (m.current_command_index) q.Bind(9, *m.current_command_index);
  if (m.command_progress_percentage) q.Bind(10, *m.command_progress_percentage);
  if (m.metrics) q.Bind(11, m.metrics->dump());
  q.Run();
  for (const auto& f : m.add_failed_by_workers) {
    conn_
        .Prepare(
            "INSERT OR IGNORE INTO task_failures (task_id, worker_id, identifier, seq) VALUES (?1, ?2, ?3, "
            "(SELECT COALESCE(MAX(seq), -1) + 1 FROM task_failures WHERE task_id = ?1))")
        .Bind(1, task_id)
        .Bind(2, f.id)
        .Bind(3, f.identifier)
        .Run();
  }
}

std::optional<std::string> FarmTx::SelectTaskFor(const WorkerRecord& worker) {
  if (!sched_) return SelectTaskForSql(worker);
  SyncIndex();
  // What the scheduling query checks on other tables, asked per candidate:
  // the blacklist (once per job and type) and the parents.
  std::map<std::pair<std::string, std::string>, bool> blacklisted;
  auto admissible = [&](const SchedEntry& e) {
    auto [it, inserted] = blacklisted.try_emplace({e.job, e.task_type}, false);
    if (inserted) {
      auto& b = conn_.Prepare("SELECT 1 FROM worker_blacklist WHERE worker_id = ?1 AND job_id = ?2 AND task_type = ?3");
      b.Bind(1, worker.id).Bind(2, e.job).Bind(3, e.task_type);
      it->second = b.Step();
      b.Reset();
    }
    if (it->second) return false;
    if (!e.has_parents) return true;
    auto& p = conn_.Prepare(
        "SELECT 1 FROM task_parents p JOIN tasks pt ON pt.id = p.parent_id "
        "WHERE p.task_id = ?1 AND pt.status != 'completed' LIMIT 1");
    p.Bind(1, e.id);
    const bool waiting = p.Step();
    p.Reset();
    return !waiting;
  };
  return sched_->index.Pick(worker.supported_task_types, worker.id, admissible);
}

namespace {
// The condition of the tasks_schedulable index (migration 4), written the
// same way so that SQLite can use the index for these queries.
constexpr const char* kSchedulable = "(status = 'queued' OR status = 'claimed-by-manager' OR status = 'soft-failed')";
constexpr const char* kSchedulableT =
    "(t.status = 'queued' OR t.status = 'claimed-by-manager' OR t.status = 'soft-failed')";
constexpr const char* kIndexColumns =
    "id, job, task_type, job_priority, priority, EXISTS (SELECT 1 FROM task_parents p WHERE p.task_id = t.id), status";

SchedEntry ReadSchedEntry(const store::Statement& q) {
  SchedEntry e;
  e.id = q.Text(0);
  e.job = q.Text(1);
  e.task_type = q.Text(2);
  e.job_priority = static_cast<int>(q.Int(3));
  e.priority = static_cast<int>(q.Int(4));
  e.has_parents = q.Int(5) != 0;
  return e;
}
}  // namespace

void FarmTx::SyncIndex() {
  if (!sched_) return;
  try {
    if (!sched_->built || sched_->stale.exchange(false)) {
      RebuildIndex();
    } else {
      if (!touched_.empty() || !forgotten_jobs_.empty()) index_synced_ = true;
      for (const auto& job : forgotten_jobs_) sched_->index.RemoveJob(job);
      for (const auto& [id, leaves_index] : touched_) {
        if (leaves_index) {
          sched_->index.Remove(id);  // active or ended: no row to read back
        } else {
          RefreshIndexEntry(id);
        }
      }
    }
  } catch (...) {
    sched_->stale = true;
    throw;
  }
  touched_.clear();
  forgotten_jobs_.clear();
}

void FarmTx::InvalidateIndex() {
  if (sched_) sched_->stale = true;
}

void FarmTx::RebuildIndex() {
  index_synced_ = true;
  sched_->built = false;
  sched_->index.Clear();
  auto& q = conn_.Prepare(std::string("SELECT ") + kIndexColumns + " FROM tasks t WHERE " + kSchedulable);
  std::unordered_map<std::string, SchedEntry> entries;
  while (q.Step()) {
    SchedEntry e = ReadSchedEntry(q);
    std::string id = e.id;
    entries.emplace(std::move(id), std::move(e));
  }
  auto& f = conn_.Prepare(
      std::string("SELECT f.task_id, f.worker_id FROM task_failures f JOIN tasks t ON t.id = f.task_id WHERE ") +
      kSchedulableT);
  while (f.Step())
    if (auto it = entries.find(f.Text(0)); it != entries.end()) it->second.failed_by.insert(f.Text(1));
  for (auto& [id, e] : entries) sched_->index.Put(std::move(e));
  sched_->built = true;
}

void FarmTx::RefreshIndexEntry(const std::string& task_id) {
  auto& q = conn_.Prepare(std::string("SELECT ") + kIndexColumns + " FROM tasks t WHERE id = ?1");
  q.Bind(1, task_id);
  const bool found = q.Step();
  if (!found || !protocol::IsSchedulable(protocol::TaskStatusFromString(q.Text(6)).value_or(TaskStatus::kQueued))) {
    q.Reset();
    sched_->index.Remove(task_id);
    return;
  }
  SchedEntry e = ReadSchedEntry(q);
  q.Reset();
  auto& f = conn_.Prepare("SELECT worker_id FROM task_failures WHERE task_id = ?1");
  f.Bind(1, task_id);
  while (f.Step()) e.failed_by.insert(f.Text(0));
  sched_->index.Put(std::move(e));
}

std::vector<std::string> FarmTx::SchedulableIdsSql() {
  auto& q = conn_.Prepare(std::string("SELECT id FROM tasks WHERE ") + kSchedulable +
                          " ORDER BY job_priority DESC, priority DESC, id ASC");
  std::vector<std::string> out;
  while (q.Step()) out.push_back(q.Text(0));
  return out;
}

std::vector<std::string> FarmTx::SchedulableIdsIndexed() {
  if (!sched_) return {};
  SyncIndex();
  return sched_->index.Ids();
}

std::optional<std::string> FarmTx::SelectTaskForSql(const WorkerRecord& worker) {
  auto& q =
      conn_.Prepare(std::string("SELECT t.id FROM tasks t INDEXED BY tasks_schedulable WHERE ") + kSchedulableT +
                    " AND t.task_type IN (SELECT value FROM json_each(?2)) "
                    "AND NOT EXISTS (SELECT 1 FROM task_failures f WHERE f.task_id = t.id AND f.worker_id = ?1) "
                    "AND NOT EXISTS (SELECT 1 FROM worker_blacklist b WHERE b.worker_id = ?1 AND b.job_id = t.job "
                    "                AND b.task_type = t.task_type) "
                    "AND NOT EXISTS (SELECT 1 FROM task_parents p JOIN tasks pt ON pt.id = p.parent_id "
                    "                WHERE p.task_id = t.id AND pt.status != 'completed') "
                    "ORDER BY t.job_priority DESC, t.priority DESC, t.id ASC LIMIT 1");
  q.Bind(1, worker.id).Bind(2, json(worker.supported_task_types).dump());
  if (!q.Step()) return std::nullopt;
  std::string id = q.Text(0);
  q.Reset();
  return id;
}

std::vector<std::string> FarmTx::ActiveTasksOf(const std::string& worker_id) {
  auto& q = conn_.Prepare("SELECT id FROM tasks WHERE status = 'active' AND worker_id = ?1 ORDER BY id");
  q.Bind(1, worker_id);
  std::vector<std::string> out;
  while (q.Step()) out.push_back(q.Text(0));
  return out;
}

std::vector<Task> FarmTx::ActiveTasksPingedBefore(SystemTime cutoff) {
  auto& q =
      conn_.Prepare(std::string("SELECT ") + kTaskColumns +
                    " FROM tasks WHERE status = 'active' AND (last_worker_ping IS NULL OR last_worker_ping < ?1)");
  q.Bind(1, ToUnixMicros(cutoff));
  std::vector<Task> out;
  while (q.Step()) out.push_back(ReadTask(conn_, q));
  return out;
}

int64_t FarmTx::CountTasks() {
  auto& q = conn_.Prepare("SELECT COUNT(*) FROM tasks");
  q.Step();
  const int64_t n = q.Int(0);
  q.Reset();
  return n;
}

std::vector<TaskStatusChange> FarmTx::StatusHistory(const std::string& task_id) {
  auto& q = conn_.Prepare(
      "SELECT seq, from_status, to_status, worker_id, at FROM task_status_history WHERE task_id = ?1 ORDER BY seq");
  q.Bind(1, task_id);
  std::vector<TaskStatusChange> out;
  while (q.Step()) out.push_back({q.Int(0), q.Text(1), q.Text(2), q.Text(3), OptTime(q, 4)});
  return out;
}

// --- failure handling ---------------------------------------------------------

int FarmTx::CountWorkerFailures(const std::string& worker_id, const std::string& job, const std::string& task_type,
                                const std::string& except_task) {
  auto& q = conn_.Prepare(
      "SELECT COUNT(*) FROM tasks t JOIN task_failures f ON f.task_id = t.id AND f.worker_id = ?1 "
      "WHERE t.job = ?2 AND t.task_type = ?3 AND t.status IN ('failed', 'soft-failed') AND t.id != ?4");
  q.Bind(1, worker_id).Bind(2, job).Bind(3, task_type).Bind(4, except_task);
  q.Step();
  const int n = static_cast<int>(q.Int(0));
  q.Reset();
  return n;
}

std::vector<std::string> FarmTx::SoftFailedTasksOf(const std::string& worker_id, const std::string& job,
                                                   const std::string& task_type) {
  auto& q = conn_.Prepare(
      "SELECT t.id FROM tasks t JOIN task_failures f ON f.task_id = t.id AND f.worker_id = ?1 "
      "WHERE t.job = ?2 AND t.task_type = ?3 AND t.status = 'soft-failed' ORDER BY t.id");
  q.Bind(1, worker_id).Bind(2, job).Bind(3, task_type);
  std::vector<std::string> out;
  while (q.Step()) out.push_back(q.Text(0));
  return out;
}

std::vector<WorkerRecord> FarmTx::WorkersWithTaskType(const std::string& task_type) {
  auto& q = conn_.Prepare(std::string("SELECT ") + kWorkerColumns +
                          " FROM workers w WHERE EXISTS (SELECT 1 FROM json_each(w.supported_task_types) "
                          "WHERE value = ?1) ORDER BY id");
  q.Bind(1, task_type);
  std::vector<WorkerRecord> out;
  while (q.Step()) out.push_back(ReadWorkerRow(q));
  return out;
}

std::set<std::string> FarmTx::BlacklistedFor(const std::string& job, const std::string& task_type,
                                             SystemTime not_before) {
  auto& q =
      conn_.Prepare("SELECT worker_id FROM worker_blacklist WHERE job_id = ?1 AND task_type = ?2 AND created >= ?3");
  q.Bind(1, job).Bind(2, task_type).Bind(3, ToUnixMicros(not_before));
  std::set<std::string> out;
  while (q.Step()) out.insert(q.Text(0));
  return out;
}

void FarmTx::AddBlacklist(const std::string& worker_id, const std::string& job, const std::string& task_type) {
  conn_
      .Prepare(
          "INSERT INTO worker_blacklist (worker_id, job_id, task_type, created) VALUES (?1, ?2, ?3, ?4) "
          "ON CONFLICT (worker_id, job_id, task_type) DO UPDATE SET created = ?4")
      .Bind(1, worker_id)
      .Bind(2, job)
      .Bind(3, task_type)
      .Bind(4, ToUnixMicros(now_))
      .Run();
}

std::vector<BlacklistEntry> FarmTx::ListBlacklist(const std::string& worker_id, const std::string& job,
                                                  SystemTime not_before) {
  auto& q = conn_.Prepare(
      "SELECT worker_id, job_id, task_type, created FROM worker_blacklist "
      "WHERE (?1 = '' OR worker_id = ?1) AND (?2 = '' OR job_id = ?2) AND created >= ?3 "
      "ORDER BY worker_id, job_id, task_type");
  q.Bind(1, worker_id).Bind(2, job).Bind(3, ToUnixMicros(not_before));
  std::vector<BlacklistEntry> out;
  while (q.Step()) out.push_back({q.Text(0), q.Text(1), q.Text(2), FromUnixMicros(q.Int(3))});
  return out;
}

bool FarmTx::RemoveBlacklist(const std::string& worker_id, const std::string& job, const std::string& task_type) {
  auto& q = conn_.Prepare("DELETE FROM worker_blacklist WHERE worker_id = ?1 AND job_id = ?2 AND task_type = ?3");
  q.Bind(1, worker_id).Bind(2, job).Bind(3, task_type).Run();
  return q.Changes() > 0;
}

int FarmTx::PurgeBlacklist(SystemTime before) {
  auto& q = conn_.Prepare("DELETE FROM worker_blacklist WHERE created < ?1");
  q.Bind(1, ToUnixMicros(before)).Run();
  return q.Changes();
}

namespace {
std::vector<std::pair<std::string, int64_t>> CountGroups(store::Conn& conn, const std::string& sql) {
  auto& q = conn.Prepare(sql);
  std::vector<std::pair<std::string, int64_t>> out;
  while (q.Step()) out.emplace_back(q.Text(0), q.Int(1));
  return out;
}
}  // namespace

std::vector<std::pair<std::string, int64_t>> FarmTx::CountTasksByStatus() {
  return CountGroups(conn_, "SELECT status, COUNT(*) FROM tasks GROUP BY status");
}

std::vector<std::pair<std::string, int64_t>> FarmTx::CountWorkersByStatus() {
  return CountGroups(conn_, "SELECT status, COUNT(*) FROM workers GROUP BY status");
}

int64_t FarmTx::UpstreamQueueSize() {
  auto& q = conn_.Prepare("SELECT COUNT(*) FROM task_update_queue");
  return q.Step() ? q.Int(0) : 0;
}

std::vector<std::pair<std::string, std::string>> FarmTx::SchedulableGroups() {
  auto& q = conn_.Prepare(std::string("SELECT DISTINCT job, task_type FROM tasks WHERE ") + kSchedulable +
                          " ORDER BY job, task_type");
  std::vector<std::pair<std::string, std::string>> out;
  while (q.Step()) out.emplace_back(q.Text(0), q.Text(1));
  return out;
}

std::vector<std::string> FarmTx::TasksFailedByAll(const std::string& job, const std::string& task_type,
                                                  const std::set<std::string>& capable) {
  auto& q =
      conn_.Prepare(std::string("SELECT t.id FROM tasks t WHERE t.job = ?1 AND t.task_type = ?2 AND ") + kSchedulableT +
                    " AND NOT EXISTS (SELECT 1 FROM task_parents p JOIN tasks pt ON pt.id = p.parent_id "
                    "                WHERE p.task_id = t.id AND pt.status != 'completed') "
                    "AND (SELECT COUNT(*) FROM task_failures f WHERE f.task_id = t.id "
                    "     AND f.worker_id IN (SELECT value FROM json_each(?3))) = ?4 ORDER BY t.id");
  q.Bind(1, job).Bind(2, task_type).Bind(3, json(std::vector<std::string>(capable.begin(), capable.end())).dump());
  q.Bind(4, static_cast<int64_t>(capable.size()));
  std::vector<std::string> out;
  while (q.Step()) out.push_back(q.Text(0));
  return out;
}

std::map<std::string, std::pair<SystemTime, std::string>> FarmTx::BlockedTasks() {
  auto& q = conn_.Prepare("SELECT task_id, since, reason FROM task_blocked");
  std::map<std::string, std::pair<SystemTime, std::string>> out;
  while (q.Step()) out[q.Text(0)] = {FromUnixMicros(q.Int(1)), q.Text(2)};
  return out;
}

void FarmTx::SetBlocked(const std::string& task_id, const std::string& reason, SystemTime since) {
  conn_
      .Prepare(
          "INSERT INTO task_blocked (task_id, since, reason) VALUES (?1, ?2, ?3) "
          "ON CONFLICT (task_id) DO UPDATE SET reason = ?3")
      .Bind(1, task_id)
      .Bind(2, ToUnixMicros(since))
      .Bind(3, reason)
      .Run();
}

void FarmTx::ClearBlocked(const std::string& task_id) {
  conn_.Prepare("DELETE FROM task_blocked WHERE task_id = ?1").Bind(1, task_id).Run();
}

void FarmTx::DeleteTasksOfJob(const std::string& job_id) {
  if (sched_) forgotten_jobs_.push_back(job_id);
  conn_.Prepare("DELETE FROM task_status_history WHERE task_id IN (SELECT id FROM tasks WHERE job = ?1)")
      .Bind(1, job_id)
      .Run();
  conn_.Prepare("DELETE FROM task_blocked WHERE task_id IN (SELECT id FROM tasks WHERE job = ?1)")
      .Bind(1, job_id)
      .Run();
  conn_.Prepare("DELETE FROM tasks WHERE job = ?1").Bind(1, job_id).Run();
}

void FarmTx::DeleteWorker(const std::string& worker_id) {
  conn_.Prepare("DELETE FROM worker_blacklist WHERE worker_id = ?1").Bind(1, worker_id).Run();
  conn_.Prepare("DELETE FROM workers WHERE id = ?1").Bind(1, worker_id).Run();
}

// --- workers ----------------------------------------------------------------

std::optional<WorkerRecord> FarmTx::GetWorker(const std::string& id) {
  auto& q = conn_.Prepare(std::string("SELECT ") + kWorkerColumns + " FROM workers WHERE id = ?1");
  q.Bind(1, id);
  if (!q.Step()) return std::nullopt;
  WorkerRecord w = ReadWorkerRow(q);
  q.Reset();
  return w;
}

std::optional<WorkerRecord> FarmTx::GetWorkerForTaskUpdate(const std::string& id) {
  auto& q = conn_.Prepare(
      "SELECT nickname, address, software, last_activity, current_task, current_task_status, current_task_updated "
      "FROM workers WHERE id = ?1");
  q.Bind(1, id);
  if (!q.Step()) return std::nullopt;
  WorkerRecord w;
  w.id = id;
  w.nickname = q.Text(0);
  w.address = q.Text(1);
  w.software = q.Text(2);
  w.last_activity = OptTime(q, 3);
  w.current_task = q.Text(4);
  w.current_task_status = q.Text(5);
  w.current_task_updated = OptTime(q, 6);
  q.Reset();
  if (seen_) seen_->Apply(w);
  return w;
}

void FarmTx::InsertWorker(const WorkerRecord& w) {
  conn_
      .Prepare(
          "INSERT INTO workers (id, secret_hash, nickname, address, status, platform, supported_task_types, "
          "software, created, last_activity) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)")
      .Bind(1, w.id)
      .Bind(2, w.secret_hash)
      .Bind(3, w.nickname)
      .Bind(4, w.address)
      .Bind(5, w.status)
      .Bind(6, w.platform)
      .Bind(7, json(w.supported_task_types).dump())
      .Bind(8, w.software)
      .Bind(9, ToUnixMicros(w.created))
      .Bind(10, OptMicros(w.last_activity))
      .Run();
}

void FarmTx::UpdateWorker(const WorkerRecord& w) { WriteWorkerColumns(w, WorkerColumnSet{}.set()); }

void FarmTx::UpdateWorker(const WorkerRecord& before, const WorkerRecord& after) {
  WorkerColumnSet changed;
  changed[0] = before.nickname != after.nickname;
  changed[1] = before.address != after.address;
  changed[2] = before.status != after.status;
  changed[3] = before.platform != after.platform;
  changed[4] = before.current_task != after.current_task;
  changed[5] = before.last_activity != after.last_activity;
  changed[6] = before.supported_task_types != after.supported_task_types;
  changed[7] = before.software != after.software;
  changed[8] = before.current_task_status != after.current_task_status;
  changed[9] = before.current_task_updated != after.current_task_updated;
  changed[10] = before.status_requested != after.status_requested;
  changed[11] = before.lazy_status_request != after.lazy_status_request;
  if (changed.any()) WriteWorkerColumns(after, changed);
}

void FarmTx::WriteWorkerColumns(const WorkerRecord& w, const WorkerColumnSet& columns) {
  // Column i is parameter ?i+2 whichever columns are written, so each set
  // of columns is one cached statement.
  static constexpr std::array<const char*, kWorkerWritableColumns> kSet = {"nickname = ?2",
                                                                           "address = ?3",
                                                                           "status = ?4",
                                                                           "platform = ?5",
                                                                           "current_task = ?6",
                                                                           "last_activity = ?7",
                                                                           "supported_task_types = ?8",
                                                                           "software = ?9",
                                                                           "current_task_status = ?10",
                                                                           "current_task_updated = ?11",
                                                                           "status_requested = ?12",
                                                                           "lazy_status_request = ?13"};
  std::string sql;
  for (size_t i = 0; i < kSet.size(); ++i) {
    if (!columns[i]) continue;
    sql += sql.empty() ? "UPDATE workers SET " : ", ";
    sql += kSet[i];
  }
  sql += " WHERE id = ?1";
  auto& q = conn_.Prepare(sql);
  q.Bind(1, w.id);
  if (columns[0]) q.Bind(2, w.nickname);
  if (columns[1]) q.Bind(3, w.address);
  if (columns[2]) q.Bind(4, w.status);
  if (columns[3]) q.Bind(5, w.platform);
  if (columns[4]) q.Bind(6, w.current_task);
  if (columns[5]) q.Bind(7, OptMicros(w.last_activity));
  if (columns[6]) q.Bind(8, json(w.supported_task_types).dump());
  if (columns[7]) q.Bind(9, w.software);
  if (columns[8]) q.Bind(10, w.current_task_status);
  if (columns[9]) q.Bind(11, OptMicros(w.current_task_updated));
  if (columns[10]) q.Bind(12, w.status_requested);
  if (columns[11]) q.Bind(13, w.lazy_status_request ? 1 : 0);
  q.Run();
}

std::vector<WorkerRecord> FarmTx::ListWorkers() {
  auto& q = conn_.Prepare(std::string("SELECT ") + kWorkerColumns + " FROM workers ORDER BY nickname, status, id");
  std::vector<WorkerRecord> out;
  while (q.Step()) out.push_back(ReadWorkerRow(q));
  return out;
}

std::vector<WorkerRecord> FarmTx::WorkersSeenBefore(SystemTime cutoff, const std::string& status) {
  auto& q = conn_.Prepare(std::string("SELECT ") + kWorkerColumns +
                          " FROM workers WHERE status = ?2 AND (last_activity IS NULL OR last_activity < ?1)");
  q.Bind(1, ToUnixMicros(cutoff)).Bind(2, status);
  std::vector<WorkerRecord> out;
  while (q.Step()) {
    WorkerRecord w = ReadWorkerRow(q);
    // The stored time is never newer than the cached one: a worker seen
    // since (in memory only) is not gone.
    if (!w.last_activity || *w.last_activity < cutoff) out.push_back(std::move(w));
  }
  return out;
}

int FarmTx::WriteLastSeen(const std::map<std::string, SystemTime>& seen) {
  int changed = 0;
  for (const auto& [id, at] : seen) {
    auto& q = conn_.Prepare(
        "UPDATE workers SET last_activity = ?2 WHERE id = ?1 AND (last_activity IS NULL OR last_activity < ?2)");
    q.Bind(1, id).Bind(2, ToUnixMicros(at)).Run();
    changed += q.Changes();
  }
  return changed;
}

WorkerRecord FarmTx::ReadWorkerRow(store::Statement& q) const {
  WorkerRecord w = ReadWorker(q);
  if (seen_) seen_->Apply(w);
  return w;
}

// --- last seen --------------------------------------------------------------

void SeenCache::Note(const std::string& worker_id, SystemTime at) {
  std::lock_guard lock(mu_);
  auto [it, inserted] = seen_.try_emplace(worker_id, at);
  if (!inserted && it->second < at) it->second = at;
}

void SeenCache::Apply(WorkerRecord& w) const {
  std::lock_guard lock(mu_);
  if (auto it = seen_.find(w.id); it != seen_.end() && (!w.last_activity || *w.last_activity < it->second))
    w.last_activity = it->second;
}

std::map<std::string, SystemTime> SeenCache::Pending() const {
  std::lock_guard lock(mu_);
  return seen_;
}

void SeenCache::Flushed(const std::map<std::string, SystemTime>& flushed) {
  std::lock_guard lock(mu_);
  for (const auto& [id, at] : flushed)
    if (auto it = seen_.find(id); it != seen_.end() && it->second <= at) seen_.erase(it);
}

size_t SeenCache::size() const {
  std::lock_guard lock(mu_);
  return seen_.size();
}

Result<int> FarmStore::FlushSeen() {
  auto pending = seen_.Pending();
  if (pending.empty()) return 0;
  auto written = Write([&](FarmTx& tx) -> Result<int> { return tx.WriteLastSeen(pending); });
  // Only after the commit: until then readers still need the cached times.
  if (written) seen_.Flushed(pending);
  return written;
}

// --- upstream queue ---------------------------------------------------------

void FarmTx::EnqueueUpdate(const TaskUpdate& update) {
  conn_.Prepare("INSERT INTO task_update_queue (id, task_id, payload) VALUES (?1, ?2, ?3)")
      .Bind(1, update.id)
      .Bind(2, update.task_id)
      .Bind(3, protocol::ToJson(update).dump())
      .Run();
}

std::vector<TaskUpdate> FarmTx::PeekUpdates(int max_count) {
  auto& q = conn_.Prepare("SELECT payload FROM task_update_queue ORDER BY seq LIMIT ?1");
  q.Bind(1, max_count);
  std::vector<TaskUpdate> out;
  while (q.Step()) {
    auto u = protocol::TaskUpdateFromJson(json::parse(q.Text(0), nullptr, false));
    if (u) out.push_back(std::move(*u));
  }
  return out;
}

void FarmTx::RemoveUpdates(const std::vector<std::string>& ids) {
  for (const auto& id : ids) conn_.Prepare("DELETE FROM task_update_queue WHERE id = ?1").Bind(1, id).Run();
}

int64_t FarmTx::QueueSize() {
  auto& q = conn_.Prepare("SELECT COUNT(*) FROM task_update_queue");
  q.Step();
  const int64_t n = q.Int(0);
  q.Reset();
  return n;
}

// --- settings ---------------------------------------------------------------

std::optional<std::string> FarmTx::GetSetting(const std::string& key) {
  auto& q = conn_.Prepare("SELECT value FROM settings WHERE key = ?1");
  q.Bind(1, key);
  if (!q.Step()) return std::nullopt;
  std::string v = q.Text(0);
  q.Reset();
  return v;
}

void FarmTx::PutSetting(const std::string& key, const std::string& value) {
  conn_.Prepare("INSERT INTO settings (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = ?2")
      .Bind(1, key)
      .Bind(2, value)
      .Run();
}

// --- task logs ----------------------------------------------------------------

std::vector<std::tuple<std::string, std::string, SystemTime>> FarmTx::EndedTasksUpdatedBetween(SystemTime from,
                                                                                               SystemTime to,
                                                                                               int limit) {
  auto& q = conn_.Prepare(
      "SELECT job, id, last_updated FROM tasks WHERE status IN ('completed', 'failed', 'canceled') "
      "AND last_updated >= ?1 AND last_updated < ?2 ORDER BY last_updated, id LIMIT ?3");
  q.Bind(1, ToUnixMicros(from)).Bind(2, ToUnixMicros(to)).Bind(3, limit);
  std::vector<std::tuple<std::string, std::string, SystemTime>> out;
  while (q.Step()) out.emplace_back(q.Text(0), q.Text(1), FromUnixMicros(q.Int(2)));
  return out;
}

}  // namespace duende::manager
