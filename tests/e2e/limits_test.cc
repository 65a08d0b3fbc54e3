// Resource limits end to end (issue 9 §5): a real Manager with 2,000 idle
// connections and 100 connections trickling a request head one byte at a
// time still serves a real worker, and closes the idle and slow connections
// itself once their deadlines pass. No timings are asserted; the test
// prints them (docs/reliability.md, "Resource limits").
#include <gtest/gtest.h>
#include <poll.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>

#include "common/fd_limit.h"
#include "support/farm.h"
#include "support/raw_socket.h"
#include "support/temp_dir.h"

namespace duende::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

constexpr int kIdle = 2000;
constexpr int kSlow = 100;
// The Manager's deadlines in this test: long enough that the job below
// normally runs while every connection is still open.
constexpr const char* kConfig = "http_idle_timeout: 10s\nhttp_header_timeout: 10s\n";
// Only a Manager that never hangs up makes the test wait this long.
constexpr auto kGenerous = 90s;

double SecondsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Whether the peer has closed `fd` (without waiting).
bool ClosedNow(int fd) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, 0) <= 0) return false;
  char buf[256];
  return ::recv(fd, buf, sizeof buf, MSG_DONTWAIT) <= 0;
}

TEST(ConnectionLimitsE2ETest, ManagerServesAWorkerWhileThousandsOfIdleAndSlowConnectionsWait) {
  // This process holds 2,100 sockets too.
  auto fds = RaiseFdLimit();
  ASSERT_TRUE(fds.has_value()) << fds.error().message;
  ASSERT_GE(fds->now, uint64_t{kIdle + kSlow + 200})
      << "the open-file hard limit (" << fds->hard << ") is too low for this test; raise it (ulimit -Hn)";
  TempDir dir;
  ManagerProcess manager(dir / "manager", kConfig);
  ASSERT_FALSE(manager.url().empty()) << manager.process().Log();

  const auto t0 = std::chrono::steady_clock::now();
  std::vector<int> idle, slow;
  for (int i = 0; i < kIdle; ++i) {
    const int fd = ConnectLoopback(manager.port());
    ASSERT_GE(fd, 0) << "connection " << i;
    idle.push_back(fd);
  }
  for (int i = 0; i < kSlow; ++i) {
    const int fd = ConnectLoopback(manager.port());
    ASSERT_GE(fd, 0);
    ASSERT_TRUE(SendRaw(fd, "POST /task HTTP/1.1\r\nHost: manager\r\nX-Slow: "));
    slow.push_back(fd);
  }
  std::cout << "opened " << kIdle << " idle and " << kSlow << " slow connections in " << SecondsSince(t0) << " s\n";

  // A byte every 200 ms on each slow connection until the Manager hangs up:
  // each byte is prompt, only the head as a whole is late.
  std::vector<std::atomic<bool>> slow_closed(kSlow);
  std::atomic<bool> stop{false};
  std::thread trickler([&] {
    while (!stop) {
      for (int i = 0; i < kSlow; ++i) {
        if (slow_closed[i]) continue;
        if (!SendRaw(slow[i], "a") || ClosedNow(slow[i])) slow_closed[i] = true;
      }
      std::this_thread::sleep_for(200ms);
    }
  });

  // Meanwhile a worker runs a job.
  WorkerProcess worker(manager.url(), dir / "worker", "w1",
                       {"--task-types", "sleep", "--may-i-run-interval", "1s", "--poll-interval", "500ms"});
  const std::string job =
      manager.SubmitJob({{"name", "busy"},
                         {"job_type", "sleep"},
                         {"settings", {{"frames", "1-10"}, {"chunk_size", 1}, {"time_in_seconds", 0}}}});
  ASSERT_FALSE(job.empty());
  const bool completed = manager.WaitForJobStatus(job, "completed", kGenerous);
  const double job_s = SecondsSince(t0);
  int idle_open = 0;
  for (int fd : idle) idle_open += ClosedNow(fd) ? 0 : 1;
  int slow_open = 0;
  for (auto& c : slow_closed) slow_open += c ? 0 : 1;
  std::cout << "job of 10 tasks completed after " << job_s << " s; then " << idle_open << " idle and " << slow_open
            << " slow connections were still open\n";
  EXPECT_TRUE(completed) << manager.Get("/api/jobs/" + job).dump() << "\n" << worker.process().Log();

  // The Manager closes every idle connection...
  int idle_closed = 0;
  for (int fd : idle) idle_closed += PeerClosed(fd, kGenerous) ? 1 : 0;
  EXPECT_EQ(idle_closed, kIdle);
  std::cout << "all idle connections closed by the Manager after " << SecondsSince(t0) << " s\n";
  // ...and every slow one, although its bytes kept coming.
  WaitFor(
      [&] {
        for (auto& c : slow_closed)
          if (!c) return false;
        return true;
      },
      kGenerous);
  stop = true;
  trickler.join();
  int slow_cut = 0;
  for (auto& c : slow_closed) slow_cut += c ? 1 : 0;
  EXPECT_EQ(slow_cut, kSlow);
  std::cout << "all slow connections closed by the Manager after " << SecondsSince(t0) << " s\n";
  for (int fd : idle) ::close(fd);
  for (int fd : slow) ::close(fd);

  // And it still answers.
  EXPECT_TRUE(manager.Get("/api/health").is_object());
}

// duende-server takes the Manager's connection-limit keys as flags: the
// configured head limit and idle deadline take effect, and a bad value
// stops it at start with one line naming the flag.
TEST(ServerConnectionLimitsE2ETest, FlagsSetTheLimitsAndBadValuesStopTheStart) {
  TempDir dir;
  const std::string server_dir = dir / "server";
  std::filesystem::create_directories(server_dir);
  {
    Process bad(
        {BinPath("duende-server"), "--listen", "127.0.0.1:0", "--data-dir", server_dir, "--request-header-limit", "10"},
        server_dir + "/bad.log");
    EXPECT_EQ(bad.Wait(kGenerous), 2);
    EXPECT_NE(bad.Log().find("--request-header-limit: must be between 1024 and 1048576 bytes, got '10'"),
              std::string::npos)
        << bad.Log();
  }
  Process server({BinPath("duende-server"), "--listen", "127.0.0.1:0", "--data-dir", server_dir,
                  "--request-header-limit", "2048", "--http-idle-timeout", "1s"},
                 server_dir + "/server.log");
  const std::string url = WaitForUrlFile(server_dir + "/server.url", 20s);
  ASSERT_FALSE(url.empty()) << server.Log();
  const auto port = static_cast<uint16_t>(std::stoi(url.substr(url.rfind(':') + 1)));

  // A 4,000-byte header: over the configured 2,048 (the default is 64 KiB).
  const int big = ConnectLoopback(port);
  ASSERT_GE(big, 0);
  ASSERT_TRUE(SendRaw(big, "GET /api/health HTTP/1.1\r\nHost: s\r\nX-Big: " + std::string(4000, 'a') + "\r\n\r\n"));
  char buf[512] = {};
  ASSERT_GT(::recv(big, buf, sizeof buf - 1, 0), 0);
  EXPECT_TRUE(std::string(buf).starts_with("HTTP/1.1 431")) << buf;
  ::close(big);

  // An idle connection is closed (after 1 s; the default is 120 s, longer
  // than this test waits).
  const int idle = ConnectLoopback(port);
  ASSERT_GE(idle, 0);
  EXPECT_TRUE(PeerClosed(idle, 60s));
  ::close(idle);
  EXPECT_NE(server.Log().find("request_header_limit 2048, http_idle_timeout 1s"), std::string::npos) << server.Log();
}

}  // namespace
}  // namespace duende::testing
