// Failure handling with the real binaries: a worker whose renders always
// fail gets blacklisted while the others finish the job; a frozen worker
// times out, its task is finished elsewhere, and its late updates change
// nothing.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "support/farm.h"
#include "support/farm_audit.h"
#include "support/temp_dir.h"

namespace duende::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

// A stand-in `blender` on PATH: writes the frames it is asked for and says
// "Saved:" like Blender does; the broken one always exits 1.
void WriteFakeBlender(const std::string& dir, bool broken) {
  std::filesystem::create_directories(dir);
  const std::string path = dir + "/blender";
  std::ofstream f(path);
  if (broken) {
    f << "#!/bin/sh\necho 'Error: GPU driver crashed (simulated)'\nexit 1\n";
  } else {
    f << R"(#!/usr/bin/env python3
import os, sys, time
args = sys.argv[1:]
out = args[args.index("--render-output") + 1]
frames = args[args.index("--render-frame") + 1]
numbers = []
for part in frames.split(","):
    a, _, b = part.partition("..")
    numbers += range(int(a), int(b or a) + 1)
for n in numbers:
    hashes = out.count("#")
    name = out.replace("#" * hashes, str(n).zfill(hashes)) + ".exr"
    os.makedirs(os.path.dirname(name), exist_ok=True)
    time.sleep(0.2)
    open(name, "w").write("frame %d\n" % n)
    print("Fra:%d Mem:1M | Rendering" % n, flush=True)
    print("Saved: '%s'" % name, flush=True)
)";
  }
  f.close();
  chmod(path.c_str(), 0755);
}

std::string PathWith(const std::string& dir) { return "PATH=" + dir + ":" + std::string(getenv("PATH")); }

TEST(FailureIntegrationTest, WorkerWhoseTasksAlwaysFailIsBlacklistedAndOthersFinishTheJob) {
  TempDir dir;
  WriteFakeBlender(dir / "good-bin", false);
  WriteFakeBlender(dir / "bad-bin", true);
  std::ofstream(dir / "shot.blend") << "not really a blend file";
  ManagerProcess manager(dir / "manager");
  ASSERT_FALSE(manager.url().empty()) << manager.process().Log();
  const std::vector<std::string> args = {"--task-types", "blender-render file-management", "--poll-interval",
                                         "200ms", "--may-i-run-interval", "1s"};
  WorkerProcess bad(manager.url(), dir / "bad", "bad", args, {PathWith(dir / "bad-bin")});
  WorkerProcess good1(manager.url(), dir / "good1", "good1", args, {PathWith(dir / "good-bin")});
  WorkerProcess good2(manager.url(), dir / "good2", "good2", args, {PathWith(dir / "good-bin")});
  ASSERT_TRUE(WaitFor([&] { return manager.Get("/api/workers")["workers"].size() == 3; }, 20s));
  const std::string job = manager.SubmitJob({{"name", "flaky"},
                                             {"job_type", "blender-render"},
                                             {"settings",
                                              {{"filepath", dir / "shot.blend"},
                                               {"render_output", dir / "render/flaky/frame-######"},
                                               {"frames", "1-12"},
                                               {"chunk_size", 1},
                                               {"format", "OPEN_EXR"}}}});
  ASSERT_FALSE(job.empty());
  ASSERT_TRUE(manager.WaitForJobStatus(job, "completed", 120s))
      << manager.Get("/api/jobs/" + job).dump() << "\n"
      << manager.Get("/api/jobs/" + job + "/tasks").dump(1);

  std::string bad_id;
  const json workers = manager.Get("/api/workers");
  for (const auto& w : workers["workers"])
    if (w["nickname"] == "bad") bad_id = w["_id"];
  const auto blacklist = manager.Get("/api/blacklist?worker=" + bad_id)["blacklist"];
  ASSERT_EQ(blacklist.size(), 1u) << blacklist.dump();
  EXPECT_EQ(blacklist[0]["job_id"], job);
  EXPECT_EQ(blacklist[0]["task_type"], "blender-render");
  const auto tasks = manager.Get("/api/jobs/" + job + "/tasks")["tasks"];
  int failed_by_bad = 0;
  for (const auto& t : tasks) {
    EXPECT_EQ(t["status"], "completed") << t.dump();
    if (t["task_type"] == "blender-render") {
      EXPECT_EQ(t["worker"].get<std::string>().find("(bad)"), std::string::npos) << t.dump();
    }
    for (const auto& f : t["failed_by_workers"]) failed_by_bad += f["id"] == bad_id;
  }
  EXPECT_GE(failed_by_bad, 3) << "blacklisted at the third failure\n" << tasks.dump(1);
  int frames = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir / "render/flaky"))
    frames += e.path().extension() == ".exr";
  EXPECT_EQ(frames, 12);
}

TEST(FailureIntegrationTest, FrozenWorkerTimesOutAndItsLateUpdatesChangeNothing) {
  TempDir dir;
  ManagerProcess manager(dir / "manager",
                         "active_worker_timeout_interval: 2s\n"
                         "active_task_timeout_interval: 1m\n"
                         "timeout_startup_grace: 0\n"
                         "timeout_check_interval: 250ms\n");
  ASSERT_FALSE(manager.url().empty()) << manager.process().Log();
  const std::vector<std::string> args = {"--task-types",         "sleep", "--poll-interval", "200ms",
                                         "--may-i-run-interval", "500ms", "--log-level",     "debug"};
  const std::string job =
      manager.SubmitJob({{"name", "nap"},
                         {"job_type", "sleep"},
                         {"settings", {{"frames", "1"}, {"chunk_size", 1}, {"time_in_seconds", 3}}}});
  WorkerProcess frozen(manager.url(), dir / "frozen", "frozen", args);
  std::string task_id;
  ASSERT_TRUE(WaitFor(
      [&] {
        const auto tasks = manager.Get("/api/jobs/" + job + "/tasks");
        if (!tasks.is_object() || tasks["tasks"].empty() || tasks["tasks"][0]["status"] != "active") return false;
        task_id = tasks["tasks"][0]["_id"];
        return true;
      },
      30s));
  frozen.process().Signal(SIGSTOP);
  WorkerProcess thawed_later(manager.url(), dir / "other", "other", args);
  ASSERT_TRUE(manager.WaitForJobStatus(job, "completed", 60s)) << manager.Get("/api/jobs/" + job + "/tasks").dump();
  const json done = manager.Get("/api/tasks/" + task_id);
  EXPECT_NE(done["worker"].get<std::string>().find("(other)"), std::string::npos) << done.dump();

  frozen.process().Signal(SIGCONT);
  // The thawed worker finishes its sleep and reports; the Manager refuses
  // (409) and the task stays as the other worker left it.
  EXPECT_TRUE(WaitFor([&] { return frozen.process().Log().find("answered 409") != std::string::npos; }, 10s))
      << frozen.process().Log();
  const json after = manager.Get("/api/tasks/" + task_id);
  EXPECT_EQ(after["status"], "completed");
  EXPECT_EQ(after["worker"], done["worker"]);
  EXPECT_EQ(manager.Get("/api/jobs/" + job)["status"], "completed");
  EXPECT_TRUE(frozen.process().running()) << "a refused update is dropped, not fatal";
  // The store agrees: the task was completed once, by the other worker, and
  // every update either worker was told was accepted is there (issue 9).
  const FarmAudit audit =
      AuditFarm(dir / "manager", job, {{"frozen", dir / "frozen/worker.log"}, {"other", dir / "other/worker.log"}});
  EXPECT_TRUE(audit.Clean(1)) << audit.Summary();
  EXPECT_EQ(audit.acknowledged_completions, 1) << audit.Summary();
}

}  // namespace
}  // namespace duende::testing
