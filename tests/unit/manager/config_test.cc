#include "manager/config.h"

#include <gtest/gtest.h>

namespace duende::manager {
namespace {

TEST(ConfigTest, DefaultsFollowFlamencoV2) {
  auto c = ParseConfig("", "/data");
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->task_logs_path, "/data/task-logs");
  EXPECT_EQ(c->active_task_timeout_interval, std::chrono::minutes(10));
  EXPECT_EQ(c->active_worker_timeout_interval, std::chrono::minutes(1));
  EXPECT_EQ(c->blacklist_threshold, 3);
  EXPECT_EQ(c->task_fail_after_softfail_count, 3);
  EXPECT_EQ(c->task_update_push_max_count, 3000);
  EXPECT_EQ(c->request_body_limit_bytes, 10u * 1024 * 1024);
}

TEST(ConfigTest, ReadsV2KeysAndDurations) {
  auto c = ParseConfig(R"(
_meta:
  version: 2
manager_name: Farm A
task_logs_path: /logs
worker_registration_secret: s3cret
active_task_timeout_interval: 15m
active_worker_timeout_interval: 30s
worker_cleanup_max_age: 1h30m
blacklist_threshold: 5
ssdp_discovery: false
variables:
  render:
    direction: twoway
    values:
      - platform: linux
        value: /render/
      - platform: windows
        value: 'R:\'
)",
                       "/data");
  ASSERT_TRUE(c.has_value()) << c.error().message;
  EXPECT_EQ(c->manager_name, "Farm A");
  EXPECT_EQ(c->task_logs_path, "/logs");
  EXPECT_EQ(c->worker_registration_secret, "s3cret");
  EXPECT_EQ(c->active_task_timeout_interval, std::chrono::minutes(15));
  EXPECT_EQ(c->active_worker_timeout_interval, std::chrono::seconds(30));
  EXPECT_EQ(c->worker_cleanup_max_age, std::chrono::minutes(90));
  EXPECT_EQ(c->blacklist_threshold, 5);
  ASSERT_EQ(c->ignored_keys.size(), 1u);
  EXPECT_EQ(c->ignored_keys[0], "ssdp_discovery");
  ASSERT_TRUE(c->variables.count("render"));
  ASSERT_TRUE(c->variables.count("blender")) << "defaults stay unless overridden";
  EXPECT_EQ(c->variables["render"].values[0].value, "/render") << "two-way values lose the trailing slash";
}

struct BadConfig {
  const char* yaml;
  const char* message_part;
};

class BadConfigTest : public ::testing::TestWithParam<BadConfig> {};

TEST_P(BadConfigTest, IsRejectedWithOneClearLine) {
  auto c = ParseConfig(GetParam().yaml, "/data");
  ASSERT_FALSE(c.has_value());
  EXPECT_NE(c.error().message.find(GetParam().message_part), std::string::npos) << c.error().message;
  EXPECT_EQ(c.error().message.find('\n'), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(
    Table, BadConfigTest,
    ::testing::Values(BadConfig{"no_such_key: 1", "unknown config key 'no_such_key'"},
                      BadConfig{"active_task_timeout_interval: 10", "invalid duration '10'"},
                      BadConfig{"active_task_timeout_interval: soon", "active_task_timeout_interval"},
                      BadConfig{"blacklist_threshold: many", "must be an integer"},
                      BadConfig{"blacklist_threshold: 0", "between 1 and"},
                      BadConfig{"mode: fast", "mode"}, BadConfig{"[1, 2]", "mapping"},
                      BadConfig{"a: [", "not valid YAML"},
                      BadConfig{"variables:\n  x:\n    direction: sideways", "direction"},
                      BadConfig{"_meta:\n  version: 1", "version 1"}));

}  // namespace
}  // namespace duende::manager
