#include "manager/sched_index.h"

#include <algorithm>

namespace duende::manager {

void SchedIndex::Put(SchedEntry e) {
  Remove(e.id);
  by_type_[e.task_type].insert(KeyOf(e));
  std::string id = e.id;
  by_id_.emplace(std::move(id), std::move(e));
}

void SchedIndex::Remove(const std::string& id) {
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return;
  auto type = by_type_.find(it->second.task_type);
  if (type != by_type_.end()) {
    type->second.erase(KeyOf(it->second));
    if (type->second.empty()) by_type_.erase(type);
  }
  by_id_.erase(it);
}

void SchedIndex::RemoveJob(const std::string& job) {
  std::vector<std::string> ids;
  for (const auto& [id, e] : by_id_)
    if (e.job == job) ids.push_back(id);
  for (const auto& id : ids) Remove(id);
}

void SchedIndex::Clear() {
  by_id_.clear();
  by_type_.clear();
}

std::optional<std::string> SchedIndex::Pick(const std::vector<std::string>& task_types, const std::string& worker_id,
                                            const std::function<bool(const SchedEntry&)>& admissible) const {
  std::optional<Key> best;
  std::vector<std::string> seen_types;
  for (const auto& type : task_types) {
    if (std::find(seen_types.begin(), seen_types.end(), type) != seen_types.end()) continue;
    seen_types.push_back(type);
    auto keys = by_type_.find(type);
    if (keys == by_type_.end()) continue;
    for (const auto& key : keys->second) {
      // A task of this type ordered after the best one so far cannot win.
      if (best && !(key < *best)) break;
      const SchedEntry& e = by_id_.at(std::get<2>(key));
      if (e.failed_by.count(worker_id) || !admissible(e)) continue;
      best = key;
      break;
    }
  }
  if (!best) return std::nullopt;
  return std::get<2>(*best);
}

std::vector<std::string> SchedIndex::Ids() const {
  std::set<Key> all;
  for (const auto& [type, keys] : by_type_) all.insert(keys.begin(), keys.end());
  std::vector<std::string> out;
  out.reserve(all.size());
  for (const auto& key : all) out.push_back(std::get<2>(key));
  return out;
}

}  // namespace duende::manager
