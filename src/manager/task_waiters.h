// Long poll for POST /task (issue 6): a worker that asks to wait
// (`X-Duende-Wait: S` header or `?wait=S`) and has nothing to do is parked
// here instead of being answered 204 at once. When work may have become
// available (the Farm says so) the parked workers ask the Farm again, oldest
// first; each gets its task as soon as the assignment is committed, or 204 at
// its deadline. A request without the header is answered exactly as in v2.
//
// Waiting holds no thread: the HTTP response is an http::Deferred completed
// from this service's Run() thread. Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <stop_token>
#include <string>

#include "common/clock.h"
#include "http/http.h"
#include "manager/farm.h"

namespace duende::manager {

struct TaskWaitersOptions {
  // Longest wait a worker may ask for; longer requests are clamped. Well
  // under the HTTP idle timeout and the worker timeout.
  std::chrono::milliseconds max_wait{std::chrono::seconds(30)};
  // One wake-up stops after this many parked workers in a row got no task:
  // the work that appeared is taken, or fits none of them (other task types);
  // the rest ask again at their deadline as a v2 worker would.
  int max_misses_per_wakeup = 8;
};

class TaskWaiters {
 public:
  // Turns the Farm's answer into the HTTP response the worker gets.
  using Answer = std::function<http::Response(const Result<TaskOffer>&)>;

  TaskWaiters(Farm& farm, Clock& clock, Answer answer, TaskWaitersOptions options = {});

  // Read before asking the Farm for a task; pass to Park() so work that
  // appeared in between is not missed.
  uint64_t WorkGeneration() const { return work_generation_.load(); }
  // Parks `worker_id` for up to `wait` (clamped to max_wait). The answer
  // goes to `deferred` (a new one when null), which is returned.
  std::shared_ptr<http::Deferred> Park(const std::string& worker_id, Seen seen, std::chrono::milliseconds wait,
                                       uint64_t work_generation, std::shared_ptr<http::Deferred> deferred = nullptr);
  // Work may be available (new tasks, a task finished or was returned).
  void Kick();
  // Workers' requested statuses may have changed: every parked worker asks
  // the Farm again at once (and gets its 423), not only the first few.
  void RecheckAll();
  size_t size() const;

  void Run(std::stop_token stop);
  // Answers every parked worker 204 (shutdown).
  void ReleaseAll();

 private:
  struct Waiter {
    std::string worker_id;
    Seen seen;
    SteadyTime deadline;
    std::shared_ptr<http::Deferred> deferred;
  };
  void TryAssign();
  SteadyTime ExpireDue();

  Farm& farm_;
  Clock& clock_;
  Answer answer_;
  TaskWaitersOptions options_;
  std::atomic<uint64_t> work_generation_{0};
  std::atomic<bool> kicked_{false};
  std::atomic<bool> recheck_all_{false};
  mutable std::mutex mu_;
  std::list<Waiter> waiters_;  // oldest first
};

}  // namespace duende::manager
