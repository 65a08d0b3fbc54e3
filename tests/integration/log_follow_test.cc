// Task logs end to end: a real duende-worker runs a task that prints lines
// slowly while a client follows the log live over Server-Sent Events; then
// the v2 /logfile URL and the `duende log` CLI serve the finished log.
#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <thread>

#include "support/farm.h"
#include "support/temp_dir.h"

namespace duende::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

TEST(LogFollowIntegrationTest, FollowerReceivesTheLinesOfARunningTaskInOrder) {
  TempDir dir;
  ManagerProcess manager(dir / "manager");
  ASSERT_FALSE(manager.url().empty()) << manager.process().Log();
  const std::string job = manager.SubmitJob(
      {{"name", "counting"},
       {"job_type", "exec-command"},
       {"settings", {{"cmd", "sh -c 'for i in 1 2 3 4 5; do echo line$i; sleep 0.3; done'"}}}});
  ASSERT_FALSE(job.empty());
  std::string task;
  ASSERT_TRUE(WaitFor(
      [&] {
        auto tasks = manager.Get("/api/jobs/" + job + "/tasks")["tasks"];
        if (tasks.empty()) return false;
        task = tasks[0]["_id"];
        return true;
      },
      10s));

  // Follow before the worker exists, so every line arrives live.
  std::mutex mu;
  std::condition_variable cv;
  std::string stream;
  bool done = false;
  int status = 0;
  std::thread reader([&] {
    for (int attempt = 0; attempt < 100; ++attempt) {
      http::ClientRequest req;
      req.url = manager.url() + "/api/tasks/" + task + "/log/follow?offset=0";
      manager.Authorize(req);
      req.timeout_ms = 60000;
      auto r = http::StreamRequest(req, "integration-test", [&](std::string_view d) {
        std::lock_guard lock(mu);
        stream.append(d);
        cv.notify_all();
        return true;
      });
      // 404 until the Manager's task cache has downloaded the new job.
      if (r && r->status == 404) {
        std::this_thread::sleep_for(100ms);
        continue;
      }
      std::lock_guard lock(mu);
      status = r ? r->status : -1;
      break;
    }
    std::lock_guard lock(mu);
    done = true;
    cv.notify_all();
  });
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, 15s, [&] { return stream.find("retry:") != std::string::npos || done; }));
  }
  WorkerProcess worker(manager.url(), dir / "w1", "w1",
                       {"--task-types", "debug", "--poll-interval", "200ms", "--push-log-max-entries", "1",
                        "--push-log-interval", "200ms", "--push-activity-interval", "200ms"});
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, 60s, [&] { return done; })) << stream << "\n" << worker.process().Log();
  }
  reader.join();
  EXPECT_EQ(status, 200);
  // Lines arrive in order, each once, then the end event.
  size_t pos = 0;
  for (int i = 1; i <= 5; ++i) {
    const std::string line = "> line" + std::to_string(i) + "\n";
    const size_t at = stream.find(line, pos);
    ASSERT_NE(at, std::string::npos) << "missing " << line << " after " << pos << " in:\n" << stream;
    EXPECT_EQ(stream.find(line, at + 1), std::string::npos) << "repeated " << line;
    pos = at;
  }
  const size_t end = stream.find("event: end\ndata: {\"status\":\"completed\"}");
  EXPECT_NE(end, std::string::npos) << stream;
  EXPECT_GT(end, pos);
  EXPECT_NE(stream.find("Manager assigned task"), std::string::npos);

  // The finished log through the v2 URL (whole: it is small) ...
  auto client = http::MakeCurlClient("Mozilla/5.0");
  http::ClientRequest logfile{"GET", manager.url() + "/logfile/" + job + "/" + task};
  manager.Authorize(logfile);
  auto r = client->Send(logfile);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
  EXPECT_NE(r->body.find("> line5"), std::string::npos) << r->body;
  // ... and through the CLI binary.
  Process cli({BinPath("duende"), "--manager", manager.url(), "--token-file", manager.token_file(), "log", task},
              dir / "cli.log");
  auto rc = cli.Wait(30s);
  ASSERT_TRUE(rc.has_value());
  EXPECT_EQ(*rc, 0) << cli.Log();
  // (The log may have grown meanwhile: compare what both had.)
  const std::string cli_out = cli.Log();
  EXPECT_EQ(cli_out.substr(0, r->body.size()), r->body.substr(0, cli_out.size()));
  EXPECT_NE(cli_out.find("> line5"), std::string::npos) << cli_out;
}

}  // namespace
}  // namespace duende::testing
