#include "protocol/status.h"

#include <array>
#include <utility>

namespace duende::protocol {
namespace {

constexpr std::array<std::pair<TaskStatus, std::string_view>, 10> kTaskNames{{
    {TaskStatus::kUnderConstruction, "under-construction"},
    {TaskStatus::kPaused, "paused"},
    {TaskStatus::kQueued, "queued"},
    {TaskStatus::kClaimedByManager, "claimed-by-manager"},
    {TaskStatus::kActive, "active"},
    {TaskStatus::kCompleted, "completed"},
    {TaskStatus::kCancelRequested, "cancel-requested"},
    {TaskStatus::kCanceled, "canceled"},
    {TaskStatus::kFailed, "failed"},
    {TaskStatus::kSoftFailed, "soft-failed"},
}};

constexpr std::array<std::pair<JobStatus, std::string_view>, 11> kJobNames{{
    {JobStatus::kUnderConstruction, "under-construction"},
    {JobStatus::kConstructionFailed, "construction-failed"},
    {JobStatus::kPaused, "paused"},
    {JobStatus::kQueued, "queued"},
    {JobStatus::kActive, "active"},
    {JobStatus::kCompleted, "completed"},
    {JobStatus::kCancelRequested, "cancel-requested"},
    {JobStatus::kCanceled, "canceled"},
    {JobStatus::kRequeued, "requeued"},
    {JobStatus::kFailRequested, "fail-requested"},
    {JobStatus::kFailed, "failed"},
}};

template <typename E, size_t N>
std::string_view NameOf(const std::array<std::pair<E, std::string_view>, N>& table, E e) {
  for (const auto& [value, name] : table)
    if (value == e) return name;
  return "unknown";
}

template <typename E, size_t N>
std::optional<E> ValueOf(const std::array<std::pair<E, std::string_view>, N>& table, std::string_view s) {
  for (const auto& [value, name] : table)
    if (name == s) return value;
  return std::nullopt;
}

}  // namespace

std::string_view ToString(TaskStatus s) { return NameOf(kTaskNames, s); }
std::optional<TaskStatus> TaskStatusFromString(std::string_view s) { return ValueOf(kTaskNames, s); }
std::string_view ToString(JobStatus s) { return NameOf(kJobNames, s); }
std::optional<JobStatus> JobStatusFromString(std::string_view s) { return ValueOf(kJobNames, s); }

bool IsSchedulable(TaskStatus s) {
  return s == TaskStatus::kQueued || s == TaskStatus::kClaimedByManager || s == TaskStatus::kSoftFailed;
}

bool IsFinal(TaskStatus s) {
  return s == TaskStatus::kCompleted || s == TaskStatus::kCanceled || s == TaskStatus::kFailed;
}

}  // namespace duende::protocol
