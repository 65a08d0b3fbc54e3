#include "protocol/types.h"

#include <gtest/gtest.h>

#include "protocol/upstream.h"

namespace duende::protocol {
namespace {

using nlohmann::json;

TEST(ProtocolTest, WorkerUpdateAcceptsBothCommandIndexNames) {
  auto a = WorkerTaskUpdateFromJson(json{{"current_command_idx", 2}});
  auto b = WorkerTaskUpdateFromJson(json{{"current_command_index", 3}});
  EXPECT_EQ(*a->current_command_index, 2);
  EXPECT_EQ(*b->current_command_index, 3);
}

TEST(ProtocolTest, WorkerUpdateRejectsBadFields) {
  EXPECT_FALSE(WorkerTaskUpdateFromJson(json{{"task_status", "exploded"}}).has_value());
  EXPECT_FALSE(WorkerTaskUpdateFromJson(json{{"task_progress_percentage", "half"}}).has_value());
  EXPECT_FALSE(WorkerTaskUpdateFromJson(json{{"log", 5}}).has_value());
  EXPECT_FALSE(WorkerTaskUpdateFromJson(json::array()).has_value());
}

// Found by fuzz_task_update: a fractional number outside int's range was
// converted anyway (undefined behaviour).
TEST(ProtocolTest, WorkerUpdateRejectsNumbersOutsideIntRange) {
  EXPECT_EQ(*WorkerTaskUpdateFromJson(json{{"task_progress_percentage", 42.5}})->task_progress_percentage, 42);
  for (double bad : {1e10, -1e10, 2147483648.0, 1e300}) {
    auto u = WorkerTaskUpdateFromJson(json{{"task_progress_percentage", bad}});
    ASSERT_FALSE(u.has_value()) << bad;
    EXPECT_EQ(u.error().message, "field 'task_progress_percentage' is out of range");
  }
  EXPECT_FALSE(TaskFromJson(json{{"_id", "a"}, {"status", "queued"}, {"priority", -1e19}}).has_value());
}

// Found by fuzz_upstream_responses: the Server's modified_count was
// converted to int whatever its size (undefined behaviour).
TEST(ProtocolTest, BatchResponseChecksModifiedCount) {
  EXPECT_EQ(BatchResponseFromJson(json{{"modified_count", 3}})->modified_count, 3);
  EXPECT_EQ(BatchResponseFromJson(json::object())->modified_count, 0);
  for (const json& bad : {json(1.8e20), json(-1), json(18446744073709551615ull), json("3")}) {
    auto r = BatchResponseFromJson(json{{"modified_count", bad}});
    ASSERT_FALSE(r.has_value()) << bad;
    EXPECT_NE(r.error().message.find("modified_count"), std::string::npos);
  }
}

// nr_of_workers beyond int used to wrap (2^32 + 1 became 1 worker).
TEST(ProtocolTest, NotificationWorkerCountFitsAnInt) {
  const json types = json::array({"sleep"});
  EXPECT_EQ(UpstreamNotificationFromJson(json{{"nr_of_workers", 4}, {"worker_task_types", types}})->nr_of_workers, 4);
  EXPECT_FALSE(UpstreamNotificationFromJson(json{{"nr_of_workers", 4294967297LL}, {"worker_task_types", types}}));
  EXPECT_FALSE(UpstreamNotificationFromJson(json{{"nr_of_workers", -1}, {"worker_task_types", types}}));
}

TEST(ProtocolTest, ManagerUpdateRoundTrips) {
  TaskUpdate u;
  u.id = "aaaaaaaaaaaaaaaaaaaaaaaa";
  u.task_id = "bbbbbbbbbbbbbbbbbbbbbbbb";
  u.task_status = TaskStatus::kSoftFailed;
  u.activity = "oops";
  u.current_command_index = 1;
  u.log_tail = "x\n";
  u.worker = "1.2.3.4 (w)";
  u.failed_by_workers = std::vector<FailedByWorker>{{"cccccccccccccccccccccccc", "1.2.3.4 (w)"}};
  auto j = ToJson(u);
  EXPECT_EQ(j["current_command_index"], 1);
  EXPECT_EQ(j["current_command_idx"], 1);
  auto back = TaskUpdateFromJson(j);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->task_status, TaskStatus::kSoftFailed);
  EXPECT_EQ(back->failed_by_workers->at(0).id, "cccccccccccccccccccccccc");
  EXPECT_EQ(back->log_tail, "x\n");
}

// A Manager's update names itself and its task: an empty ID is refused
// like a missing one (found by fuzz/server_requests_fuzz.cc).
TEST(ProtocolTest, TaskUpdateWithAnEmptyIdOrTaskIdIsRefused) {
  const json ok = {{"_id", "aaaaaaaaaaaaaaaaaaaaaaaa"}, {"task_id", "bbbbbbbbbbbbbbbbbbbbbbbb"}};
  ASSERT_TRUE(TaskUpdateFromJson(ok).has_value());
  for (const char* key : {"_id", "task_id"}) {
    json bad = ok;
    bad[key] = "";
    auto u = TaskUpdateFromJson(bad);
    ASSERT_FALSE(u.has_value()) << key;
    EXPECT_EQ(u.error().code, ErrorCode::kInvalidArgument);
    EXPECT_EQ(u.error().message, std::string("field '") + key + "' must not be empty");
  }
}

TEST(ProtocolTest, LogTailKeepsLastTenLines) {
  std::string log;
  for (int i = 1; i <= 12; ++i) log += "l" + std::to_string(i) + "\n";
  EXPECT_EQ(LogTail(log), "l3\nl4\nl5\nl6\nl7\nl8\nl9\nl10\nl11\nl12\n");
  EXPECT_EQ(LogTail("  one  "), "one\n");
  EXPECT_EQ(LogTail(""), "");
}

TEST(ProtocolTest, TaskJsonUsesV2Names) {
  Task t;
  t.id = "aaaaaaaaaaaaaaaaaaaaaaaa";
  t.status = TaskStatus::kClaimedByManager;
  t.worker_id = "secret-local";
  auto j = ToJson(t);
  EXPECT_EQ(j["_id"], t.id);
  EXPECT_EQ(j["status"], "claimed-by-manager");
  EXPECT_FALSE(j.dump().find("secret-local") != std::string::npos);
  auto back = TaskFromJson(j);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->status, TaskStatus::kClaimedByManager);
}

// The task offer moves the task into its document: the same document as
// from a copy, field for field.
TEST(ProtocolTest, TaskJsonFromAMovedTaskIsTheSame) {
  Task t;
  t.id = "aaaaaaaaaaaaaaaaaaaaaaaa";
  t.etag = "e1";
  t.job = "bbbbbbbbbbbbbbbbbbbbbbbb";
  t.manager = "m";
  t.project = "p";
  t.user = "u";
  t.name = "frames 1-10";
  t.status = TaskStatus::kActive;
  t.priority = 40;
  t.job_priority = 60;
  t.job_type = "blender-render";
  t.task_type = "blender";
  t.commands = {{"blender-render", {{"frames", "1-10"}, {"args", {"--x", "y"}}}}, {"echo", {{"message", "hi"}}}};
  t.log = "a line";
  t.activity = "rendering";
  t.parents = {"cccccccccccccccccccccccc"};
  t.worker = "w (host)";
  t.failed_by_workers = {{"dddddddddddddddddddddddd", "w2"}};
  t.metrics = {{"timing", {{"render", 1.5}}}};
  t.task_progress_percentage = 30;
  t.current_command_index = 1;
  t.command_progress_percentage = 70;
  t.last_updated = SystemTime(std::chrono::seconds(1700000000));
  const nlohmann::json copied = ToJson(t);
  Task moved_from = t;
  const nlohmann::json moved = ToJson(std::move(moved_from));
  EXPECT_EQ(moved, copied);
  EXPECT_EQ(moved["commands"][0]["settings"]["frames"], "1-10");
  EXPECT_EQ(moved["parents"][0], "cccccccccccccccccccccccc");
  EXPECT_EQ(moved["_updated"], copied["_updated"]);
}

}  // namespace
}  // namespace duende::protocol
