// End to end: the Blender add-on (addon/duende) installed into Debian's
// Blender, driven headless by tests/e2e/addon_test.py, submits the saved file
// to a real Manager and a real worker renders it.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "support/farm.h"
#include "support/temp_dir.h"

namespace duende::testing {
namespace {

using namespace std::chrono_literals;

TEST(AddonE2ETest, SubmitsTheSavedFileFromBlenderAndTheFarmRendersIt) {
  TempDir dir;
  ManagerProcess manager(dir / "manager");
  ASSERT_FALSE(manager.url().empty()) << manager.process().Log();
  WorkerProcess worker(manager.url(), dir / "worker", "w1");

  const std::string work = dir / "artist";
  std::filesystem::create_directories(work);
  // The add-on is installed into a scripts folder of the test's own, not
  // the user's Blender configuration.
  Process blender({"/usr/bin/blender", "-b", "--factory-startup", "--python-exit-code", "1", "--python",
                   std::string(DUENDE_SOURCE_DIR) + "/tests/e2e/addon_test.py", "--", DUENDE_SOURCE_DIR, manager.url(),
                   manager.token_file(), work},
                  dir / "blender.log", {"BLENDER_USER_SCRIPTS=" + (dir / "blender-scripts")});
  const auto exit_code = blender.Wait(180s);
  ASSERT_EQ(exit_code, 0) << blender.Log() << "\n" << worker.process().Log();

  std::string job_id;
  std::ifstream(work + "/job-id") >> job_id;
  ASSERT_EQ(job_id.size(), 24u) << blender.Log();
  EXPECT_NE(blender.Log().find("Info: Duende: submitted job " + job_id), std::string::npos) << blender.Log();

  // The errors before it submitted nothing: this is the only job.
  const auto jobs = manager.Get("/api/jobs");
  ASSERT_TRUE(jobs.is_object()) << manager.process().Log();
  ASSERT_EQ(jobs["jobs"].size(), 1u) << jobs.dump(2);
  const auto job = jobs["jobs"][0];
  EXPECT_EQ(job["_id"], job_id);
  EXPECT_EQ(job["name"], "shot");
  EXPECT_EQ(job["job_type"], "blender-render");
  EXPECT_EQ(job["priority"], 60);
  EXPECT_EQ(job["settings"]["filepath"], work + "/shot.blend");
  EXPECT_EQ(job["settings"]["frames"], "1-4");
  EXPECT_EQ(job["settings"]["chunk_size"], 4);
  EXPECT_EQ(job["settings"]["format"], "PNG");
  ASSERT_TRUE(manager.WaitForJobStatus(job_id, "completed", 60s))
      << manager.Get("/api/jobs/" + job_id + "/tasks").dump(2) << "\n"
      << worker.process().Log();
  EXPECT_EQ(manager.Get("/api/jobs/" + job_id + "/tasks")["tasks"].size(), 3u)  // render, video, move
      << manager.Get("/api/jobs/" + job_id + "/tasks").dump(2);

  for (int frame = 1; frame <= 4; ++frame) {
    const std::string png = work + "/render/shot/frame-00000" + std::to_string(frame) + ".png";
    EXPECT_TRUE(std::filesystem::exists(png)) << png;
  }
}

}  // namespace
}  // namespace duende::testing
