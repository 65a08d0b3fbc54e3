#include "cli/views.h"

#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>

#include "common/timefmt.h"

namespace duende::cli {
namespace {

constexpr size_t kActivityWidth = 60;
constexpr int kBarWidth = 20;

size_t DisplayWidth(const std::string& s) {
  // Code points, not bytes: names and activities may be non-ASCII.
  return static_cast<size_t>(
      std::count_if(s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

std::string Truncate(const std::string& s, size_t width) {
  if (DisplayWidth(s) <= width) return s;
  std::string out;
  size_t points = 0;
  for (char c : s) {
    const bool starts_point = (static_cast<unsigned char>(c) & 0xC0) != 0x80;
    if (starts_point && ++points > width - 3) break;
    out.push_back(c);
  }
  return out + "...";
}

// Table cells are one line: a newline in a name would break the columns.
std::string Cell(std::string s) {
  for (auto& c : s)
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  return s;
}

const nlohmann::json& Member(const nlohmann::json& object, const char* key) {
  static const nlohmann::json kNull;
  if (!object.is_object()) return kNull;
  auto it = object.find(key);
  return it == object.end() ? kNull : *it;
}

std::string Join(const nlohmann::json& list, const char* separator) {
  if (!list.is_array()) return list.is_null() ? "-" : list.dump();
  std::string out;
  for (const auto& item : list) {
    if (!out.empty()) out += separator;
    out += item.is_string() ? item.get<std::string>() : item.dump();
  }
  return out.empty() ? "-" : out;
}

}  // namespace

std::string Field(const nlohmann::json& object, const char* key) {
  const auto& value = Member(object, key);
  if (value.is_null()) return "-";
  if (value.is_string()) {
    const auto& s = value.get_ref<const std::string&>();
    return s.empty() ? "-" : Cell(s);
  }
  return value.dump();
}

std::string RenderTable(const Row& headers, const std::vector<Row>& rows) {
  std::vector<size_t> widths(headers.size(), 0);
  auto measure = [&](const Row& row) {
    for (size_t i = 0; i < row.size() && i < widths.size(); ++i) widths[i] = std::max(widths[i], DisplayWidth(row[i]));
  };
  measure(headers);
  for (const auto& row : rows) measure(row);
  std::string out;
  auto emit = [&](const Row& row) {
    std::string line;
    for (size_t i = 0; i < widths.size(); ++i) {
      const std::string& cell = i < row.size() ? row[i] : std::string();
      line += cell;
      if (i + 1 < widths.size()) line += std::string(widths[i] - DisplayWidth(cell) + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + '\n';
  };
  emit(headers);
  for (const auto& row : rows) emit(row);
  return out;
}

TaskCounts CountTasks(const nlohmann::json& tasks_status) {
  TaskCounts counts;
  if (!tasks_status.is_object()) return counts;
  int sum = 0;
  bool has_count = false;
  for (const auto& [status, value] : tasks_status.items()) {
    if (!value.is_number_integer()) continue;
    const int n = value.get<int>();
    if (status == "count") {
      counts.total = n;
      has_count = true;
    } else {
      sum += n;
      if (status == "completed") counts.completed = n;
      if (status == "active") counts.active = n;
    }
  }
  if (!has_count) counts.total = sum;
  return counts;
}

int PercentComplete(const TaskCounts& counts) {
  if (counts.total <= 0) return 0;
  return static_cast<int>(static_cast<long long>(std::clamp(counts.completed, 0, counts.total)) * 100 / counts.total);
}

std::string ProgressCell(const nlohmann::json& job) {
  const TaskCounts counts = CountTasks(Member(job, "tasks_status"));
  if (counts.total <= 0) return "-";
  return std::to_string(counts.completed) + "/" + std::to_string(counts.total) + " (" +
         std::to_string(PercentComplete(counts)) + "%)";
}

std::string ShortTime(const std::string& iso) {
  if (iso.empty() || iso == "-") return "-";
  auto t = ParseIso8601(iso);
  if (!t) return iso;
  std::string s = FormatIso8601(*t);  // canonical "YYYY-MM-DDTHH:MM:SS.ffffffZ"
  s = s.substr(0, 19);
  if (s.size() > 10) s[10] = ' ';
  return s;
}

std::string FormatAge(SystemTime then, SystemTime now) {
  using namespace std::chrono;
  const auto age = duration_cast<seconds>(now - then).count();
  if (age < 1) return "just now";
  if (age < 60) return std::to_string(age) + "s ago";
  if (age < 3600) return std::to_string(age / 60) + "m ago";
  if (age < 86400) return std::to_string(age / 3600) + "h ago";
  return std::to_string(age / 86400) + "d ago";
}

std::string JobsTable(const nlohmann::json& jobs) {
  std::vector<Row> rows;
  if (jobs.is_array()) {
    for (const auto& job : jobs) {
      rows.push_back({Field(job, "_id"), Field(job, "name"), Field(job, "job_type"), Field(job, "status"),
                      ProgressCell(job), Field(job, "priority"), ShortTime(Field(job, "_created"))});
    }
  }
  return RenderTable({"ID", "NAME", "TYPE", "STATUS", "PROGRESS", "PRIORITY", "CREATED"}, rows);
}

std::string TasksTable(const nlohmann::json& tasks) {
  std::vector<Row> rows;
  if (tasks.is_array()) {
    for (const auto& task : tasks) {
      rows.push_back({Field(task, "_id"), Field(task, "name"), Field(task, "task_type"), Field(task, "status"),
                      Field(task, "worker"), Truncate(Field(task, "activity"), kActivityWidth)});
    }
  }
  return RenderTable({"ID", "NAME", "TYPE", "STATUS", "WORKER", "ACTIVITY"}, rows);
}

std::string WorkersTable(const nlohmann::json& workers, SystemTime now) {
  std::vector<Row> rows;
  if (workers.is_array()) {
    for (const auto& worker : workers) {
      std::string requested = Field(worker, "status_requested");
      if (requested != "-" && Member(worker, "lazy_status_request") == true) requested += " (lazy)";
      std::string last_seen = "never";
      const auto& last = Member(worker, "last_activity");
      if (last.is_string() && !last.get_ref<const std::string&>().empty()) {
        auto t = ParseIso8601(last.get<std::string>());
        last_seen = t ? FormatAge(*t, now) : Cell(last.get<std::string>());
      }
      rows.push_back({Field(worker, "_id"), Field(worker, "nickname"), Field(worker, "status"), requested,
                      Field(worker, "address"), Cell(Join(Member(worker, "supported_task_types"), ",")), last_seen});
    }
  }
  return RenderTable({"ID", "NICKNAME", "STATUS", "REQUESTED", "ADDRESS", "TASK TYPES", "LAST SEEN"}, rows);
}

std::string JobDetails(const nlohmann::json& job) {
  std::string out;
  auto line = [&](const char* label, const std::string& value) {
    std::string padded = std::string(label) + ":";
    padded.resize(std::max<size_t>(padded.size() + 1, 11), ' ');
    out += padded + value + '\n';
  };
  line("ID", Field(job, "_id"));
  line("Name", Field(job, "name"));
  line("Type", Field(job, "job_type"));
  std::string status = Field(job, "status");
  if (const std::string reason = Field(job, "status_reason"); reason != "-") status += " (" + reason + ")";
  line("Status", status);
  line("Priority", Field(job, "priority"));
  line("User", Field(job, "user"));
  line("Created", ShortTime(Field(job, "_created")));
  line("Updated", ShortTime(Field(job, "_updated")));

  const auto& tasks_status = Member(job, "tasks_status");
  const TaskCounts counts = CountTasks(tasks_status);
  line("Progress", std::to_string(counts.completed) + "/" + std::to_string(counts.total) + " tasks completed (" +
                       std::to_string(PercentComplete(counts)) + "%), " + std::to_string(counts.active) + " active");
  std::string per_status;
  if (tasks_status.is_object()) {
    for (const auto& [name, value] : tasks_status.items()) {
      if (name == "count" || (value.is_number_integer() && value.get<int>() == 0)) continue;
      if (!per_status.empty()) per_status += ", ";
      per_status += name + " " + value.dump();
    }
  }
  line("Tasks", per_status.empty() ? "-" : per_status);

  const auto& settings = Member(job, "settings");
  if (settings.is_object() && !settings.empty()) {
    out += "Settings:\n";
    for (const auto& [key, value] : settings.items()) out += "  " + key + " = " + value.dump() + '\n';
  }
  return out;
}

std::string ProgressLine(const nlohmann::json& job) {
  const TaskCounts counts = CountTasks(Member(job, "tasks_status"));
  const int percent = PercentComplete(counts);
  const int filled = percent * kBarWidth / 100;
  std::string line = "[" + std::string(filled, '#') + std::string(kBarWidth - filled, ' ') + "] ";
  std::string pct = std::to_string(percent) + "%";
  line += std::string(4 - std::min<size_t>(pct.size(), 4), ' ') + pct;
  line += "  " + std::to_string(counts.completed) + "/" + std::to_string(counts.total) + " tasks";
  line += "  " + std::to_string(counts.active) + " active";
  line += "  " + Field(job, "status");
  return line;
}

}  // namespace duende::cli
