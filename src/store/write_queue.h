// A store writer for requests that should not hold their thread while their
// write waits for a commit (the Manager's hot worker endpoints).
//
// Callers Submit a write and return at once; one writer thread takes every
// write queued so far (up to kMaxBatch) and runs them in one transaction
// (a WriteTx member of the database, so other writers may still share its
// commit), each in a SAVEPOINT of its own: a write that fails undoes only
// its own changes. After the COMMIT, each write's `done` runs on the writer
// thread with the write's outcome (or the commit's failure). While one batch
// commits, the next one queues up, so the size of a commit group follows the
// load instead of being capped by the number of threads that block on it.
//
// Durability is the database's: nothing is reported done before its commit.
// While another process holds the write lock (see sqlite.h), the running
// batch waits for it and writes submitted meanwhile fail at once with kBusy.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "common/result.h"
#include "store/sqlite.h"

namespace duende::store {

class WriteQueue {
 public:
  // Runs inside the write's savepoint, under the store's lock. An error
  // result (or a StoreError it throws) rolls back the write's changes.
  using Run = std::function<Status(Conn&)>;
  // Runs on the writer thread after the commit, with Run's result, or with
  // the commit's error when the transaction failed.
  using Done = std::function<void(const Status&)>;

  // Most writes one transaction takes.
  static constexpr size_t kMaxBatch = 256;

  explicit WriteQueue(Database& db);
  ~WriteQueue();
  WriteQueue(const WriteQueue&) = delete;
  WriteQueue& operator=(const WriteQueue&) = delete;

  // Queues a write. After Stop(), `done` runs at once (on the caller's
  // thread) with kUnavailable.
  void Submit(Run run, Done done);
  // Runs the writes already queued, then ends the writer thread.
  void Stop();

  // Writes run and transactions committed (or failed) so far; their ratio is
  // the mean batch size.
  uint64_t writes() const;
  uint64_t batches() const;

 private:
  struct Item {
    Run run;
    Done done;
  };
  void Loop();
  void RunBatch(std::vector<Item>& batch);

  Database& db_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Item> queue_;
  bool stopping_ = false;
  bool running_ = false;  // a batch is running
  uint64_t writes_ = 0;
  uint64_t batches_ = 0;
  std::thread thread_;
};

}  // namespace duende::store
