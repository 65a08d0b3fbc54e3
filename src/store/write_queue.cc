#include "store/write_queue.h"

#include <spdlog/spdlog.h>

#include <exception>
#include <utility>

namespace duende::store {

WriteQueue::WriteQueue(Database& db) : db_(db) {
  thread_ = std::thread([this] { Loop(); });
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
}

uint64_t WriteQueue::writes() const {
  std::lock_guard lock(mu_);
  return writes_;
}

uint64_t WriteQueue::batches() const {
  std::lock_guard lock(mu_);
  return batches_;
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
  const Status committed = db_.WriteTx([&](Conn& c) -> Status {
    for (size_t i = 0; i < batch.size(); ++i) {
      c.Prepare("SAVEPOINT queued_write").Run();
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
      if (!st) c.Prepare("ROLLBACK TO queued_write").Run();
      c.Prepare("RELEASE queued_write").Run();
      outcomes[i] = std::move(st);
    }
    return Ok();
  });
  for (size_t i = 0; i < batch.size(); ++i) {
    try {
      batch[i].done(committed ? outcomes[i] : committed);
    } catch (const std::exception& e) {
      spdlog::error("after a queued store write: {}", e.what());
    }
  }
}

}  // namespace duende::store
