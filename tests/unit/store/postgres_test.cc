// The PostgreSQL side of the SQL seam: parameter rewriting, transactions
// that commit or roll back whole, migrations applied once, clear errors for
// an unreachable server. (The job store and registry suites run on it too.)
#include "store/postgres.h"

#include <gtest/gtest.h>

#include <thread>

#include "support/backends.h"

namespace duende::store {
namespace {

TEST(RewriteParametersTest, QuestionMarksBecomeDollarsOutsideQuotes) {
  EXPECT_EQ(RewriteParameters("SELECT a FROM t WHERE id = ?1 AND b > ?12"),
            "SELECT a FROM t WHERE id = $1 AND b > $12");
  EXPECT_EQ(RewriteParameters("SELECT '?1', \"we?ird\" FROM t WHERE x = ?2"),
            "SELECT '?1', \"we?ird\" FROM t WHERE x = $2");
  EXPECT_EQ(RewriteParameters("SELECT 'it''s ?1' WHERE y = ?1"), "SELECT 'it''s ?1' WHERE y = $1");
}

TEST(PostgresUrlTest, OnlyPostgresSchemes) {
  EXPECT_TRUE(IsPostgresUrl("postgresql://farm@db/duende"));
  EXPECT_TRUE(IsPostgresUrl("postgres:///duende"));
  EXPECT_FALSE(IsPostgresUrl("/var/lib/duende/server.sqlite"));
  EXPECT_FALSE(IsPostgresUrl("mysql://db"));
}

TEST(PgOpenTest, UnreachableServerIsAClearUnavailableError) {
  auto db = PgDatabase::Open("postgresql://127.0.0.1:1/nothing?connect_timeout=2");
  ASSERT_FALSE(db);
  EXPECT_EQ(db.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(db.error().message.find("cannot connect to PostgreSQL"), std::string::npos) << db.error().message;
}

class PgDatabaseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(pg_.ok()) << pg_.error();
    auto db = PgDatabase::Open(pg_.url());
    ASSERT_TRUE(db) << db.error().message;
    db_ = std::move(*db);
    ASSERT_TRUE(db_->Migrate("t", {"CREATE TABLE t (k TEXT PRIMARY KEY, v BIGINT NOT NULL, note TEXT)"}));
  }
  int64_t Count() {
    auto n = db_->Query([](SqlConn& c) -> Result<int64_t> {
      auto& q = c.Prepare("SELECT COUNT(*) FROM t");
      q.Step();
      return q.Int(0);
    });
    EXPECT_TRUE(n) << n.error().message;
    return n.value_or(-1);
  }
  testing::TempPostgresDatabase pg_;
  std::unique_ptr<PgDatabase> db_;
};

TEST_F(PgDatabaseTest, ValuesRoundTripIncludingNullAndLargeIntegers) {
  ASSERT_TRUE(db_->Transact([](SqlConn& c) -> Status {
    c.Prepare("INSERT INTO t (k, v, note) VALUES (?1, ?2, ?3)")
        .Bind(1, "a")
        .Bind(2, int64_t{1} << 53)
        .Bind(3, "x'y")
        .Run();
    c.Prepare("INSERT INTO t (k, v, note) VALUES (?1, ?2, ?3)").Bind(1, "b").Bind(2, -7).BindNull(3).Run();
    return Ok();
  }));
  auto rows = db_->Query([](SqlConn& c) -> Result<std::vector<std::string>> {
    std::vector<std::string> out;
    auto& q = c.Prepare("SELECT k, v, note FROM t ORDER BY k");
    while (q.Step())
      out.push_back(q.Text(0) + "=" + std::to_string(q.Int(1)) + (q.IsNull(2) ? "/null" : "/" + q.Text(2)));
    return out;
  });
  ASSERT_TRUE(rows) << rows.error().message;
  EXPECT_EQ(*rows, (std::vector<std::string>{"a=9007199254740992/x'y", "b=-7/null"}));
}

TEST_F(PgDatabaseTest, FailedTransactionLeavesNothingAndTheConnectionWorks) {
  auto failed = db_->Transact([](SqlConn& c) -> Status {
    c.Prepare("INSERT INTO t (k, v) VALUES (?1, ?2)").Bind(1, "a").Bind(2, 1).Run();
    return InvalidArgument("changed my mind");
  });
  EXPECT_FALSE(failed);
  EXPECT_EQ(Count(), 0);
  // A statement the server refuses (duplicate key) is an error, not a crash.
  ASSERT_TRUE(db_->Transact([](SqlConn& c) -> Status {
    c.Prepare("INSERT INTO t (k, v) VALUES (?1, ?2)").Bind(1, "a").Bind(2, 1).Run();
    return Ok();
  }));
  auto dup = db_->Transact([](SqlConn& c) -> Status {
    c.Prepare("INSERT INTO t (k, v) VALUES (?1, ?2)").Bind(1, "b").Bind(2, 1).Run();
    c.Prepare("INSERT INTO t (k, v) VALUES (?1, ?2)").Bind(1, "a").Bind(2, 2).Run();
    return Ok();
  });
  ASSERT_FALSE(dup);
  EXPECT_EQ(Count(), 1);
  // The upsert form the stores use.
  ASSERT_TRUE(db_->Transact([](SqlConn& c) -> Status {
    c.Prepare("INSERT INTO t (k, v) VALUES (?1, ?2) ON CONFLICT (k) DO UPDATE SET v = t.v + ?2")
        .Bind(1, "a")
        .Bind(2, 41)
        .Run();
    return Ok();
  }));
  auto v = db_->Query([](SqlConn& c) -> Result<int64_t> {
    auto& q = c.Prepare("SELECT v FROM t WHERE k = ?1");
    q.Bind(1, "a");
    if (!q.Step()) return NotFound("a");
    return q.Int(0);
  });
  EXPECT_EQ(v.value_or(0), 42);
}

TEST_F(PgDatabaseTest, MigrationsApplyOnceAcrossReopens) {
  auto again = PgDatabase::Open(pg_.url());
  ASSERT_TRUE(again);
  ASSERT_TRUE((*again)->Migrate("t", {"CREATE TABLE t (k TEXT PRIMARY KEY, v BIGINT NOT NULL, note TEXT)",
                                      "ALTER TABLE t ADD COLUMN extra TEXT"}));
  ASSERT_TRUE((*again)->Migrate("t", {"CREATE TABLE t (k TEXT PRIMARY KEY, v BIGINT NOT NULL, note TEXT)",
                                      "ALTER TABLE t ADD COLUMN extra TEXT"}));
  auto bad = (*again)->Migrate("u", {"CREATE TABLE broken ("});
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("migration u #1"), std::string::npos) << bad.error().message;
}

TEST_F(PgDatabaseTest, ConcurrentWritersAreSerialised) {
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([this, t] {
      for (int i = 0; i < 25; ++i) {
        auto st = db_->Transact([&](SqlConn& c) -> Status {
          c.Prepare("INSERT INTO t (k, v) VALUES (?1, ?2)")
              .Bind(1, std::to_string(t) + "-" + std::to_string(i))
              .Bind(2, i)
              .Run();
          return Ok();
        });
        EXPECT_TRUE(st) << st.error().message;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(Count(), 100);
}

}  // namespace
}  // namespace duende::store
