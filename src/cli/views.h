// Human-readable views of the Manager's JSON: tables, job details and the
// progress line. Pure functions of their inputs (no I/O, no clock reads), so
// tests compare strings.
//
// Missing or null fields show as "-"; values of an unexpected type are shown
// as their JSON text rather than rejected, so a newer manager never breaks
// an older CLI.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "common/clock.h"

namespace duende::cli {

using Row = std::vector<std::string>;

// Left-aligned columns separated by two spaces, widths in UTF-8 code points,
// no trailing spaces. Every line ends in '\n'.
std::string RenderTable(const Row& headers, const std::vector<Row>& rows);

// Task counts from a job's `tasks_status` ({"count": N, "completed": n, ...}).
// `total` is "count" when present, else the sum of the other entries.
struct TaskCounts {
  int total = 0;
  int completed = 0;
  int active = 0;
};
TaskCounts CountTasks(const nlohmann::json& tasks_status);

// Whole percent completed, floored: 100 only when every task completed.
int PercentComplete(const TaskCounts& counts);

// "12/24 (50%)", or "-" when the job has no tasks yet.
std::string ProgressCell(const nlohmann::json& job);

// `jobs` is the array of GET /api/jobs:
// ID, NAME, TYPE, STATUS, PROGRESS, PRIORITY, CREATED.
std::string JobsTable(const nlohmann::json& jobs);
// `tasks` is the array of GET /api/jobs/{id}/tasks:
// ID, NAME, TYPE, STATUS, WORKER, ACTIVITY (activity cut to 60 characters).
std::string TasksTable(const nlohmann::json& tasks);
// `workers` is the array of GET /api/workers:
// ID, NICKNAME, STATUS, REQUESTED, ADDRESS, TASK TYPES, LAST SEEN (an age
// relative to `now`).
std::string WorkersTable(const nlohmann::json& workers, SystemTime now);

// Multi-line "Key: value" description of one job, settings included.
std::string JobDetails(const nlohmann::json& job);

// One line for `submit --wait`, e.g.
// "[##########          ]  50%  12/24 tasks  2 active  active".
std::string ProgressLine(const nlohmann::json& job);

// "2026-11-27 18:30:05" (UTC) from an ISO-8601 timestamp; the input itself
// when it does not parse; "-" when empty.
std::string ShortTime(const std::string& iso);

// "just now", "42s ago", "5m ago", "3h ago", "2d ago".
std::string FormatAge(SystemTime then, SystemTime now);

// Value of `key` in `object` as display text: strings as-is, other JSON as
// its text, missing/null/empty as "-".
std::string Field(const nlohmann::json& object, const char* key);

}  // namespace duende::cli
