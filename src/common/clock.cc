#include "common/clock.h"

namespace duende {

bool SystemClock::WaitUntil(SteadyTime deadline, std::stop_token stop) {
  std::unique_lock lock(mu_);
  const unsigned long gen = generation_;
  cv_.wait_until(lock, stop, deadline, [&] { return generation_ != gen; });
  return !stop.stop_requested();
}

void SystemClock::NotifyAll() {
  {
    std::lock_guard lock(mu_);
    ++generation_;
  }
  cv_.notify_all();
}

}  // namespace duende
