#include "common/clock.h"

namespace duende {

bool SystemClock::WaitUntil(SteadyTime deadline, std::stop_token stop, uint64_t since) {
  std::unique_lock lock(mu_);
  const uint64_t gen = since == kNow ? generation_ : since;
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

namespace duende {
uint64_t SystemClock::Generation() const {
  std::lock_guard lock(mu_);
  return generation_;
}
void StopServiceThread(std::jthread& thread, Clock& clock) {
  if (!thread.joinable()) return;
  thread.request_stop();
  clock.NotifyAll();
  thread.join();
}

}  // namespace duende
