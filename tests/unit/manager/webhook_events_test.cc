#include "manager/webhook_events.h"

#include <gtest/gtest.h>

#include "support/fake_clock.h"

namespace duende::manager {
namespace {

using nlohmann::json;
using protocol::JobStatus;

jobs::Job MakeJob(JobStatus status) {
  jobs::Job j;
  j.id = "aaaabbbbccccddddeeeeffff";
  j.name = "sh010";
  j.job_type = "blender-render";
  j.status = status;
  j.status_reason = "why";
  j.submitter = "ana";
  j.tasks_status = {{"count", 4}, {"completed", 3}, {"failed", 1}};
  return j;
}

const EventSource kSource{"Farm A", "http://farm-a:8080"};

struct JobEventCase {
  JobStatus status;
  std::optional<std::string> event;
};

class JobStatusEventTest : public ::testing::TestWithParam<JobEventCase> {};

TEST_P(JobStatusEventTest, OnlyEndsOfJobsAreEvents) {
  const auto now = SystemTime(std::chrono::seconds(1'800'000'000));
  auto event = JobStatusEvent(MakeJob(GetParam().status), JobStatus::kActive, now, kSource);
  if (!GetParam().event) {
    EXPECT_FALSE(event.has_value());
    return;
  }
  ASSERT_TRUE(event.has_value());
  EXPECT_EQ(event->name, *GetParam().event);
  EXPECT_EQ(event->time, now);
  const json& job = event->data["job"];
  EXPECT_EQ(job["_id"], "aaaabbbbccccddddeeeeffff");
  EXPECT_EQ(job["name"], "sh010");
  EXPECT_EQ(job["status"], protocol::ToString(GetParam().status));
  EXPECT_EQ(job["previous_status"], "active");
  EXPECT_EQ(job["status_reason"], "why");
  EXPECT_EQ(job["user"], "ana");
  EXPECT_EQ(job["tasks_status"]["completed"], 3);
  EXPECT_EQ(event->data["manager"], (json{{"name", "Farm A"}, {"url", "http://farm-a:8080"}}));
}

INSTANTIATE_TEST_SUITE_P(Table, JobStatusEventTest,
                         ::testing::Values(JobEventCase{JobStatus::kCompleted, "job.completed"},
                                           JobEventCase{JobStatus::kFailed, "job.failed"},
                                           JobEventCase{JobStatus::kCanceled, "job.canceled"},
                                           JobEventCase{JobStatus::kActive, std::nullopt},
                                           JobEventCase{JobStatus::kQueued, std::nullopt},
                                           JobEventCase{JobStatus::kCancelRequested, std::nullopt},
                                           JobEventCase{JobStatus::kFailRequested, std::nullopt},
                                           JobEventCase{JobStatus::kPaused, std::nullopt}));

TEST(WorkerTimeoutEventTest, CarriesTheWorkerWithoutItsSecret) {
  WorkerRecord w;
  w.id = "111122223333444455556666";
  w.nickname = "box-7";
  w.address = "10.0.0.7";
  w.status = "timeout";
  w.secret_hash = "$argon2id$secret";
  w.last_activity = SystemTime(std::chrono::seconds(1'799'999'900));
  const auto event = WorkerTimeoutEvent(w, SystemTime(std::chrono::seconds(1'800'000'000)), EventSource{"Farm A", ""});
  EXPECT_EQ(event.name, "worker.timeout");
  EXPECT_EQ(event.data["worker"]["_id"], w.id);
  EXPECT_EQ(event.data["worker"]["nickname"], "box-7");
  EXPECT_EQ(event.data["worker"]["status"], "timeout");
  EXPECT_EQ(event.data["worker"]["last_activity"], "2027-01-15T07:58:20.000000Z");
  EXPECT_EQ(event.data.dump().find("argon2id"), std::string::npos);
  EXPECT_EQ(event.data["manager"], (json{{"name", "Farm A"}})) << "no URL configured: none sent";
}

class RecordingSink final : public webhooks::EventSink {
 public:
  void Publish(webhooks::Event event) override { events.push_back(std::move(event)); }
  std::vector<webhooks::Event> events;
};

TEST(WebhookNotifierTest, ForwardsEndsOfJobsAndTimeouts) {
  testing::FakeClock clock;
  RecordingSink sink;
  WebhookNotifier notifier(sink, clock, kSource);
  notifier.OnJobStatusChanged(MakeJob(JobStatus::kActive), JobStatus::kQueued);
  notifier.OnJobStatusChanged(MakeJob(JobStatus::kCompleted), JobStatus::kActive);
  WorkerRecord w;
  w.id = "111122223333444455556666";
  notifier.OnWorkerTimedOut(w);
  ASSERT_EQ(sink.events.size(), 2u);
  EXPECT_EQ(sink.events[0].name, "job.completed");
  EXPECT_EQ(sink.events[0].time, clock.Now());
  EXPECT_EQ(sink.events[1].name, "worker.timeout");
}

}  // namespace
}  // namespace duende::manager
