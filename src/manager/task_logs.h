// Task log files on the Manager (spec §8.2):
//   {root}/job-{first 4 of job id}/{job id}/task-{task id}.txt
// appended as updates arrive and rotated to .txt.1, .txt.2, ... whenever the
// task becomes active again. Logs of ended tasks may be compressed to
// task-{task id}.txt.gz (see Compress).
//
// Thread-safe. Appends to one file never interleave partial lines: each
// Append is one write(2) of whole lines under a lock.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace duende::manager {

// What followers of a log hear, in file order.
struct LogEvent {
  enum class Kind {
    kAppended,  // `text` (whole lines) was written at byte `offset`
    kRotated,   // the log was rotated away; a new file starts at offset 0
  };
  Kind kind = Kind::kAppended;
  uint64_t offset = 0;
  std::string_view text;
};
// Called under the log lock, on the appending thread: must be quick and must
// not call back into TaskLogs (queue the text and return).
using LogListener = std::function<void(const LogEvent&)>;

// The steps of Compress(), in order. A crash before any of them leaves a
// readable log (tests inject one through the step hook).
enum class CompressStep {
  kWriteTemp,    // write task-X.txt.gz.tmp
  kSyncTemp,     // fsync it
  kRename,       // rename it to task-X.txt.gz
  kSyncDir,      // fsync the directory, making the rename durable
  kUnlinkPlain,  // remove task-X.txt (and fsync the directory)
};
std::string_view ToString(CompressStep step);
// Returns false to simulate a crash just before `step`.
using CompressStepHook = std::function<bool(CompressStep)>;

// The two caps on task-log text (0 = no cap).
struct LogCaps {
  uint64_t max_bytes = 0;        // one log file (task_log_max_bytes)
  uint64_t max_total_bytes = 0;  // the whole directory (task_logs_max_total_bytes)
};

// What of an append of `text_size` bytes to a log of `log_size` bytes is
// stored, in a directory holding `dir_total` bytes. Pure (the policy of
// TaskLogs::Append, tested as a table).
//   - A log at its own cap takes nothing more and gets no second notice.
//   - Text fits a log while it leaves room for the log's notice
//     (`task_notice_size`, which must be below max_bytes), so the notice
//     ends a cut log exactly at max_bytes.
//   - The directory takes text up to max_total_bytes; when it is what cuts
//     the text, the directory's notice follows instead (the caller leaves
//     it out when the log already ends with it). Notices are never cut: they
//     may take the directory past its cap by one line per task log.
struct AppendPlan {
  uint64_t keep = 0;              // the head of the text that is stored
  bool task_cap_notice = false;   // the log reached max_bytes: its notice follows
  bool total_cap_notice = false;  // the directory reached max_total_bytes: its notice follows
};
AppendPlan PlanAppend(const LogCaps& caps, uint64_t task_notice_size, uint64_t log_size, uint64_t dir_total,
                      uint64_t text_size);

class TaskLogs {
 public:
  // `max_bytes` caps each log file (0 = no cap; otherwise at least 4096):
  // text that would take a log past it is cut there and the log ends with
  // one line saying so (kCapNotice); later text for that file is dropped
  // and counted. A rotated log starts a new file with a new budget.
  //
  // `max_total_bytes` caps the whole directory (0 = no cap): the bytes of
  // its log files are measured once here (one walk of `root`), then kept up
  // to date by Append, Compress and DeleteJobLogs (Rotate only renames).
  // Text that does not fit is dropped and counted, and the log gets one
  // line saying so (kTotalCapNotice) until it stores text again; appending
  // resumes as soon as deleted jobs or compression free space. Files removed
  // by other means are noticed at the next start. Transient *.tmp files of a
  // compression in progress are not counted.
  explicit TaskLogs(std::string root, uint64_t max_bytes = 0, uint64_t max_total_bytes = 0);

  // The plain log; GzPathFor is the compressed one. IDs are not validated
  // here (callers pass IDs from the store, or validate untrusted ones).
  std::string PathFor(const std::string& job_id, const std::string& task_id) const;
  std::string GzPathFor(const std::string& job_id, const std::string& task_id) const;

  // Appends `text`, adding a trailing newline if missing, and tells the
  // task's followers. Empty text is a no-op. Tasks without a job are not
  // logged (as v2). Past the cap the text is dropped and the result is
  // still Ok (the update itself was fine; see `max_bytes`).
  Status Append(const std::string& job_id, const std::string& task_id, std::string_view text);

  // Renames the current log to .txt.1 (older ones shift up). Only plain text
  // logs take part; a compressed .txt.gz is never renamed (fixes v2 quirk
  // §15.9, which turned it into .txt.gz.0).
  Status Rotate(const std::string& job_id, const std::string& task_id);

  // Rotate, then Append: the first lines of a new run of the task. The new
  // log is created exclusively, which finds an earlier run's log to rotate
  // in the same system call (Rotate alone looks first). Empty text only
  // rotates.
  Status StartAttempt(const std::string& job_id, const std::string& task_id, std::string_view text);

  // Removes every log of a deleted job (its directory). Missing is fine.
  Status DeleteJobLogs(const std::string& job_id);

  // Followers: `listener` hears every later Append/Rotate of the task.
  // `size` is the plain log's size at subscription, so a follower can read
  // [offset, size) from the file and miss nothing and repeat nothing.
  struct Subscription {
    uint64_t id = 0;
    uint64_t size = 0;
  };
  Subscription Subscribe(const std::string& job_id, const std::string& task_id, LogListener listener);
  void Unsubscribe(uint64_t id);
  size_t FollowerCount() const;

  // Compresses the plain log of an ended task to task-X.txt.gz: the gzip is
  // written to a temp file, fsynced, renamed over the .gz, the directory
  // fsynced, and only then the plain file removed. A crash at any point
  // leaves the plain log or a complete .gz; running Compress again finishes
  // the job without duplicating text (the .gz header records which plain
  // file it was made from). When an older .gz exists (the task ran again
  // after being compressed) its text is kept in front of the new text.
  // Returns true when it compressed, false when there was no plain log.
  // Busy when the log grew meanwhile (late lines): try again later.
  // The directory fsyncs run outside the log lock: between the rename and
  // the unlink only this task's appends and rotations wait, every other
  // log goes on.
  Result<bool> Compress(const std::string& job_id, const std::string& task_id, const CompressStepHook& hook = {});

  // The task's log as gzip bytes for upload to a Server (spec §8.4). When
  // there is no log at all it first writes one saying so (`kMissingLogText`)
  // and compresses that, so the Server stops asking.
  Result<std::string> GzipForUpload(const std::string& job_id, const std::string& task_id);
  static constexpr std::string_view kMissingLogText = "log file does not exist on Duende Manager";
  // The line that ends a log cut at the cap (the byte count follows it).
  static constexpr std::string_view kCapNotice = "--- Duende Manager: this task log reached task_log_max_bytes (";
  // The line a log gets where text was dropped because the directory
  // reached its cap (the byte count follows it).
  static constexpr std::string_view kTotalCapNotice =
      "--- Duende Manager: the task-log directory reached task_logs_max_total_bytes (";

  // Since start: bytes of log text dropped at the cap, and log files that
  // reached it. Thread-safe.
  uint64_t dropped_bytes() const;
  uint64_t capped_logs() const;
  // Bytes of the log files in the directory now (what max_total_bytes
  // caps), and log text dropped since start because the directory was at
  // its cap. Thread-safe.
  uint64_t total_bytes() const;
  uint64_t total_cap_dropped_bytes() const;

  // Bytes [offset, offset+length) of the current log: the plain file, else
  // the decompressed .gz (read from its start: cost grows with `offset`).
  // NotFound when neither exists. `total` gets the full (uncompressed) size
  // for plain logs, or 0 when it is unknown without reading everything.
  struct Range {
    std::string text;
    uint64_t offset = 0;
    uint64_t total = 0;
    bool compressed = false;
  };
  Result<Range> ReadRange(const std::string& job_id, const std::string& task_id, uint64_t offset,
                          uint64_t length) const;

  // The end of the task's current log, whole lines: at most its last
  // `max_bytes` (the plain file read from there; a .gz inflated from its
  // start, keeping only its end). nullopt when the task has no log.
  std::optional<std::string> Tail(const std::string& job_id, const std::string& task_id,
                                  uint64_t max_bytes = 16 * 1024) const;

 private:
  std::string Key(const std::string& job_id, const std::string& task_id) const { return job_id + "/" + task_id; }
  // Append and StartAttempt (`new_attempt`).
  Status Write(const std::string& job_id, const std::string& task_id, std::string_view text, bool new_attempt);
  // Rotate's renames, for a plain log that exists. Called under mu_.
  Status RotateLocked(const std::string& job_id, const std::string& task_id, const std::string& path);
  // Waits (releasing `lock` on mu_) while Compress is between the rename
  // and the unlink of this task's plain log.
  void WaitWhileCompressing(std::unique_lock<std::mutex>& lock, const std::string& job_id, const std::string& task_id);

  // What of `buf` (whole lines) goes into the log open as `fd` (of `size`
  // bytes) under both caps (PlanAppend), with the notices; counts what is
  // dropped and logs the cuts. Called under mu_.
  std::string FitUnderCaps(std::string buf, int fd, uint64_t size, const std::string& path);
  // After space was freed: leaves the "directory full" state once the
  // total is well under the cap. Called under mu_.
  void NoteFreed();

  std::string root_;
  const LogCaps caps_;
  const std::string task_notice_;
  const std::string total_notice_;
  uint64_t dropped_bytes_ = 0;            // guarded by mu_
  uint64_t capped_logs_ = 0;              // guarded by mu_
  uint64_t total_bytes_ = 0;              // guarded by mu_
  uint64_t total_cap_dropped_bytes_ = 0;  // guarded by mu_
  // Set when the directory cap cut text (warned once), cleared when freeing
  // takes the total under 90% of the cap (so a directory hovering at the
  // cap does not warn on every request). Guarded by mu_.
  bool dir_full_ = false;
  mutable std::mutex mu_;
  // Tasks (Key) whose plain log Compress has renamed into the .gz but not
  // yet removed; guarded by mu_. compressed_cv_ tells when one leaves.
  std::set<std::string> compressing_;
  std::condition_variable compressed_cv_;
  uint64_t next_subscription_ = 1;
  std::map<std::string, std::vector<std::pair<uint64_t, LogListener>>> followers_;
};

}  // namespace duende::manager
