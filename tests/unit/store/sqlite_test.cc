#include "store/sqlite.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace duende::store
