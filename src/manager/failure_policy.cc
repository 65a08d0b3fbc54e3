#include "manager/failure_policy.h"

namespace duende::manager {

using protocol::TaskStatus;

namespace {

bool AnyLeft(const std::set<std::string>& capable, const std::set<std::string>& exclude) {
  for (const auto& w : capable)
    if (!exclude.count(w)) return true;
  return false;
}

}  // namespace

FailureDecision DecideFailure(const FailureFacts& f) {
  FailureDecision d;
  d.blacklist_worker = f.earlier_failures + 1 >= f.blacklist_threshold;
  if (static_cast<int>(f.failed_by.size()) >= f.task_fail_after_softfail_count) {
    d.task_status = TaskStatus::kFailed;
    return d;
  }
  std::set<std::string> exclude = f.failed_by;
  exclude.insert(f.worker);
  d.task_status = AnyLeft(f.capable_workers, exclude) ? TaskStatus::kSoftFailed : TaskStatus::kFailed;
  return d;
}

TaskStatus StatusAfterBlacklist(const std::set<std::string>& capable_workers, const std::set<std::string>& failed_by) {
  return AnyLeft(capable_workers, failed_by) ? TaskStatus::kClaimedByManager : TaskStatus::kFailed;
}

bool CountsAsCapable(const std::string& status, std::optional<SystemTime> last_seen, SystemTime now,
                     std::chrono::milliseconds grace) {
  if (status != "offline" && status != "timeout") return true;
  return last_seen && *last_seen >= now - grace;
}

}  // namespace duende::manager
