// Clock: the only source of time in Duende.
//
// Every timeout, schedule and cleanup reads an injected Clock. Production code
// uses SystemClock; tests use FakeClock (tests/support/fake_clock.h), which
// advances time explicitly and wakes waiters deterministically. Nothing else
// reads the system clock or sleeps.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <stop_token>
#include <thread>

namespace duende {

using SystemTime = std::chrono::system_clock::time_point;
using SteadyTime = std::chrono::steady_clock::time_point;

class Clock {
 public:
  virtual ~Clock() = default;
  // Wall-clock time (UTC), for timestamps stored and shown.
  virtual SystemTime Now() const = 0;
  // Monotonic time, for measuring intervals and deadlines.
  virtual SteadyTime SteadyNow() const = 0;
  static constexpr uint64_t kNow = ~uint64_t{0};
  // Blocks until `deadline` (steady), until `stop` is requested, or until
  // NotifyAll() has been called after generation `since` (default: after
  // this call began). Passing a generation read with Generation() before
  // checking for work closes the lost-wakeup window. Returns false when
  // stopped. Thread-safe.
  virtual bool WaitUntil(SteadyTime deadline, std::stop_token stop, uint64_t since = kNow) = 0;
  // Wakes every current WaitUntil() early (used to "kick" a service).
  virtual void NotifyAll() = 0;
  // Number of NotifyAll() calls so far.
  virtual uint64_t Generation() const = 0;

  bool WaitFor(std::chrono::steady_clock::duration d, std::stop_token stop) {
    return WaitUntil(SteadyNow() + d, std::move(stop));
  }
};

class SystemClock final : public Clock {
 public:
  SystemTime Now() const override { return std::chrono::system_clock::now(); }
  SteadyTime SteadyNow() const override { return std::chrono::steady_clock::now(); }
  bool WaitUntil(SteadyTime deadline, std::stop_token stop, uint64_t since = kNow) override;
  void NotifyAll() override;
  uint64_t Generation() const override;

 private:
  mutable std::mutex mu_;
  std::condition_variable_any cv_;
  uint64_t generation_ = 0;
};

// Stops a service thread that waits on `clock`: requests the stop, wakes
// it and joins it. Nothing happens when the thread is not running.
void StopServiceThread(std::jthread& thread, Clock& clock);

}  // namespace duende
