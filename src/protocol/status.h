// Task, job and worker statuses with their Flamenco v2 wire names (spec §4).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace duende::protocol {

enum class TaskStatus {
  kUnderConstruction,
  kPaused,
  kQueued,
  kClaimedByManager,
  kActive,
  kCompleted,
  kCancelRequested,
  kCanceled,
  kFailed,
  kSoftFailed,
};

enum class JobStatus {
  kUnderConstruction,
  kConstructionFailed,
  kPaused,
  kQueued,
  kActive,
  kCompleted,
  kCancelRequested,
  kCanceled,
  kRequeued,
  kFailRequested,
  kFailed,
};

std::string_view ToString(TaskStatus s);
std::optional<TaskStatus> TaskStatusFromString(std::string_view s);
std::string_view ToString(JobStatus s);
std::optional<JobStatus> JobStatusFromString(std::string_view s);

// Manager side (§4.1): tasks in these statuses may be handed to a worker.
bool IsSchedulable(TaskStatus s);
// Statuses after which nothing more happens unless a user requeues.
bool IsFinal(TaskStatus s);

// Worker statuses are plain strings on the wire ("" right after
// registration); these are the ones the Manager knows.
namespace worker_status {
inline constexpr std::string_view kNone = "";
inline constexpr std::string_view kStarting = "starting";
inline constexpr std::string_view kAwake = "awake";
inline constexpr std::string_view kAsleep = "asleep";
inline constexpr std::string_view kTesting = "testing";
inline constexpr std::string_view kError = "error";
inline constexpr std::string_view kTimeout = "timeout";
inline constexpr std::string_view kOffline = "offline";
inline constexpr std::string_view kShutdown = "shutdown";
inline constexpr std::string_view kRestart = "restart";
}  // namespace worker_status

}  // namespace duende::protocol
