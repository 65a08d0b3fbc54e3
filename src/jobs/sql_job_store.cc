// JobStore on SQL (store/sql.h), the same code on SQLite and PostgreSQL. JSON columns hold the structured task
// fields (commands, parents, failed_by_workers, metrics) and job settings:
// they are always read and written whole, never queried into.
#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "common/timefmt.h"
#include "jobs/job_store.h"
#include "store/sql.h"

namespace duende::jobs {
namespace {

using nlohmann::json;
using protocol::JobStatus;
using protocol::TaskStatus;

const std::vector<std::string>& Migrations() {
  static const auto* m = new std::vector<std::string>{
      // 1: jobs, tasks, revision counter, handled updates, log requests.
      R"sql(
CREATE TABLE jobs (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  job_type TEXT NOT NULL,
  priority INTEGER NOT NULL,
  status TEXT NOT NULL,
  status_reason TEXT NOT NULL DEFAULT '',
  settings TEXT NOT NULL,
  submitter TEXT NOT NULL DEFAULT '',
  manager TEXT NOT NULL,
  start_paused INTEGER NOT NULL DEFAULT 0,
  created_us INTEGER NOT NULL,
  updated_us INTEGER NOT NULL
);
CREATE INDEX jobs_status ON jobs(status, created_us);
CREATE INDEX jobs_created ON jobs(created_us);
CREATE TABLE job_tasks (
  id TEXT PRIMARY KEY,
  job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
  seq INTEGER NOT NULL,
  manager TEXT NOT NULL,
  name TEXT NOT NULL,
  status TEXT NOT NULL,
  priority INTEGER NOT NULL,
  job_priority INTEGER NOT NULL,
  job_type TEXT NOT NULL,
  task_type TEXT NOT NULL,
  commands TEXT NOT NULL,
  parents TEXT NOT NULL,
  log TEXT NOT NULL DEFAULT '',
  activity TEXT NOT NULL DEFAULT '',
  worker TEXT NOT NULL DEFAULT '',
  failed_by_workers TEXT NOT NULL DEFAULT '[]',
  metrics TEXT NOT NULL DEFAULT '{}',
  task_progress_percentage INTEGER NOT NULL DEFAULT 0,
  current_command_index INTEGER NOT NULL DEFAULT 0,
  command_progress_percentage INTEGER NOT NULL DEFAULT 0,
  etag TEXT NOT NULL DEFAULT '',
  revision INTEGER NOT NULL
);
CREATE INDEX job_tasks_job ON job_tasks(job_id, seq);
CREATE INDEX job_tasks_status ON job_tasks(manager, status);
CREATE INDEX job_tasks_revision ON job_tasks(manager, revision);
CREATE TABLE jobs_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO jobs_meta (key, value) VALUES ('revision', '0');
CREATE TABLE jobs_handled_updates (update_id TEXT PRIMARY KEY, handled_us INTEGER NOT NULL);
CREATE INDEX jobs_handled_updates_time ON jobs_handled_updates(handled_us);
CREATE TABLE jobs_log_requests (
  task_id TEXT PRIMARY KEY REFERENCES job_tasks(id) ON DELETE CASCADE,
  job_id TEXT NOT NULL,
  manager TEXT NOT NULL,
  requested_us INTEGER NOT NULL
);
)sql",
      // 2: starvation marks reported by the Manager.
      R"sql(
ALTER TABLE job_tasks ADD COLUMN blocked_reason TEXT NOT NULL DEFAULT '';
)sql",
      // 3: task counts per (job, status), kept by InsertTask/UpdateTask/
      // DeleteJob, so deriving a job's status after each task update costs
      // a few index lookups instead of a scan of the job's tasks (quadratic
      // in a busy farm). Not triggers: SQLite journals every statement that
      // fires one, and inside the group commit's savepoints that made a
      // 20,000-task depsgraph update take seconds instead of milliseconds.
      R"sql(
CREATE TABLE job_task_counts (
  job_id TEXT NOT NULL,
  status TEXT NOT NULL,
  n INTEGER NOT NULL,
  PRIMARY KEY (job_id, status)
) WITHOUT ROWID;
INSERT INTO job_task_counts (job_id, status, n)
  SELECT job_id, status, COUNT(*) FROM job_tasks GROUP BY job_id, status;
)sql",
      // 4: when the job side last changed each task (v2's `_updated`):
      // submission, status changes, priority, the Manager's updates (at
      // their received_on_manager). NULL for tasks stored before this.
      R"sql(
ALTER TABLE job_tasks ADD COLUMN updated_us INTEGER;
)sql",
      // 5: the few tasks with a starvation mark, so loading a job (which
      // summarises them) reads those instead of every task of the job.
      R"sql(
CREATE INDEX job_tasks_blocked ON job_tasks(job_id) WHERE blocked_reason != '';
)sql",
  };
  return *m;
}

// The same schema on PostgreSQL (duende-server): 64-bit integers, the "C"
// collation for IDs and names (byte order, as SQLite sorts them).
const std::vector<std::string>& PostgresMigrations() {
  static const auto* m = new std::vector<std::string>{
      // 1: SQLite migrations 1-4 in one.
      R"sql(
CREATE TABLE jobs (
  id TEXT COLLATE "C" PRIMARY KEY,
  name TEXT NOT NULL,
  job_type TEXT NOT NULL,
  priority INTEGER NOT NULL,
  status TEXT NOT NULL,
  status_reason TEXT NOT NULL DEFAULT '',
  settings TEXT NOT NULL,
  submitter TEXT NOT NULL DEFAULT '',
  manager TEXT COLLATE "C" NOT NULL,
  start_paused INTEGER NOT NULL DEFAULT 0,
  created_us BIGINT NOT NULL,
  updated_us BIGINT NOT NULL
);
CREATE INDEX jobs_status ON jobs(status, created_us);
CREATE INDEX jobs_created ON jobs(created_us);
CREATE TABLE job_tasks (
  id TEXT COLLATE "C" PRIMARY KEY,
  job_id TEXT COLLATE "C" NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
  seq INTEGER NOT NULL,
  manager TEXT COLLATE "C" NOT NULL,
  name TEXT NOT NULL,
  status TEXT NOT NULL,
  priority INTEGER NOT NULL,
  job_priority INTEGER NOT NULL,
  job_type TEXT NOT NULL,
  task_type TEXT NOT NULL,
  commands TEXT NOT NULL,
  parents TEXT NOT NULL,
  log TEXT NOT NULL DEFAULT '',
  activity TEXT NOT NULL DEFAULT '',
  worker TEXT NOT NULL DEFAULT '',
  failed_by_workers TEXT NOT NULL DEFAULT '[]',
  metrics TEXT NOT NULL DEFAULT '{}',
  task_progress_percentage INTEGER NOT NULL DEFAULT 0,
  current_command_index INTEGER NOT NULL DEFAULT 0,
  command_progress_percentage INTEGER NOT NULL DEFAULT 0,
  etag TEXT NOT NULL DEFAULT '',
  revision BIGINT NOT NULL,
  blocked_reason TEXT NOT NULL DEFAULT '',
  updated_us BIGINT
);
CREATE INDEX job_tasks_job ON job_tasks(job_id, seq);
CREATE INDEX job_tasks_status ON job_tasks(manager, status);
CREATE INDEX job_tasks_revision ON job_tasks(manager, revision);
CREATE TABLE jobs_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO jobs_meta (key, value) VALUES ('revision', '0');
CREATE TABLE jobs_handled_updates (update_id TEXT PRIMARY KEY, handled_us BIGINT NOT NULL);
CREATE INDEX jobs_handled_updates_time ON jobs_handled_updates(handled_us);
CREATE TABLE jobs_log_requests (
  task_id TEXT COLLATE "C" PRIMARY KEY REFERENCES job_tasks(id) ON DELETE CASCADE,
  job_id TEXT COLLATE "C" NOT NULL,
  manager TEXT COLLATE "C" NOT NULL,
  requested_us BIGINT NOT NULL
);
CREATE TABLE job_task_counts (
  job_id TEXT COLLATE "C" NOT NULL,
  status TEXT NOT NULL,
  n INTEGER NOT NULL,
  PRIMARY KEY (job_id, status)
);
)sql",
      // 2: SQLite migration 5.
      R"sql(
CREATE INDEX job_tasks_blocked ON job_tasks(job_id) WHERE blocked_reason != '';
)sql",
  };
  return *m;
}

json ParseJson(const std::string& s, json fallback) {
  json j = json::parse(s, nullptr, /*allow_exceptions=*/false);
  return j.is_discarded() ? fallback : j;
}

const char* kJobColumns =
    "id, name, job_type, priority, status, status_reason, settings, submitter, manager, start_paused, created_us, "
    "updated_us";

Job ReadJob(store::SqlStatement& q) {
  Job j;
  j.id = q.Text(0);
  j.name = q.Text(1);
  j.job_type = q.Text(2);
  j.priority = static_cast<int>(q.Int(3));
  j.status = protocol::JobStatusFromString(q.Text(4)).value_or(JobStatus::kQueued);
  j.status_reason = q.Text(5);
  j.settings = ParseJson(q.Text(6), json::object());
  j.submitter = q.Text(7);
  j.manager = q.Text(8);
  j.start_paused = q.Int(9) != 0;
  j.created = FromUnixMicros(q.Int(10));
  j.updated = FromUnixMicros(q.Int(11));
  return j;
}

// How the store reads tasks: the columns ReadTask reads, in order, and the
// table(s) they come from (`t` is job_tasks). With a table of reported
// fields (JobStoreOptions), each reported field comes from that table's row
// when it changed after the job side last changed the task (newest wins),
// and the task's time is the later of the two.
struct TaskSql {
  std::string columns;
  std::string from;
};

TaskSql MakeTaskSql(const std::string& reported) {
  // NULL when the reported row is missing or not newer: then job_tasks'.
  const std::string newer = "f.last_updated > COALESCE(t.updated_us, 0)";
  // A reported field: job_tasks' own, or the newer of the two copies.
  auto pick = [&](const std::string& col, const std::string& reported_col) {
    if (reported.empty()) return "t." + col;
    return "CASE WHEN " + newer + " THEN f." + reported_col + " ELSE t." + col + " END";
  };
  auto same = [&](const std::string& col) { return pick(col, col); };
  return {
      "t.id, t.job_id, t.manager, t.name, t.status, t.priority, t.job_priority, t.job_type, t.task_type, "
      "t.commands, t.parents, t.log, " +
          same("activity") + ", " + same("worker") + ", t.failed_by_workers, " + same("metrics") + ", " +
          same("task_progress_percentage") + ", " + same("current_command_index") + ", " +
          same("command_progress_percentage") + ", t.etag, t.revision, " + pick("updated_us", "last_updated"),
      reported.empty() ? " FROM job_tasks t" : " FROM job_tasks t LEFT JOIN " + reported + " f ON f.id = t.id"};
}

StoredTask ReadTask(store::SqlStatement& q) {
  StoredTask st;
  protocol::Task& t = st.task;
  t.id = q.Text(0);
  t.job = q.Text(1);
  t.manager = q.Text(2);
  t.name = q.Text(3);
  st.stored_status = q.Text(4);
  t.status = protocol::TaskStatusFromString(*st.stored_status).value_or(TaskStatus::kQueued);
  t.priority = static_cast<int>(q.Int(5));
  t.job_priority = static_cast<int>(q.Int(6));
  t.job_type = q.Text(7);
  t.task_type = q.Text(8);
  for (const auto& c : ParseJson(q.Text(9), json::array())) {
    if (!c.is_object()) continue;
    t.commands.push_back({c.value("name", ""), c.contains("settings") ? c["settings"] : json::object()});
  }
  for (const auto& p : ParseJson(q.Text(10), json::array()))
    if (p.is_string()) t.parents.push_back(p.get<std::string>());
  t.log = q.Text(11);
  t.activity = q.Text(12);
  t.worker = q.Text(13);
  for (const auto& f : ParseJson(q.Text(14), json::array()))
    if (f.is_object()) t.failed_by_workers.push_back({f.value("id", ""), f.value("identifier", "")});
  t.metrics = ParseJson(q.Text(15), json::object());
  t.task_progress_percentage = static_cast<int>(q.Int(16));
  t.current_command_index = static_cast<int>(q.Int(17));
  t.command_progress_percentage = static_cast<int>(q.Int(18));
  t.etag = q.Text(19);
  st.revision = q.Int(20);
  if (!q.IsNull(21)) t.last_updated = FromUnixMicros(q.Int(21));
  return st;
}

std::string CommandsJson(const protocol::Task& t) {
  json arr = json::array();
  for (const auto& c : t.commands) arr.push_back({{"name", c.name}, {"settings", c.settings}});
  return arr.dump();
}

// CommandsJson of consecutive tasks: a compiler gives most tasks of a job
// the same commands but for a setting or two, and a big job's tasks often
// repeat them exactly (sleep, exec); the serialised text of the previous
// task is reused when its commands compare equal, which is cheaper than
// building and dumping the JSON again.
class JsonMemo {
 public:
  const std::string& Of(const protocol::Task& t) {
    if (!valid_ || !SameCommands(t.commands, last_)) {
      text_ = CommandsJson(t);
      last_ = t.commands;
      valid_ = true;
    }
    return text_;
  }

 private:
  static bool SameCommands(const std::vector<protocol::Command>& a, const std::vector<protocol::Command>& b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
      if (a[i].name != b[i].name || !Same(a[i].settings, b[i].settings)) return false;
    return true;
  }
  // Equal and serialised alike: json's == holds for 1 and 1.0, which dump
  // differently.
  static bool Same(const json& a, const json& b) {
    if (a.type() != b.type()) return false;
    if (a.is_object()) {
      if (a.size() != b.size()) return false;
      for (auto ia = a.begin(), ib = b.begin(); ia != a.end(); ++ia, ++ib)
        if (ia.key() != ib.key() || !Same(ia.value(), ib.value())) return false;
      return true;
    }
    if (a.is_array()) {
      if (a.size() != b.size()) return false;
      for (size_t i = 0; i < a.size(); ++i)
        if (!Same(a[i], b[i])) return false;
      return true;
    }
    return a == b;
  }
  bool valid_ = false;
  std::vector<protocol::Command> last_;
  std::string text_;
};

std::string FailedByJson(const std::vector<protocol::FailedByWorker>& failed_by) {
  if (failed_by.empty()) return "[]";
  json arr = json::array();
  for (const auto& f : failed_by) arr.push_back({{"id", f.id}, {"identifier", f.identifier}});
  return arr.dump();
}

// What RunnableTasks returns: `t` (job_tasks) of manager ?1, after the
// task table(s) (TaskSql::from).
const char* kRunnableWhere =
    " JOIN jobs j ON j.id = t.job_id WHERE t.manager = ?1 AND t.status IN "
    "('queued', 'claimed-by-manager', 'soft-failed') AND j.status IN ('queued', 'active', 'cancel-requested')";

std::vector<StoredTask> ReadTasks(store::SqlStatement& q) {
  std::vector<StoredTask> out;
  while (q.Step()) out.push_back(ReadTask(q));
  return out;
}

class SqlJobStoreTx final : public JobStoreTx {
 public:
  SqlJobStoreTx(store::SqlConn& c, const TaskSql& sql) : c_(c), sql_(sql) {}

  std::optional<Job> GetJob(const std::string& id) override {
    auto& q = c_.Prepare(std::string("SELECT ") + kJobColumns + " FROM jobs WHERE id = ?1");
    q.Bind(1, id);
    if (!q.Step()) return std::nullopt;
    return ReadJob(q);
  }

  std::optional<JobStatus> GetJobStatus(const std::string& id) override {
    auto& q = c_.Prepare("SELECT status FROM jobs WHERE id = ?1");
    q.Bind(1, id);
    if (!q.Step()) return std::nullopt;
    auto status = protocol::JobStatusFromString(q.Text(0)).value_or(JobStatus::kQueued);
    q.Reset();
    return status;
  }

  std::vector<Job> ListJobs(const JobFilter& filter) override {
    std::vector<Job> out;
    if (filter.status) {
      auto& q = c_.Prepare(std::string("SELECT ") + kJobColumns +
                           " FROM jobs WHERE status = ?1 ORDER BY created_us DESC, id DESC LIMIT ?2");
      q.Bind(1, ToString(*filter.status)).Bind(2, filter.limit);
      while (q.Step()) out.push_back(ReadJob(q));
    } else {
      auto& q =
          c_.Prepare(std::string("SELECT ") + kJobColumns + " FROM jobs ORDER BY created_us DESC, id DESC LIMIT ?1");
      q.Bind(1, filter.limit);
      while (q.Step()) out.push_back(ReadJob(q));
    }
    return out;
  }

  void InsertJob(const Job& j) override {
    c_.Prepare(
          "INSERT INTO jobs (id, name, job_type, priority, status, status_reason, settings, submitter, manager, "
          "start_paused, created_us, updated_us) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)")
        .Bind(1, j.id)
        .Bind(2, j.name)
        .Bind(3, j.job_type)
        .Bind(4, j.priority)
        .Bind(5, ToString(j.status))
        .Bind(6, j.status_reason)
        .Bind(7, j.settings.dump())
        .Bind(8, j.submitter)
        .Bind(9, j.manager)
        .Bind(10, j.start_paused ? 1 : 0)
        .Bind(11, ToUnixMicros(j.created))
        .Bind(12, ToUnixMicros(j.updated))
        .Run();
  }

  void DeleteJob(const std::string& id) override {
    c_.Prepare("DELETE FROM job_task_counts WHERE job_id = ?1").Bind(1, id).Run();
    c_.Prepare("DELETE FROM jobs_log_requests WHERE job_id = ?1").Bind(1, id).Run();
    c_.Prepare("DELETE FROM job_tasks WHERE job_id = ?1").Bind(1, id).Run();
    c_.Prepare("DELETE FROM jobs WHERE id = ?1").Bind(1, id).Run();
  }

  void UpdateJob(const Job& j) override {
    c_.Prepare("UPDATE jobs SET status = ?2, status_reason = ?3, priority = ?4, updated_us = ?5 WHERE id = ?1")
        .Bind(1, j.id)
        .Bind(2, ToString(j.status))
        .Bind(3, j.status_reason)
        .Bind(4, j.priority)
        .Bind(5, ToUnixMicros(j.updated))
        .Run();
  }

  TaskStatusCounts CountTasks(const std::string& job_id) override {
    TaskStatusCounts counts;
    auto& q = c_.Prepare("SELECT status, n FROM job_task_counts WHERE job_id = ?1 AND n > 0");
    q.Bind(1, job_id);
    while (q.Step()) {
      if (auto s = protocol::TaskStatusFromString(q.Text(0))) counts.by_status[*s] = static_cast<int>(q.Int(1));
    }
    return counts;
  }

  void AdjustCount(const std::string& job_id, const std::string& status, int64_t delta) override {
    AddCount(job_id, status, delta);
  }

  void SetBlockedReason(const std::string& task_id, const std::string& reason) override {
    c_.Prepare("UPDATE job_tasks SET blocked_reason = ?2 WHERE id = ?1").Bind(1, task_id).Bind(2, reason).Run();
  }

  std::pair<int, std::string> BlockedSummary(const std::string& job_id) override {
    auto& q = c_.Prepare(
        "SELECT COUNT(*), MIN(blocked_reason) FROM job_tasks WHERE job_id = ?1 AND blocked_reason != '' "
        "AND status IN ('queued', 'claimed-by-manager', 'soft-failed')");
    q.Bind(1, job_id);
    q.Step();
    std::pair<int, std::string> out{static_cast<int>(q.Int(0)), q.Text(1)};
    q.Reset();
    return out;
  }

  std::optional<StoredTask> GetTask(const std::string& id) override { return TaskById(id); }

  std::optional<TaskForUpdate> GetTaskForUpdate(const std::string& id, bool with_log, bool with_metrics) override {
    auto& q = c_.Prepare(std::string("SELECT job_id, manager, status, revision") + (with_log ? ", log" : ", ''") +
                         (with_metrics ? ", metrics" : ", '{}'") + " FROM job_tasks WHERE id = ?1");
    q.Bind(1, id);
    if (!q.Step()) return std::nullopt;
    TaskForUpdate t;
    t.id = id;
    t.job = q.Text(0);
    t.manager = q.Text(1);
    t.stored_status = q.Text(2);
    t.revision = q.Int(3);
    if (with_log) t.log = q.Text(4);
    if (with_metrics) t.metrics = ParseJson(q.Text(5), json::object());
    q.Reset();
    return t;
  }

  std::vector<StoredTask> TasksOfJob(const std::string& job_id) override {
    auto& q = c_.Prepare("SELECT " + sql_.columns + sql_.from + " WHERE t.job_id = ?1 ORDER BY t.seq");
    q.Bind(1, job_id);
    return ReadTasks(q);
  }

  void InsertTasks(const std::vector<protocol::Task>& tasks, int64_t first_revision, int tasks_per_revision) override {
    auto& q = c_.Prepare(
        "INSERT INTO job_tasks (id, job_id, seq, manager, name, status, priority, job_priority, job_type, "
        "task_type, commands, parents, log, activity, worker, failed_by_workers, metrics, "
        "task_progress_percentage, current_command_index, command_progress_percentage, etag, revision, updated_us) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, "
        "?22, ?23)");
    std::map<std::pair<std::string_view, std::string_view>, int> counts;
    JsonMemo commands_json;
    for (size_t i = 0; i < tasks.size(); ++i) {
      const auto& t = tasks[i];
      const std::string_view status = ToString(t.status);
      if (i > 0) q.Reset();
      q.Bind(1, t.id)
          .Bind(2, t.job)
          .Bind(3, static_cast<int64_t>(i))
          .Bind(4, t.manager)
          .Bind(5, t.name)
          .Bind(6, status)
          .Bind(7, t.priority)
          .Bind(8, t.job_priority)
          .Bind(9, t.job_type)
          .Bind(10, t.task_type)
          .Bind(11, commands_json.Of(t))
          .Bind(12, t.parents.empty() ? std::string("[]") : json(t.parents).dump())
          .Bind(13, t.log)
          .Bind(14, t.activity)
          .Bind(15, t.worker)
          .Bind(16, FailedByJson(t.failed_by_workers))
          .Bind(17, t.metrics.empty() ? std::string("{}") : t.metrics.dump())
          .Bind(18, t.task_progress_percentage)
          .Bind(19, t.current_command_index)
          .Bind(20, t.command_progress_percentage)
          .Bind(21, t.etag)
          .Bind(22, first_revision + static_cast<int64_t>(i) / std::max(tasks_per_revision, 1))
          .Bind(23, t.last_updated ? std::optional<int64_t>(ToUnixMicros(*t.last_updated)) : std::nullopt)
          .Run();
      ++counts[{t.job, status}];
    }
    for (const auto& [key, n] : counts) AddCount(std::string(key.first), key.second, n);
  }

  void ClaimTasks(const std::string& job_id, const std::vector<std::string>& task_ids) override {
    int claimed = 0;
    for (const auto& id : task_ids) {
      auto& q = c_.Prepare(
          "UPDATE job_tasks SET status = 'claimed-by-manager' WHERE id = ?1 AND job_id = ?2 AND status = 'queued'");
      q.Bind(1, id).Bind(2, job_id).Run();
      claimed += q.Changes();
    }
    if (claimed == 0) return;
    MoveCounts(job_id, ToString(TaskStatus::kQueued), ToString(TaskStatus::kClaimedByManager), claimed);
  }

  void UpdateTask(const StoredTask& st) override {
    const auto& t = st.task;
    MoveCount(st);
    auto& q =
        c_.Prepare(std::string("UPDATE job_tasks SET ") + kStateColumns +
                   ", status = ?11, priority = ?12, job_priority = ?13, etag = ?14, revision = ?15 WHERE id = ?1");
    BindState(q, t)
        .Bind(11, ToString(t.status))
        .Bind(12, t.priority)
        .Bind(13, t.job_priority)
        .Bind(14, t.etag)
        .Bind(15, st.revision)
        .Run();
  }

  void UpdateTaskState(const TaskStateChange& c) override {
    // The UPDATE names only the columns the change sets: SQLite rewrites
    // the entry of every index on a column a SET names, changed or not, and
    // every value bound is one more string or JSON text to build.
    const bool status_changed = c.status && ToString(*c.status) != c.stored_status;
    // Parameters are numbered in the order set (PostgreSQL wants no gaps).
    std::string sql = "UPDATE job_tasks SET updated_us = COALESCE(?2, updated_us)";
    int n = 2;
    auto set = [&](bool on, std::string_view column) {
      if (!on) return;
      sql.append(", ").append(column).append(" = ?").append(std::to_string(++n));
    };
    set(status_changed, "status");
    set(c.revision.has_value(), "revision");
    set(c.log.has_value(), "log");
    set(c.activity.has_value(), "activity");
    set(c.worker.has_value(), "worker");
    set(c.failed_by_workers.has_value(), "failed_by_workers");
    set(c.metrics.has_value(), "metrics");
    set(c.task_progress_percentage.has_value(), "task_progress_percentage");
    set(c.current_command_index.has_value(), "current_command_index");
    set(c.command_progress_percentage.has_value(), "command_progress_percentage");
    auto& q = c_.Prepare(sql + " WHERE id = ?1");
    q.Bind(1, c.id).Bind(2, c.updated ? std::optional<int64_t>(ToUnixMicros(*c.updated)) : std::nullopt);
    n = 2;
    if (status_changed) q.Bind(++n, ToString(*c.status));
    if (c.revision) q.Bind(++n, *c.revision);
    if (c.log) q.Bind(++n, *c.log);
    if (c.activity) q.Bind(++n, *c.activity);
    if (c.worker) q.Bind(++n, *c.worker);
    if (c.failed_by_workers) q.Bind(++n, FailedByJson(*c.failed_by_workers));
    if (c.metrics) q.Bind(++n, c.metrics->dump());
    if (c.task_progress_percentage) q.Bind(++n, *c.task_progress_percentage);
    if (c.current_command_index) q.Bind(++n, *c.current_command_index);
    if (c.command_progress_percentage) q.Bind(++n, *c.command_progress_percentage);
    q.Run();
    if (status_changed && !c.count_later) MoveCounts(c.job, c.stored_status, ToString(*c.status), 1);
  }

  std::vector<StoredTask> RunnableTasks(const std::string& manager, int64_t max_revision) override {
    auto& q = c_.Prepare("SELECT " + sql_.columns + sql_.from + kRunnableWhere +
                         " AND t.revision <= ?2 ORDER BY j.priority DESC, t.priority DESC, j.created_us, t.seq");
    q.Bind(1, manager).Bind(2, max_revision);
    return ReadTasks(q);
  }

  std::vector<StoredTask> TasksChangedSince(const std::string& manager, int64_t revision,
                                            int64_t max_revision) override {
    auto& q = c_.Prepare("SELECT " + sql_.columns + sql_.from +
                         " WHERE t.manager = ?1 AND t.revision > ?2 AND t.revision <= ?3 "
                         "ORDER BY t.revision, t.job_id, t.seq");
    q.Bind(1, manager).Bind(2, revision).Bind(3, max_revision);
    return ReadTasks(q);
  }

  std::optional<int64_t> NthRevision(const std::string& manager, std::optional<int64_t> since, int n) override {
    // Incremental: walks the (manager, revision) index. Full: the status
    // index, then a sort of the runnable tasks' revisions (once per Manager
    // start; later downloads are incremental).
    std::optional<int64_t> out;
    if (since) {
      auto& q = c_.Prepare(
          "SELECT revision FROM job_tasks WHERE manager = ?1 AND revision > ?2 ORDER BY revision LIMIT 1 OFFSET ?3");
      q.Bind(1, manager).Bind(2, *since).Bind(3, n);
      if (q.Step()) out = q.Int(0);
      q.Reset();
    } else {
      auto& q = c_.Prepare(std::string("SELECT t.revision FROM job_tasks t") + kRunnableWhere +
                           " ORDER BY t.revision LIMIT 1 OFFSET ?2");
      q.Bind(1, manager).Bind(2, n);
      if (q.Step()) out = q.Int(0);
      q.Reset();
    }
    return out;
  }

  std::optional<int64_t> RevisionOf(const std::string& id, const std::string& manager) override {
    auto& q = c_.Prepare("SELECT revision FROM job_tasks WHERE id = ?1 AND manager = ?2");
    q.Bind(1, id).Bind(2, manager);
    std::optional<int64_t> out;
    if (q.Step()) out = q.Int(0);
    q.Reset();
    return out;
  }

  std::vector<StoredTask> UnassignedQueuedTasks() override {
    auto& q = c_.Prepare("SELECT " + sql_.columns + sql_.from +
                         " JOIN jobs j ON j.id = t.job_id WHERE t.manager = '' AND t.status = "
                         "'queued' AND j.status IN ('queued', 'active') ORDER BY j.priority DESC, t.priority DESC, "
                         "j.created_us, t.seq");
    return ReadTasks(q);
  }

  void AssignTaskManager(const std::string& task_id, const std::string& manager) override {
    c_.Prepare("UPDATE job_tasks SET manager = ?2 WHERE id = ?1").Bind(1, task_id).Bind(2, manager).Run();
  }

  int64_t CountHandledUpdates() override {
    auto& q = c_.Prepare("SELECT COUNT(*) FROM jobs_handled_updates");
    q.Step();
    const int64_t n = q.Int(0);
    q.Reset();
    return n;
  }

  int CountHeldTasks(const std::string& manager) override {
    auto& q = c_.Prepare(
        "SELECT COUNT(*) FROM job_tasks WHERE manager = ?1 AND status IN ('queued', 'claimed-by-manager', "
        "'soft-failed')");
    q.Bind(1, manager);
    q.Step();
    const int n = static_cast<int>(q.Int(0));
    q.Reset();
    return n;
  }

  std::vector<std::string> TaskIdsInStatus(const std::string& manager, TaskStatus status) override {
    auto& q = c_.Prepare("SELECT id FROM job_tasks WHERE manager = ?1 AND status = ?2 ORDER BY job_id, seq");
    q.Bind(1, manager).Bind(2, ToString(status));
    std::vector<std::string> out;
    while (q.Step()) out.push_back(q.Text(0));
    return out;
  }

  int64_t CurrentRevision() override {
    auto v = GetMeta("revision");
    return v ? std::stoll(*v) : 0;
  }

  int64_t NextRevision() override {
    const int64_t next = CurrentRevision() + 1;
    SetMeta("revision", std::to_string(next));
    return next;
  }

  bool IsUpdateHandled(const std::string& update_id) override {
    auto& q = c_.Prepare("SELECT 1 FROM jobs_handled_updates WHERE update_id = ?1");
    q.Bind(1, update_id);
    return q.Step();
  }

  void MarkUpdateHandled(const std::string& update_id, SystemTime now) override {
    c_.Prepare("INSERT INTO jobs_handled_updates (update_id, handled_us) VALUES (?1, ?2) ON CONFLICT DO NOTHING")
        .Bind(1, update_id)
        .Bind(2, ToUnixMicros(now))
        .Run();
  }

  void ForgetHandledUpdatesBefore(SystemTime cutoff) override {
    c_.Prepare("DELETE FROM jobs_handled_updates WHERE handled_us < ?1").Bind(1, ToUnixMicros(cutoff)).Run();
  }

  void AddLogRequest(const protocol::UploadRequest& r, const std::string& manager, SystemTime now) override {
    c_.Prepare(
          "INSERT INTO jobs_log_requests (task_id, job_id, manager, requested_us) VALUES (?1, ?2, ?3, ?4) "
          "ON CONFLICT DO NOTHING")
        .Bind(1, r.task)
        .Bind(2, r.job)
        .Bind(3, manager)
        .Bind(4, ToUnixMicros(now))
        .Run();
  }

  void RemoveLogRequest(const std::string& task_id) override {
    c_.Prepare("DELETE FROM jobs_log_requests WHERE task_id = ?1").Bind(1, task_id).Run();
  }

  std::vector<protocol::UploadRequest> LogRequests(const std::string& manager) override {
    auto& q =
        c_.Prepare("SELECT job_id, task_id FROM jobs_log_requests WHERE manager = ?1 ORDER BY requested_us, task_id");
    q.Bind(1, manager);
    std::vector<protocol::UploadRequest> out;
    while (q.Step()) out.push_back({q.Text(0), q.Text(1)});
    return out;
  }

  std::optional<std::string> GetMeta(const std::string& key) override {
    auto& q = c_.Prepare("SELECT value FROM jobs_meta WHERE key = ?1");
    q.Bind(1, key);
    if (!q.Step()) return std::nullopt;
    return q.Text(0);
  }

  void SetMeta(const std::string& key, const std::string& value) override {
    c_.Prepare(
          "INSERT INTO jobs_meta (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value")
        .Bind(1, key)
        .Bind(2, value)
        .Run();
  }

 private:
  std::optional<StoredTask> TaskById(const std::string& id) {
    auto& q = c_.Prepare("SELECT " + sql_.columns + sql_.from + " WHERE t.id = ?1");
    q.Bind(1, id);
    if (!q.Step()) return std::nullopt;
    return ReadTask(q);
  }

  // The mutable fields UpdateTask writes besides the status, priorities,
  // etag and revision, bound as ?2..?10 by BindState (?1 is the task's ID).
  static constexpr const char* kStateColumns =
      "log = ?2, activity = ?3, worker = ?4, failed_by_workers = ?5, metrics = ?6, task_progress_percentage = ?7, "
      "current_command_index = ?8, command_progress_percentage = ?9, updated_us = COALESCE(?10, updated_us)";
  static store::SqlStatement& BindState(store::SqlStatement& q, const protocol::Task& t) {
    return q.Bind(1, t.id)
        .Bind(2, t.log)
        .Bind(3, t.activity)
        .Bind(4, t.worker)
        .Bind(5, FailedByJson(t.failed_by_workers))
        .Bind(6, t.metrics.dump())
        .Bind(7, t.task_progress_percentage)
        .Bind(8, t.current_command_index)
        .Bind(9, t.command_progress_percentage)
        .Bind(10, t.last_updated ? std::optional<int64_t>(ToUnixMicros(*t.last_updated)) : std::nullopt);
  }

  // Moves the task's job count from its stored status to its new one (the
  // stored status from the copy, else read). True when the status changed.
  bool MoveCount(const StoredTask& st) {
    const auto& t = st.task;
    std::optional<std::pair<std::string, std::string>> was;  // (job, status) as stored
    if (st.stored_status) {
      was.emplace(t.job, *st.stored_status);
    } else {
      auto& old = c_.Prepare("SELECT job_id, status FROM job_tasks WHERE id = ?1");
      old.Bind(1, t.id);
      if (old.Step()) was.emplace(old.Text(0), old.Text(1));
      old.Reset();
    }
    const std::string_view now = ToString(t.status);
    if (!was || was->second == now) return false;
    MoveCounts(was->first, was->second, now, 1);
    return true;
  }

  // `n` tasks of the job from status `from` to `to`: both counts in one
  // statement.
  void MoveCounts(const std::string& job_id, std::string_view from, std::string_view to, int64_t n) {
    c_.Prepare(
          "INSERT INTO job_task_counts (job_id, status, n) VALUES (?1, ?2, ?4), (?1, ?3, ?5) "
          "ON CONFLICT (job_id, status) DO UPDATE SET n = job_task_counts.n + excluded.n")
        .Bind(1, job_id)
        .Bind(2, from)
        .Bind(3, to)
        .Bind(4, -n)
        .Bind(5, n)
        .Run();
  }

  void AddCount(const std::string& job_id, std::string_view status, int64_t delta) {
    c_.Prepare(
          "INSERT INTO job_task_counts (job_id, status, n) VALUES (?1, ?2, ?3) "
          "ON CONFLICT (job_id, status) DO UPDATE SET n = job_task_counts.n + ?3")
        .Bind(1, job_id)
        .Bind(2, status)
        .Bind(3, delta)
        .Run();
  }

  store::SqlConn& c_;
  const TaskSql& sql_;
};

// Runs `fn`, letting StoreError through (Database maps its code) and turning
// any other exception into an error result so the transaction rolls back.
Status RunGuarded(store::SqlConn& c, const TaskSql& sql, const std::function<Status(JobStoreTx&)>& fn) {
  SqlJobStoreTx tx(c, sql);
  try {
    return fn(tx);
  } catch (const store::StoreError&) {
    throw;
  } catch (const std::exception& e) {
    return Internal(std::string("job store: ") + e.what());
  }
}

class SqlJobStore final : public JobStore {
 public:
  SqlJobStore(store::SqlDatabase& db, const JobStoreOptions& options)
      : db_(db), sql_(MakeTaskSql(options.reported_fields_table)) {}

  Status Write(const std::function<Status(JobStoreTx&)>& fn) override {
    return db_.SqlWrite([&](store::SqlConn& c) { return RunGuarded(c, sql_, fn); });
  }
  Status Read(const std::function<Status(JobStoreTx&)>& fn) override {
    return db_.SqlRead([&](store::SqlConn& c) { return RunGuarded(c, sql_, fn); });
  }
  Status WriteIn(store::SqlConn& conn, const std::function<Status(JobStoreTx&)>& fn) override {
    return RunGuarded(conn, sql_, fn);
  }

 private:
  store::SqlDatabase& db_;
  const TaskSql sql_;
};

}  // namespace

Result<std::unique_ptr<JobStore>> OpenSqlJobStore(store::SqlDatabase& db, const JobStoreOptions& options) {
  const std::string& table = options.reported_fields_table;
  if (!std::all_of(table.begin(), table.end(), [](char ch) { return (ch >= 'a' && ch <= 'z') || ch == '_'; }))
    return InvalidArgument("reported_fields_table must be a plain table name, got '" + table + "'");
  const auto& migrations = db.dialect() == store::Dialect::kPostgres ? PostgresMigrations() : Migrations();
  if (auto st = db.Migrate("jobs", migrations); !st) return std::unexpected(st.error());
  return std::unique_ptr<JobStore>(new SqlJobStore(db, options));
}

}  // namespace duende::jobs
