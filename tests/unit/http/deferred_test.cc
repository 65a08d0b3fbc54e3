// Deferred responses (long poll): completed later from another thread, sent
// on the same keep-alive connection, while the I/O threads stay free.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "http/http.h"

namespace duende::http {
namespace {

using namespace std::chrono_literals;

TEST(DeferredTest, CompleteBeforeSinkIsDeliveredWhenTheSinkArrives) {
  Deferred d;
  EXPECT_TRUE(d.Complete(Response::Text(200, "early")));
  EXPECT_FALSE(d.Complete(Response::Text(500, "late")));
  std::string got;
  d.SetSink([&](Response r) { got = r.body; });
  EXPECT_EQ(got, "early");
}

TEST(DeferredTest, ParkedRequestsDoNotHoldTheIoThreads) {
  std::mutex mu;
  std::vector<std::shared_ptr<Deferred>> parked;
  ServerOptions options;
  options.threads = 1;  // one I/O thread: a blocking handler would stall "/now"
  Server server(options, [&](Request& r) -> Response {
    if (r.path == "/now") return Response::Text(200, "now");
    Response resp;
    resp.deferred = std::make_shared<Deferred>();
    std::lock_guard lock(mu);
    parked.push_back(resp.deferred);
    return resp;
  });
  auto port = server.Start();
  ASSERT_TRUE(port.has_value());
  const std::string base = "http://127.0.0.1:" + std::to_string(*port);

  std::atomic<int> waited_status{0};
  std::string waited_body;
  std::thread waiter([&] {
    auto client = MakeCurlClient("test");
    ClientRequest req;
    req.method = "POST";
    req.url = base + "/wait";
    auto r = client->Send(req);
    ASSERT_TRUE(r.has_value());
    waited_body = r->body;
    // Keep-alive: the same handle (and connection) serves the next request.
    req.url = base + "/now";
    auto again = client->Send(req);
    ASSERT_TRUE(again.has_value());
    EXPECT_EQ(again->body, "now");
    waited_status = r->status;
  });
  auto client = MakeCurlClient("test");
  for (int i = 0; i < 100; ++i) {
    {
      std::lock_guard lock(mu);
      if (!parked.empty()) break;
    }
    std::this_thread::sleep_for(10ms);
  }
  ClientRequest now;
  now.url = base + "/now";
  auto r = client->Send(now);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->body, "now");  // answered while the other request is parked
  EXPECT_EQ(waited_status.load(), 0);
  {
    std::lock_guard lock(mu);
    ASSERT_EQ(parked.size(), 1u);
    parked[0]->Complete(Response::Text(200, "later"));
  }
  waiter.join();
  EXPECT_EQ(waited_status.load(), 200);
  EXPECT_EQ(waited_body, "later");
}

}  // namespace
}  // namespace duende::http
