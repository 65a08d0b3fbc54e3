// The server's connection limits: head size, and the idle, head and body
// deadlines that keep idle and slow clients (slowloris) from holding
// connections. Deadlines here are short so the tests are quick; the bounds
// the tests wait for are generous (they assert what happens, not when).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "http/http.h"
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
