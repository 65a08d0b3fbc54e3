// Crash and outage tests (issue 9): after a run, what the Manager stored is
// checked against what must hold -- read straight from its SQLite file and
// task logs, and from the workers' debug logs (each update the Manager
// acknowledged is logged there by the outbox). The Manager must be stopped
// first. Header-only: used by the e2e and long test executables.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "store/sqlite.h"

namespace duende::testing {

struct FarmAudit {
  int job_tasks = 0;            // tasks of the job on the job side
  int job_tasks_completed = 0;  // ... of which completed
  int farm_tasks_active = 0;    // tasks the farm side still has active
  int tasks_completed_twice = 0;
  int tasks_never_completed = 0;  // no transition to completed in the history
  int upstream_queue = 0;         // updates not yet on the job side
  int acknowledged = 0;           // updates the workers were told were accepted
  int acknowledged_completions = 0;
  int history_rows = 0;
  bool integrity_ok = false;
  // One line per violation (capped), for the failure message.
  std::vector<std::string> problems;

  bool Clean(int expected_tasks) const {
    return job_tasks == expected_tasks && job_tasks_completed == expected_tasks && farm_tasks_active == 0 &&
           tasks_completed_twice == 0 && tasks_never_completed == 0 && upstream_queue == 0 && integrity_ok &&
           problems.empty();
  }
  std::string Summary() const {
    std::ostringstream out;
    out << "job tasks " << job_tasks << " (completed " << job_tasks_completed << "), farm active " << farm_tasks_active
        << ", completed twice " << tasks_completed_twice << ", never completed " << tasks_never_completed
        << ", upstream queue " << upstream_queue << ", acknowledged updates " << acknowledged << " (completions "
        << acknowledged_completions << "), history rows " << history_rows << ", integrity_check "
        << (integrity_ok ? "ok" : "FAILED");
    for (const auto& p : problems) out << "\n  " << p;
    return out.str();
  }
};

namespace audit_detail {

inline void Problem(FarmAudit& a, const std::string& what) {
  if (a.problems.size() < 20) a.problems.push_back(what);
}

// Every task's Manager-side log text, all runs, by task: the records of each
// job's log pack (read here on their own, from the format documented in
// src/manager/log_pack.h) and the files of runs that have their own
// (task-T.txt, task-T.run-N.txt).
inline std::map<std::string, std::string> TaskLogs(const std::string& root) {
  std::map<std::string, std::string> out;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(root, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    const std::string name = it->path().filename().string();
    std::ifstream in(it->path(), std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    const std::string bytes = text.str();
    if (name == "logs.pack") {
      // A 32-byte header, then records: magic, kind, ID length, 0, run
      // number and text length (little-endian u32), the ID, the text.
      auto u32 = [&](size_t at) {
        uint32_t v = 0;
        for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(bytes[at + i]);
        return v;
      };
      for (size_t at = 32; at + 12 <= bytes.size();) {
        const size_t id_size = static_cast<unsigned char>(bytes[at + 2]);
        const size_t text_size = u32(at + 8);
        if (at + 12 + id_size + text_size > bytes.size()) break;
        if (bytes[at + 1] == 'T') out[bytes.substr(at + 12, id_size)] += bytes.substr(at + 12 + id_size, text_size);
        at += 12 + id_size + text_size;
      }
      continue;
    }
    const auto dot = name.find('.');
    if (!name.starts_with("task-") || dot == std::string::npos || name.find(".txt") == std::string::npos) continue;
    out[name.substr(5, dot - 5)] += bytes;
  }
  return out;
}

}  // namespace audit_detail

// `worker_logs`: nickname -> path of that worker's log (run with
// --log-level debug).
inline FarmAudit AuditFarm(const std::string& manager_data_dir, const std::string& job_id,
                           const std::map<std::string, std::string>& worker_logs) {
  using audit_detail::Problem;
  FarmAudit a;
  auto db = store::Database::Open(manager_data_dir + "/duende.sqlite");
  if (!db) {
    Problem(a, "cannot open the Manager's database: " + db.error().message);
    return a;
  }
  a.integrity_ok = (*db)->IntegrityCheck().value_or(false);
  // nickname -> ids (a worker whose registration answer was lost to a
  // crash registers again, under the same nickname)
  std::map<std::string, std::set<std::string>> worker_ids;
  std::map<std::string, int> completions;                      // task -> transitions to completed
  std::set<std::pair<std::string, std::string>> completed_by;  // (task, worker id)
  auto st = (*db)->Read([&](store::Conn& c) -> Status {
    auto& jt = c.Prepare("SELECT id, status FROM job_tasks WHERE job_id = ?1");
    jt.Bind(1, job_id);
    while (jt.Step()) {
      ++a.job_tasks;
      if (jt.Text(1) == "completed") {
        ++a.job_tasks_completed;
      } else {
        Problem(a, "task " + jt.Text(0) + " ended " + jt.Text(1) + " on the job side");
      }
      completions[jt.Text(0)];
    }
    auto& active = c.Prepare("SELECT COUNT(*) FROM tasks WHERE status = 'active'");
    if (active.Step()) a.farm_tasks_active = static_cast<int>(active.Int(0));
    auto& queue = c.Prepare("SELECT COUNT(*) FROM task_update_queue");
    if (queue.Step()) a.upstream_queue = static_cast<int>(queue.Int(0));
    auto& h = c.Prepare("SELECT task_id, to_status, COALESCE(worker_id, '') FROM task_status_history");
    while (h.Step()) {
      ++a.history_rows;
      if (h.Text(1) != "completed") continue;
      ++completions[h.Text(0)];
      completed_by.emplace(h.Text(0), h.Text(2));
    }
    auto& w = c.Prepare("SELECT id, nickname FROM workers");
    while (w.Step()) worker_ids[w.Text(1)].insert(w.Text(0));
    return Ok();
  });
  if (!st) Problem(a, "reading the Manager's database: " + st.error().message);
  for (const auto& [task, n] : completions) {
    if (n > 1) {
      ++a.tasks_completed_twice;
      Problem(a, "task " + task + " was recorded completed " + std::to_string(n) + " times");
    } else if (n == 0) {
      ++a.tasks_never_completed;
    }
  }

  // "outbox: acknowledged #N /tasks/T/update [204] status=S last-log-line=L"
  const auto logs = audit_detail::TaskLogs(manager_data_dir + "/task-logs");
  for (const auto& [nickname, path] : worker_logs) {
    std::ifstream in(path);
    const auto& ids = worker_ids[nickname];
    for (std::string line; std::getline(in, line);) {
      const auto at = line.find("outbox: acknowledged #");
      if (at == std::string::npos) continue;
      ++a.acknowledged;
      const auto path_at = line.find(" /tasks/", at);
      const auto status_at = line.find(" status=", at);
      const auto last_at = line.find(" last-log-line=", at);
      if (path_at == std::string::npos || status_at == std::string::npos || last_at == std::string::npos) {
        Problem(a, "unreadable acknowledgement: " + line);
        continue;
      }
      const std::string task = line.substr(path_at + 8, 24);
      const std::string status = line.substr(status_at + 8, last_at - status_at - 8);
      const std::string last_line = line.substr(last_at + 15);
      if (status == "completed") {
        ++a.acknowledged_completions;
        bool found = false;
        for (const auto& id : ids) found = found || completed_by.count({task, id}) > 0;
        if (!found)
          Problem(a, nickname + "'s acknowledged completion of task " + task + " is not in the status history");
      }
      if (!last_line.empty()) {
        auto log = logs.find(task);
        if (log == logs.end() || log->second.find(last_line) == std::string::npos)
          Problem(a, nickname + "'s acknowledged log line of task " + task + " is not in its log: " + last_line);
      }
    }
  }
  return a;
}

}  // namespace duende::testing
