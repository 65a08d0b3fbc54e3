// SchedIndex: the farm's schedulable tasks in memory, in scheduling order.
//
// `POST /task` picks from here instead of running the scheduling query
// under the store's lock. The index mirrors the `tasks` table's schedulable
// rows (status queued, claimed-by-manager or soft-failed): FarmTx notes every
// task it changes and FarmStore refreshes those entries from the rows at the
// end of each successful write, under the store's lock; it is built from the
// store on first use (after a start) and rebuilt after a failed commit. The
// state machine stays in Farm: the index only follows the rows.
//
// Per task it keeps what decides the order and the per-worker exclusions
// that live on the task (failed by the worker). Exclusions that live
// elsewhere (the blacklist, parents not completed) are asked of the caller
// per candidate. Not thread-safe: used only under the store's lock.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

namespace duende::manager {

struct SchedEntry {
  std::string id;
  std::string job;
  std::string task_type;
  int job_priority = 0;
  int priority = 0;
  bool has_parents = false;
  std::set<std::string> failed_by;  // worker IDs
};

class SchedIndex {
 public:
  // Adds or replaces the entry of `e.id`.
  void Put(SchedEntry e);
  void Remove(const std::string& id);
  void RemoveJob(const std::string& job);
  void Clear();
  size_t size() const { return by_id_.size(); }
  bool Contains(const std::string& id) const { return by_id_.count(id) > 0; }

  // The first task in scheduling order (job priority, then priority, both
  // highest first, then ID) of one of `task_types`, not failed by
  // `worker_id`, for which `admissible` (asked in that order, only for
  // tasks passing the rest) returns true.
  std::optional<std::string> Pick(const std::vector<std::string>& task_types, const std::string& worker_id,
                                  const std::function<bool(const SchedEntry&)>& admissible) const;

  // Every entry's ID, in scheduling order (tests and diagnostics).
  std::vector<std::string> Ids() const;

 private:
  using Key = std::tuple<int, int, std::string>;  // -job_priority, -priority, id
  static Key KeyOf(const SchedEntry& e) { return {-e.job_priority, -e.priority, e.id}; }

  std::unordered_map<std::string, SchedEntry> by_id_;
  std::map<std::string, std::set<Key>> by_type_;
};

}  // namespace duende::manager
