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
  bool rerun = false;
  Status committed =
      db_.WriteTx([&](Conn& c) -> Status { return RunWrites(c, batch, outcomes, /*savepoints=*/false, rerun); });
  if (rerun) {
    {
      std::lock_guard lock(mu_);
      ++reruns_;
    }
    if (on_rerun_) on_rerun_();
    outcomes.assign(batch.size(), Ok());
    committed = db_.WriteTx([&](Conn& c) -> Status { return RunWrites(c, batch, outcomes, true, rerun); });
  }
  if (!committed) {
    for (auto& item : batch) RunDone(item, committed);
    return;
  }
  {
    std::lock_guard lock(finish_mu_);
    committed_.push_back(Committed{std::move(batch), std::move(outcomes)});
    if (committed_.size() > 1) return;  // the finisher is awake
  }
  finish_cv_.notify_one();
}

Status WriteQueue::RunWrites(Conn& c, std::vector<Item>& batch, std::vector<Status>& outcomes, bool savepoints,
                             bool& rerun) {
  for (size_t i = 0; i < batch.size(); ++i) {
    if (savepoints) c.Prepare("SAVEPOINT queued_write").Run();
    const int64_t changes_before = c.TotalChanges();
    Status st = Ok();
    try {
      st = batch[i].run(c);
    } catch (const StoreError& e) {
      st = std::unexpected(ErrorFromStoreError(e));
    } catch (const std::exception& e) {
      spdlog::error("queued store write failed: {}", e.what());
      st = Internal(std::string("queued store write failed: ") + e.what());
    }
    c.ResetBusyStatements();
    if (savepoints) {
      if (!st) c.Prepare("ROLLBACK TO queued_write").Run();
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
