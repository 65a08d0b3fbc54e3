// The dashboard's server side: static files (caching, traversal, "not
// built"), the event hub's coalescing, and the events a request implies.
#include "manager/dashboard.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <vector>

#include "support/fake_clock.h"
#include "support/temp_dir.h"

namespace duende::manager {
namespace {

std::string HeaderOf(const http::Response& r, const std::string& name) {
  for (const auto& [k, v] : r.headers)
    if (k == name) return v;
  return "";
}

class WebFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::filesystem::create_directories(dir_ / "assets");
    std::ofstream(dir_ / "index.html") << "<div id=app></div>";
    std::ofstream(dir_ / "assets/index-abc123.js") << "console.log(1)";
    std::ofstream(dir_.path() + "-secret.txt") << "secret";
  }
  void TearDown() override { std::filesystem::remove(dir_.path() + "-secret.txt"); }
  testing::TempDir dir_;
};

TEST_F(WebFilesTest, IndexIsNotCachedAndHashedAssetsAreImmutable) {
  auto index = ServeWebFile(dir_.path(), "/");
  EXPECT_EQ(index.status, 200);
  ASSERT_TRUE(index.file);
  EXPECT_EQ(index.content_type, "text/html; charset=utf-8");
  EXPECT_EQ(HeaderOf(index, "Cache-Control"), "no-cache");

  auto js = ServeWebFile(dir_.path(), "/assets/index-abc123.js");
  EXPECT_EQ(js.status, 200);
  ASSERT_TRUE(js.file);
  EXPECT_EQ(js.content_type, "text/javascript; charset=utf-8");
  EXPECT_EQ(HeaderOf(js, "Cache-Control"), "public, max-age=31536000, immutable");
}

TEST_F(WebFilesTest, ClientRoutesGetIndexMissingFilesAre404) {
  auto route = ServeWebFile(dir_.path(), "/workers");
  EXPECT_EQ(route.status, 200);
  EXPECT_EQ(HeaderOf(route, "Cache-Control"), "no-cache");
  EXPECT_EQ(ServeWebFile(dir_.path(), "/assets/missing.js").status, 404);
  EXPECT_EQ(ServeWebFile(dir_.path(), "/favicon.ico").status, 404);
}

TEST_F(WebFilesTest, PathTraversalIsRefused) {
  const std::string leaf = std::filesystem::path(dir_.path()).filename().string();
  const std::vector<std::string> paths = {"/../" + leaf + "-secret.txt", "/assets/../../etc/passwd", "/..", "/a\\..\\b",
                                          std::string("/index.html\0x", 13)};
  for (const std::string& p : paths) {
    auto r = ServeWebFile(dir_.path(), p);
    EXPECT_EQ(r.status, 400) << p;
    EXPECT_FALSE(r.file) << p;
  }
}

TEST_F(WebFilesTest, SymlinkOutOfTheWebDirIsRefused) {
  std::filesystem::create_symlink(dir_.path() + "-secret.txt", dir_ / "assets/link.txt");
  EXPECT_EQ(ServeWebFile(dir_.path(), "/assets/link.txt").status, 400);
}

TEST(WebFilesNotBuilt, AnswersAPageSayingSo) {
  for (const std::string& dir : std::vector<std::string>{"", "/nonexistent/duende/web"}) {
    auto r = ServeWebFile(dir, "/");
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.content_type, "text/html; charset=utf-8");
    EXPECT_NE(r.body.find("dashboard is not built"), std::string::npos);
  }
}

std::string Drain(http::Stream& s) {
  return s.Take([] {}).data;
}

TEST(EventHub, PublishWithoutSubscribersCostsNothing) {
  testing::FakeClock clock;
  EventHub hub(clock);
  hub.Publish("job", "j1");
  auto s = hub.Subscribe();
  Drain(*s);
  hub.Flush();
  EXPECT_EQ(Drain(*s).find("event:"), std::string::npos);  // dropped, not queued
}

TEST(EventHub, CoalescesEventsOfOneEntityPerFlush) {
  testing::FakeClock clock;
  EventHub hub(clock);
  auto s = hub.Subscribe();
  EXPECT_NE(Drain(*s).find("retry:"), std::string::npos);
  hub.Publish("task", "t1", {{"job", "j1"}});
  hub.Publish("task", "t1", {{"status", "active"}});
  hub.Publish("task", "t1", {{"status", "completed"}});
  hub.Publish("worker", "w1");
  hub.Flush();
  const std::string out = Drain(*s);
  EXPECT_EQ(out,
            "event: task\ndata: {\"id\":\"t1\",\"job\":\"j1\",\"status\":\"completed\"}\n\n"
            "event: worker\ndata: {\"id\":\"w1\"}\n\n");
  hub.Flush();
  EXPECT_EQ(Drain(*s), "");
}

TEST(EventHub, KeepAliveWhenIdleAndClosedStreamsAreDropped) {
  testing::FakeClock clock;
  EventHub hub(clock);
  auto s = hub.Subscribe();
  Drain(*s);
  clock.Advance(EventHub::kKeepAliveInterval);
  hub.Flush();
  EXPECT_EQ(Drain(*s), ": keep-alive\n\n");
  s->Close();
  hub.Flush();
  EXPECT_EQ(hub.subscribers(), 0u);
}

TEST(PublishRequestEvents, JobAndWorkerRequestsNameTheirEntity) {
  testing::FakeClock clock;
  EventHub hub(clock);
  auto s = hub.Subscribe();
  Drain(*s);
  http::Request req;
  req.method = "POST";
  req.path = "/api/jobs/0123456789abcdef01234567/status";
  req.params = {"0123456789abcdef01234567"};
  PublishRequestEvents(hub, req, http::Response{200});
  http::Request bulk;
  bulk.method = "POST";
  bulk.path = "/api/workers/status";
  bulk.body = R"({"workers": ["w1", "w2"], "status": "asleep", "lazy": true})";
  PublishRequestEvents(hub, bulk, http::Response{200});
  http::Request refused = bulk;
  refused.body = R"({"workers": ["w3"]})";
  PublishRequestEvents(hub, refused, http::Response{400});
  hub.Flush();
  const std::string out = Drain(*s);
  EXPECT_NE(out.find("event: job\ndata: {\"id\":\"0123456789abcdef01234567\"}"), std::string::npos);
  EXPECT_NE(out.find("{\"id\":\"w1\"}"), std::string::npos);
  EXPECT_NE(out.find("{\"id\":\"w2\"}"), std::string::npos);
  EXPECT_EQ(out.find("w3"), std::string::npos);
}

}  // namespace
}  // namespace duende::manager
