// TaskLogs: storage, rotation, followers, crash-safe compression, upload gzip.
#include "manager/task_logs.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <set>
#include <sstream>
#include <thread>

#include "common/gzip.h"
#include "support/temp_dir.h"

namespace duende::manager {
namespace {

namespace fs = std::filesystem;

constexpr const char* kJob = "5f0a1b2c3d4e5f6a7b8c9d0e";
constexpr const char* kTask = "6a7b8c9d0e1f2a3b4c5d6e7f";

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string Gunzipped(const std::string& path) {
  std::string out;
  auto st = GunzipFile(path, [&](std::string_view s) -> Status {
    out.append(s);
    return Ok();
  });
  EXPECT_TRUE(st.has_value()) << (st ? "" : st.error().message);
  return out;
}

class TaskLogsTest : public ::testing::Test {
 protected:
  // What a reader gets now: the plain log, else the decompressed .gz.
  std::string Readable() {
    auto r = logs_.ReadRange(kJob, kTask, 0, uint64_t{1} << 40);
    EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().message);
    return r ? r->text : "";
  }
  // The whole log of the task's current run, or of a run `earlier` back.
  std::string Log(unsigned earlier = 0, const std::string& task = kTask) {
    auto text = logs_.Text(kJob, task, earlier);
    EXPECT_TRUE(text.has_value()) << (text ? "" : text.error().message);
    return text.value_or("");
  }
  std::string gz() const { return logs_.GzPathFor(kJob, kTask); }
  std::string job_dir() const { return logs_.JobDir(kJob); }

  testing::TempDir dir_;
  TaskLogs logs_{dir_ / "logs"};
};

// The names of the files in a directory.
std::set<std::string> Files(const std::string& dir) {
  std::set<std::string> names;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) names.insert(e.path().filename().string());
  return names;
}

TEST_F(TaskLogsTest, PathsFollowTheSpecLayout) {
  EXPECT_EQ(job_dir(), dir_ / "logs" + "/job-5f0a/" + kJob);
  EXPECT_EQ(gz(), job_dir() + "/task-" + kTask + ".txt.gz");
}

// Small logs of a job share one file; a log that outgrows the pack moves
// to a file of its own without a gap; a restarted Manager reads them all
// back from the files.
TEST_F(TaskLogsTest, SmallLogsShareTheJobsPackAndALargeOneMovesToItsOwnFile) {
  std::vector<std::string> tasks;
  for (int t = 0; t < 50; ++t) {
    tasks.push_back("6a7b8c9d0e1f2a3b4c5d6e" + std::to_string(10 + t));
    ASSERT_TRUE(logs_.StartAttempt(kJob, tasks.back(), "assigned " + std::to_string(t)).has_value());
  }
  for (int t = 0; t < 50; ++t) ASSERT_TRUE(logs_.Append(kJob, tasks[t], "done " + std::to_string(t)).has_value());
  EXPECT_EQ(Files(job_dir()), std::set<std::string>{"logs.pack"});
  std::vector<uint64_t> heard;
  std::string followed;
  logs_.Subscribe(kJob, tasks[7], [&](const LogEvent& e) {
    heard.push_back(e.offset);
    followed += e.text;
  });
  // Past the pack's limit the run moves to its own file, offsets go on.
  const std::string big(TaskLogs::kDefaultPackMaxBytes, 'b');
  ASSERT_TRUE(logs_.Append(kJob, tasks[7], big).has_value());
  ASSERT_TRUE(logs_.Append(kJob, tasks[7], "after").has_value());
  EXPECT_EQ(Files(job_dir()), (std::set<std::string>{"logs.pack", "task-" + tasks[7] + ".run-1.txt"}));
  ASSERT_EQ(heard.size(), 2u);
  EXPECT_EQ(heard[0], 18u);  // after "assigned 7\ndone 7\n"
  EXPECT_EQ(heard[1], 18u + big.size() + 1);
  const std::string seven = "assigned 7\ndone 7\n" + big + "\nafter\n";
  EXPECT_EQ(Log(0, tasks[7]), seven);
  EXPECT_EQ(followed, seven.substr(18));
  auto located = logs_.Locate(kJob, tasks[7]);
  ASSERT_TRUE(located.has_value());
  EXPECT_EQ(located->kind, LogSource::Kind::kFile);
  EXPECT_EQ(located->size, seven.size());
  located = logs_.Locate(kJob, tasks[8]);
  ASSERT_TRUE(located.has_value());
  EXPECT_EQ(located->kind, LogSource::Kind::kPacked);
  EXPECT_EQ(located->text, "assigned 8\ndone 8\n");
  // A second run of a task; then a restart.
  ASSERT_TRUE(logs_.StartAttempt(kJob, tasks[3], "again 3").has_value());
  TaskLogs restarted(dir_ / "logs");
  EXPECT_EQ(restarted.total_bytes(), logs_.total_bytes());
  for (int t = 0; t < 50; ++t) {
    SCOPED_TRACE(t);
    auto text = restarted.Text(kJob, tasks[t]);
    ASSERT_TRUE(text.has_value());
    if (t == 7) {
      EXPECT_EQ(*text, seven);
    } else if (t == 3) {
      EXPECT_EQ(*text, "again 3\n");
      EXPECT_EQ(restarted.Text(kJob, tasks[t], 1).value_or(""), "assigned 3\ndone 3\n");
    } else {
      EXPECT_EQ(*text, "assigned " + std::to_string(t) + "\ndone " + std::to_string(t) + "\n");
    }
  }
  // Appends after the restart go on where the runs were.
  ASSERT_TRUE(restarted.Append(kJob, tasks[3], "more 3").has_value());
  ASSERT_TRUE(restarted.Append(kJob, tasks[7], "more 7").has_value());
  EXPECT_EQ(restarted.Text(kJob, tasks[3]).value_or(""), "again 3\nmore 3\n");
  EXPECT_EQ(restarted.Text(kJob, tasks[7]).value_or(""), seven + "more 7\n");
}

// The index of a job not touched lately is dropped to bound memory and
// open files, and read again from its pack when the job is touched.
TEST_F(TaskLogsTest, ManyJobsIndexesAreDroppedAndReadAgain) {
  std::vector<std::string> jobs;
  for (int j = 0; j < 300; ++j) {
    std::string id = std::to_string(1000 + j);
    jobs.push_back("5f0a1b2c3d4e5f6a7b8c" + id);
    ASSERT_TRUE(logs_.Append(jobs.back(), kTask, "job " + id).has_value());
  }
  for (int j = 0; j < 300; ++j) {
    ASSERT_TRUE(logs_.Append(jobs[j], kTask, "again").has_value());
    EXPECT_EQ(logs_.Text(jobs[j], kTask).value_or(""), "job " + std::to_string(1000 + j) + "\nagain\n");
  }
  EXPECT_EQ(logs_.Text(jobs[0], kTask).value_or(""), "job 1000\nagain\n");
}

// A crash can cut the last record of a pack: the next start drops the cut
// bytes, keeps every whole record, and appends after them.
TEST_F(TaskLogsTest, ACutRecordAtThePacksEndIsDroppedAtTheNextStart) {
  ASSERT_TRUE(logs_.Append(kJob, kTask, "kept").has_value());
  ASSERT_TRUE(logs_.Append(kJob, kTask, "cut by the crash").has_value());
  const std::string pack = job_dir() + "/logs.pack";
  fs::resize_file(pack, fs::file_size(pack) - 5);
  TaskLogs restarted(dir_ / "logs");
  EXPECT_EQ(restarted.Text(kJob, kTask).value_or(""), "kept\n");
  ASSERT_TRUE(restarted.Append(kJob, kTask, "after").has_value());
  TaskLogs again(dir_ / "logs");
  EXPECT_EQ(again.Text(kJob, kTask).value_or(""), "kept\nafter\n");
  EXPECT_EQ(again.total_bytes(), fs::file_size(pack));
}

// Logs written before the pack (task-X.txt) are read, appended to and
// compressed as they are; the task's next run goes to the pack.
TEST_F(TaskLogsTest, ALogFromBeforeThePackIsStillRead) {
  fs::create_directories(job_dir());
  std::ofstream(job_dir() + "/task-" + kTask + ".txt") << "old layout\n";
  TaskLogs logs(dir_ / "logs");
  EXPECT_EQ(logs.Text(kJob, kTask).value_or(""), "old layout\n");
  ASSERT_TRUE(logs.Append(kJob, kTask, "appended").has_value());
  EXPECT_EQ(ReadFile(job_dir() + "/task-" + kTask + ".txt"), "old layout\nappended\n");
  ASSERT_TRUE(logs.StartAttempt(kJob, kTask, "new run").has_value());
  EXPECT_EQ(logs.Text(kJob, kTask).value_or(""), "new run\n");
  EXPECT_EQ(logs.Text(kJob, kTask, 1).value_or(""), "old layout\nappended\n");
  ASSERT_TRUE(logs.Compress(kJob, kTask).has_value());
  EXPECT_EQ(Files(job_dir()), std::set<std::string>{"task-" + std::string(kTask) + ".txt.gz"});
  EXPECT_EQ(Gunzipped(gz()), "old layout\nappended\nnew run\n");
}

TEST_F(TaskLogsTest, AppendAddsNewlineAndIgnoresTasksWithoutJob) {
  ASSERT_TRUE(logs_.Append(kJob, kTask, "one").has_value());
  ASSERT_TRUE(logs_.Append(kJob, kTask, "two\n").has_value());
  ASSERT_TRUE(logs_.Append("", kTask, "nowhere").has_value());
  EXPECT_EQ(Log(), "one\ntwo\n");
}

TEST_F(TaskLogsTest, RotationOnReactivationKeepsEarlierRunsAndNeverTouchesGzip) {
  ASSERT_TRUE(logs_.Append(kJob, kTask, "run 1").has_value());
  ASSERT_TRUE(logs_.Rotate(kJob, kTask).has_value());
  ASSERT_TRUE(logs_.Append(kJob, kTask, "run 2").has_value());
  { std::ofstream(gz()) << "not really gzip"; }
  ASSERT_TRUE(logs_.Rotate(kJob, kTask).has_value());
  ASSERT_TRUE(logs_.Append(kJob, kTask, "run 3").has_value());
  EXPECT_EQ(Log(), "run 3\n");
  EXPECT_EQ(Log(1), "run 2\n");
  EXPECT_EQ(Log(2), "run 1\n");
  EXPECT_FALSE(logs_.Text(kJob, kTask, 3).has_value());
  EXPECT_EQ(ReadFile(gz()), "not really gzip");  // v2 renamed it to .txt.gz.0
  EXPECT_FALSE(fs::exists(gz() + ".0"));
}

// A new run of a task: its first lines go to a new log, an earlier run's
// log (if any) rotated away first, and followers hear the rotation before
// the lines. Without text it only rotates.
TEST_F(TaskLogsTest, StartAttemptRotatesAnEarlierRunAndStartsANewLog) {
  ASSERT_TRUE(logs_.StartAttempt(kJob, kTask, "run 1").has_value());  // creates the directories
  EXPECT_EQ(Log(), "run 1\n");
  EXPECT_FALSE(logs_.Text(kJob, kTask, 1).has_value());
  ASSERT_TRUE(logs_.Append(kJob, kTask, "more of run 1").has_value());
  std::vector<std::string> heard;
  auto sub = logs_.Subscribe(kJob, kTask, [&](const LogEvent& e) {
    heard.push_back(e.kind == LogEvent::Kind::kRotated ? "rotated"
                                                       : std::to_string(e.offset) + ":" + std::string(e.text));
  });
  ASSERT_TRUE(logs_.StartAttempt(kJob, kTask, "run 2").has_value());
  EXPECT_EQ(Log(), "run 2\n");
  EXPECT_EQ(Log(1), "run 1\nmore of run 1\n");
  EXPECT_EQ(heard, (std::vector<std::string>{"rotated", "0:run 2\n"}));
  logs_.Unsubscribe(sub.id);
  ASSERT_TRUE(logs_.StartAttempt(kJob, kTask, "").has_value());
  EXPECT_EQ(Log(), "");
  EXPECT_EQ(Log(1), "run 2\n");
  EXPECT_EQ(Log(2), "run 1\nmore of run 1\n");
  ASSERT_TRUE(logs_.StartAttempt(kJob, kTask, "run 3").has_value());
  EXPECT_EQ(Log(), "run 3\n");
  EXPECT_EQ(Log(1), "");
  EXPECT_EQ(Log(3), "run 1\nmore of run 1\n");
}

TEST_F(TaskLogsTest, RotateWithoutLogIsNoop) {
  ASSERT_TRUE(logs_.Rotate(kJob, kTask).has_value());
  EXPECT_FALSE(fs::exists(job_dir()));
  EXPECT_FALSE(logs_.Text(kJob, kTask).has_value());
}

TEST_F(TaskLogsTest, ConcurrentAppendsNeverInterleavePartialLines) {
  constexpr int kThreads = 8, kAppends = 200;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([this, t] {
      for (int i = 0; i < kAppends; ++i) {
        // Three lines per append, long enough to need more than one
        // pipe-sized write if anything split them.
        std::string block;
        for (int l = 0; l < 3; ++l)
          block += "t" + std::to_string(t) + " i" + std::to_string(i) + " l" + std::to_string(l) + " " +
                   std::string(1500, 'x') + "\n";
        ASSERT_TRUE(logs_.Append(kJob, kTask, block).has_value());
      }
    });
  }
  for (auto& th : threads) th.join();
  std::istringstream in(Log());
  std::string line;
  std::vector<std::string> lines;
  while (std::getline(in, line)) lines.push_back(line);
  ASSERT_EQ(lines.size(), size_t{kThreads * kAppends * 3});
  std::set<std::string> seen;
  for (size_t i = 0; i < lines.size(); i += 3) {
    const std::string prefix = lines[i].substr(0, lines[i].find(" l0 "));
    for (int l = 0; l < 3; ++l) {
      EXPECT_EQ(lines[i + l], prefix + " l" + std::to_string(l) + " " + std::string(1500, 'x'));
    }
    seen.insert(prefix);
  }
  EXPECT_EQ(seen.size(), size_t{kThreads * kAppends});
}

TEST_F(TaskLogsTest, FollowersHearAppendsWithOffsetsAndRotation) {
  ASSERT_TRUE(logs_.Append(kJob, kTask, "before").has_value());
  std::vector<std::pair<uint64_t, std::string>> heard;
  int rotations = 0;
  auto sub = logs_.Subscribe(kJob, kTask, [&](const LogEvent& e) {
    if (e.kind == LogEvent::Kind::kRotated)
      ++rotations;
    else
      heard.emplace_back(e.offset, std::string(e.text));
  });
  EXPECT_EQ(sub.size, 7u);
  ASSERT_TRUE(logs_.Append(kJob, kTask, "a\nb").has_value());
  ASSERT_TRUE(logs_.Append(kJob, "00000000000000000000abcd", "other task").has_value());
  ASSERT_TRUE(logs_.Rotate(kJob, kTask).has_value());
  ASSERT_TRUE(logs_.Append(kJob, kTask, "c").has_value());
  logs_.Unsubscribe(sub.id);
  ASSERT_TRUE(logs_.Append(kJob, kTask, "unheard").has_value());
  ASSERT_EQ(heard.size(), 2u);
  EXPECT_EQ(heard[0], (std::pair<uint64_t, std::string>{7, "a\nb\n"}));
  EXPECT_EQ(heard[1], (std::pair<uint64_t, std::string>{0, "c\n"}));
  EXPECT_EQ(rotations, 1);
  EXPECT_EQ(logs_.FollowerCount(), 0u);
}

std::string SomeLog() {
  std::string text;
  for (int i = 0; i < 5000; ++i) text += "2026-01-01T00:00:00Z: pid=42 > line " + std::to_string(i) + " ünïcödé\n";
  return text;
}

TEST_F(TaskLogsTest, CompressWritesGzipAndRemovesPlain) {
  const std::string text = SomeLog();
  ASSERT_TRUE(logs_.Append(kJob, kTask, text).has_value());
  auto done = logs_.Compress(kJob, kTask);
  ASSERT_TRUE(done.has_value()) << done.error().message;
  EXPECT_TRUE(*done);
  // The run's file and the pack are gone: every log of the job is inside its .gz.
  EXPECT_EQ(Files(job_dir()), std::set<std::string>{"task-" + std::string(kTask) + ".txt.gz"});
  EXPECT_EQ(Gunzipped(gz()), text);
  EXPECT_EQ(Readable(), text);
  // Nothing left to do.
  auto again = logs_.Compress(kJob, kTask);
  ASSERT_TRUE(again.has_value());
  EXPECT_FALSE(*again);
}

// For a packed log and one in its own file, with a restart after the crash.
TEST_F(TaskLogsTest, CompressionCrashAtEachStepLeavesReadableLogAndResumes) {
  for (const std::string& text : {std::string("a small log\n"), SomeLog()}) {
    for (CompressStep step : {CompressStep::kWriteTemp, CompressStep::kSyncTemp, CompressStep::kRename,
                              CompressStep::kSyncDir, CompressStep::kUnlinkPlain}) {
      SCOPED_TRACE(std::string(ToString(step)) + " of " + std::to_string(text.size()) + " bytes");
      fs::remove_all(dir_ / "logs");
      {
        TaskLogs logs(dir_ / "logs");
        ASSERT_TRUE(logs.StartAttempt(kJob, kTask, "run 1").has_value());
        ASSERT_TRUE(logs.StartAttempt(kJob, kTask, text).has_value());
        auto crashed = logs.Compress(kJob, kTask, [step](CompressStep s) { return s != step; });
        ASSERT_FALSE(crashed.has_value());
        // "After the crash": the log reads back whole.
        EXPECT_EQ(logs.Text(kJob, kTask).value_or(""), text);
      }
      TaskLogs logs(dir_ / "logs");
      EXPECT_EQ(logs.Text(kJob, kTask).value_or(""), text);
      EXPECT_EQ(logs.Text(kJob, kTask, 1).value_or(""), "run 1\n");
      // The next pass finishes without duplicating anything.
      auto resumed = logs.Compress(kJob, kTask);
      ASSERT_TRUE(resumed.has_value()) << resumed.error().message;
      EXPECT_EQ(Files(job_dir()), std::set<std::string>{"task-" + std::string(kTask) + ".txt.gz"});
      EXPECT_EQ(Gunzipped(gz()), "run 1\n" + text);
      EXPECT_EQ(logs.Text(kJob, kTask).value_or(""), "run 1\n" + text);
      EXPECT_EQ(logs.total_bytes(), fs::file_size(gz()));
    }
  }
}

TEST_F(TaskLogsTest, CompressKeepsTextOfAnEarlierCompressedRun) {
  ASSERT_TRUE(logs_.Append(kJob, kTask, "first run").has_value());
  ASSERT_TRUE(logs_.Compress(kJob, kTask).has_value());
  // Requeued after compression: the task runs again.
  ASSERT_TRUE(logs_.Rotate(kJob, kTask).has_value());
  ASSERT_TRUE(logs_.Append(kJob, kTask, "second run").has_value());
  EXPECT_EQ(Readable(), "second run\n");
  ASSERT_TRUE(logs_.Compress(kJob, kTask).has_value());
  EXPECT_EQ(Gunzipped(gz()), "first run\nsecond run\n");
}

TEST_F(TaskLogsTest, CompressBacksOffWhenALateLineArrives) {
  ASSERT_TRUE(logs_.Append(kJob, kTask, "done").has_value());
  auto r = logs_.Compress(kJob, kTask, [this](CompressStep s) {
    if (s == CompressStep::kSyncTemp) {
      EXPECT_TRUE(logs_.Append(kJob, kTask, "late line").has_value());
    }
    return true;
  });
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kBusy);
  EXPECT_EQ(Log(), "done\nlate line\n");
  EXPECT_FALSE(fs::exists(gz()));
  EXPECT_FALSE(fs::exists(gz() + ".tmp"));
  ASSERT_TRUE(logs_.Compress(kJob, kTask).has_value());
  EXPECT_EQ(Gunzipped(gz()), "done\nlate line\n");
}

TEST_F(TaskLogsTest, CompressSyncsTheDirectoryWithoutHoldingOtherLogs) {
  const std::string other = "00000000000000000000abcd";
  ASSERT_TRUE(logs_.Append(kJob, kTask, "done").has_value());
  std::future<Status> same;
  auto r = logs_.Compress(kJob, kTask, [&](CompressStep s) {
    if (s != CompressStep::kSyncDir) return true;
    // Another task's log takes its line while this one's directory is
    // synced (under the old lock this waited for the whole compression).
    auto appended = std::async(std::launch::async, [&] { return logs_.Append(kJob, other, "another task"); });
    EXPECT_EQ(appended.wait_for(std::chrono::seconds(10)), std::future_status::ready);
    // This task's late line waits until the run is marked as compressed:
    // written now it would be marked with it.
    same = std::async(std::launch::async, [&] { return logs_.Append(kJob, kTask, "late line"); });
    EXPECT_EQ(same.wait_for(std::chrono::milliseconds(200)), std::future_status::timeout);
    return true;
  });
  ASSERT_TRUE(r.has_value()) << r.error().message;
  ASSERT_TRUE(same.valid());
  ASSERT_TRUE(same.get().has_value());
  EXPECT_EQ(Gunzipped(gz()), "done\n");
  EXPECT_EQ(Log(), "late line\n");
  EXPECT_EQ(Log(0, other), "another task\n");
}

TEST_F(TaskLogsTest, ReadRangeOfPlainAndCompressedLogs) {
  ASSERT_TRUE(logs_.Append(kJob, kTask, "0123456789").has_value());
  auto r = logs_.ReadRange(kJob, kTask, 2, 3);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->text, "234");
  EXPECT_EQ(r->total, 11u);
  EXPECT_FALSE(r->compressed);
  ASSERT_TRUE(logs_.Compress(kJob, kTask).has_value());
  r = logs_.ReadRange(kJob, kTask, 2, 3);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->text, "234");
  EXPECT_TRUE(r->compressed);
  r = logs_.ReadRange(kJob, kTask, 100, 3);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->text, "");
  auto missing = logs_.ReadRange(kJob, "00000000000000000000ffff", 0, 3);
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
}

// The end of a log in whole lines, plain or compressed, for a task's log
// tail (the job side's GetTask in standalone mode).
TEST_F(TaskLogsTest, TailIsTheLogsEndInWholeLines) {
  EXPECT_FALSE(logs_.Tail(kJob, kTask).has_value());
  ASSERT_TRUE(logs_.Append(kJob, kTask, "first\nsecond").has_value());
  EXPECT_EQ(logs_.Tail(kJob, kTask), "first\nsecond\n");
  std::string lines;
  for (int i = 0; i < 100; ++i) lines += "line " + std::to_string(i) + "\n";
  ASSERT_TRUE(logs_.Append(kJob, kTask, lines).has_value());
  // "line 97\nline 98\nline 99\n" is 24 bytes; from 30 bytes from the end
  // the partial line in front is left out.
  EXPECT_EQ(logs_.Tail(kJob, kTask, 30), "line 97\nline 98\nline 99\n");
  ASSERT_TRUE(logs_.Compress(kJob, kTask).has_value());
  ASSERT_EQ(logs_.Locate(kJob, kTask)->kind, LogSource::Kind::kCompressed);
  EXPECT_EQ(logs_.Tail(kJob, kTask, 30), "line 97\nline 98\nline 99\n");
  EXPECT_EQ(logs_.Tail(kJob, kTask)->substr(0, 13), "first\nsecond\n");
}

TEST_F(TaskLogsTest, GzipForUploadOfExistingLog) {
  const std::string text = SomeLog();
  ASSERT_TRUE(logs_.Append(kJob, kTask, text).has_value());
  auto gzipped = logs_.GzipForUpload(kJob, kTask);
  ASSERT_TRUE(gzipped.has_value()) << gzipped.error().message;
  EXPECT_EQ(*Gunzip(*gzipped), text);
  EXPECT_EQ(Log(), text);  // uploading does not consume the log
  // A compressed log is uploaded as it is.
  ASSERT_TRUE(logs_.Compress(kJob, kTask).has_value());
  gzipped = logs_.GzipForUpload(kJob, kTask);
  ASSERT_TRUE(gzipped.has_value());
  EXPECT_EQ(*Gunzip(*gzipped), text);
}

TEST_F(TaskLogsTest, GzipForUploadOfMissingLogWritesAndSendsTheNotice) {
  auto gzipped = logs_.GzipForUpload(kJob, kTask);
  ASSERT_TRUE(gzipped.has_value()) << gzipped.error().message;
  const std::string notice = std::string(TaskLogs::kMissingLogText) + "\n";
  EXPECT_EQ(*Gunzip(*gzipped), notice);
  EXPECT_EQ(Log(), notice);  // so the next request finds it
  EXPECT_FALSE(logs_.GzipForUpload("", kTask).has_value());
}

}  // namespace
}  // namespace duende::manager

namespace duende::manager {
namespace {

// A runaway worker's log stops at task_log_max_bytes: the head is kept, the
// file ends with one notice, later text is dropped and counted, and the
// appends keep succeeding (the worker is answered as usual).
TEST(TaskLogCapTest, LogStopsAtTheCapWithOneNoticeAndCountsWhatWasDropped) {
  testing::TempDir dir;
  constexpr uint64_t kCap = 8192;
  TaskLogs logs(dir.path(), kCap);
  std::vector<LogEvent::Kind> heard;
  std::string followed;
  logs.Subscribe(kJob, kTask, [&](const LogEvent& e) {
    heard.push_back(e.kind);
    followed += e.text;
  });
  const std::string line(99, 'x');  // 100 bytes with its newline
  uint64_t offered = 0;
  for (int i = 0; i < 1000; ++i) {
    ASSERT_TRUE(logs.Append(kJob, kTask, line).has_value());
    offered += line.size() + 1;
  }
  const std::string text = logs.Text(kJob, kTask).value_or("");
  EXPECT_EQ(text.size(), kCap);
  EXPECT_TRUE(text.starts_with(line + "\n" + line + "\n"));  // the head is kept
  const size_t notice = text.find(TaskLogs::kCapNotice);
  ASSERT_NE(notice, std::string::npos);
  EXPECT_EQ(text.find(TaskLogs::kCapNotice, notice + 1), std::string::npos);  // once
  EXPECT_NE(text.find("8192 bytes"), std::string::npos);
  EXPECT_TRUE(text.ends_with("---\n"));
  EXPECT_EQ(logs.capped_logs(), 1u);
  // Everything offered is either in the file (but the notice) or counted.
  const uint64_t notice_bytes = text.size() - notice + 1;  // with its leading newline
  EXPECT_EQ(logs.dropped_bytes() + (text.size() - notice_bytes), offered);
  EXPECT_EQ(followed, text);  // followers saw exactly the file

  // A new run of the task (rotation) starts a new log with a new budget.
  ASSERT_TRUE(logs.Rotate(kJob, kTask).has_value());
  ASSERT_TRUE(logs.Append(kJob, kTask, "second run").has_value());
  EXPECT_EQ(logs.Text(kJob, kTask).value_or(""), "second run\n");
}

TEST(TaskLogCapTest, OneHugeAppendIsCutAndAFullLogSurvivesARestart) {
  testing::TempDir dir;
  {
    TaskLogs logs(dir.path(), 4096);
    ASSERT_TRUE(logs.Append(kJob, kTask, std::string(1 << 20, 'y')).has_value());
    EXPECT_EQ(logs.Text(kJob, kTask)->size(), 4096u);
    EXPECT_EQ(logs.capped_logs(), 1u);
  }
  // A restarted Manager finds the log full: no second notice.
  TaskLogs logs(dir.path(), 4096);
  ASSERT_TRUE(logs.Append(kJob, kTask, "late").has_value());
  EXPECT_EQ(logs.Text(kJob, kTask)->size(), 4096u);
  EXPECT_EQ(logs.capped_logs(), 0u);
  EXPECT_EQ(logs.dropped_bytes(), 5u);
}

// PlanAppend: which cap cuts an append, and which notice follows.
TEST(LogCapPolicyTest, TheTighterCapCutsAndItsNoticeFollows) {
  constexpr uint64_t kNotice = 100;
  struct Case {
    const char* what;
    LogCaps caps;
    uint64_t log_size, dir_total, text;
    AppendPlan want;
  };
  const Case cases[] = {
      {"no caps", {0, 0}, 5000, 1'000'000, 700, {700, false, false}},
      {"fits both", {4096, 10000}, 1000, 5000, 700, {700, false, false}},
      {"log cap cuts, leaving room for its notice", {4096, 0}, 3000, 0, 2000, {996, true, false}},
      {"log already full: nothing, no second notice", {4096, 10000}, 4096, 20000, 50, {0, false, false}},
      {"log within its notice of the cap", {4096, 0}, 4000, 0, 10, {0, true, false}},
      {"directory cap cuts", {4096, 10000}, 100, 9800, 500, {200, false, true}},
      {"directory full", {4096, 10000}, 100, 10000, 500, {0, false, true}},
      {"directory past its cap (notices)", {0, 10000}, 100, 10300, 1, {0, false, true}},
      {"directory cuts before the log cap would", {4096, 10000}, 3000, 9500, 2000, {500, false, true}},
      {"log cap cuts before the directory would", {4096, 10000}, 3000, 8000, 2000, {996, true, false}},
      {"exactly the room left in the directory", {0, 10000}, 0, 9000, 1000, {1000, false, false}},
  };
  for (const auto& c : cases) {
    const AppendPlan got = PlanAppend(c.caps, kNotice, c.log_size, c.dir_total, c.text);
    EXPECT_EQ(got.keep, c.want.keep) << c.what;
    EXPECT_EQ(got.task_cap_notice, c.want.task_cap_notice) << c.what;
    EXPECT_EQ(got.total_cap_notice, c.want.total_cap_notice) << c.what;
  }
}

// Bytes of the log files under `dir`, walked now (what TaskLogs keeps up
// to date without walking).
uint64_t DirBytes(const std::string& dir) {
  uint64_t total = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file() && !e.path().string().ends_with(".tmp")) total += e.file_size();
  return total;
}

size_t Count(const std::string& text, std::string_view what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

constexpr const char* kJob2 = "5f0a1b2c3d4e5f6a7b8c9d0f";

// A job of many tasks, each far under task_log_max_bytes, fills the
// directory cap: later text is dropped and counted, each log that lost text
// says so once, and deleting another job's logs makes room again.
TEST(TaskLogTotalCapTest, ManyLogsFillTheDirectoryEachSaysSoOnceAndADeleteMakesRoom) {
  testing::TempDir dir;
  constexpr uint64_t kTotal = 16384;
  TaskLogs logs(dir.path(), 1 << 20, kTotal);
  // An older job's logs: 6,000 bytes.
  ASSERT_TRUE(logs.Append(kJob2, kTask, std::string(5999, 'o')).has_value());
  const std::string line(99, 'x');  // 100 bytes with its newline
  uint64_t offered = 0;
  std::vector<std::string> tasks;
  for (int t = 0; t < 20; ++t) tasks.push_back("6a7b8c9d0e1f2a3b4c5d6e" + std::to_string(10 + t));
  for (int round = 0; round < 10; ++round) {
    for (const auto& task : tasks) {
      ASSERT_TRUE(logs.Append(kJob, task, line).has_value());
      offered += line.size() + 1;
    }
  }
  EXPECT_EQ(logs.total_bytes(), DirBytes(dir.path()));
  EXPECT_GE(logs.total_bytes(), kTotal);
  uint64_t stored = 0;
  size_t noticed_logs = 0;
  for (const auto& task : tasks) {
    const std::string text = logs.Text(kJob, task).value_or("");
    const size_t notices = Count(text, TaskLogs::kTotalCapNotice);
    EXPECT_LE(notices, 1u) << task;
    noticed_logs += notices;
    // The notice itself is the only part over the cap.
    stored += text.size() - notices * (text.size() - text.find(TaskLogs::kTotalCapNotice) + 1);
  }
  EXPECT_EQ(noticed_logs, tasks.size()) << "every log lost text in the later rounds";
  // The directory held the cap's worth (the pack's record headers count)
  // before the notices, one per log, took it past.
  const uint64_t notice_size =
      logs.Text(kJob, tasks[0])->size() - logs.Text(kJob, tasks[0])->find(TaskLogs::kTotalCapNotice) + 1;
  EXPECT_LE(logs.total_bytes(), kTotal + tasks.size() * (notice_size + 64));
  EXPECT_GT(stored, (kTotal - 6000) / 2);
  EXPECT_EQ(stored + logs.total_cap_dropped_bytes(), offered);
  EXPECT_EQ(logs.dropped_bytes(), 0u) << "no log reached its own cap";

  // Deleting the older job frees 6,000 bytes: appending resumes, after the
  // notice.
  ASSERT_TRUE(logs.DeleteJobLogs(kJob2).has_value());
  EXPECT_EQ(logs.total_bytes(), DirBytes(dir.path()));
  const uint64_t dropped = logs.total_cap_dropped_bytes();
  ASSERT_TRUE(logs.Append(kJob, tasks[0], "back again").has_value());
  EXPECT_EQ(logs.total_cap_dropped_bytes(), dropped);
  EXPECT_TRUE(logs.Text(kJob, tasks[0])->ends_with(" ---\nback again\n"));
  EXPECT_EQ(logs.total_bytes(), DirBytes(dir.path()));
}

// The total is measured once at start and then follows every change
// without walking the directory again; a restarted Manager finds a full
// directory full and adds no second notice to a log that ends with one.
TEST(TaskLogTotalCapTest, TheTotalFollowsAppendRotateCompressDeleteAndARestart) {
  testing::TempDir dir;
  {
    TaskLogs before(dir.path());
    ASSERT_TRUE(before.Append(kJob2, kTask, std::string(3000, 'a')).has_value());
    ASSERT_TRUE(before.Append(kJob, kTask, std::string(2000, 'b')).has_value());
  }
  std::ofstream(fs::path(dir.path()) / "job-5f0a" / kJob / "task-x.txt.gz.tmp")
      << std::string(500, 't');  // not counted
  TaskLogs logs(dir.path(), 0, 8192);
  const uint64_t at_start = logs.total_bytes();
  EXPECT_EQ(at_start, DirBytes(dir.path()));
  EXPECT_GT(at_start, 5002u);  // the text and the packs' records
  ASSERT_TRUE(logs.Rotate(kJob, kTask).has_value());
  EXPECT_EQ(logs.total_bytes(), DirBytes(dir.path()));
  ASSERT_TRUE(logs.Append(kJob, kTask, "second run").has_value());
  EXPECT_EQ(logs.total_bytes(), DirBytes(dir.path()));
  ASSERT_TRUE(logs.Compress(kJob2, kTask).has_value());
  EXPECT_LT(logs.total_bytes(), 3000u);
  EXPECT_EQ(logs.total_bytes(), DirBytes(dir.path()));
  // Compressing again after more lines replaces the .gz: still exact.
  ASSERT_TRUE(logs.Append(kJob2, kTask, std::string(700, 'c')).has_value());
  ASSERT_TRUE(logs.Compress(kJob2, kTask).has_value());
  EXPECT_EQ(logs.total_bytes(), DirBytes(dir.path()));
  // Fill it up: one notice.
  ASSERT_TRUE(logs.Append(kJob, kTask, std::string(10000, 'd')).has_value());
  ASSERT_TRUE(logs.Append(kJob, kTask, "dropped").has_value());
  EXPECT_EQ(Count(logs.Text(kJob, kTask).value_or(""), TaskLogs::kTotalCapNotice), 1u);
  EXPECT_EQ(logs.total_bytes(), DirBytes(dir.path()));
  {
    TaskLogs restarted(dir.path(), 0, 8192);
    EXPECT_EQ(restarted.total_bytes(), logs.total_bytes());
    ASSERT_TRUE(restarted.Append(kJob, kTask, "still dropped").has_value());
    EXPECT_EQ(restarted.total_cap_dropped_bytes(), 14u);
    EXPECT_EQ(Count(restarted.Text(kJob, kTask).value_or(""), TaskLogs::kTotalCapNotice), 1u);
  }
  ASSERT_TRUE(logs.DeleteJobLogs(kJob).has_value());
  ASSERT_TRUE(logs.DeleteJobLogs(kJob).has_value());  // gone already: nothing more freed
  EXPECT_EQ(logs.total_bytes(), DirBytes(dir.path()));
  EXPECT_GT(logs.total_bytes(), 0u);  // kJob2's .gz
}

TEST(TaskLogCapTest, NoCapMeansNoLimit) {
  testing::TempDir dir;
  TaskLogs logs(dir.path());
  ASSERT_TRUE(logs.Append(kJob, kTask, std::string(100000, 'z')).has_value());
  EXPECT_EQ(logs.Text(kJob, kTask)->size(), 100001u);
  EXPECT_EQ(logs.dropped_bytes(), 0u);
}

}  // namespace
}  // namespace duende::manager
