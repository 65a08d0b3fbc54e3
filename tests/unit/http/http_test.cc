#include "http/http.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <atomic>
#include <future>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace duende::http {
namespace {

TEST(RouterTest, MatchesParamsAndAnswers404And405AsJson) {
  Router router;
  router.Add("POST", "/tasks/{id}/update", [](Request& r) { return Response::Text(200, "update " + r.params[0]); });
  router.Add("GET", "/a", [](Request&) { return Response::Text(200, "a"); });
  Request r;
  r.method = "POST";
  r.path = "/tasks/abc/update";
  EXPECT_EQ(router.Dispatch(r).body, "update abc");
  r.path = "/tasks/abc/nope";
  auto nf = router.Dispatch(r);
  EXPECT_EQ(nf.status, 404);
  EXPECT_TRUE(nlohmann::json::parse(nf.body).contains("message"));
  r.method = "DELETE";
  r.path = "/a";
  EXPECT_EQ(router.Dispatch(r).status, 405);
}

TEST(RouterTest, GuardSeesTheMatchedRouteAndCanRefuseBeforeTheHandler) {
  Router router;
  int handled = 0;
  router.Add("GET", "/jobs/{id}", [&](Request&) {
    ++handled;
    return Response::Text(200, "job");
  });
  std::vector<std::string> guarded;
  router.SetGuard([&](Request& r) -> std::optional<Response> {
    guarded.push_back(r.route + " " + r.params.at(0));
    if (r.Header("authorization").empty()) return Response::Message(401, "log in");
    return std::nullopt;
  });
  Request r;
  r.method = "GET";
  r.path = "/jobs/j1";
  EXPECT_EQ(router.Dispatch(r).status, 401);
  EXPECT_EQ(handled, 0) << "a refused request never reaches its handler";
  r.headers.emplace_back("authorization", "Bearer x");
  EXPECT_EQ(router.Dispatch(r).body, "job");
  EXPECT_EQ(handled, 1);
  r.path = "/nope";
  EXPECT_EQ(router.Dispatch(r).status, 404);
  EXPECT_EQ(guarded, (std::vector<std::string>{"/jobs/{id} j1", "/jobs/{id} j1"})) << "unmatched paths skip the guard";
  EXPECT_EQ(router.Routes(), (std::vector<std::pair<std::string, std::string>>{{"GET", "/jobs/{id}"}}));
}

TEST(HttpTest, QueryAndPercentDecoding) {
  Request r;
  r.query = "status=queued&name=a%20b+c&flag";
  EXPECT_EQ(*r.Query("status"), "queued");
  EXPECT_EQ(*r.Query("name"), "a b c");
  EXPECT_EQ(*r.Query("flag"), "");
  EXPECT_FALSE(r.Query("missing").has_value());
  EXPECT_EQ(PercentDecode("/a%2Fb+c"), "/a/b+c");
  EXPECT_EQ(PercentDecode("%zz%4"), "%zz%4");
  EXPECT_EQ(PercentEncode("a b/c"), "a%20b%2Fc");
}

TEST(HttpTest, ParseListen) {
  EXPECT_EQ(ParseListen("127.0.0.1:8080")->second, 8080);
  EXPECT_EQ(ParseListen(":80")->first, "0.0.0.0");
  EXPECT_EQ(ParseListen("[::1]:9")->first, "::1");
  EXPECT_FALSE(ParseListen("localhost").has_value());
  EXPECT_FALSE(ParseListen("a:99999").has_value());
  EXPECT_FALSE(ParseListen("a:8x").has_value());
}

TEST(HttpTest, ServerAndClientTalk) {
  Router router;
  router.Add("POST", "/echo", [](Request& r) {
    return Response::Json(200, nlohmann::json{{"body", r.body}, {"ua", r.Header("user-agent")}});
  });
  ServerOptions opts;
  opts.body_limit_bytes = 1000;
  Server server(opts, [&](Request& r) { return router.Dispatch(r); });
  auto port = server.Start();
  ASSERT_TRUE(port.has_value());
  auto client = MakeCurlClient("test-agent/1");
  ClientRequest req;
  req.method = "POST";
  req.url = "http://127.0.0.1:" + std::to_string(*port) + "/echo";
  req.body = "hello";
  for (int i = 0; i < 3; ++i) {  // keep-alive reuse
    auto resp = client->Send(req);
    ASSERT_TRUE(resp.has_value());
    EXPECT_EQ(resp->status, 200);
    auto j = nlohmann::json::parse(resp->body);
    EXPECT_EQ(j["body"], "hello");
    EXPECT_EQ(j["ua"], "test-agent/1");
  }
  req.body = std::string(2000, 'x');
  auto big = client->Send(req);
  ASSERT_TRUE(big.has_value());
  EXPECT_EQ(big->status, 413);
  server.Stop();
  auto down = client->Send(req);
  ASSERT_FALSE(down.has_value());
  EXPECT_EQ(down.error().code, ErrorCode::kUnavailable);
}

// Each connection lives on one I/O thread for its whole life, and a new one
// goes to the thread with the fewest: a handler that blocks its thread
// stalls only the connections on that thread.
TEST(HttpTest, ConnectionsSpreadOverTheIoThreadsAndStayOnTheirs) {
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<bool> blocking{false};
  std::mutex mu;
  std::set<std::thread::id> seen;
  Server server(ServerOptions{.threads = 2}, [&](Request& r) {
    {
      std::lock_guard lock(mu);
      seen.insert(std::this_thread::get_id());
    }
    if (r.path == "/block") {
      blocking = true;
      released.wait();
    }
    std::ostringstream id;
    id << std::this_thread::get_id();
    return Response::Text(200, id.str());
  });
  auto port = server.Start();
  ASSERT_TRUE(port.has_value());
  const std::string base = "http://127.0.0.1:" + std::to_string(*port);
  ClientRequest ping{.url = base + "/thread"};

  // A keep-alive connection is served by the same thread every time.
  auto first = MakeCurlClient("test");
  auto a = first->Send(ping);
  ASSERT_TRUE(a.has_value());
  for (int i = 0; i < 5; ++i) {
    auto again = first->Send(ping);
    ASSERT_TRUE(again.has_value());
    EXPECT_EQ(again->body, a->body);
  }
  // The second connection (while the first stays open) goes to the other thread.
  auto second = MakeCurlClient("test");
  auto b = second->Send(ping);
  ASSERT_TRUE(b.has_value());
  EXPECT_NE(b->body, a->body);

  // The first connection's thread blocks in a handler: the second
  // connection is still answered.
  auto blocked = std::async(std::launch::async, [&] { return first->Send(ClientRequest{.url = base + "/block"}); });
  for (int i = 0; i < 1000 && !blocking; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  if (!blocking) {
    release.set_value();  // lets the request end before failing
    FAIL() << "the blocking request never reached its handler";
  }
  auto meanwhile = second->Send(ping);
  ASSERT_TRUE(meanwhile.has_value());
  EXPECT_EQ(meanwhile->body, b->body);
  EXPECT_EQ(blocked.wait_for(std::chrono::seconds(0)), std::future_status::timeout);
  release.set_value();
  auto unblocked = blocked.get();
  ASSERT_TRUE(unblocked.has_value());
  EXPECT_EQ(unblocked->body, a->body);
  std::lock_guard lock(mu);
  EXPECT_EQ(seen.size(), 2u);
}

}  // namespace
}  // namespace duende::http
