// Clock: the only source of time in Duende.
//
// Every timeout, schedule and cleanup reads an injected Clock. Production code
// uses SystemClock; tests use FakeClock (tests/support/fake_clock.h), which
// advances time explicitly and wakes waiters deterministically. Nothing else
// reads the system clock or sleeps.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stop_token>

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
  // Blocks until `deadline` (steady) or until `stop` is requested or Notify()
  // is called. Returns false when stopped. Thread-safe.
  virtual bool WaitUntil(SteadyTime deadline, std::stop_token stop) = 0;
  // Wakes every current WaitUntil() early (used to "kick" a service).
  virtual void NotifyAll() = 0;

  bool WaitFor(std::chrono::steady_clock::duration d, std::stop_token stop) {
    return WaitUntil(SteadyNow() + d, std::move(stop));
  }
};

class SystemClock final : public Clock {
 public:
  SystemTime Now() const override { return std::chrono::system_clock::now(); }
  SteadyTime SteadyNow() const override { return std::chrono::steady_clock::now(); }
  bool WaitUntil(SteadyTime deadline, std::stop_token stop) override;
  void NotifyAll() override;

 private:
  std::mutex mu_;
  std::condition_variable_any cv_;
  unsigned long generation_ = 0;
};

}  // namespace duende
