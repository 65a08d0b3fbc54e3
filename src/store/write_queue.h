// A store writer for requests that should not hold their thread while their
// write waits for a commit (the Manager's hot worker endpoints).
//
// Callers Submit a write and return at once; one writer thread takes every
// write queued so far (up to kMaxBatch) and runs them in one transaction
// (a WriteTx member of the database, so other writers may still share its
// commit). A write that fails undoes only its own changes. While one batch
// commits, the next one queues up, so the size of a commit group follows
// the load instead of being capped by the number of threads that block on
// it.
//
// Savepoints: the writes of a batch first run one after the other without
// a savepoint each. A savepoint per write made SQLite copy every page a
// write touched into its statement journal again for each write, the pages
// that many writes share (counts, index pages, worker rows) included; the
// batch without them took x1.07 throughput (docs/benchmarks.md). A write
// that fails before it changed a row needs nothing undone, which is how
// writes fail almost always (an unknown worker or task is found at the first
// read). Only when a write fails after it changed rows is the batch's
// transaction rolled back and the whole batch run again, each write in a
// SAVEPOINT of its own, so that write's changes alone are undone.
//
// After the COMMIT the writer hands the batch to a second thread, the
// finisher, which runs each write's `done` with its outcome, in submission
// order, while the writer goes on with the next batch: the work that
// follows a commit (the Manager's task-log appends, notifications, sending
// the answers) overlaps the next transaction instead of delaying it. The
// dones of one batch run inside a WakeupBatch (common/wakeup_batch.h), so
// the threads they hand answers to are woken once per batch. A
// failed commit's `done`s run on the writer thread before the next batch
// starts, so a caller can mark what the rollback undid before any other
// write runs.
//
// Work the writes of a batch share (BatchHook): a total many writes move, a
// status derived from many changes, is best done once per batch rather
// than by each write. A write leaves its share pending with the hook's
// owner; the hook's `finish` does it, in the batch's transaction, after the
// last write and before the commit. When the batch runs again with a
// savepoint per write, `finish` runs after each write inside its savepoint
// instead, and a write that fails drops its share (`begin`), so nothing of
// a rolled-back write is done. What `finish` returns runs after the
// commit, on the finisher, before the batch's `done`s.
//
// Durability is the database's: nothing is reported done before its commit.
// While another process holds the write lock (see sqlite.h), the running
// batch waits for it and writes submitted meanwhile fail at once with kBusy.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "common/result.h"
#include "store/sqlite.h"

namespace duende::store {

class WriteQueue {
 public:
  // Runs in the batch's transaction, under the store's lock. An error
  // result (or a StoreError it throws) rolls back the write's changes. May
  // run twice for one write (see Savepoints above): its effects outside the
  // transaction must wait for `done` (or be redone by the second run).
  using Run = std::function<Status(Conn&)>;
  // Runs after the commit on the finisher thread, with Run's result; or,
  // when the transaction failed, on the writer thread with the commit's error.
  using Done = std::function<void(const Status&)>;

  // Most writes one transaction takes.
  static constexpr size_t kMaxBatch = 256;

  // `on_rerun` runs on the writer thread when a batch's transaction was
  // rolled back to be run again with a savepoint per write (see Savepoints
  // above), before the second run: state the first run's writes changed
  // outside the database (a cache that followed them) must be dropped.
  explicit WriteQueue(Database& db, std::function<void()> on_rerun = {});
  ~WriteQueue();
  WriteQueue(const WriteQueue&) = delete;
  WriteQueue& operator=(const WriteQueue&) = delete;

  // See "Work the writes of a batch share" above. Both run on the writer
  // thread. `begin` drops whatever is pending: a batch (or its second run)
  // starts, or a write that failed in its savepoint is rolled back.
  // `finish` does what is pending in the open transaction; an error (or a
  // StoreError) fails the batch's writes as a write's own error would.
  struct BatchHook {
    std::function<void()> begin;
    std::function<Result<std::function<void()>>(Conn&)> finish;
  };
  // Set before the first Submit.
  void SetBatchHook(BatchHook hook);

  // Queues a write. After Stop(), `done` runs at once (on the caller's
  // thread) with kUnavailable.
  void Submit(Run run, Done done);
  // Runs the writes already queued and their `done`s, then ends both threads.
  void Stop();

  // Writes run and transactions committed (or failed) so far; their ratio is
  // the mean batch size.
  uint64_t writes() const;
  uint64_t batches() const;
  // Batches that were run a second time with a savepoint per write.
  uint64_t reruns() const;

 private:
  struct Item {
    Run run;
    Done done;
  };
  // A committed batch waiting for the finisher.
  struct Committed {
    std::vector<Item> items;
    std::vector<Status> outcomes;
    std::vector<std::function<void()>> after;  // BatchHook::finish's, run before the dones
  };
  void Loop();
  void RunBatch(std::vector<Item>& batch);
  // Runs every write of `batch` in the open transaction, with a savepoint
  // each or not. Without: returns an error and sets `rerun` when a write
  // failed after it changed rows.
  Status RunWrites(Conn& c, std::vector<Item>& batch, std::vector<Status>& outcomes, bool savepoints, bool& rerun,
                   std::vector<std::function<void()>>& after);
  // BatchHook::finish, its error or exception as a Status; its result added
  // to `after`.
  Status FinishShared(Conn& c, std::vector<std::function<void()>>& after);
  void FinishLoop();
  static void RunDone(Item& item, const Status& outcome);

  Database& db_;
  const std::function<void()> on_rerun_;
  BatchHook hook_;  // set before the first Submit
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Item> queue_;
  bool stopping_ = false;
  bool running_ = false;  // a batch is running
  uint64_t writes_ = 0;
  uint64_t batches_ = 0;
  uint64_t reruns_ = 0;
  std::mutex finish_mu_;
  std::condition_variable finish_cv_;
  std::deque<Committed> committed_;  // guarded by finish_mu_
  bool finish_stopping_ = false;     // guarded by finish_mu_
  std::thread finisher_;
  std::thread thread_;
};

}  // namespace duende::store
