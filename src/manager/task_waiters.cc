#include "manager/task_waiters.h"

#include <algorithm>
#include <limits>
#include <vector>

namespace duende::manager {

namespace {
// 204 for a worker whose wait ran out; the header tells it that it may ask
// again at once (it already waited here).
http::Response WaitedNoContent() {
  http::Response r = http::Response::NoContent();
  r.headers.emplace_back("X-Duende-Waited", "1");
  return r;
}

// With nobody parked the loop still wakes now and then; nothing depends on it.
constexpr auto kIdleWake = std::chrono::seconds(60);
}  // namespace

TaskWaiters::TaskWaiters(Farm& farm, Clock& clock, Answer answer, TaskWaitersOptions options)
    : farm_(farm), clock_(clock), answer_(std::move(answer)), options_(options) {}

std::shared_ptr<http::Deferred> TaskWaiters::Park(const std::string& worker_id, Seen seen,
                                                  std::chrono::milliseconds wait, uint64_t work_generation,
                                                  std::shared_ptr<http::Deferred> deferred) {
  if (!deferred) deferred = std::make_shared<http::Deferred>();
  wait = std::clamp(wait, std::chrono::milliseconds(0), options_.max_wait);
  {
    std::lock_guard lock(mu_);
    // A worker has one connection asking for work; an older parked request
    // of the same worker (its client gave up) is answered now.
    for (auto it = waiters_.begin(); it != waiters_.end();) {
      if (it->worker_id == worker_id) {
        it->deferred->Complete(http::Response::NoContent());
        it = waiters_.erase(it);
      } else {
        ++it;
      }
    }
    waiters_.push_back(Waiter{worker_id, std::move(seen), clock_.SteadyNow() + wait, deferred});
  }
  // Work that appeared while the caller was asking the Farm must not wait
  // for the deadline.
  if (work_generation_.load() != work_generation) kicked_ = true;
  clock_.NotifyAll();
  return deferred;
}

void TaskWaiters::Kick() {
  work_generation_.fetch_add(1);
  bool any;
  {
    std::lock_guard lock(mu_);
    any = !waiters_.empty();
  }
  if (!any) return;
  kicked_ = true;
  clock_.NotifyAll();
}

void TaskWaiters::RecheckAll() {
  recheck_all_ = true;
  kicked_ = true;
  clock_.NotifyAll();
}

size_t TaskWaiters::size() const {
  std::lock_guard lock(mu_);
  return waiters_.size();
}

void TaskWaiters::TryAssign() {
  int misses = 0;
  const bool all = recheck_all_.exchange(false);
  const int max_misses = all ? std::numeric_limits<int>::max() : options_.max_misses_per_wakeup;
  for (;;) {
    Waiter w;
    {
      std::lock_guard lock(mu_);
      // The oldest waiter not tried in this round is at the front of the
      // part we have not rotated yet; tried ones go to the back.
      if (waiters_.empty() || misses >= max_misses || misses >= static_cast<int>(waiters_.size())) return;
      w = std::move(waiters_.front());
      waiters_.pop_front();
    }
    auto offer = farm_.RequestTask(w.worker_id, w.seen);
    if (offer && offer->kind == TaskOffer::Kind::kNoTask) {
      ++misses;
      std::lock_guard lock(mu_);
      waiters_.push_back(std::move(w));
      continue;
    }
    misses = 0;
    w.deferred->Complete(answer_(offer));
  }
}

SteadyTime TaskWaiters::ExpireDue() {
  const SteadyTime now = clock_.SteadyNow();
  SteadyTime next = now + kIdleWake;
  std::vector<std::shared_ptr<http::Deferred>> due;
  {
    std::lock_guard lock(mu_);
    for (auto it = waiters_.begin(); it != waiters_.end();) {
      if (it->deadline <= now) {
        due.push_back(std::move(it->deferred));
        it = waiters_.erase(it);
      } else {
        next = std::min(next, it->deadline);
        ++it;
      }
    }
  }
  for (auto& d : due) d->Complete(WaitedNoContent());
  return next;
}

void TaskWaiters::Run(std::stop_token stop) {
  while (!stop.stop_requested()) {
    const uint64_t generation = clock_.Generation();
    if (kicked_.exchange(false)) TryAssign();
    const SteadyTime next = ExpireDue();
    if (kicked_.load()) continue;
    clock_.WaitUntil(next, stop, generation);
  }
  ReleaseAll();
}

void TaskWaiters::ReleaseAll() {
  std::list<Waiter> all;
  {
    std::lock_guard lock(mu_);
    all.swap(waiters_);
  }
  for (auto& w : all) w.deferred->Complete(http::Response::NoContent());
}

}  // namespace duende::manager
