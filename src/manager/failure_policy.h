// Soft failure and blacklisting (spec §7, the seed's statements), as pure
// functions of the facts the state machine gathers in its transaction.
//
// When worker W reports task T (job J, type X) failed:
//  1. W is blacklisted for (J, X) when its failures on J of type X, this one
//     included, reach `blacklist_threshold`.
//  2. T is `soft-failed` (another worker will try it) while fewer than
//     `task_fail_after_softfail_count` workers failed it and some capable
//     worker that has not failed it is left; otherwise `failed`.
//  3. After blacklisting, W's other soft-failed tasks of (J, X) go back to
//     `claimed-by-manager` if a capable worker that has not failed them is
//     left, else they are `failed`.
// "Capable" = supports X, is not blacklisted for (J, X), and can still come
// back (see CountsAsCapable): unlike v2, workers gone for good do not keep a
// task soft-failed forever (the starvation the seed describes).
#pragma once

#include <chrono>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/clock.h"
#include "protocol/status.h"

namespace duende::manager {

struct FailureFacts {
  std::string worker;                     // W
  int earlier_failures = 0;               // W's failed/soft-failed tasks of (J, X), excluding T
  std::set<std::string> capable_workers;  // may include W; blacklist state before this failure
  std::set<std::string> failed_by;        // T's failed_by_workers, W included
  int blacklist_threshold = 3;
  int task_fail_after_softfail_count = 3;
};

struct FailureDecision {
  bool blacklist_worker = false;
  protocol::TaskStatus task_status = protocol::TaskStatus::kFailed;
};

FailureDecision DecideFailure(const FailureFacts& facts);

// For a task W had soft-failed, after W was blacklisted: who is left?
// `capable_workers` must already exclude W.
protocol::TaskStatus StatusAfterBlacklist(const std::set<std::string>& capable_workers,
                                          const std::set<std::string>& failed_by);

// Whether a worker in `status`, last seen at `last_seen`, still counts as
// able to run tasks: awake/asleep/starting/testing ones do; offline and
// timed-out ones only within `grace` of their last contact.
bool CountsAsCapable(const std::string& status, std::optional<SystemTime> last_seen, SystemTime now,
                     std::chrono::milliseconds grace);

}  // namespace duende::manager
