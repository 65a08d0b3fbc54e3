// FakeClock: time moves only when a test calls Advance(). Waiters whose
// deadline has passed wake deterministically.
#pragma once

#include <condition_variable>
#include <mutex>

#include "common/clock.h"

namespace duende::testing {

class FakeClock final : public Clock {
 public:
  explicit FakeClock(SystemTime start = SystemTime(std::chrono::seconds(1'800'000'000)))
      : now_(start), steady_(SteadyTime(std::chrono::seconds(1000))) {}

  SystemTime Now() const override {
    std::lock_guard lock(mu_);
    return now_;
  }
  SteadyTime SteadyNow() const override {
    std::lock_guard lock(mu_);
    return steady_;
  }
  bool WaitUntil(SteadyTime deadline, std::stop_token stop, uint64_t since = kNow) override {
    std::unique_lock lock(mu_);
    const uint64_t gen = since == kNow ? generation_ : since;
    ++waiters_;
    cv_.notify_all();
    cv_.wait(lock, stop, [&] { return steady_ >= deadline || generation_ != gen; });
    --waiters_;
    return !stop.stop_requested();
  }
  uint64_t Generation() const override {
    std::lock_guard lock(mu_);
    return generation_;
  }
  void NotifyAll() override {
    {
      std::lock_guard lock(mu_);
      ++generation_;
    }
    cv_.notify_all();
  }
  // Moves both clocks forward and wakes waiters whose deadline passed.
  void Advance(std::chrono::steady_clock::duration d) {
    {
      std::lock_guard lock(mu_);
      now_ += std::chrono::duration_cast<SystemTime::duration>(d);
      steady_ += d;
    }
    cv_.notify_all();
  }
  void SetNow(SystemTime t) {
    std::lock_guard lock(mu_);
    now_ = t;
  }
  // Blocks until at least `n` threads are waiting (for service tests).
  void AwaitWaiters(int n) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return waiters_ >= n; });
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable_any cv_;
  SystemTime now_;
  SteadyTime steady_;
  uint64_t generation_ = 0;
  int waiters_ = 0;
};

}  // namespace duende::testing
