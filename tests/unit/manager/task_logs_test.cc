// TaskLogs: storage, rotation, followers, crash-safe compression, upload gzip.
#include "manager/task_logs.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
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
  std::string plain() const { return logs_.PathFor(kJob, kTask); }
  std::string gz() const { return logs_.GzPathFor(kJob, kTask); }

  testing::TempDir dir_;
  TaskLogs logs_{dir_ / "logs"};
};

TEST_F(TaskLogsTest, PathFollowsSpecLayout) {
  EXPECT_EQ(plain(), dir_ / "logs" + "/job-5f0a/" + kJob + "/task-" + kTask + ".txt");
  EXPECT_EQ(gz(), plain() + ".gz");
}

TEST_F(TaskLogsTest, AppendAddsNewlineAndIgnoresTasksWithoutJob) {
  ASSERT_TRUE(logs_.Append(kJob, kTask, "one").has_value());
  ASSERT_TRUE(logs_.Append(kJob, kTask, "two\n").has_value());
  ASSERT_TRUE(logs_.Append("", kTask, "nowhere").has_value());
  EXPECT_EQ(ReadFile(plain()), "one\ntwo\n");
}

TEST_F(TaskLogsTest, RotationOnReactivationShiftsPlainLogsAndNeverTouchesGzip) {
  ASSERT_TRUE(logs_.Append(kJob, kTask, "run 1").has_value());
  ASSERT_TRUE(logs_.Rotate(kJob, kTask).has_value());
  ASSERT_TRUE(logs_.Append(kJob, kTask, "run 2").has_value());
  { std::ofstream(gz()) << "not really gzip"; }
  ASSERT_TRUE(logs_.Rotate(kJob, kTask).has_value());
  ASSERT_TRUE(logs_.Append(kJob, kTask, "run 3").has_value());
  EXPECT_EQ(ReadFile(plain()), "run 3\n");
  EXPECT_EQ(ReadFile(plain() + ".1"), "run 2\n");
  EXPECT_EQ(ReadFile(plain() + ".2"), "run 1\n");
  EXPECT_EQ(ReadFile(gz()), "not really gzip");  // v2 renamed it to .txt.gz.0
  EXPECT_FALSE(fs::exists(gz() + ".0"));
  EXPECT_FALSE(fs::exists(plain() + ".3"));
}

TEST_F(TaskLogsTest, RotateWithoutLogIsNoop) {
  ASSERT_TRUE(logs_.Rotate(kJob, kTask).has_value());
  EXPECT_FALSE(fs::exists(plain() + ".1"));
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
        for (int l = 0; l < 3; ++l) block += "t" + std::to_string(t) + " i" + std::to_string(i) + " l" +
                                             std::to_string(l) + " " + std::string(1500, 'x') + "\n";
        ASSERT_TRUE(logs_.Append(kJob, kTask, block).has_value());
      }
    });
  }
  for (auto& th : threads) th.join();
  std::istringstream in(ReadFile(plain()));
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
    if (e.kind == LogEvent::Kind::kRotated) ++rotations;
    else heard.emplace_back(e.offset, std::string(e.text));
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
  EXPECT_FALSE(fs::exists(plain()));
  EXPECT_FALSE(fs::exists(gz() + ".tmp"));
  EXPECT_EQ(Gunzipped(gz()), text);
  EXPECT_EQ(Readable(), text);
  // Nothing left to do.
  auto again = logs_.Compress(kJob, kTask);
  ASSERT_TRUE(again.has_value());
  EXPECT_FALSE(*again);
}

TEST_F(TaskLogsTest, CompressionCrashAtEachStepLeavesReadableLogAndResumes) {
  const std::string text = SomeLog();
  for (CompressStep step : {CompressStep::kWriteTemp, CompressStep::kSyncTemp, CompressStep::kRename,
                            CompressStep::kSyncDir, CompressStep::kUnlinkPlain}) {
    SCOPED_TRACE(std::string(ToString(step)));
    fs::remove_all(dir_ / "logs");
    ASSERT_TRUE(logs_.Append(kJob, kTask, text).has_value());
    auto crashed = logs_.Compress(kJob, kTask, [step](CompressStep s) { return s != step; });
    ASSERT_FALSE(crashed.has_value());
    // "After the crash": the log reads back whole.
    EXPECT_EQ(Readable(), text);
    EXPECT_TRUE(fs::exists(plain()));
    // The next pass finishes without duplicating anything.
    auto resumed = logs_.Compress(kJob, kTask);
    ASSERT_TRUE(resumed.has_value()) << resumed.error().message;
    EXPECT_FALSE(fs::exists(plain()));
    EXPECT_EQ(Gunzipped(gz()), text);
    EXPECT_EQ(Readable(), text);
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
  EXPECT_EQ(ReadFile(plain()), "done\nlate line\n");
  EXPECT_FALSE(fs::exists(gz()));
  EXPECT_FALSE(fs::exists(gz() + ".tmp"));
  ASSERT_TRUE(logs_.Compress(kJob, kTask).has_value());
  EXPECT_EQ(Gunzipped(gz()), "done\nlate line\n");
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

TEST_F(TaskLogsTest, GzipForUploadOfExistingLog) {
  const std::string text = SomeLog();
  ASSERT_TRUE(logs_.Append(kJob, kTask, text).has_value());
  auto gzipped = logs_.GzipForUpload(kJob, kTask);
  ASSERT_TRUE(gzipped.has_value()) << gzipped.error().message;
  EXPECT_EQ(*Gunzip(*gzipped), text);
  EXPECT_TRUE(fs::exists(plain()));  // uploading does not consume the log
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
  EXPECT_EQ(ReadFile(plain()), notice);  // so the next request finds it
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
  const std::string text = ReadFile(logs.PathFor(kJob, kTask));
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
  EXPECT_EQ(ReadFile(logs.PathFor(kJob, kTask)), "second run\n");
}

TEST(TaskLogCapTest, OneHugeAppendIsCutAndAFullLogSurvivesARestart) {
  testing::TempDir dir;
  {
    TaskLogs logs(dir.path(), 4096);
    ASSERT_TRUE(logs.Append(kJob, kTask, std::string(1 << 20, 'y')).has_value());
    EXPECT_EQ(fs::file_size(logs.PathFor(kJob, kTask)), 4096u);
    EXPECT_EQ(logs.capped_logs(), 1u);
  }
  // A restarted Manager finds the log full: no second notice.
  TaskLogs logs(dir.path(), 4096);
  ASSERT_TRUE(logs.Append(kJob, kTask, "late").has_value());
  EXPECT_EQ(fs::file_size(logs.PathFor(kJob, kTask)), 4096u);
  EXPECT_EQ(logs.capped_logs(), 0u);
  EXPECT_EQ(logs.dropped_bytes(), 5u);
}

TEST(TaskLogCapTest, NoCapMeansNoLimit) {
  testing::TempDir dir;
  TaskLogs logs(dir.path());
  ASSERT_TRUE(logs.Append(kJob, kTask, std::string(100000, 'z')).has_value());
  EXPECT_EQ(fs::file_size(logs.PathFor(kJob, kTask)), 100001u);
  EXPECT_EQ(logs.dropped_bytes(), 0u);
}

}  // namespace
}  // namespace duende::manager
