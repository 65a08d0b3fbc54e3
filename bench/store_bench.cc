// The farm's task-completion path next to a bare SQLite loop of the same
// writes (issue 6, §3): how much the state machine, its checks and the store
// layer cost on top of what SQLite itself needs.
//
// Both run one worker on a file database (WAL, synchronous=NORMAL) in a temp
// directory, one task per iteration:
//   farm:  Farm::RequestTask (assign) then Farm::UpdateTask(completed with a
//          log line): what a worker's requests do, minus HTTP.
//   bare:  the row writes those two calls make, as plain SQLite statements in
//          two transactions: the task's status/worker/ping, the queued
//          upstream update, the worker's bookkeeping.
// Task logs are appended in both (the farm writes them; the bare loop writes
// the same line with one open/write/close) so the comparison is the store.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/ids.h"
#include "manager/farm.h"
#include "store/sqlite.h"

namespace duende::manager {
namespace {

namespace fs = std::filesystem;

struct TempDir {
  TempDir() {
    char tmpl[] = "/tmp/duende-store-bench-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() { fs::remove_all(path); }
  std::string path;
};

constexpr int kBatch = 2000;  // tasks added per depsgraph refill

std::vector<protocol::Task> MakeTasks(int n) {
  std::vector<protocol::Task> out;
  out.reserve(n);
  for (int i = 0; i < n; ++i) {
    protocol::Task t;
    t.id = NewObjectId();
    t.job = "aaaabbbbccccddddeeeeffff";
    t.name = "task " + std::to_string(i);
    t.status = protocol::TaskStatus::kClaimedByManager;
    t.task_type = "sleep";
    t.commands.push_back({"sleep", {{"time_in_seconds", 1}}});
    out.push_back(std::move(t));
  }
  return out;
}

void BM_FarmAssignAndComplete(benchmark::State& state) {
  TempDir dir;
  SystemClock clock;
  auto db = std::move(*store::Database::Open(dir.path + "/farm.sqlite"));
  auto store = std::move(*FarmStore::Open(*db, clock));
  TaskLogs logs(dir.path + "/logs");
  Farm farm(*store, logs, clock, FarmOptions{});
  auto worker = *farm.RegisterWorker({"secret", "linux", {"sleep"}, "bench"}, "127.0.0.1:1", "bench");
  const Seen seen{"127.0.0.1", "bench"};
  (void)farm.SignOn(worker.id, std::nullopt, std::nullopt, seen);
  int left = 0;
  for (auto _ : state) {
    if (left == 0) {
      state.PauseTiming();
      (void)farm.ApplyDepsgraph(MakeTasks(kBatch));
      left = kBatch;
      state.ResumeTiming();
    }
    auto offer = farm.RequestTask(worker.id, seen);
    if (!offer || offer->kind != TaskOffer::Kind::kTask) state.SkipWithError("no task offered");
    protocol::TaskUpdate u;
    u.task_status = protocol::TaskStatus::kCompleted;
    u.log = "2026-11-27T12:00:00Z: task done\n";
    if (!farm.UpdateTask(worker.id, offer->task.id, u, seen)) state.SkipWithError("update failed");
    --left;
    // Keep the upstream queue from growing without bound, as the link does.
    if (left == 0) {
      state.PauseTiming();
      (void)store->Write([](FarmTx& tx) -> Status {
        std::vector<std::string> ids;
        for (const auto& q : tx.PeekUpdates(1000000)) ids.push_back(q.id);
        tx.RemoveUpdates(ids);
        return Ok();
      });
      state.ResumeTiming();
    }
  }
  state.SetItemsProcessed(state.iterations());
}
// Real time: the farm's task writes run on the store's writer thread, so the
// calling thread's CPU time would leave most of the cost out.
BENCHMARK(BM_FarmAssignAndComplete)->UseRealTime()->Unit(benchmark::kMicrosecond);

void Exec(sqlite3* db, const char* sql) {
  if (sqlite3_exec(db, sql, nullptr, nullptr, nullptr) != SQLITE_OK) throw std::runtime_error(sqlite3_errmsg(db));
}

struct Stmt {
  Stmt(sqlite3* db, const char* sql) { sqlite3_prepare_v2(db, sql, -1, &s, nullptr); }
  ~Stmt() { sqlite3_finalize(s); }
  Stmt& Text(int i, const std::string& v) {
    sqlite3_bind_text(s, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& Int(int i, int64_t v) {
    sqlite3_bind_int64(s, i, v);
    return *this;
  }
  void Run() {
    sqlite3_step(s);
    sqlite3_reset(s);
  }
  sqlite3_stmt* s = nullptr;
};

// Appends a task's log line the way the Manager's job log pack does: one
// write(2) of the task's ID and the line to the job's open file.
void AppendLog(int fd, const std::string& task_id, const std::string& line) {
  const std::string record = task_id + line;
  (void)!::write(fd, record.data(), record.size());
}

// Argument 1: with the task log lines (the same work as the farm); 0: the
// SQLite writes alone, to show what the log lines cost.
void BM_BareSqliteAssignAndComplete(benchmark::State& state) {
  const bool logs = state.range(0) != 0;
  TempDir dir;
  fs::create_directories(dir.path + "/logs");
  const int log_fd = ::open((dir.path + "/logs/logs.pack").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  sqlite3* db = nullptr;
  sqlite3_open_v2((dir.path + "/bare.sqlite").c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
  Exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA cache_size=-65536;");
  Exec(db,
       "CREATE TABLE tasks (id TEXT PRIMARY KEY, status TEXT NOT NULL, worker TEXT NOT NULL DEFAULT '', "
       "worker_id TEXT, last_worker_ping INTEGER, priority INTEGER NOT NULL DEFAULT 50, "
       "job_priority INTEGER NOT NULL DEFAULT 50, payload TEXT NOT NULL);"
       "CREATE INDEX tasks_schedulable ON tasks (job_priority DESC, priority DESC, id) "
       "  WHERE status IN ('queued', 'claimed-by-manager', 'soft-failed');"
       "CREATE TABLE queue (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, task_id TEXT NOT NULL, "
       "payload TEXT NOT NULL);"
       "CREATE TABLE workers (id TEXT PRIMARY KEY, last_activity INTEGER, current_task TEXT);"
       "INSERT INTO workers VALUES ('w', 0, '');");
  Stmt insert(db, "INSERT INTO tasks (id, status, payload) VALUES (?1, 'claimed-by-manager', ?2)");
  Stmt pick(db,
            "SELECT id FROM tasks INDEXED BY tasks_schedulable WHERE status IN ('queued', 'claimed-by-manager', "
            "'soft-failed') ORDER BY job_priority DESC, priority DESC, id LIMIT 1");
  Stmt assign(db,
              "UPDATE tasks SET status = 'active', worker = 'bench', worker_id = 'w', last_worker_ping = ?2 "
              "WHERE id = ?1");
  Stmt complete(db, "UPDATE tasks SET status = 'completed', last_worker_ping = ?2 WHERE id = ?1");
  Stmt enqueue(db, "INSERT INTO queue (id, task_id, payload) VALUES (?1, ?2, ?3)");
  Stmt seen(db, "UPDATE workers SET last_activity = ?2, current_task = ?3 WHERE id = ?1");
  const std::string payload = R"({"commands":[{"name":"sleep","settings":{"time_in_seconds":1}}]})";
  const std::string update = R"({"task_status":"active","worker":"bench","log_tail":"assigned"})";
  int left = 0;
  int64_t now = 0;
  for (auto _ : state) {
    if (left == 0) {
      state.PauseTiming();
      Exec(db, "BEGIN");
      for (int i = 0; i < kBatch; ++i) insert.Text(1, NewObjectId()).Text(2, payload).Run();
      Exec(db, "DELETE FROM queue; COMMIT");
      left = kBatch;
      state.ResumeTiming();
    }
    Exec(db, "BEGIN IMMEDIATE");
    std::string id;
    if (sqlite3_step(pick.s) == SQLITE_ROW) id = reinterpret_cast<const char*>(sqlite3_column_text(pick.s, 0));
    sqlite3_reset(pick.s);
    assign.Text(1, id).Int(2, ++now).Run();
    enqueue.Text(1, NewObjectId()).Text(2, id).Text(3, update).Run();
    seen.Text(1, "w").Int(2, now).Text(3, id).Run();
    Exec(db, "COMMIT");
    if (logs) AppendLog(log_fd, id, "2026-11-27T12:00:00Z: Manager assigned task\n");
    Exec(db, "BEGIN IMMEDIATE");
    complete.Text(1, id).Int(2, ++now).Run();
    enqueue.Text(1, NewObjectId()).Text(2, id).Text(3, update).Run();
    seen.Text(1, "w").Int(2, now).Text(3, id).Run();
    Exec(db, "COMMIT");
    if (logs) AppendLog(log_fd, id, "2026-11-27T12:00:00Z: task done\n");
    --left;
  }
  state.SetItemsProcessed(state.iterations());
  sqlite3_close_v2(db);  // closes once the statements are finalized
  if (log_fd >= 0) ::close(log_fd);
}
BENCHMARK(BM_BareSqliteAssignAndComplete)->Arg(1)->Arg(0)->UseRealTime()->Unit(benchmark::kMicrosecond);

// One scheduling pick for a worker whose tasks sit behind `range(0)`
// higher-priority tasks of a type it does not run (another department's
// job), plus 100 tasks it failed before: from the in-memory index
// (range(1) = 1) or from the scheduling query on the store (0).
void BM_SelectTaskFor(benchmark::State& state) {
  SystemClock clock;
  auto db = std::move(*store::Database::Open(":memory:"));
  auto store = std::move(*FarmStore::Open(*db, clock));
  TaskLogs logs("/nonexistent");
  Farm farm(*store, logs, clock, FarmOptions{});
  auto others = MakeTasks(static_cast<int>(state.range(0)));
  for (auto& t : others) {
    t.task_type = "blender-render";
    t.job_priority = 90;
  }
  auto failed = MakeTasks(100);
  for (auto& t : failed) {
    t.job_priority = 80;
    t.failed_by_workers.push_back({"w", "bench"});
  }
  auto mine = MakeTasks(1000);
  (void)farm.ApplyDepsgraph(others);
  (void)farm.ApplyDepsgraph(failed);
  (void)farm.ApplyDepsgraph(mine);
  WorkerRecord w;
  w.id = "w";
  w.supported_task_types = {"sleep"};
  const bool indexed = state.range(1) == 1;
  for (auto _ : state) {
    auto id = store->Read([&](FarmTx& tx) -> Result<std::optional<std::string>> {
      return indexed ? tx.SelectTaskFor(w) : tx.SelectTaskForSql(w);
    });
    if (!id || !*id) throw std::runtime_error("no task picked");
    benchmark::DoNotOptimize(id);
  }
}
BENCHMARK(BM_SelectTaskFor)
    ->Args({0, 1})
    ->Args({0, 0})
    ->Args({10000, 1})
    ->Args({10000, 0})
    ->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace duende::manager

BENCHMARK_MAIN();
