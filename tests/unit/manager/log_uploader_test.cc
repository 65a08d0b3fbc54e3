// LogUploader: each requested log is uploaded once (a request repeated while
// it is queued, uploading, or by a response to a push sent before the upload
// finished is not uploaded again), a failed upload is retried when asked
// again, and a task without a log gets a log saying so.
#include "manager/log_uploader.h"

#include <gtest/gtest.h>

#include <map>
#include <thread>

#include "common/gzip.h"
#include "manager/task_logs.h"
#include "support/fake_clock.h"
#include "support/temp_dir.h"

namespace duende::manager {
namespace {

class RecordingUpstream final : public protocol::Upstream {
 public:
  Result<protocol::Depsgraph> FetchDepsgraph(const std::string&) override { return protocol::Depsgraph{}; }
  Result<protocol::BatchResponse> PushTaskUpdates(const std::vector<protocol::TaskUpdate>&) override {
    return protocol::BatchResponse{};
  }
  Status AttachTaskLog(const std::string& job, const std::string& task, const std::string& gz) override {
    if (fail_next > 0) {
      --fail_next;
      return Unavailable("server down");
    }
    uploads.push_back(job + "/" + task);
    bodies[task] = gz;
    return Ok();
  }
  Status Notify(const protocol::UpstreamNotification&) override { return Ok(); }

  int fail_next = 0;
  std::vector<std::string> uploads;
  std::map<std::string, std::string> bodies;
};

class LogUploaderTest : public ::testing::Test {
 protected:
  LogUploaderTest()
      : logs_(dir_.path() + "/logs"),
        uploader_(
            upstream_,
            [this](const std::string& job, const std::string& task) { return logs_.GzipForUpload(job, task); },
            clock_) {}

  static constexpr const char* kJob = "aaaaaaaaaaaaaaaaaaaaaaaa";
  testing::TempDir dir_;
  testing::FakeClock clock_;
  TaskLogs logs_;
  RecordingUpstream upstream_;
  LogUploader uploader_;
};

TEST_F(LogUploaderTest, UploadsEachRequestedLogGzipped) {
  ASSERT_TRUE(logs_.Append(kJob, "t1", "rendering frame 1\n"));
  ASSERT_TRUE(logs_.Append(kJob, "t2", "rendering frame 2\n"));
  uploader_.Request({{kJob, "t1"}, {kJob, "t2"}}, clock_.SteadyNow());
  uploader_.Drain();
  EXPECT_EQ(upstream_.uploads, (std::vector<std::string>{std::string(kJob) + "/t1", std::string(kJob) + "/t2"}));
  EXPECT_EQ(*Gunzip(upstream_.bodies["t1"]), "rendering frame 1\n");
  EXPECT_EQ(uploader_.uploads(), 2u);
}

TEST_F(LogUploaderTest, MissingLogIsUploadedAsALogSayingSo) {
  uploader_.Request({{kJob, "never-ran"}}, clock_.SteadyNow());
  uploader_.Drain();
  ASSERT_EQ(upstream_.uploads.size(), 1u);
  EXPECT_NE(Gunzip(upstream_.bodies["never-ran"])->find(TaskLogs::kMissingLogText), std::string::npos);
}

TEST_F(LogUploaderTest, RequestRepeatedBeforeTheUploadArrivedIsNotUploadedTwice) {
  ASSERT_TRUE(logs_.Append(kJob, "t1", "x\n"));
  const SteadyTime first_push = clock_.SteadyNow();
  uploader_.Request({{kJob, "t1"}}, first_push);
  // The next batch response repeats it while it is still queued.
  clock_.Advance(std::chrono::seconds(5));
  uploader_.Request({{kJob, "t1"}}, clock_.SteadyNow());
  uploader_.Drain();
  EXPECT_EQ(upstream_.uploads.size(), 1u);
  // A response to a push sent before the upload finished still lists it:
  // the same request, not a new one.
  uploader_.Request({{kJob, "t1"}}, first_push + std::chrono::seconds(5));
  uploader_.Drain();
  EXPECT_EQ(upstream_.uploads.size(), 1u);
  // Asked again by a push sent after the upload: a new request (a user
  // wants the log as it is now).
  clock_.Advance(std::chrono::seconds(5));
  uploader_.Request({{kJob, "t1"}}, clock_.SteadyNow());
  uploader_.Drain();
  EXPECT_EQ(upstream_.uploads.size(), 2u);
}

TEST_F(LogUploaderTest, FailedUploadIsSentWhenAskedAgain) {
  ASSERT_TRUE(logs_.Append(kJob, "t1", "x\n"));
  upstream_.fail_next = 1;
  uploader_.Request({{kJob, "t1"}}, clock_.SteadyNow());
  uploader_.Drain();
  EXPECT_EQ(uploader_.failures(), 1u);
  EXPECT_TRUE(upstream_.uploads.empty());
  clock_.Advance(std::chrono::seconds(5));
  uploader_.Request({{kJob, "t1"}}, clock_.SteadyNow());
  uploader_.Drain();
  EXPECT_EQ(upstream_.uploads.size(), 1u);
}

TEST_F(LogUploaderTest, BackgroundThreadUploadsWithoutBeingDrained) {
  ASSERT_TRUE(logs_.Append(kJob, "t1", "x\n"));
  std::jthread runner([this](std::stop_token st) { uploader_.Run(st); });
  uploader_.Request({{kJob, "t1"}}, clock_.SteadyNow());
  for (int i = 0; i < 500 && uploader_.uploads() == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(uploader_.uploads(), 1u);
  runner.request_stop();
  clock_.NotifyAll();
}

}  // namespace
}  // namespace duende::manager
