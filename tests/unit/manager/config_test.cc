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
                      BadConfig{"blacklist_threshold: 0", "between 1 and"}, BadConfig{"mode: fast", "mode"},
                      BadConfig{"[1, 2]", "mapping"}, BadConfig{"database_synchronous: off", "'normal' or 'full'"},
                      BadConfig{"a: [", "not valid YAML"},
                      BadConfig{"variables:\n  x:\n    direction: sideways", "direction"},
                      BadConfig{"_meta:\n  version: 1", "version 1"},
                      // Keys that are lists or mappings (found by fuzz_config: they threw).
                      BadConfig{"? [a, b]\n: c", "config keys must be plain strings"},
                      BadConfig{"variables:\n  {x: 1}: 2", "config key 'variables'"},
                      BadConfig{"users:\n  - [name]: ana", "config key 'users'"},
                      // An alias inside its own anchor: endless recursion (found by fuzz_config).
                      BadConfig{"variables: &v\n  x: *v", "alias refer to itself"},
                      BadConfig{"webhooks: &w\n  - *w", "config key 'webhooks'"},
                      // Latin-1, not UTF-8: the description threw (found by fuzz_config).
                      BadConfig{"variables:\n  x:\n    values:\n      - value: caf\xe9", "not valid UTF-8"},
                      BadConfig{"variables:\n  caf\xe9:\n    values: []", "not valid UTF-8"},
                      // Aliases of aliases: exponentially many nodes.
                      BadConfig{
                          "variables:\n  a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n  b: &b [*a, *a, *a, *a, *a, *a, *a, "
                          "*a, *a, *a]\n  c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n  d: &d [*c, *c, *c, *c, "
                          "*c, *c, *c, *c, *c, *c]\n  e: [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]",
                          "too large"}));

}  // namespace
TEST(ConfigTest, DatabaseDurabilityIsNormalUnlessFull) {
  EXPECT_EQ(ParseConfig("", "/data")->database_synchronous, "NORMAL");
  EXPECT_EQ(ParseConfig("database_synchronous: full", "/data")->database_synchronous, "FULL");
  EXPECT_EQ(ParseConfig("http_threads: 8", "/data")->http_threads, 8);
  EXPECT_EQ(ParseConfig("", "/data")->database_busy_timeout, std::chrono::seconds(5));
  EXPECT_EQ(ParseConfig("database_busy_timeout: 2s", "/data")->database_busy_timeout, std::chrono::seconds(2));
  EXPECT_FALSE(ParseConfig("database_busy_timeout: soon", "/data").has_value());
}

TEST(ConfigTest, UsersHaveRolesAndHashesOnly) {
  auto c = ParseConfig(R"(
users:
  - {name: olga, role: operator, password_hash: "$argon2id$v=19$m=65536,t=2,p=1$c2FsdHNhbHQ$aGFzaA"}
  - name: ci
    role: admin
    token_hash: "$argon2id$v=19$m=1024,t=2,p=1$c2FsdHNhbHQ$aGFzaA"
)",
                       "/data");
  ASSERT_TRUE(c.has_value()) << c.error().message;
  ASSERT_EQ(c->users.size(), 2u);
  EXPECT_EQ(c->users[0].name, "olga");
  EXPECT_EQ(c->users[0].role, Role::kOperator);
  EXPECT_TRUE(c->users[0].token_hash.empty());
  EXPECT_EQ(c->users[1].role, Role::kAdmin);
  EXPECT_TRUE(c->users[1].token_hash.starts_with("$argon2id$"));
  const std::string described = DescribeConfig(*c);
  EXPECT_NE(described.find("users: olga (operator), ci (admin)"), std::string::npos) << described;
  EXPECT_EQ(described.find("argon2id"), std::string::npos) << "hashes are not logged";
  EXPECT_TRUE(ParseConfig("", "/data")->users.empty());

  const std::pair<const char*, const char*> bad[] = {
      {"users: {name: x}", "must be a list of users"},
      {"users: [{name: x, role: root, token_hash: \"$argon2id$x\"}]", "unknown role 'root'"},
      {"users: [{name: x, role: admin, password_hash: hunter2}]", "must be an argon2id hash"},
      {"users: [{name: x, role: admin}]", "needs a password_hash or token_hash"},
      {"users: [{role: admin, token_hash: \"$argon2id$x\"}]", "needs a 'name'"},
      {"users: [{name: x, token_hash: \"$argon2id$x\", password: y}]", "unknown key 'password'"},
      {"users: [{name: x, token_hash: \"$argon2id$a\"}, {name: x, token_hash: \"$argon2id$b\"}]", "listed twice"},
  };
  for (const auto& [yaml, message] : bad) {
    auto r = ParseConfig(yaml, "/data");
    ASSERT_FALSE(r.has_value()) << yaml;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(r.error().message.find(message), std::string::npos) << yaml << " -> " << r.error().message;
  }
}

}  // namespace duende::manager

namespace duende::manager {
namespace {

TEST(ConfigTest, WebhooksAreReadAndTheirSecretsMasked) {
  auto c = ParseConfig(R"(
webhooks:
  - url: https://chat.example/hooks/render
    secret: very-secret
    events: [job.completed, job.failed]
    max_attempts: 5
    retry_delay: 30s
  - url: http://127.0.0.1:9000/
    secret: other
)",
                       "/data");
  ASSERT_TRUE(c.has_value()) << c.error().message;
  ASSERT_EQ(c->webhooks.size(), 2u);
  EXPECT_EQ(c->webhooks[0].url, "https://chat.example/hooks/render");
  EXPECT_EQ(c->webhooks[0].max_attempts, 5);
  EXPECT_EQ(c->webhooks[0].retry_delay, std::chrono::seconds(30));
  EXPECT_EQ(c->webhooks[0].events, (std::set<std::string>{"job.completed", "job.failed"}));
  EXPECT_TRUE(c->webhooks[1].events.empty());
  const std::string described = DescribeConfig(*c);
  EXPECT_NE(described.find("https://chat.example/hooks/render"), std::string::npos) << described;
  EXPECT_EQ(described.find("very-secret"), std::string::npos) << described;
}

TEST(ConfigTest, BadWebhookIsOneClearLine) {
  auto c = ParseConfig("webhooks:\n  - url: https://x.example/\n", "/data");
  ASSERT_FALSE(c.has_value());
  EXPECT_EQ(c.error().message.find('\n'), std::string::npos);
  EXPECT_NE(c.error().message.find("webhooks"), std::string::npos) << c.error().message;
  EXPECT_NE(c.error().message.find("'secret' is required"), std::string::npos) << c.error().message;
}

TEST(ConfigTest, JobTypesDirDefaultsToTheDataDir) {
  EXPECT_EQ(ParseConfig("", "/data")->job_types_dir, "/data/job-types");
  EXPECT_EQ(ParseConfig("job_types_dir: /etc/duende/job-types", "/data")->job_types_dir, "/etc/duende/job-types");
  EXPECT_FALSE(ParseConfig("job_types_dir: [a]", "/data").has_value());
}

}  // namespace
}  // namespace duende::manager

namespace duende::manager {
namespace {

TEST(ConfigLimitsTest, ConnectionLimitsTlsAndLogCapAreRead) {
  auto c = ParseConfig(R"(
request_header_limit: 16384
http_idle_timeout: 30s
http_header_timeout: 5s
http_body_timeout: 2m
tlscert: /etc/duende/cert.pem
tlskey: /etc/duende/key.pem
upstream_ca_path: /etc/duende/ca.pem
task_log_max_bytes: 1048576
task_logs_max_total_bytes: 1073741824
)",
                       "/data");
  ASSERT_TRUE(c.has_value()) << c.error().message;
  EXPECT_EQ(c->request_header_limit_bytes, 16384u);
  EXPECT_EQ(c->http_idle_timeout, std::chrono::seconds(30));
  EXPECT_EQ(c->http_header_timeout, std::chrono::seconds(5));
  EXPECT_EQ(c->http_body_timeout, std::chrono::minutes(2));
  EXPECT_EQ(c->tls_cert, "/etc/duende/cert.pem");
  EXPECT_EQ(c->tls_key, "/etc/duende/key.pem");
  EXPECT_EQ(c->upstream_ca_path, "/etc/duende/ca.pem");
  EXPECT_EQ(c->task_log_max_bytes, 1048576u);
  EXPECT_EQ(c->task_logs_max_total_bytes, 1073741824u);
  EXPECT_TRUE(c->ignored_keys.empty());  // tlscert/tlskey are no longer ignored
  const std::string described = DescribeConfig(*c);
  EXPECT_NE(described.find("certificate /etc/duende/cert.pem"), std::string::npos) << described;
}

TEST(ConfigLimitsTest, DefaultsArePlainHttpWithACappedLog) {
  auto c = ParseConfig("", "/data");
  ASSERT_TRUE(c.has_value());
  EXPECT_TRUE(c->tls_cert.empty());
  EXPECT_EQ(c->http_header_timeout, std::chrono::seconds(15));
  EXPECT_EQ(c->task_log_max_bytes, 64u * 1024 * 1024);
  EXPECT_TRUE(ParseConfig("task_log_max_bytes: 0", "/data").has_value());  // no cap
  EXPECT_EQ(c->task_logs_max_total_bytes, uint64_t{20} * 1024 * 1024 * 1024);
  EXPECT_TRUE(ParseConfig("task_logs_max_total_bytes: 0", "/data").has_value());  // no cap
}

TEST(ConfigLimitsTest, BadValuesAreOneClearError) {
  for (const auto& [yaml, expect] : std::vector<std::pair<std::string, std::string>>{
           {"tlscert: /c.pem", "both 'tlscert' and 'tlskey'"},
           {"tlskey: /k.pem", "both 'tlscert' and 'tlskey'"},
           {"task_log_max_bytes: 100", "at least 4096"},
           {"task_log_max_bytes: -1", "between"},
           {"task_logs_max_total_bytes: 4095", "'task_logs_max_total_bytes' must be 0 (no cap) or at least 4096"},
           {"task_logs_max_total_bytes: 20GiB", "must be an integer"},
           {"request_body_limit: 10MB", "config key 'request_body_limit' must be a byte count"},
           {"http_idle_timeout: soon", "config key 'http_idle_timeout' must be a duration like 30s or 2m"},
           {"http_header_timeout: 0s", "longer than 0"},
           {"request_header_limit: 10", "between"},
       }) {
    auto c = ParseConfig(yaml, "/data");
    ASSERT_FALSE(c.has_value()) << yaml;
    EXPECT_NE(c.error().message.find(expect), std::string::npos) << yaml << ": " << c.error().message;
  }
}

}  // namespace
}  // namespace duende::manager
