// The server's connection limits: head size, and the idle, head and body
// deadlines that keep idle and slow clients (slowloris) from holding
// connections. Deadlines here are short so the tests are quick; the bounds
// the tests wait for are generous (they assert what happens, not when).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "http/http.h"
#include "http/server_limits.h"
#include "support/raw_socket.h"

namespace duende::http {
namespace {

using namespace std::chrono_literals;
using testing::ConnectLoopback;
using testing::PeerClosed;
using testing::SendRaw;

// Far longer than any deadline below: only a server that never hangs up
// makes a test wait this long.
constexpr auto kGenerous = 20s;

// Sends a byte every 50 ms (each well inside any per-byte timeout) until the
// server hangs up; false if it has not after kGenerous.
bool TrickleUntilClosed(int fd) {
  const auto give_up = std::chrono::steady_clock::now() + kGenerous;
  while (std::chrono::steady_clock::now() < give_up) {
    if (!SendRaw(fd, "a") || PeerClosed(fd, 50ms)) return true;
  }
  return false;
}

class LimitsTest : public ::testing::Test {
 protected:
  void StartServer(ServerOptions options) {
    options.header_limit_bytes = 2048;
    server_ = std::make_unique<Server>(options, [](Request& r) { return Response::Json(200, {{"path", r.path}}); });
    auto port = server_->Start();
    ASSERT_TRUE(port.has_value());
    port_ = *port;
    url_ = "http://127.0.0.1:" + std::to_string(port_);
  }

  std::unique_ptr<Server> server_;
  uint16_t port_ = 0;
  std::string url_;
};

TEST_F(LimitsTest, OversizedHeadIsRefusedWith431AndAMessage) {
  StartServer({});
  auto client = MakeCurlClient("t");
  ClientRequest req{"GET", url_ + "/x"};
  req.headers.emplace_back("X-Big", std::string(4000, 'a'));
  auto resp = client->Send(req);
  ASSERT_TRUE(resp.has_value()) << resp.error().message;
  EXPECT_EQ(resp->status, 431);
  auto body = nlohmann::json::parse(resp->body);
  EXPECT_NE(body["message"].get<std::string>().find("2048 bytes"), std::string::npos) << resp->body;
  // A head within the limit still works.
  req.headers.back().second = std::string(1000, 'a');
  resp = client->Send(req);
  ASSERT_TRUE(resp.has_value());
  EXPECT_EQ(resp->status, 200);
}

// Both a connection that never sent anything and one that is idle after an
// answered request.
TEST_F(LimitsTest, IdleConnectionsAreClosedAfterTheIdleTimeout) {
  ServerOptions o;
  o.idle_timeout = 300ms;
  StartServer(o);
  const int silent = ConnectLoopback(port_);
  const int kept_alive = ConnectLoopback(port_);
  ASSERT_GE(silent, 0);
  ASSERT_GE(kept_alive, 0);
  ASSERT_TRUE(SendRaw(kept_alive, "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"));
  char buf[512];
  ASSERT_GT(::recv(kept_alive, buf, sizeof buf, 0), 0);  // the answer
  EXPECT_TRUE(PeerClosed(silent, kGenerous));
  EXPECT_TRUE(PeerClosed(kept_alive, kGenerous));
  ::close(silent);
  ::close(kept_alive);
}

TEST(LimitsTrickleTest, TricklingHeadOrBodyIsCutOffAtItsDeadlineNotPerByte) {
  struct Case {
    std::chrono::milliseconds ServerOptions::*deadline;
    std::string start;  // what the client sends before trickling
  };
  for (const auto& c :
       {Case{&ServerOptions::header_timeout, "GET /slow HTTP/1.1\r\nHost: x\r\nX-Slow: "},
        Case{&ServerOptions::body_timeout, "POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n"}}) {
    ServerOptions o;
    o.idle_timeout = o.header_timeout = o.body_timeout = 10min;
    o.*c.deadline = 500ms;  // only this deadline can close the connection
    Server server(o, [](Request&) { return Response::NoContent(); });
    auto port = server.Start();
    ASSERT_TRUE(port.has_value());
    const int fd = ConnectLoopback(*port);
    ASSERT_GE(fd, 0);
    ASSERT_TRUE(SendRaw(fd, c.start));
    EXPECT_TRUE(TrickleUntilClosed(fd)) << c.start;
    ::close(fd);
  }
}

TEST_F(LimitsTest, ServerKeepsAnsweringWhileSlowClientsAreConnected) {
  ServerOptions o;
  o.header_timeout = 10min;  // the slow clients stay for the whole test
  StartServer(o);
  std::vector<int> slow;
  for (int i = 0; i < 50; ++i) {
    const int fd = ConnectLoopback(port_);
    ASSERT_GE(fd, 0);
    ASSERT_TRUE(SendRaw(fd, "GET / HTTP/1.1\r\nHost: x\r\nX-Slow: a"));
    slow.push_back(fd);
  }
  auto client = MakeCurlClient("t");
  for (int i = 0; i < 20; ++i) {
    auto resp = client->Send({"GET", url_ + "/fine"});
    ASSERT_TRUE(resp.has_value()) << resp.error().message;
    EXPECT_EQ(resp->status, 200);
  }
  for (int fd : slow) ::close(fd);
}

}  // namespace
}  // namespace duende::http

namespace duende::http {
namespace {

using namespace std::chrono_literals;

// The one parser of the connection limits (the Manager's config keys and
// duende-server's flags): values, bounds, and nothing changed on error.
TEST(ServerLimitsTest, EachKeySetsItsLimitAndBadValuesAreRefusedWithoutChangingIt) {
  ServerOptions o;
  ASSERT_TRUE(SetServerLimit(o, "request_body_limit", "2097152").has_value());
  ASSERT_TRUE(SetServerLimit(o, "request_header_limit", "4096").has_value());
  ASSERT_TRUE(SetServerLimit(o, "http_idle_timeout", "45s").has_value());
  ASSERT_TRUE(SetServerLimit(o, "http_header_timeout", "1m30s").has_value());
  ASSERT_TRUE(SetServerLimit(o, "http_body_timeout", "500ms").has_value());
  EXPECT_EQ(o.body_limit_bytes, 2097152u);
  EXPECT_EQ(o.header_limit_bytes, 4096u);
  EXPECT_EQ(o.idle_timeout, 45s);
  EXPECT_EQ(o.header_timeout, 90s);
  EXPECT_EQ(o.body_timeout, 500ms);
  EXPECT_EQ(ServerLimits().size(), 5u);
  for (const auto& limit : ServerLimits()) {
    EXPECT_FALSE(limit.help.empty()) << limit.key;
    // What is shown reads back as the same value.
    ServerOptions copy;
    ASSERT_TRUE(SetServerLimit(copy, limit.key, ServerLimitValue(o, limit.key)).has_value()) << limit.key;
    EXPECT_EQ(ServerLimitValue(copy, limit.key), ServerLimitValue(o, limit.key));
  }
  EXPECT_EQ(ServerLimitValue(o, "http_header_timeout"), "1m30s");
  EXPECT_EQ(ServerLimitValue(o, "http_threads"), "");

  const struct {
    const char* key;
    const char* value;
    const char* message;
  } bad[] = {
      {"request_header_limit", "10", "must be between 1024 and 1048576 bytes, got '10'"},
      {"request_header_limit", "2000000", "must be between 1024 and 1048576 bytes, got '2000000'"},
      {"request_body_limit", "10MB", "must be a byte count between 1024 and 4294967296 bytes, got '10MB'"},
      {"request_body_limit", "-5", "must be a byte count between 1024 and 4294967296 bytes, got '-5'"},
      {"request_body_limit", "", "must be a byte count between 1024 and 4294967296 bytes, got ''"},
      {"http_idle_timeout", "0s", "must be longer than 0"},
      {"http_header_timeout", "15", "must be a duration like 30s or 2m, got '15'"},
      {"http_body_timeout", "soon", "must be a duration like 30s or 2m, got 'soon'"},
  };
  for (const auto& c : bad) {
    const ServerOptions before = o;
    auto st = SetServerLimit(o, c.key, c.value);
    ASSERT_FALSE(st.has_value()) << c.key << "=" << c.value;
    EXPECT_EQ(st.error().code, ErrorCode::kInvalidArgument);
    EXPECT_EQ(st.error().message, c.message);
    EXPECT_EQ(o.body_limit_bytes, before.body_limit_bytes);
    EXPECT_EQ(o.header_limit_bytes, before.header_limit_bytes);
    EXPECT_EQ(o.idle_timeout, before.idle_timeout);
    EXPECT_EQ(o.header_timeout, before.header_timeout);
    EXPECT_EQ(o.body_timeout, before.body_timeout);
  }
  EXPECT_EQ(SetServerLimit(o, "http_threads", "4").error().code, ErrorCode::kNotFound);
}

}  // namespace
}  // namespace duende::http
