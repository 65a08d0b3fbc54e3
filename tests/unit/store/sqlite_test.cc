#include "store/sqlite.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <stdexcept>
#include <thread>
#include <vector>

#include "support/temp_dir.h"

namespace duende::store {
namespace {

const std::vector<std::string> kMigrations = {
    "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)",
    "ALTER TABLE t ADD COLUMN w INTEGER NOT NULL DEFAULT 7",
};

int64_t Count(Database& db) {
  return *db.Read([](Conn& c) -> Result<int64_t> {
    auto& q = c.Prepare("SELECT COUNT(*) FROM t");
    q.Step();
    return q.Int(0);
  });
}

Status Insert(Database& db, const std::string& v, std::chrono::milliseconds hold = {}) {
  return db.WriteTx([&](Conn& c) -> Status {
    c.Prepare("INSERT INTO t (v) VALUES (?1)").Bind(1, v).Run();
    if (hold.count() > 0) std::this_thread::sleep_for(hold);
    return Ok();
  });
}

TEST(SqliteTest, SqliteKeepsNoMemoryStatistics) {
  // Opening a Database turns them off before SQLite initializes: they cost
  // a process-wide mutex around every allocation. With them on, this
  // database's pages and statements would show in sqlite3_memory_used().
  auto db = Database::Open(":memory:");
  ASSERT_TRUE(db.has_value());
  ASSERT_TRUE((*db)->Migrate("t", kMigrations).has_value());
  ASSERT_TRUE((*db)->WriteTx([](Conn& c) -> Status {
    for (int i = 0; i < 100; ++i) c.Prepare("INSERT INTO t (v) VALUES (?1)").Bind(1, std::string(1000, 'x')).Run();
    return Ok();
  }));
  EXPECT_EQ(Count(**db), 100);
  EXPECT_EQ(sqlite3_memory_used(), 0);
}

TEST(SqliteTest, MigrationsRunOnceInOrder) {
  testing::TempDir dir;
  {
    auto db = std::move(*Database::Open(dir / "db.sqlite"));
    ASSERT_TRUE(db->Migrate("test", {kMigrations[0]}).has_value());
    ASSERT_TRUE(db->WriteTx([](Conn& c) -> Status {
                    c.Prepare("INSERT INTO t (v) VALUES ('a')").Run();
                    return Ok();
                  }).has_value());
  }
  auto db = std::move(*Database::Open(dir / "db.sqlite"));
  ASSERT_TRUE(db->Migrate("test", kMigrations).has_value()) << "only #2 is new";
  ASSERT_TRUE(db->Migrate("test", kMigrations).has_value()) << "idempotent";
  auto w = db->Read([](Conn& c) -> Result<int64_t> {
    auto& q = c.Prepare("SELECT w FROM t");
    q.Step();
    return q.Int(0);
  });
  EXPECT_EQ(*w, 7);
  EXPECT_TRUE(*db->IntegrityCheck());
}

TEST(SqliteTest, FailedTransactionRollsBackEverything) {
  auto db = std::move(*Database::Open(":memory:"));
  ASSERT_TRUE(db->Migrate("test", kMigrations).has_value());
  auto st = db->WriteTx([](Conn& c) -> Status {
    c.Prepare("INSERT INTO t (v) VALUES ('a')").Run();
    return InvalidArgument("changed my mind");
  });
  EXPECT_FALSE(st.has_value());
  EXPECT_EQ(Count(*db), 0);
  auto thrown = db->WriteTx([](Conn& c) -> Status {
    c.Prepare("INSERT INTO t (v) VALUES ('a')").Run();
    c.Prepare("INSERT INTO t (v) VALUES (NULL)").Run();  // NOT NULL violation throws
    return Ok();
  });
  ASSERT_FALSE(thrown.has_value());
  EXPECT_EQ(thrown.error().code, ErrorCode::kInternal);
  EXPECT_EQ(Count(*db), 0) << "the first insert must be rolled back too";
}

// Another connection holds the write lock past the busy timeout:
// SQLITE_BUSY becomes kBusy (HTTP 503 "database busy"), nothing is written,
// and the next write after the lock is released succeeds (issue 9).
TEST(SqliteTest, WriteLockHeldElsewhereIsBusyAndRecovers) {
  testing::TempDir dir;
  const std::string path = dir / "db.sqlite";
  auto db = std::move(*Database::Open(path, "NORMAL", std::chrono::milliseconds(300)));
  ASSERT_TRUE(db->Migrate("test", kMigrations).has_value());
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &other), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(other, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  auto insert = [](Conn& c) -> Status {
    c.Prepare("INSERT INTO t (v) VALUES ('a')").Run();
    return Ok();
  };
  EXPECT_FALSE(db->busy());
  auto st = db->WriteTx(insert);
  ASSERT_FALSE(st.has_value());
  EXPECT_EQ(st.error().code, ErrorCode::kBusy) << st.error().message;
  EXPECT_NE(st.error().message.find("database busy"), std::string::npos) << st.error().message;
  EXPECT_TRUE(db->busy());
  EXPECT_EQ(Count(*db), 0) << "reads work while busy";
  ASSERT_EQ(sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(other);
  EXPECT_EQ(Count(*db), 0);
  ASSERT_TRUE(db->WriteTx(insert).has_value());
  EXPECT_FALSE(db->busy());
  EXPECT_EQ(Count(*db), 1);
}

// While the database is busy, one writer at a time waits for the lock and
// the others fail at once instead of each waiting out the busy timeout in
// turn behind the store's lock; reads are not held up meanwhile; writes
// succeed as soon as the lock is free.
TEST(SqliteTest, WhileBusyOneWriterWaitsAndTheOthersFailFast) {
  testing::TempDir dir;
  const std::string path = dir / "db.sqlite";
  constexpr auto kTimeout = std::chrono::milliseconds(1500);
  auto db = std::move(*Database::Open(path, "NORMAL", kTimeout));
  ASSERT_TRUE(db->Migrate("test", kMigrations).has_value());
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &other), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(other, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  constexpr int kWriters = 8;
  std::vector<Status> results(kWriters);
  std::atomic<int> reads{0};
  std::atomic<bool> done{false};
  const auto t0 = std::chrono::steady_clock::now();
  std::thread reader([&] {
    while (!done.load()) {
      if (Count(*db) == 0) reads.fetch_add(1);
    }
  });
  std::vector<std::thread> writers;
  for (int i = 0; i < kWriters; ++i)
    writers.emplace_back([&, i] { results[i] = Insert(*db, "w" + std::to_string(i)); });
  for (auto& t : writers) t.join();
  const auto elapsed = std::chrono::steady_clock::now() - t0;
  done.store(true);
  reader.join();
  for (const auto& st : results) {
    ASSERT_FALSE(st.has_value());
    EXPECT_EQ(st.error().code, ErrorCode::kBusy) << st.error().message;
  }
  // Waiting in turn would take kWriters busy timeouts; generous bound.
  EXPECT_LT(elapsed, kTimeout * (kWriters / 2));
  EXPECT_GT(reads.load(), 0);
  EXPECT_EQ(Count(*db), 0);
  ASSERT_EQ(sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(other);
  for (int i = 0; i < kWriters; ++i) ASSERT_TRUE(Insert(*db, "after" + std::to_string(i)).has_value());
  EXPECT_EQ(Count(*db), kWriters);
  EXPECT_TRUE(*db->IntegrityCheck());
}

TEST(SqliteTest, InjectedFaultFailsCleanlyAndRecovers) {
  auto db = std::move(*Database::Open(":memory:"));
  ASSERT_TRUE(db->Migrate("test", kMigrations).has_value());
  db->SetFaultInjector([] { return Unavailable("disk full (injected)"); });
  auto st = db->WriteTx([](Conn& c) -> Status {
    c.Prepare("INSERT INTO t (v) VALUES ('a')").Run();
    return Ok();
  });
  ASSERT_FALSE(st.has_value());
  EXPECT_EQ(st.error().code, ErrorCode::kUnavailable);
  db->SetFaultInjector(nullptr);
  ASSERT_TRUE(db->WriteTx([](Conn& c) -> Status {
                  c.Prepare("INSERT INTO t (v) VALUES ('a')").Run();
                  return Ok();
                }).has_value());
  EXPECT_EQ(Count(*db), 1);
}

TEST(SqliteTest, ConcurrentWritersShareCommits) {
  testing::TempDir dir;
  auto db = std::move(*Database::Open(dir / "db.sqlite"));
  ASSERT_TRUE(db->Migrate("test", kMigrations).has_value());
  const uint64_t tx0 = db->write_transactions();
  const uint64_t commits0 = db->commits();
  constexpr int kThreads = 8, kEach = 200;
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i)
    threads.emplace_back([&, i] {
      for (int n = 0; n < kEach; ++n) {
        // The first write of each thread holds the lock a little so the
        // others pile up behind it and join its group.
        auto st = Insert(*db, std::to_string(i) + "-" + std::to_string(n), std::chrono::milliseconds(n == 0 ? 20 : 0));
        ASSERT_TRUE(st.has_value()) << st.error().message;
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(Count(*db), kThreads * kEach);
  EXPECT_EQ(db->write_transactions() - tx0, static_cast<uint64_t>(kThreads * kEach));
  EXPECT_LT(db->commits() - commits0, db->write_transactions() - tx0) << "no two writers shared a commit";
  // Everything acknowledged is on disk: a second connection sees it all.
  db.reset();
  auto reopened = std::move(*Database::Open(dir / "db.sqlite"));
  EXPECT_EQ(Count(*reopened), kThreads * kEach);
}

TEST(SqliteTest, AFailingGroupMemberUndoesOnlyItsOwnWrites) {
  auto db = std::move(*Database::Open(":memory:"));
  ASSERT_TRUE(db->Migrate("test", kMigrations).has_value());
  // The first writer holds its group open while the others queue up behind
  // it; one of them fails, one throws, the rest must still commit.
  std::thread first([&] { ASSERT_TRUE(Insert(*db, "first", std::chrono::milliseconds(50)).has_value()); });
  std::this_thread::sleep_for(std::chrono::milliseconds(10));
  std::thread failing([&] {
    auto st = db->WriteTx([](Conn& c) -> Status {
      c.Prepare("INSERT INTO t (v) VALUES ('failing')").Run();
      return Conflict("changed my mind");
    });
    EXPECT_FALSE(st.has_value());
  });
  std::thread throwing([&] {
    EXPECT_THROW(db->WriteTx([](Conn& c) -> Status {
      c.Prepare("INSERT INTO t (v) VALUES ('throwing')").Run();
      throw std::logic_error("bug");
    }),
                 std::logic_error);
  });
  std::thread last([&] { ASSERT_TRUE(Insert(*db, "last").has_value()); });
  for (auto* t : {&first, &failing, &throwing, &last}) t->join();
  auto values = db->Read([](Conn& c) -> Result<std::vector<std::string>> {
    std::vector<std::string> out;
    auto& q = c.Prepare("SELECT v FROM t ORDER BY v");
    while (q.Step()) out.push_back(q.Text(0));
    return out;
  });
  EXPECT_EQ(*values, (std::vector<std::string>{"first", "last"}));
  ASSERT_TRUE(Insert(*db, "after").has_value()) << "the store keeps working";
  EXPECT_EQ(Count(*db), 3);
}

TEST(SqliteTest, RejectsUnknownSynchronousSetting) {
  auto db = Database::Open(":memory:", "OFF");
  ASSERT_FALSE(db.has_value());
  EXPECT_EQ(db.error().code, ErrorCode::kInvalidArgument);
  EXPECT_TRUE(Database::Open(":memory:", "FULL").has_value());
}

TEST(SqliteTest, UsesWal) {
  testing::TempDir dir;
  auto db = std::move(*Database::Open(dir / "db.sqlite"));
  auto mode = db->Read([](Conn& c) -> Result<std::string> {
    auto& q = c.Prepare("PRAGMA journal_mode");
    q.Step();
    return q.Text(0);
  });
  EXPECT_EQ(*mode, "wal");
}

// The WAL is copied into the database by the store's background thread
// once it passes kCheckpointPages, with writers going on meanwhile; nothing
// is lost. (In WAL mode only a checkpoint writes the database file.)
TEST(SqliteTest, WalIsCheckpointedInTheBackgroundWhileWritersGoOn) {
  testing::TempDir dir;
  const std::string path = dir / "db.sqlite";
  const std::string value(4000, 'x');  // about one page per row
  constexpr int kThreads = 4;
  constexpr int kRowsEach = 400;  // 1,600 rows, each commit 2-3 WAL frames: past kCheckpointPages
  constexpr int kPageSize = 4096;
  static_assert(kThreads * kRowsEach > Database::kCheckpointPages);
  {
    auto db = std::move(*Database::Open(path));
    ASSERT_TRUE(db->Migrate("test", {kMigrations[0]}).has_value());
    EXPECT_EQ(db->background_checkpoints(), 0u);
    const auto size_before = std::filesystem::file_size(path);
    std::vector<std::thread> writers;
    for (int t = 0; t < kThreads; ++t)
      writers.emplace_back([&] {
        for (int i = 0; i < kRowsEach; ++i) ASSERT_TRUE(Insert(*db, value).has_value());
      });
    for (auto& w : writers) w.join();
    // The checkpoints asked for while the rows went in may still be copying
    // when the writers end: wait for the file to hold half of the rows'
    // pages (the first checkpoint alone copies about a third of them).
    const auto half_the_rows = size_before + uintmax_t{kThreads} * kRowsEach / 2 * kPageSize;
    for (int i = 0; i < 500 && !(db->background_checkpoints() >= 1 && std::filesystem::file_size(path) > half_the_rows);
         ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    EXPECT_GE(db->background_checkpoints(), 1u);
    EXPECT_GT(std::filesystem::file_size(path), half_the_rows);
    EXPECT_EQ(Count(*db), kThreads * kRowsEach);
  }
  auto again = std::move(*Database::Open(path));
  EXPECT_EQ(Count(*again), kThreads * kRowsEach);
  EXPECT_TRUE(*again->IntegrityCheck());
}

TEST(SqliteTest, InMemoryDatabaseHasNoCheckpointThread) {
  auto db = std::move(*Database::Open(":memory:"));
  ASSERT_TRUE(db->Migrate("test", {kMigrations[0]}).has_value());
  ASSERT_TRUE(Insert(*db, "x").has_value());
  EXPECT_EQ(db->background_checkpoints(), 0u);
}

}  // namespace
}  // namespace duende::store
