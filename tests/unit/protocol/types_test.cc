#include "protocol/types.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace duende::protocol
