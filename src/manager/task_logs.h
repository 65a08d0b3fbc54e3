// Task logs on the Manager, one directory per job:
//   {root}/job-{first 4 of job id}/{job id}/
//     logs.pack                 the job's log pack (below)
//     task-{task id}.run-{N}.txt  run N of a task whose log outgrew the pack
//     task-{task id}.txt.gz     the task's compressed log (see Compress)
//     task-{task id}.txt        a log written before the pack (spec §8.2's
//                               layout; still read, appended and compressed)
// Each run of a task (StartAttempt begins one) is its own log; readers get
// the current run (Text reads earlier ones).
//
// The pack: an append-only file per job holding the text of every run that
// is small, as records (task ID, run number, text), with an index of each
// run's extents kept in memory (rebuilt by one read of the pack when the job
// is first touched after a start). A farm of tiny tasks creates one file per
// job instead of one per task run; creating a file per run was most of the
// cost of a task's log (docs/benchmarks.md, fifteenth slice). A run that
// grows past `pack_max_bytes` moves to a file of its own (copied, synced,
// then a record says so), so large logs are served and followed from one
// file as before.
//
// Thread-safe. Appends to one log never interleave partial lines: each
// Append is one write(2) of whole lines under a lock.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "manager/log_pack.h"

namespace duende {
class GzipWriter;
}

namespace duende::manager {

// What followers of a log hear, in file order.
struct LogEvent {
  enum class Kind {
    kAppended,  // `text` (whole lines) was written at byte `offset`
    kRotated,   // the run ended; a new run's log starts at offset 0
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
  kUnlinkPlain,  // record that the runs are inside the .gz, remove their files
};
std::string_view ToString(CompressStep step);
// Returns false to simulate a crash just before `step`.
using CompressStepHook = std::function<bool(CompressStep)>;

// The two caps on task-log text (0 = no cap).
struct LogCaps {
  uint64_t max_bytes = 0;        // one run's log (task_log_max_bytes)
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

// Where the current run of a task's log is (TaskLogs::Locate).
struct LogSource {
  enum class Kind {
    kNone,        // the task has no log
    kFile,        // `path`: a plain file of `size` bytes (it may grow)
    kPacked,      // `text`: the whole run, from the job's pack
    kCompressed,  // `path`: the task's .txt.gz
  };
  Kind kind = Kind::kNone;
  std::string path;
  std::string text;
  uint64_t size = 0;
};

class TaskLogs {
 public:
  // `max_bytes` caps each run's log (0 = no cap; otherwise at least 4096):
  // text that would take a log past it is cut there and the log ends with
  // one line saying so (kCapNotice); later text for that run is dropped
  // and counted. A new run starts with a new budget.
  //
  // `max_total_bytes` caps the whole directory (0 = no cap): the bytes of
  // its files are measured once here (one walk of `root`), then kept up to
  // date by Append, Compress and DeleteJobLogs. Text that does not fit is
  // dropped and counted, and the log gets one line saying so
  // (kTotalCapNotice) until it stores text again; appending resumes as soon
  // as deleted jobs or compression free space (a pack is freed when every
  // task in it is compressed). Files removed by other means are noticed at
  // the next start. Transient *.tmp files of a compression in progress are
  // not counted.
  //
  // `pack_max_bytes`: a run whose log grows past it moves from the pack to
  // a file of its own (0 = every run has its own file).
  explicit TaskLogs(std::string root, uint64_t max_bytes = 0, uint64_t max_total_bytes = 0,
                    uint64_t pack_max_bytes = kDefaultPackMaxBytes);
  ~TaskLogs();
  TaskLogs(const TaskLogs&) = delete;
  TaskLogs& operator=(const TaskLogs&) = delete;
  static constexpr uint64_t kDefaultPackMaxBytes = 64 * 1024;

  // The compressed log of a task, and the directory of a job's logs. IDs
  // are not validated here (callers pass IDs from the store, or validate
  // untrusted ones).
  std::string GzPathFor(const std::string& job_id, const std::string& task_id) const;
  std::string JobDir(const std::string& job_id) const;

  // Appends `text`, adding a trailing newline if missing, and tells the
  // task's followers. Empty text is a no-op. Tasks without a job are not
  // logged (as v2). Past the cap the text is dropped and the result is
  // still Ok (the update itself was fine; see `max_bytes`).
  Status Append(const std::string& job_id, const std::string& task_id, std::string_view text);

  // Ends the task's current run: later text starts a new log, and the
  // earlier run stays readable (Text). A compressed .txt.gz is never renamed
  // (fixes v2 quirk §15.9, which turned it into .txt.gz.0). A task without
  // a log is left alone.
  Status Rotate(const std::string& job_id, const std::string& task_id);

  // Rotate, then Append: the first lines of a new run of the task, in one
  // record. Empty text only rotates.
  Status StartAttempt(const std::string& job_id, const std::string& task_id, std::string_view text);

  // Removes every log of a deleted job (its directory). Missing is fine.
  Status DeleteJobLogs(const std::string& job_id);

  // Followers: `listener` hears every later Append/Rotate of the task.
  // `size` is the current run's size at subscription, so a follower can
  // read [offset, size) with ReadRange and miss nothing and repeat nothing.
  struct Subscription {
    uint64_t id = 0;
    uint64_t size = 0;
  };
  Subscription Subscribe(const std::string& job_id, const std::string& task_id, LogListener listener);
  void Unsubscribe(uint64_t id);
  size_t FollowerCount() const;

  // Compresses the logs of an ended task to task-X.txt.gz: the text of the
  // older .gz (when the task ran again after being compressed) and of every
  // run since, in order. The gzip is written to a temp file, fsynced,
  // renamed over the .gz and the directory fsynced; only then does a record
  // in the pack say the runs are inside it, and their files are removed. A
  // crash at any point leaves the runs readable or a complete .gz; running
  // Compress again finishes the job without duplicating text (the .gz header
  // records which runs it was made from). Returns true when it compressed,
  // false when there was nothing to compress. Busy when the log grew
  // meanwhile (late lines): try again later. The directory fsync runs
  // outside the log lock: until the record is written only this task's
  // appends wait, every other log goes on.
  Result<bool> Compress(const std::string& job_id, const std::string& task_id, const CompressStepHook& hook = {});

  // The task's log as gzip bytes for upload to a Server (spec §8.4): the
  // compressed text and every run since. When there is no log at all it
  // first writes one saying so (`kMissingLogText`), so the Server stops
  // asking.
  Result<std::string> GzipForUpload(const std::string& job_id, const std::string& task_id);
  static constexpr std::string_view kMissingLogText = "log file does not exist on Duende Manager";
  // The line that ends a log cut at the cap (the byte count follows it).
  static constexpr std::string_view kCapNotice = "--- Duende Manager: this task log reached task_log_max_bytes (";
  // The line a log gets where text was dropped because the directory
  // reached its cap (the byte count follows it).
  static constexpr std::string_view kTotalCapNotice =
      "--- Duende Manager: the task-log directory reached task_logs_max_total_bytes (";

  // Since start: bytes of log text dropped at the cap, and logs that
  // reached it. Thread-safe.
  uint64_t dropped_bytes() const;
  uint64_t capped_logs() const;
  // Bytes of the log files in the directory now (what max_total_bytes
  // caps), and log text dropped since start because the directory was at
  // its cap. Thread-safe.
  uint64_t total_bytes() const;
  uint64_t total_cap_dropped_bytes() const;

  // Where the task's current log is. Serving a kFile opens `path`; when it
  // is gone by then (compressed meanwhile), Locate again.
  Result<LogSource> Locate(const std::string& job_id, const std::string& task_id);

  // Bytes [offset, offset+length) of the current log: the current run, else
  // the decompressed .gz (read from its start: cost grows with `offset`).
  // NotFound when neither exists. `total` gets the full (uncompressed) size
  // of a run, or 0 for a .gz (unknown without reading everything).
  struct Range {
    std::string text;
    uint64_t offset = 0;
    uint64_t total = 0;
    bool compressed = false;
  };
  Result<Range> ReadRange(const std::string& job_id, const std::string& task_id, uint64_t offset, uint64_t length);

  // The whole text of the run `earlier` runs before the current one (0:
  // the current log, which is the .gz when every run is compressed).
  // NotFound when there is no such run (runs inside the .gz are not kept
  // apart).
  Result<std::string> Text(const std::string& job_id, const std::string& task_id, unsigned earlier = 0);

  // The end of the task's current log, whole lines: at most its last
  // `max_bytes` (a .gz inflated from its start, keeping only its end).
  // nullopt when the task has no log.
  std::optional<std::string> Tail(const std::string& job_id, const std::string& task_id,
                                  uint64_t max_bytes = 16 * 1024);

 private:
  struct Run;
  struct TaskIndex;
  struct JobIndex;
  // A copy of a task's runs taken under mu_, read outside it (Compress,
  // GzipForUpload).
  struct Snapshot;

  std::string Key(const std::string& job_id, const std::string& task_id) const { return job_id + "/" + task_id; }
  std::string RunPath(const std::string& job_id, const std::string& task_id, uint32_t run) const;
  // The job's index, read from its directory on first use (and after it
  // was dropped to bound memory). Called under mu_.
  Result<JobIndex*> Job(const std::string& job_id);
  Status LoadJob(const std::string& job_id, JobIndex& job);
  // Appends one record to the job's pack (created on first use); returns
  // the pack offset of its text. Called under mu_.
  Result<uint64_t> AppendRecord(JobIndex& job, const std::string& job_id, log_pack::Kind kind,
                                const std::string& task_id, uint32_t run, std::string_view text);
  // The text of a packed run. Called under mu_.
  Result<std::string> Gather(const JobIndex& job, const Run& run) const;
  // Append and StartAttempt (`new_attempt`).
  Status Write(const std::string& job_id, const std::string& task_id, std::string_view text, bool new_attempt);
  // Appends `buf` to a run's own file (cut under the caps when `capped`);
  // `offset` gets the file's size before it.
  Status WriteToFile(const std::string& path, std::string& buf, bool capped, uint64_t* offset);
  // Moves a packed run and `buf` after it to the run's own file.
  Status Spill(const std::string& job_id, const std::string& task_id, JobIndex& job, Run& run, const std::string& buf);
  // `with_text`: also gather the packed runs' text (else only the tag).
  Result<Snapshot> Take(const std::string& job_id, const std::string& task_id, TaskIndex& task, JobIndex& job,
                        bool with_text);
  // Writes the gzip of [the older .gz's text] + [the snapshot's runs].
  static Status WriteSnapshot(const std::string& gz_path, const Snapshot& snapshot, GzipWriter& out);
  // Waits (releasing `lock` on mu_) while Compress is between the rename
  // and its record for this task.
  void WaitWhileCompressing(std::unique_lock<std::mutex>& lock, const std::string& job_id, const std::string& task_id);
  void Notify(const std::string& job_id, const std::string& task_id, const LogEvent& event);

  // What of `buf` (whole lines) goes into a log of `size` bytes under both
  // caps (PlanAppend), with the notices; counts what is dropped and logs the
  // cuts. `ends_with` tells whether the log ends with a text. Called under
  // mu_.
  std::string FitUnderCaps(std::string buf, uint64_t size, const std::function<bool(std::string_view)>& ends_with,
                           const std::string& name);
  // After space was freed: leaves the "directory full" state once the
  // total is well under the cap. Called under mu_.
  void NoteFreed();

  std::string root_;
  const LogCaps caps_;
  const uint64_t pack_max_bytes_;
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
  // The jobs whose index is in memory (each with its pack open); the least
  // recently used are dropped while more than kMaxIndexedTasks tasks or
  // kMaxIndexedJobs jobs are indexed. Guarded by mu_.
  std::map<std::string, std::unique_ptr<JobIndex>> jobs_;
  uint64_t indexed_tasks_ = 0;
  uint64_t use_clock_ = 0;
  static constexpr uint64_t kMaxIndexedTasks = 500'000;
  static constexpr size_t kMaxIndexedJobs = 256;
  // Tasks (Key) whose runs Compress has put into the .gz but not yet marked
  // so in the pack; guarded by mu_. compressed_cv_ tells when one leaves.
  std::set<std::string> compressing_;
  std::condition_variable compressed_cv_;
  uint64_t next_subscription_ = 1;
  std::map<std::string, std::vector<std::pair<uint64_t, LogListener>>> followers_;
};

}  // namespace duende::manager
