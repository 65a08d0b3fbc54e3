#include "store/write_queue.h"

#include <spdlog/spdlog.h>

#include <exception>
#include <utility>

#include "common/thread_name.h"
#include "common/wakeup_batch.h"

namespace duende::store {

WriteQueue::WriteQueue(Database& db, std::function<void()> on_rerun) : db_(db), on_rerun_(std::move(on_rerun)) {
  finisher_ = std::thread([this] {
    NameThisThread("store-finisher");
    FinishLoop();
  });
  thread_ = std::thread([this] {
    NameThisThread("store-writer");
    Loop();
  });
}

WriteQueue::~WriteQueue() { Stop(); }

void WriteQueue::SetBatchHook(BatchHook hook) {
  std::lock_guard lock(mu_);
  hook_ = std::move(hook);
}

void WriteQueue::Submit(Run run, Done done) {
  bool refuse_busy = false;
  {
    std::lock_guard lock(mu_);
    // As Database does for its callers: while another process holds the
    // write lock, the running batch waits for it and new writes fail at once.
    refuse_busy = running_ && db_.busy();
    if (!stopping_ && !refuse_busy) {
      queue_.push_back(Item{std::move(run), std::move(done)});
      if (queue_.size() == 1) cv_.notify_one();
      return;
    }
  }
  if (refuse_busy)
    done(MakeError(ErrorCode::kBusy, "database busy: another process holds the write lock (waiting for it)"));
  else
    done(Unavailable("the store's writer has stopped"));
}

void WriteQueue::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
  // The writer has handed over its last batch.
  {
    std::lock_guard lock(finish_mu_);
    finish_stopping_ = true;
  }
  finish_cv_.notify_one();
  if (finisher_.joinable()) finisher_.join();
}

uint64_t WriteQueue::writes() const {
  std::lock_guard lock(mu_);
  return writes_;
}

uint64_t WriteQueue::batches() const {
  std::lock_guard lock(mu_);
  return batches_;
}

uint64_t WriteQueue::reruns() const {
  std::lock_guard lock(mu_);
  return reruns_;
}

void WriteQueue::Loop() {
  std::vector<Item> batch;
  for (;;) {
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and everything queued has run
      if (queue_.size() <= kMaxBatch) {
        batch.swap(queue_);
      } else {
        batch.assign(std::make_move_iterator(queue_.begin()), std::make_move_iterator(queue_.begin() + kMaxBatch));
        queue_.erase(queue_.begin(), queue_.begin() + kMaxBatch);
      }
      writes_ += batch.size();
      ++batches_;
      running_ = true;
    }
    RunBatch(batch);
    batch.clear();
    std::lock_guard lock(mu_);
    running_ = false;
  }
}

void WriteQueue::RunBatch(std::vector<Item>& batch) {
  std::vector<Status> outcomes(batch.size(), Ok());
  std::vector<std::function<void()>> after;
  bool rerun = false;
  Status committed =
      db_.WriteTx([&](Conn& c) -> Status { return RunWrites(c, batch, outcomes, /*savepoints=*/false, rerun, after); });
  if (rerun) {
    {
      std::lock_guard lock(mu_);
      ++reruns_;
    }
    if (on_rerun_) on_rerun_();
    outcomes.assign(batch.size(), Ok());
    committed = db_.WriteTx([&](Conn& c) -> Status { return RunWrites(c, batch, outcomes, true, rerun, after); });
  }
  if (!committed) {
    for (auto& item : batch) RunDone(item, committed);
    return;
  }
  {
    std::lock_guard lock(finish_mu_);
    committed_.push_back(Committed{std::move(batch), std::move(outcomes), std::move(after)});
    if (committed_.size() > 1) return;  // the finisher is awake
  }
  finish_cv_.notify_one();
}

// Runs one write (or BatchHook::finish) and turns what it throws into a
// Status.
template <typename F>
static Status Guarded(const char* what, F&& fn) {
  try {
    return fn();
  } catch (const StoreError& e) {
    return std::unexpected(ErrorFromStoreError(e));
  } catch (const std::exception& e) {
    spdlog::error("{} failed: {}", what, e.what());
    return Internal(std::string(what) + " failed: " + e.what());
  }
}

Status WriteQueue::FinishShared(Conn& c, std::vector<std::function<void()>>& after) {
  if (!hook_.finish) return Ok();
  return Guarded("a queued batch's shared work", [&]() -> Status {
    auto fn = hook_.finish(c);
    if (!fn) return std::unexpected(fn.error());
    if (*fn) after.push_back(std::move(*fn));
    return Ok();
  });
}

Status WriteQueue::RunWrites(Conn& c, std::vector<Item>& batch, std::vector<Status>& outcomes, bool savepoints,
                             bool& rerun, std::vector<std::function<void()>>& after) {
  after.clear();
  if (hook_.begin) hook_.begin();
  for (size_t i = 0; i < batch.size(); ++i) {
    if (savepoints) c.Prepare("SAVEPOINT queued_write").Run();
    const int64_t changes_before = c.TotalChanges();
    Status st = Guarded("queued store write", [&] { return batch[i].run(c); });
    c.ResetBusyStatements();
    if (savepoints) {
      // The write's shared work is done inside its own savepoint, so a
      // failure there undoes this write alone.
      if (st) st = FinishShared(c, after);
      c.ResetBusyStatements();
      if (!st) {
        c.Prepare("ROLLBACK TO queued_write").Run();
        if (hook_.begin) hook_.begin();  // drop the rolled-back write's share
      }
      c.Prepare("RELEASE queued_write").Run();
    } else if (!st) {
      // SQLite ended the transaction itself (an I/O error, a full disk): the
      // whole batch fails, as its savepoint could not be rolled back to.
      if (!c.InTransaction()) return st;
      if (c.TotalChanges() != changes_before) {
        rerun = true;
        return Internal("a queued write failed after changing rows: run again with savepoints");
      }
    }
    outcomes[i] = std::move(st);
  }
  if (savepoints) return Ok();
  Status shared = FinishShared(c, after);
  c.ResetBusyStatements();
  if (!shared) {
    if (!c.InTransaction()) return shared;
    // Which write's share failed is found by running each in its savepoint.
    rerun = true;
    return Internal("a queued batch's shared work failed: run again with savepoints");
  }
  return Ok();
}

void WriteQueue::FinishLoop() {
  for (;;) {
    Committed next;
    {
      std::unique_lock lock(finish_mu_);
      finish_cv_.wait(lock, [&] { return finish_stopping_ || !committed_.empty(); });
      if (committed_.empty()) return;  // stopping, and every batch is finished
      next = std::move(committed_.front());
      committed_.pop_front();
    }
    WakeupBatch wakeups;
    // The batch's shared work first: a caller told its write is done can
    // count on what that work announces (a job's new status) being out.
    for (auto& fn : next.after) {
      try {
        fn();
      } catch (const std::exception& e) {
        spdlog::error("after a queued batch: {}", e.what());
      }
    }
    for (size_t i = 0; i < next.items.size(); ++i) RunDone(next.items[i], next.outcomes[i]);
  }
}

void WriteQueue::RunDone(Item& item, const Status& outcome) {
  try {
    item.done(outcome);
  } catch (const std::exception& e) {
    spdlog::error("after a queued store write: {}", e.what());
  }
}

}  // namespace duende::store
