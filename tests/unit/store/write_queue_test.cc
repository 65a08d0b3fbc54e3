#include "store/write_queue.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <future>
#include <latch>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "common/wakeup_batch.h"
#include "support/temp_dir.h"

namespace duende::store {
namespace {

class WriteQueueTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = std::move(*Database::Open(path_));
    ASSERT_TRUE(db_->Migrate("test", {"CREATE TABLE t (v TEXT NOT NULL UNIQUE)"}).has_value());
    queue_ = std::make_unique<WriteQueue>(*db_);
  }
  void TearDown() override { queue_.reset(); }

  static WriteQueue::Run InsertRun(std::string v) {
    return [v](Conn& c) -> Status {
      c.Prepare("INSERT INTO t (v) VALUES (?1)").Bind(1, v).Run();
      return Ok();
    };
  }
  // Queues a write that holds the writer thread until `release` counts
  // down, so the writes queued meanwhile form the next batch.
  void HoldWriter(std::latch& started, std::latch& release) {
    queue_->Submit(
        [&](Conn&) -> Status {
          started.count_down();
          release.wait();
          return Ok();
        },
        [](const Status&) {});
    started.wait();
  }
  // Inserts "a", runs `middle`, inserts "b", as one batch of a new queue
  // whose rerun hook counts in reruns_seen_.
  struct ThreeWrites {
    std::vector<Status> outcomes;
    std::vector<int> runs = std::vector<int>(3, 0);
  };
  ThreeWrites RunThreeInOneBatch(WriteQueue::Run middle) {
    ThreeWrites out;
    queue_.reset();
    queue_ = std::make_unique<WriteQueue>(*db_, [this] { ++reruns_seen_; });
    if (with_shared_work_) UseSharedWork();
    std::latch started(1), release(1);
    HoldWriter(started, release);
    const std::vector<WriteQueue::Run> writes = {with_shared_work_ ? ShareRun("a") : InsertRun("a"), std::move(middle),
                                                 with_shared_work_ ? ShareRun("b") : InsertRun("b")};
    std::vector<std::promise<Status>> outcomes(writes.size());
    for (size_t i = 0; i < writes.size(); ++i) {
      queue_->Submit(
          [run = writes[i], &runs = out.runs[i]](Conn& c) -> Status {
            ++runs;
            return run(c);
          },
          [&outcome = outcomes[i]](const Status& st) { outcome.set_value(st); });
    }
    release.count_down();
    for (auto& p : outcomes) out.outcomes.push_back(p.get_future().get());
    return out;
  }
  // Rows as a second connection sees them: what is committed.
  std::vector<std::string> CommittedRows() const {
    sqlite3* other = nullptr;
    EXPECT_EQ(sqlite3_open(path_.c_str(), &other), SQLITE_OK);
    std::vector<std::string> out;
    sqlite3_stmt* q = nullptr;
    sqlite3_prepare_v2(other, "SELECT v FROM t ORDER BY v", -1, &q, nullptr);
    while (sqlite3_step(q) == SQLITE_ROW) out.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(q, 0)));
    sqlite3_finalize(q);
    sqlite3_close(other);
    return out;
  }

  // Shared work of a batch (WriteQueue::BatchHook): each write made with
  // ShareRun leaves its value pending; `finish` inserts "shared:V" for each
  // pending V (and fails on "bad"), and its after-commit function records
  // "after" in events_.
  void UseSharedWork() {
    queue_->SetBatchHook({[this] {
                            ++begins_;
                            pending_.clear();
                          },
                          [this](Conn& c) -> Result<std::function<void()>> {
                            ++finishes_;
                            if (pending_.empty()) return std::function<void()>{};
                            const auto values = std::move(pending_);
                            pending_.clear();
                            for (const auto& v : values) {
                              if (v == "bad") return Internal("shared work for 'bad' failed");
                              c.Prepare("INSERT INTO t (v) VALUES (?1)").Bind(1, "shared:" + v).Run();
                            }
                            return [this] {
                              std::lock_guard lock(events_mu_);
                              events_.push_back("after");
                            };
                          }});
  }
  WriteQueue::Run ShareRun(std::string v) {
    return [this, v](Conn& c) -> Status {
      c.Prepare("INSERT INTO t (v) VALUES (?1)").Bind(1, v).Run();
      pending_.push_back(v);
      return Ok();
    };
  }

  testing::TempDir dir_;
  std::string path_ = dir_ / "db.sqlite";
  bool with_shared_work_ = false;     // RunThreeInOneBatch: UseSharedWork, and a and b share
  std::vector<std::string> pending_;  // the writer thread's
  int begins_ = 0, finishes_ = 0;     // the writer thread's
  std::mutex events_mu_;
  std::vector<std::string> events_;
  std::unique_ptr<Database> db_;
  std::unique_ptr<WriteQueue> queue_;
  int reruns_seen_ = 0;  // calls of the rerun hook (RunThreeInOneBatch)
};

TEST_F(WriteQueueTest, WritesQueuedMeanwhileShareOneCommitAndEachIsDoneOnlyAfterIt) {
  std::latch started(1), release(1);
  HoldWriter(started, release);
  const uint64_t commits0 = db_->commits();
  constexpr int kWrites = 50;
  std::mutex mu;
  std::vector<bool> seen_committed(kWrites, false);
  std::latch done(kWrites);
  for (int i = 0; i < kWrites; ++i) {
    const std::string v = "v" + std::to_string(100 + i);
    queue_->Submit(InsertRun(v), [&, i, v](const Status& st) {
      EXPECT_TRUE(st.has_value()) << st.error().message;
      const auto rows = CommittedRows();
      std::lock_guard lock(mu);
      seen_committed[i] = std::find(rows.begin(), rows.end(), v) != rows.end();
      done.count_down();
    });
  }
  release.count_down();
  done.wait();
  EXPECT_EQ(std::count(seen_committed.begin(), seen_committed.end(), true), kWrites)
      << "a write was reported done before another connection could see it";
  EXPECT_EQ(queue_->writes(), static_cast<uint64_t>(kWrites + 1));
  EXPECT_EQ(queue_->batches(), 2u) << "the writes queued behind the first batch did not share a transaction";
  EXPECT_EQ(db_->commits() - commits0, 2u);
}

TEST_F(WriteQueueTest, WorkAfterACommitDoesNotHoldTheNextTransactionAndDonesKeepTheirOrder) {
  // The first write's done is slow (the Manager appends task logs there).
  std::latch in_done(1), release_done(1);
  std::mutex mu;
  std::vector<std::string> order;
  queue_->Submit(InsertRun("first"), [&](const Status& st) {
    EXPECT_TRUE(st.has_value());
    in_done.count_down();
    release_done.wait();
    std::lock_guard lock(mu);
    order.push_back("first");
  });
  in_done.wait();
  // Meanwhile the writer runs and commits the next write.
  std::promise<void> second_ran;
  queue_->Submit(
      [&](Conn& c) -> Status {
        c.Prepare("INSERT INTO t (v) VALUES ('second')").Run();
        second_ran.set_value();
        return Ok();
      },
      [&](const Status& st) {
        EXPECT_TRUE(st.has_value());
        std::lock_guard lock(mu);
        order.push_back("second");
      });
  const bool ran = second_ran.get_future().wait_for(std::chrono::seconds(10)) == std::future_status::ready;
  EXPECT_TRUE(ran) << "the writer waited for the first write's done";
  std::vector<std::string> rows;
  for (int i = 0; ran && i < 500; ++i) {
    rows = CommittedRows();
    if (rows.size() == 2) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(rows, (std::vector<std::string>{"first", "second"}))
      << "the second write did not commit while the first one's done was still running";
  {
    std::lock_guard lock(mu);
    EXPECT_TRUE(order.empty()) << "the second write was done before the first";
  }
  release_done.count_down();
  queue_->Stop();  // waits for both dones
  EXPECT_EQ(order, (std::vector<std::string>{"first", "second"}));
  EXPECT_EQ(queue_->batches(), 2u);
}

TEST_F(WriteQueueTest, AFailingWriteUndoesOnlyItsOwnChanges) {
  std::latch started(1), release(1);
  HoldWriter(started, release);
  std::vector<std::promise<Status>> outcomes(5);
  auto record = [&](int i) { return [&, i](const Status& st) { outcomes[i].set_value(st); }; };
  queue_->Submit(InsertRun("a"), record(0));
  queue_->Submit(
      [](Conn& c) -> Status {
        c.Prepare("INSERT INTO t (v) VALUES ('refused')").Run();
        return Conflict("changed its mind");
      },
      record(1));
  queue_->Submit(InsertRun("a"), record(2));  // UNIQUE: SQLite fails it
  queue_->Submit(
      [](Conn& c) -> Status {
        c.Prepare("INSERT INTO t (v) VALUES ('thrown')").Run();
        throw std::logic_error("bug");
      },
      record(3));
  queue_->Submit(InsertRun("b"), record(4));
  release.count_down();
  std::vector<Status> got;
  for (auto& p : outcomes) got.push_back(p.get_future().get());
  EXPECT_TRUE(got[0].has_value());
  ASSERT_FALSE(got[1].has_value());
  EXPECT_EQ(got[1].error().code, ErrorCode::kConflict);
  ASSERT_FALSE(got[2].has_value());
  EXPECT_NE(got[2].error().message.find("UNIQUE"), std::string::npos) << got[2].error().message;
  ASSERT_FALSE(got[3].has_value());
  EXPECT_EQ(got[3].error().code, ErrorCode::kInternal);
  EXPECT_TRUE(got[4].has_value());
  EXPECT_EQ(CommittedRows(), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(queue_->batches(), 2u);
  EXPECT_EQ(queue_->reruns(), 1u) << "writes failed after changing rows: the batch ran again with savepoints";
}

// Writes run without a savepoint each. One that fails before it changed a
// row (the usual failure: something unknown at the first read) leaves the
// others as they are: each write runs once and no batch is run again.
TEST_F(WriteQueueTest, WritesThatFailBeforeChangingARowNeedNoSecondRun) {
  const auto got = RunThreeInOneBatch([](Conn& c) -> Status {
    auto& q = c.Prepare("SELECT v FROM t WHERE v = 'missing'");
    const bool found = q.Step();
    q.Reset();
    return found ? Ok() : NotFound("no such row");
  });
  EXPECT_TRUE(got.outcomes[0].has_value());
  ASSERT_FALSE(got.outcomes[1].has_value());
  EXPECT_EQ(got.outcomes[1].error().code, ErrorCode::kNotFound);
  EXPECT_TRUE(got.outcomes[2].has_value());
  EXPECT_EQ(CommittedRows(), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(got.runs, (std::vector<int>{1, 1, 1}));
  EXPECT_EQ(queue_->reruns(), 0u);
  EXPECT_EQ(reruns_seen_, 0);
}

// A write that fails after changing a row: the batch's transaction is
// rolled back, the hook runs, and every write of the batch runs again, each
// in its own savepoint; the others' changes commit once, the failed one's
// not at all.
TEST_F(WriteQueueTest, AWriteThatFailsAfterChangingARowRunsTheBatchAgainWithSavepoints) {
  const auto got = RunThreeInOneBatch([](Conn& c) -> Status {
    c.Prepare("INSERT INTO t (v) VALUES ('half-done')").Run();
    return Conflict("changed its mind");
  });
  EXPECT_TRUE(got.outcomes[0].has_value());
  ASSERT_FALSE(got.outcomes[1].has_value());
  EXPECT_EQ(got.outcomes[1].error().code, ErrorCode::kConflict);
  EXPECT_TRUE(got.outcomes[2].has_value());
  EXPECT_EQ(CommittedRows(), (std::vector<std::string>{"a", "b"}));
  // The first run stopped at the failed write; the second ran all three.
  EXPECT_EQ(got.runs, (std::vector<int>{2, 2, 1}));
  EXPECT_EQ(queue_->reruns(), 1u);
  EXPECT_EQ(reruns_seen_, 1);
}

TEST_F(WriteQueueTest, SharedWorkIsDoneOncePerBatchBeforeItsCommitAndItsEffectsRunBeforeTheDones) {
  UseSharedWork();
  std::latch started(1), release(1);
  HoldWriter(started, release);
  constexpr int kWrites = 3;
  std::latch done(kWrites);
  std::vector<bool> shared_committed(kWrites, false);
  for (int i = 0; i < kWrites; ++i) {
    const std::string v = "v" + std::to_string(i);
    queue_->Submit(ShareRun(v), [&, i, v](const Status& st) {
      EXPECT_TRUE(st.has_value()) << st.error().message;
      const auto rows = CommittedRows();
      shared_committed[i] = std::find(rows.begin(), rows.end(), "shared:" + v) != rows.end();
      {
        std::lock_guard lock(events_mu_);
        events_.push_back("done " + v);
      }
      done.count_down();
    });
  }
  release.count_down();
  done.wait();
  EXPECT_EQ(shared_committed, std::vector<bool>(kWrites, true)) << "a write was done before its shared work committed";
  EXPECT_EQ(events_, (std::vector<std::string>{"after", "done v0", "done v1", "done v2"}));
  EXPECT_EQ(queue_->batches(), 2u);
  EXPECT_EQ(finishes_, 2);  // once for the held write's batch (nothing pending), once for the three
  EXPECT_EQ(begins_, 2);
}

// Run again with savepoints, the shared work is done write by write inside
// each savepoint: the failed write's share is dropped with its changes.
TEST_F(WriteQueueTest, AWriteRolledBackToItsSavepointTakesItsShareOfTheSharedWorkWithIt) {
  with_shared_work_ = true;
  const auto got = RunThreeInOneBatch([this](Conn& c) -> Status {
    ShareRun("half-done")(c);
    return Conflict("changed its mind");
  });
  EXPECT_TRUE(got.outcomes[0].has_value());
  EXPECT_FALSE(got.outcomes[1].has_value());
  EXPECT_TRUE(got.outcomes[2].has_value());
  EXPECT_EQ(CommittedRows(), (std::vector<std::string>{"a", "b", "shared:a", "shared:b"}));
  EXPECT_EQ(queue_->reruns(), 1u);
}

TEST_F(WriteQueueTest, SharedWorkThatFailsFailsOnlyTheWriteWhoseShareItWas) {
  with_shared_work_ = true;
  const auto got = RunThreeInOneBatch(ShareRun("bad"));
  EXPECT_TRUE(got.outcomes[0].has_value());
  ASSERT_FALSE(got.outcomes[1].has_value());
  EXPECT_EQ(got.outcomes[1].error().message, "shared work for 'bad' failed");
  EXPECT_TRUE(got.outcomes[2].has_value());
  EXPECT_EQ(CommittedRows(), (std::vector<std::string>{"a", "b", "shared:a", "shared:b"}));
  EXPECT_EQ(got.runs, (std::vector<int>{2, 2, 2}));  // the whole first run, then write by write
  EXPECT_EQ(queue_->reruns(), 1u);
}

TEST_F(WriteQueueTest, AFailedTransactionFailsEveryWriteOfItsBatchAndChangesNothing) {
  db_->SetFaultInjector([] { return Unavailable("disk full (injected)"); });
  std::vector<std::promise<Status>> outcomes(3);
  for (int i = 0; i < 3; ++i)
    queue_->Submit(InsertRun("x" + std::to_string(i)), [&, i](const Status& st) { outcomes[i].set_value(st); });
  for (auto& p : outcomes) {
    const Status st = p.get_future().get();
    ASSERT_FALSE(st.has_value());
    EXPECT_EQ(st.error().code, ErrorCode::kUnavailable);
  }
  EXPECT_TRUE(CommittedRows().empty());
  db_->SetFaultInjector(nullptr);
  std::promise<Status> after;
  queue_->Submit(InsertRun("after"), [&](const Status& st) { after.set_value(st); });
  EXPECT_TRUE(after.get_future().get().has_value()) << "the writer keeps working";
  EXPECT_EQ(CommittedRows(), (std::vector<std::string>{"after"}));
}

TEST_F(WriteQueueTest, StopRunsWhatIsQueuedThenRefusesNewWrites) {
  std::latch started(1), release(1);
  HoldWriter(started, release);
  int ok = 0;
  for (int i = 0; i < 10; ++i)
    queue_->Submit(InsertRun("q" + std::to_string(i)), [&](const Status& st) { ok += st.has_value() ? 1 : 0; });
  std::thread stopper([&] { queue_->Stop(); });
  release.count_down();
  stopper.join();
  EXPECT_EQ(ok, 10);
  EXPECT_EQ(CommittedRows().size(), 10u);
  std::optional<Status> late;
  queue_->Submit(InsertRun("late"), [&](const Status& st) { late = st; });
  ASSERT_TRUE(late.has_value()) << "done runs at once after Stop";
  ASSERT_FALSE(late->has_value());
  EXPECT_EQ(late->error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(CommittedRows().size(), 10u);
}

TEST_F(WriteQueueTest, WhileAnotherProcessHoldsTheWriteLockOneBatchWaitsAndNewWritesFailAtOnce) {
  // Reopened with a busy timeout long enough to outlast the test's steps.
  queue_.reset();
  db_.reset();
  db_ = std::move(*Database::Open(path_, "NORMAL", std::chrono::seconds(30)));
  queue_ = std::make_unique<WriteQueue>(*db_);
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &other), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(other, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  std::promise<Status> waiting;
  queue_->Submit(InsertRun("waited"), [&](const Status& st) { waiting.set_value(st); });
  // Its batch finds the lock taken; the database turns busy and the batch
  // waits for the lock.
  for (int i = 0; i < 500 && !db_->busy(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_TRUE(db_->busy());
  std::optional<Status> refused;
  queue_->Submit(InsertRun("refused"), [&](const Status& st) { refused = st; });
  ASSERT_TRUE(refused.has_value()) << "a write submitted while the batch waits is answered at once";
  ASSERT_FALSE(refused->has_value());
  EXPECT_EQ(refused->error().code, ErrorCode::kBusy);
  ASSERT_EQ(sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(other);
  const Status waited = waiting.get_future().get();
  EXPECT_TRUE(waited.has_value()) << "the waiting batch commits once the lock is free: " << waited.error().message;
  std::promise<Status> after;
  queue_->Submit(InsertRun("after"), [&](const Status& st) { after.set_value(st); });
  EXPECT_TRUE(after.get_future().get().has_value());
  EXPECT_EQ(CommittedRows(), (std::vector<std::string>{"after", "waited"}));
}

// The finisher runs a committed batch's dones inside one WakeupBatch: a
// done's wake-up (the HTTP server waking an I/O thread to send an answer)
// runs once, after every done of the batch.
TEST_F(WriteQueueTest, WakeUpsFromABatchsDonesRunOnceAfterAllOfThem) {
  std::latch started(1), release(1);
  HoldWriter(started, release);
  constexpr int kWrites = 20;
  const int key = 0;
  std::mutex mu;
  int dones = 0;
  std::vector<int> dones_at_wakeup;
  std::latch finished(kWrites);
  for (int i = 0; i < kWrites; ++i) {
    queue_->Submit(InsertRun("w" + std::to_string(i)), [&](const Status&) {
      {
        std::lock_guard lock(mu);
        ++dones;
      }
      DeferWakeup(&key, [&] {
        std::lock_guard lock(mu);
        dones_at_wakeup.push_back(dones);
      });
      finished.count_down();
    });
  }
  release.count_down();
  finished.wait();
  queue_->Stop();
  std::lock_guard lock(mu);
  EXPECT_EQ(dones_at_wakeup, std::vector<int>{kWrites});
}

}  // namespace
}  // namespace duende::store
