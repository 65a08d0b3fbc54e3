// Wake-ups deferred to the end of a burst of work on one thread.
//
// A thread that hands many results to other threads in a row (the store's
// finisher answering a committed batch of writes) would wake a receiver per
// result, and each woken receiver can preempt it. While a WakeupBatch is
// alive on a thread, DeferWakeup() on that thread records the wake-up
// instead (once per key); the batch's end runs each recorded wake-up once.
// Without a batch, DeferWakeup() wakes at once.
#pragma once

#include <functional>
#include <utility>
#include <vector>

namespace duende {

class WakeupBatch {
 public:
  WakeupBatch();
  ~WakeupBatch();
  WakeupBatch(const WakeupBatch&) = delete;
  WakeupBatch& operator=(const WakeupBatch&) = delete;

 private:
  friend void DeferWakeup(const void* key, std::function<void()> wake);
  WakeupBatch* outer_;
  std::vector<std::pair<const void*, std::function<void()>>> pending_;
};

// Runs `wake` now, or at the end of this thread's current WakeupBatch (only
// the first wake-up recorded per key runs).
void DeferWakeup(const void* key, std::function<void()> wake);

}  // namespace duende
