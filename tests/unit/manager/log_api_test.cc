// Serving task logs over real HTTP: /logfile head+tail (spec §8.3), whole
// files for curl/wget, gzip attachments, byte ranges, live follow (SSE), and
// the compression service.
#include "manager/log_api.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/gzip.h"
#include "common/timefmt.h"
#include "manager/log_compressor.h"
#include "support/fake_clock.h"
#include "support/temp_dir.h"

namespace duende::manager {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr const char* kJob = "5f0a1b2c3d4e5f6a7b8c9d0e";
constexpr const char* kTask = "6a7b8c9d0e1f2a3b4c5d6e7f";

class FakeLookup final : public TaskLogLookup {
 public:
  Result<TaskLogRef> FindTaskLog(const std::string& id) override {
    std::lock_guard lock(mu_);
    auto it = tasks_.find(id);
    if (it == tasks_.end()) return NotFound("task " + id + " does not exist");
    return it->second;
  }
  void Set(const std::string& id, std::string status, bool ended) {
    std::lock_guard lock(mu_);
    tasks_[id] = TaskLogRef{kJob, std::move(status), ended};
  }

 private:
  std::mutex mu_;
  std::map<std::string, TaskLogRef> tasks_;
};

class LogApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    lookup_.Set(kTask, "active", false);
    RegisterLogApi(router_, logs_, lookup_, followers_, options_);
    server_ =
        std::make_unique<http::Server>(http::ServerOptions{}, [this](http::Request& r) { return router_.Dispatch(r); });
    auto port = server_->Start();
    ASSERT_TRUE(port.has_value());
    base_ = "http://127.0.0.1:" + std::to_string(*port);
  }
  void TearDown() override { server_->Stop(); }

  http::ClientResponse Get(const std::string& path, const std::string& agent = "Mozilla/5.0") {
    auto client = http::MakeCurlClient(agent);
    http::ClientRequest req;
    req.url = base_ + path;
    auto r = client->Send(req);
    EXPECT_TRUE(r.has_value());
    return r ? *r : http::ClientResponse{};
  }
  std::string LogFileUrl() const { return std::string("/logfile/") + kJob + "/" + kTask; }
  // A new run of the task whose log is `text`: in the job's pack when it is
  // small, in a file of its own when it is not.
  void WriteLog(const std::string& text) { ASSERT_TRUE(logs_.StartAttempt(kJob, kTask, text).has_value()); }

  testing::TempDir dir_;
  TaskLogs logs_{dir_ / "logs"};
  FakeLookup lookup_;
  testing::FakeClock clock_;
  LogServingOptions options_;  // 5 KiB head, 10 KiB tail
  LogFollowers followers_{logs_, lookup_, clock_, options_};
  http::Router router_;
  std::unique_ptr<http::Server> server_;
  std::string base_;
};

// 100-byte lines: "line 00042 xxxx...\n".
std::string Lines(int n) {
  std::string out;
  for (int i = 0; i < n; ++i) {
    std::string n = std::to_string(i);
    out += "line " + std::string(5 - n.size(), '0') + n + " " + std::string(100 - 11 - 1, 'x') + "\n";
  }
  return out;
}

TEST_F(LogApiTest, HeadAndTailWithExactBoundaries) {
  const std::string text = Lines(1000);  // 100,000 bytes
  WriteLog(text);
  auto r = Get(LogFileUrl());
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.Header("content-type"), "text/plain; charset=utf-8");
  // Head: exactly the first 5120 bytes (mid-line: a newline closes it).
  ASSERT_TRUE(r.body.starts_with(text.substr(0, 5120) + "\n"));
  // Tail: the last 10240 bytes begin mid-line (100,000 - 10,240 = 89,760 is
  // not a multiple of 100), so it starts at the next full line, 89,800.
  const std::string tail = text.substr(89800);
  ASSERT_TRUE(r.body.ends_with("\n\n" + tail));
  EXPECT_TRUE(tail.starts_with("line 00898 "));
  const uint64_t skipped = 100000 - 5120 - tail.size();
  EXPECT_NE(r.body.find(HumanBytes(skipped) + " skipped"), std::string::npos) << r.body.substr(5120, 400);
  EXPECT_NE(r.body.find("curl and wget get the whole file: curl http://127.0.0.1:"), std::string::npos);
  EXPECT_EQ(r.body.size(), 5121 + r.body.substr(5121).size());
}

TEST_F(LogApiTest, TailStartingExactlyAtALineIsKept) {
  // The last 10,240 bytes are 80 whole lines of 128 bytes: the tail window
  // starts exactly at a line, which must not be skipped.
  std::string last;
  for (int i = 0; i < 80; ++i) last += std::string(127, static_cast<char>('A' + i % 26)) + "\n";
  ASSERT_EQ(last.size(), 10240u);
  const std::string text = std::string(6000, 'p') + "\n" + last;
  WriteLog(text);
  auto r = Get(LogFileUrl());
  EXPECT_TRUE(r.body.ends_with("=\n\n" + last)) << r.body.substr(r.body.size() - 200);
}

TEST_F(LogApiTest, WholeFileWhenNotLargerThanHeadPlusTail) {
  std::string text = Lines(153) + std::string(15 * 1024 - 15300 - 1, 'y') + "\n";
  ASSERT_EQ(text.size(), 15u * 1024);
  WriteLog(text);
  EXPECT_EQ(Get(LogFileUrl()).body, text);
  // One byte more and it is cut.
  WriteLog(text + "z");
  auto r = Get(LogFileUrl());
  EXPECT_NE(r.body, text + "z");
  EXPECT_NE(r.body.find("skipped"), std::string::npos);
}

TEST_F(LogApiTest, Utf8CharactersAreNotSplit) {
  // A 3-byte euro sign straddles the 5120-byte head boundary; the tail is
  // one long line of 2-byte characters, so it starts at a character.
  std::string text = std::string(5119, 'a') + "€" + std::string(10, 'b') + "\n";
  std::string long_line;
  while (long_line.size() < 30000) long_line += "é";
  text += long_line + "\n";
  WriteLog(text);
  auto r = Get(LogFileUrl());
  ASSERT_TRUE(r.body.starts_with(std::string(5119, 'a') + "\n\n")) << r.body.substr(5110, 20);
  const std::string tail = r.body.substr(r.body.rfind("=\n\n") + 3);
  ASSERT_FALSE(tail.empty());
  EXPECT_EQ(static_cast<unsigned char>(tail[0]), 0xC3);  // first byte of "é"
  EXPECT_TRUE(text.ends_with(tail));
  EXPECT_LE(tail.size(), 10240u);
}

TEST_F(LogApiTest, CurlAndWgetGetTheWholeFile) {
  const std::string text = Lines(3000);
  WriteLog(text);
  EXPECT_EQ(Get(LogFileUrl(), "curl/7.88.1").body, text);
  EXPECT_EQ(Get(LogFileUrl(), "Wget/1.21.3").body, text);
  EXPECT_NE(Get(LogFileUrl(), "Mozilla/5.0 curl/7.88.1").body, text);
}

TEST_F(LogApiTest, LargeWholeFileIsStreamedFromDisk) {
  // A sparse 64 MiB file: sent in chunks from the open file. (Written as a
  // log from before the job's pack, task-X.txt, which is served the same.)
  const std::string path = logs_.JobDir(kJob) + "/task-" + kTask + ".txt";
  fs::create_directories(fs::path(path).parent_path());
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::ftruncate(fd, 64 << 20), 0);
  ASSERT_EQ(::pwrite(fd, "end\n", 4, (64 << 20) - 4), 4);
  ::close(fd);
  auto r = Get(LogFileUrl(), "curl/8.0");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body.size(), size_t{64} << 20);
  EXPECT_TRUE(r.body.ends_with("end\n"));
  EXPECT_EQ(r.Header("content-length"), std::to_string(64 << 20));
}

TEST_F(LogApiTest, CompressedLogIsAGzipAttachment) {
  const std::string text = Lines(2000);
  ASSERT_TRUE(logs_.Append(kJob, kTask, text).has_value());
  ASSERT_TRUE(logs_.Compress(kJob, kTask).has_value());
  auto r = Get(LogFileUrl());  // libcurl here does not decode Content-Encoding
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.Header("content-encoding"), "gzip");
  EXPECT_EQ(r.Header("content-disposition"), std::string("attachment; filename=\"task-") + kTask + ".txt.gz\"");
  auto plain = Gunzip(r.body);
  ASSERT_TRUE(plain.has_value());
  EXPECT_EQ(*plain, text);
}

TEST_F(LogApiTest, MissingLogIs404WithMessage) {
  auto r = Get(LogFileUrl());
  EXPECT_EQ(r.status, 404);
  EXPECT_TRUE(json::parse(r.body).contains("message"));
}

TEST_F(LogApiTest, PathTraversalAndBadIdsAreRejected) {
  WriteLog("secret\n");
  for (const std::string& path : std::vector<std::string>{
           std::string("/logfile/..%2F..%2F/") + kTask,
           std::string("/logfile/") + kJob + "/..%2F..%2F..%2Fetc%2Fpasswd",
           std::string("/logfile/%2E%2E/") + kTask,
           std::string("/logfile/") + kJob + "/%2E%2E",
           std::string("/logfile/zzzzzzzzzzzzzzzzzzzzzzzz/") + kTask,
           std::string("/logfile/") + kJob + "/" + kTask + ".txt",
           std::string("/logfile/") + kJob + "/" + std::string(kTask).substr(0, 23),
           std::string("/api/tasks/..%2F") + kTask + "/log",
           std::string("/api/tasks/not-an-id/log"),
       }) {
    SCOPED_TRACE(path);
    auto r = Get(path);
    EXPECT_GE(r.status, 400);
    EXPECT_LT(r.status, 500);
    EXPECT_EQ(r.body.find("secret"), std::string::npos);
  }
  // And the router never sees a raw "..": requests built by hand.
  http::Request req;
  req.method = "GET";
  req.path = std::string("/logfile/") + kJob + "/../" + kTask;
  EXPECT_EQ(router_.Dispatch(req).status, 404);
  req.path = std::string("/logfile/../") + kTask;
  EXPECT_EQ(router_.Dispatch(req).status, 400);
}

TEST_F(LogApiTest, ByteRangeEndpoint) {
  WriteLog("0123456789abcdef\n");
  auto r = Get(std::string("/api/tasks/") + kTask + "/log?offset=4&length=6");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "456789");
  EXPECT_EQ(r.Header("x-log-size"), "17");
  EXPECT_EQ(r.Header("x-log-offset"), "4");
  EXPECT_EQ(r.Header("x-log-next-offset"), "10");
  r = Get(std::string("/api/tasks/") + kTask + "/log?offset=-5");
  EXPECT_EQ(r.body, "cdef\n");
  EXPECT_EQ(r.Header("x-log-offset"), "12");
  r = Get(std::string("/api/tasks/") + kTask + "/log?offset=100");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "");
  EXPECT_EQ(r.Header("x-log-next-offset"), "17");
  // Found by fuzz_log_range: negating the most negative offset overflowed.
  r = Get(std::string("/api/tasks/") + kTask + "/log?offset=-9223372036854775808");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "0123456789abcdef\n");
  EXPECT_EQ(LogRangeStart(INT64_MIN, 17), 0u);
  EXPECT_EQ(LogRangeStart(-5, 17), 12u);
  EXPECT_EQ(LogRangeStart(std::nullopt, 17), 0u);
  EXPECT_EQ(LogRangeStart(INT64_MAX, 17), 17u);
  EXPECT_EQ(Get(std::string("/api/tasks/") + kTask + "/log?offset=x").status, 400);
  EXPECT_EQ(Get(std::string("/api/tasks/") + kTask + "/log?length=-1").status, 400);
  EXPECT_EQ(Get("/api/tasks/00000000000000000000abcd/log").status, 404);
  ASSERT_TRUE(logs_.Compress(kJob, kTask).has_value());
  r = Get(std::string("/api/tasks/") + kTask + "/log?offset=4&length=6");
  EXPECT_EQ(r.body, "456789");
  EXPECT_EQ(r.Header("x-log-compressed"), "true");
}

// An earlier run's log stays readable after the task ran again.
TEST_F(LogApiTest, EarlierRunsOfATask) {
  WriteLog("first run, a small log\n");
  WriteLog(Lines(1000));  // in a file of its own
  WriteLog("third run\n");
  const std::string url = std::string("/api/tasks/") + kTask + "/log";
  EXPECT_EQ(Get(url).body, "third run\n");
  EXPECT_EQ(Get(url + "?earlier=0").body, "third run\n");
  EXPECT_EQ(Get(url + "?earlier=1").body, Lines(1000));
  auto r = Get(url + "?earlier=2&offset=6&length=5");
  EXPECT_EQ(r.body, "run, ");
  EXPECT_EQ(r.Header("x-log-size"), "23");
  EXPECT_EQ(Get(url + "?earlier=3").status, 404);
  EXPECT_EQ(Get(url + "?earlier=-1").status, 400);
  EXPECT_EQ(Get(url + "?earlier=x").status, 400);
}

// Reads an SSE stream on a thread, collecting `data:` lines and events.
class SseReader {
 public:
  SseReader(const std::string& url) {
    thread_ = std::thread([this, url] {
      http::ClientRequest req;
      req.url = url;
      req.timeout_ms = 20000;
      auto r = http::StreamRequest(req, "test", [this](std::string_view d) {
        std::lock_guard lock(mu_);
        raw_.append(d);
        cv_.notify_all();
        return !stop_;
      });
      std::lock_guard lock(mu_);
      status_ = r ? r->status : -1;
      done_ = true;
      cv_.notify_all();
    });
  }
  ~SseReader() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    if (thread_.joinable()) thread_.join();
  }
  // Waits until the raw stream contains `s`.
  bool WaitFor(const std::string& s) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(10), [&] { return raw_.find(s) != std::string::npos || done_; }) &&
           raw_.find(s) != std::string::npos;
  }
  bool WaitDone() {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(10), [&] { return done_; });
  }
  std::vector<std::string> Data() {
    std::lock_guard lock(mu_);
    std::vector<std::string> out;
    size_t pos = 0;
    while ((pos = raw_.find("\ndata: ", pos)) != std::string::npos) {
      pos += 7;
      out.push_back(raw_.substr(pos, raw_.find('\n', pos) - pos));
    }
    return out;
  }
  std::string raw() {
    std::lock_guard lock(mu_);
    return raw_;
  }
  void Stop() {
    std::lock_guard lock(mu_);
    stop_ = true;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::string raw_;
  bool done_ = false, stop_ = false;
  int status_ = 0;
  std::thread thread_;
};

TEST_F(LogApiTest, FollowSendsBacklogThenLiveLinesToManyViewersAndEndsWithTheTask) {
  ASSERT_TRUE(logs_.Append(kJob, kTask, "old 1\nold 2").has_value());
  const std::string url = base_ + "/api/tasks/" + kTask + "/log/follow?offset=0";
  std::vector<std::unique_ptr<SseReader>> viewers;
  for (int i = 0; i < 3; ++i) viewers.push_back(std::make_unique<SseReader>(url));
  for (auto& v : viewers) ASSERT_TRUE(v->WaitFor("data: old 2\n"));
  ASSERT_EQ(followers_.size(), 3u);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(logs_.Append(kJob, kTask, "live " + std::to_string(i)).has_value());
  for (auto& v : viewers) ASSERT_TRUE(v->WaitFor("data: live 4\n"));
  lookup_.Set(kTask, "completed", true);
  followers_.Sweep();
  for (auto& v : viewers) {
    ASSERT_TRUE(v->WaitDone());
    EXPECT_EQ(v->Data(), (std::vector<std::string>{"old 1", "old 2", "live 0", "live 1", "live 2", "live 3", "live 4",
                                                   "{\"status\":\"completed\"}"}));
    EXPECT_NE(v->raw().find("id: 6\ndata: old 1\n"), std::string::npos);
    EXPECT_NE(v->raw().find("event: end\n"), std::string::npos);
  }
  EXPECT_EQ(followers_.size(), 0u);
  EXPECT_EQ(logs_.FollowerCount(), 0u);
}

TEST_F(LogApiTest, FollowOfEndedTaskSendsTheLogAndEnds) {
  ASSERT_TRUE(logs_.Append(kJob, kTask, "all\ndone").has_value());
  lookup_.Set(kTask, "failed", true);
  SseReader v(base_ + "/api/tasks/" + kTask + "/log/follow?offset=0");
  ASSERT_TRUE(v.WaitDone());
  EXPECT_EQ(v.Data(), (std::vector<std::string>{"all", "done", "{\"status\":\"failed\"}"}));
  EXPECT_EQ(logs_.FollowerCount(), 0u);
}

TEST_F(LogApiTest, FollowDefaultsToTheTailAtALineAndResumesFromOffset) {
  ASSERT_TRUE(logs_.Append(kJob, kTask, Lines(200)).has_value());  // 20,000 bytes
  SseReader v(base_ + "/api/tasks/" + kTask + "/log/follow");
  ASSERT_TRUE(v.WaitFor("line 00199"));
  auto data = v.Data();
  ASSERT_FALSE(data.empty());
  EXPECT_TRUE(data.front().starts_with("line 00098 ")) << data.front();  // first full line in the last 10 KiB
  SseReader resumed(base_ + "/api/tasks/" + kTask + "/log/follow?offset=19900");
  ASSERT_TRUE(resumed.WaitFor("line 00199"));
  EXPECT_EQ(resumed.Data().size(), 1u);
  // End the task so both streams close now rather than at the client's
  // timeout (an idle stream gives the reader no chance to stop).
  lookup_.Set(kTask, "completed", true);
  followers_.Sweep();
  EXPECT_TRUE(v.WaitDone());
  EXPECT_TRUE(resumed.WaitDone());
}

TEST_F(LogApiTest, FollowerThatLeavesIsForgotten) {
  auto v = std::make_unique<SseReader>(base_ + "/api/tasks/" + kTask + "/log/follow");
  ASSERT_TRUE(v->WaitFor("retry:"));
  ASSERT_EQ(logs_.FollowerCount(), 1u);
  v->Stop();
  ASSERT_TRUE(logs_.Append(kJob, kTask, "wake the reader").has_value());
  v.reset();  // the client closes its connection
  // The server notices the closed socket asynchronously.
  for (int i = 0; i < 500 && logs_.FollowerCount() > 0; ++i) {
    ASSERT_TRUE(logs_.Append(kJob, kTask, "more").has_value());
    followers_.Sweep();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(logs_.FollowerCount(), 0u);
  EXPECT_EQ(followers_.size(), 0u);
}

TEST_F(LogApiTest, UnknownTaskFollowIs404) {
  EXPECT_EQ(Get("/api/tasks/00000000000000000000abcd/log/follow").status, 404);
}

// --- compression service -------------------------------------------------------

class FakeEnded final : public EndedTaskSource {
 public:
  Result<std::vector<EndedTask>> TasksEndedBetween(SystemTime from, SystemTime to, int limit) override {
    std::vector<EndedTask> out;
    for (const auto& t : tasks)
      if (t.ended >= from && t.ended < to && static_cast<int>(out.size()) < limit) out.push_back(t);
    return out;
  }
  std::vector<EndedTask> tasks;
};

TEST(LogCompressorTest, CompressesLogsOfTasksEndedLongEnoughAgo) {
  testing::TempDir dir;
  TaskLogs logs(dir / "logs");
  testing::FakeClock clock;
  FakeEnded ended;
  const std::string old_task = "00000000000000000000000a", new_task = "00000000000000000000000b";
  ASSERT_TRUE(logs.Append(kJob, old_task, "old").has_value());
  ASSERT_TRUE(logs.Append(kJob, new_task, "new").has_value());
  ended.tasks = {{kJob, old_task, clock.Now() - std::chrono::hours(25)},
                 {kJob, new_task, clock.Now() - std::chrono::hours(1)}};
  LogCompressor compressor(logs, ended, clock, {std::chrono::hours(24), {}});
  EXPECT_EQ(compressor.RunOnce().value(), 1);
  EXPECT_EQ(logs.Locate(kJob, old_task)->kind, LogSource::Kind::kCompressed);
  EXPECT_EQ(logs.Locate(kJob, new_task)->kind, LogSource::Kind::kPacked);
  clock.Advance(std::chrono::hours(24));
  EXPECT_EQ(compressor.RunOnce().value(), 1);
  EXPECT_TRUE(fs::exists(logs.GzPathFor(kJob, new_task)));
  EXPECT_EQ(compressor.RunOnce().value(), 0);
}

TEST(LogCompressorTest, ZeroMeansNever) {
  testing::TempDir dir;
  TaskLogs logs(dir / "logs");
  testing::FakeClock clock;
  FakeEnded ended;
  ASSERT_TRUE(logs.Append(kJob, kTask, "x").has_value());
  ended.tasks = {{kJob, kTask, clock.Now() - std::chrono::hours(1000)}};
  LogCompressor compressor(logs, ended, clock, {});
  EXPECT_EQ(compressor.RunOnce().value(), 0);
  EXPECT_EQ(logs.Locate(kJob, kTask)->kind, LogSource::Kind::kPacked);
}

TEST(LogCompressorTest, FailedCompressionIsRetriedOnTheNextPass) {
  testing::TempDir dir;
  TaskLogs logs(dir / "logs");
  testing::FakeClock clock;
  FakeEnded ended;
  ASSERT_TRUE(logs.Append(kJob, kTask, "x").has_value());
  ended.tasks = {{kJob, kTask, clock.Now() - std::chrono::hours(2)}};
  bool crash = true;
  LogCompressor compressor(logs, ended, clock, {std::chrono::hours(1), [&crash](CompressStep s) {
                                                  return !(crash && s == CompressStep::kRename);
                                                }});
  EXPECT_EQ(compressor.RunOnce().value(), 0);
  EXPECT_EQ(logs.Locate(kJob, kTask)->kind, LogSource::Kind::kPacked);
  crash = false;
  clock.Advance(std::chrono::minutes(1));
  EXPECT_EQ(compressor.RunOnce().value(), 1);
  EXPECT_EQ(logs.Locate(kJob, kTask)->kind, LogSource::Kind::kCompressed);
}

}  // namespace
}  // namespace duende::manager
