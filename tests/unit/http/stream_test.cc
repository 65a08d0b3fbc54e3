// Response bodies that are not one string: file slices and streams.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "http/http.h"

namespace duende::http {
namespace {

TEST(StreamTest, WriteAfterCloseFailsAndOnCloseRunsOnce) {
  Stream s;
  int closes = 0;
  s.OnClose([&] { ++closes; });
  EXPECT_TRUE(s.Write("a"));
  s.Close();
  s.Close();
  EXPECT_FALSE(s.Write("b"));
  EXPECT_EQ(closes, 1);
  auto t = s.Take(nullptr);
  EXPECT_EQ(t.data, "a");
  EXPECT_TRUE(t.closed);
  int late = 0;
  s.OnClose([&] { ++late; });  // already closed: runs at once
  EXPECT_EQ(late, 1);
}

TEST(StreamTest, OverrunClosesTheStream) {
  Stream s(10);
  EXPECT_TRUE(s.Write("12345"));
  EXPECT_FALSE(s.Write("123456"));
  EXPECT_TRUE(s.closed());
}

TEST(StreamTest, TakeArmsWakeForTheNextWrite) {
  Stream s;
  int wakes = 0;
  auto t = s.Take([&] { ++wakes; });
  EXPECT_TRUE(t.data.empty());
  EXPECT_FALSE(t.closed);
  s.Write("x");
  s.Write("y");  // the wake-up is one-shot
  EXPECT_EQ(wakes, 1);
  EXPECT_EQ(s.Take(nullptr).data, "xy");
}

class ServerBodiesTest : public ::testing::Test {
 protected:
  void Start(Handler h) {
    server_ = std::make_unique<Server>(ServerOptions{}, std::move(h));
    auto port = server_->Start();
    ASSERT_TRUE(port.has_value());
    base_ = "http://127.0.0.1:" + std::to_string(*port);
  }
  std::unique_ptr<Server> server_;
  std::string base_;
};

TEST_F(ServerBodiesTest, FileSliceIsSentWithContentLengthAndKeepAlive) {
  char name[] = "/tmp/duende-slice-XXXXXX";
  const int fd = ::mkstemp(name);
  ASSERT_GE(fd, 0);
  std::string content;
  for (int i = 0; i < 200000; ++i) content += static_cast<char>('a' + i % 26);
  ASSERT_EQ(::write(fd, content.data(), content.size()), static_cast<ssize_t>(content.size()));
  ::close(fd);
  const std::string path = name;
  Start([path](Request& r) {
    if (r.path == "/missing") {
      auto f = FileSlice::Open(path + ".nope");
      return f ? Response::Text(200, "?") : Response::FromError(f.error());
    }
    auto f = FileSlice::Open(path, 1000, 150000);
    Response resp;
    resp.content_type = "text/plain";
    resp.file = *f;
    return resp;
  });
  auto client = MakeCurlClient("t");
  for (int i = 0; i < 3; ++i) {  // the connection is reused after a file body
    auto r = client->Send({"GET", base_ + "/f"});
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, content.substr(1000, 150000));
    EXPECT_EQ(r->Header("content-length"), "150000");
  }
  EXPECT_EQ(client->Send({"GET", base_ + "/missing"})->status, 404);
  ::unlink(name);
}

TEST_F(ServerBodiesTest, StreamDeliversWritesFromAnotherThreadAndEndsOnClose) {
  std::shared_ptr<Stream> stream;
  std::atomic<bool> ready{false};
  Start([&](Request&) {
    Response r;
    r.content_type = "text/event-stream";
    r.body = "first\n";
    r.stream = std::make_shared<Stream>();
    stream = r.stream;
    ready = true;
    return r;
  });
  std::thread producer([&] {
    while (!ready) std::this_thread::yield();
    for (int i = 0; i < 100; ++i) stream->Write("piece " + std::to_string(i) + "\n");
    stream->Close();
  });
  std::string got;
  auto r = StreamRequest({"GET", base_ + "/s"}, "t", [&](std::string_view d) {
    got.append(d);
    return true;
  });
  producer.join();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->Header("transfer-encoding"), "chunked");
  std::string want = "first\n";
  for (int i = 0; i < 100; ++i) want += "piece " + std::to_string(i) + "\n";
  EXPECT_EQ(got, want);
}

TEST_F(ServerBodiesTest, ClientLeavingClosesTheStreamAndServerStopClosesTheRest) {
  std::vector<std::shared_ptr<Stream>> streams;
  std::mutex mu;
  Start([&](Request&) {
    Response r;
    r.stream = std::make_shared<Stream>();
    r.stream->Write("hello\n");
    std::lock_guard lock(mu);
    streams.push_back(r.stream);
    return r;
  });
  // The client reads the first piece and hangs up.
  auto r = StreamRequest({"GET", base_ + "/s"}, "t", [](std::string_view) { return false; });
  ASSERT_TRUE(r.has_value());
  std::shared_ptr<Stream> first;
  {
    std::lock_guard lock(mu);
    ASSERT_EQ(streams.size(), 1u);
    first = streams[0];
  }
  // The server notices asynchronously (real socket): bounded wait.
  for (int i = 0; i < 500 && !first->closed(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_TRUE(first->closed());

  std::atomic<bool> got{false};
  std::thread idle([&] {
    StreamRequest({"GET", base_ + "/s"}, "t", [&](std::string_view) {
      got = true;
      return true;
    });
  });
  while (!got) std::this_thread::yield();
  std::shared_ptr<Stream> second;
  {
    std::lock_guard lock(mu);
    second = streams.back();
  }
  server_->Stop();
  EXPECT_TRUE(second->closed());
  EXPECT_FALSE(second->Write("x"));
  idle.join();
}

}  // namespace
}  // namespace duende::http
