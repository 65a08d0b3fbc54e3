#include "worker/task_reporter.h"

#include <spdlog/spdlog.h>

#include "common/timefmt.h"

namespace duende::worker {

std::string SanitizeUtf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t len = 0;
    if (c < 0x80) {
      len = 1;
    } else if ((c & 0xE0) == 0xC0 && c >= 0xC2) {
      len = 2;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
    } else if ((c & 0xF8) == 0xF0 && c <= 0xF4) {
      len = 4;
    }
    bool ok = len > 0 && i + len <= s.size();
    for (size_t k = 1; ok && k < len; ++k) ok = (static_cast<unsigned char>(s[i + k]) & 0xC0) == 0x80;
    if (ok && len == 3) {
      const auto c1 = static_cast<unsigned char>(s[i + 1]);
      ok = !(c == 0xE0 && c1 < 0xA0) && !(c == 0xED && c1 >= 0xA0);  // overlong, surrogates
    } else if (ok && len == 4) {
      const auto c1 = static_cast<unsigned char>(s[i + 1]);
      ok = !(c == 0xF0 && c1 < 0x90) && !(c == 0xF4 && c1 >= 0x90);
    }
    if (ok) {
      out.append(s.substr(i, len));
      i += len;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  return out;
}

TaskReporter::TaskReporter(std::string task_id, UpdateSink& sink, Clock& clock, ReporterOptions options)
    : task_id_(std::move(task_id)),
      path_("/tasks/" + task_id_ + "/update"),
      sink_(sink),
      clock_(clock),
      options_(options),
      last_activity_push_(clock.SteadyNow() - options.push_act_max_interval),
      last_log_push_(clock.SteadyNow()) {}

void TaskReporter::Log(std::string_view text) {
  std::string cut_note;
  if (text.size() > options_.log_line_max_bytes) {
    cut_note = " [line cut: " + std::to_string(text.size()) + " bytes]";
    text = text.substr(0, options_.log_line_max_bytes);
  }
  // Sanitising after the cut turns a code point split by it into U+FFFD.
  std::string line = FormatIso8601(clock_.Now()) + ": " + SanitizeUtf8(text) + cut_note;
  spdlog::debug("task {}: {}", task_id_, text);
  std::lock_guard lock(mu_);
  lines_bytes_ += line.size() + 1;
  lines_.push_back(std::move(line));
  if (lines_.size() > options_.push_log_max_entries || lines_bytes_ >= options_.push_log_max_bytes ||
      clock_.SteadyNow() - last_log_push_ >= options_.push_log_max_interval) {
    PushLocked(/*with_activity=*/false, std::nullopt);
  }
}

void TaskReporter::MergeLocked(const ActivityChange& change) {
  if (change.activity) activity_["activity"] = *change.activity;
  if (change.current_command_idx) activity_["current_command_idx"] = *change.current_command_idx;
  if (change.command_progress_percentage)
    activity_["command_progress_percentage"] = *change.command_progress_percentage;
  if (change.task_progress_percentage) activity_["task_progress_percentage"] = *change.task_progress_percentage;
  if (change.timing) activity_["metrics"] = {{"timing", *change.timing}};
  activity_dirty_ = true;
}

void TaskReporter::Update(const ActivityChange& change) {
  std::lock_guard lock(mu_);
  MergeLocked(change);
  if (silent_) return;
  if (clock_.SteadyNow() - last_activity_push_ >= options_.push_act_max_interval) {
    PushLocked(/*with_activity=*/true, std::nullopt);
  }
}

void TaskReporter::SetStatus(protocol::TaskStatus status, const ActivityChange& change) {
  std::lock_guard lock(mu_);
  MergeLocked(change);
  if (silent_) return;
  PushLocked(/*with_activity=*/true, status);
}

void TaskReporter::SetSilent() {
  std::lock_guard lock(mu_);
  silent_ = true;
}

bool TaskReporter::silent() const {
  std::lock_guard lock(mu_);
  return silent_;
}

SteadyTime TaskReporter::NextDeadline() const {
  std::lock_guard lock(mu_);
  SteadyTime next = SteadyTime::max();
  if (activity_dirty_ && !silent_) next = std::min(next, last_activity_push_ + options_.push_act_max_interval);
  if (!lines_.empty()) next = std::min(next, last_log_push_ + options_.push_log_max_interval);
  return next;
}

void TaskReporter::Tick() {
  std::lock_guard lock(mu_);
  const SteadyTime now = clock_.SteadyNow();
  const bool activity_due = activity_dirty_ && !silent_ && now - last_activity_push_ >= options_.push_act_max_interval;
  const bool log_due = !lines_.empty() && now - last_log_push_ >= options_.push_log_max_interval;
  if (activity_due || log_due) PushLocked(activity_due, std::nullopt);
}

void TaskReporter::Flush() {
  std::lock_guard lock(mu_);
  const bool with_activity = activity_dirty_ && !silent_;
  if (with_activity || !lines_.empty()) PushLocked(with_activity, std::nullopt);
}

void TaskReporter::PushLocked(bool with_activity, std::optional<protocol::TaskStatus> status) {
  nlohmann::json update = with_activity ? activity_ : nlohmann::json::object();
  if (status) update["task_status"] = protocol::ToString(*status);
  const SteadyTime now = clock_.SteadyNow();
  if (!lines_.empty()) {
    std::string log;
    for (const auto& l : lines_) {
      log += l;
      log += '\n';
    }
    log.pop_back();
    update["log"] = std::move(log);
    lines_.clear();
    lines_bytes_ = 0;
  }
  last_log_push_ = now;
  if (with_activity) {
    activity_dirty_ = false;
    last_activity_push_ = now;
  }
  if (update.empty()) return;
  auto st = sink_.Enqueue(path_, update.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  if (!st) spdlog::error("task {}: cannot queue update: {}", task_id_, st.error().message);
}

}  // namespace duende::worker
