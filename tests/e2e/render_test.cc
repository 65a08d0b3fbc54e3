// End to end: real frames rendered by Debian's Blender and encoded by FFmpeg
// through the farm (Manager + two Workers), checked with ffprobe.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>

#include "support/farm.h"
#include "support/temp_dir.h"

namespace duende::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

std::string Shell(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  pclose(p);
  return out;
}

TEST(RenderE2ETest, BlenderFramesBecomeAVideoThroughTheFarm) {
  TempDir dir;
  const std::string blend = dir / "scene.blend";
  const std::string make_scene = "blender -b --factory-startup --python " + std::string(DUENDE_SOURCE_DIR) +
                                 "/scripts/make_demo_scene.py -- " + blend + " > " + (dir / "scene.log") + " 2>&1";
  ASSERT_EQ(std::system(make_scene.c_str()), 0) << Shell("cat " + (dir / "scene.log"));
  ASSERT_TRUE(std::filesystem::exists(blend));

  ManagerProcess manager(dir / "manager");
  ASSERT_FALSE(manager.url().empty()) << manager.process().Log();
  WorkerProcess w1(manager.url(), dir / "w1", "w1");
  WorkerProcess w2(manager.url(), dir / "w2", "w2");
  const std::string job = manager.SubmitJob({{"name", "e2e"},
                                             {"job_type", "blender-render"},
                                             {"settings",
                                              {{"filepath", blend},
                                               {"render_output", dir / "render/e2e/frame-######"},
                                               {"frames", "1-6"},
                                               {"chunk_size", 3},
                                               {"format", "PNG"},
                                               {"fps", 24},
                                               {"images_or_video", "images"},
                                               {"output_file_extension", ".png"}}}});
  ASSERT_FALSE(job.empty());
  ASSERT_TRUE(manager.WaitForJobStatus(job, "completed", 600s))
      << manager.Get("/api/jobs/" + job + "/tasks").dump(2) << "\n"
      << w1.process().Log();

  std::string video;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir / "render"))
    if (e.path().extension() == ".mkv") video = e.path();
  ASSERT_FALSE(video.empty()) << "no video under " << (dir / "render");
  int pngs = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir / "render"))
    if (e.path().extension() == ".png") ++pngs;
  EXPECT_EQ(pngs, 6);
  const std::string frames = Shell(
      "ffprobe -v error -count_frames -select_streams v:0 -show_entries "
      "stream=nb_read_frames -of csv=p=0 '" +
      video + "'");
  EXPECT_EQ(std::stoi(frames), 6) << frames;
}

// The shipped FFmpeg-only job type (job-types/frames-to-video.yaml), loaded
// from the Manager's job types directory, encodes frames made by FFmpeg.
TEST(RenderE2ETest, DataDefinedFramesToVideoJobEncodesFrames) {
  TempDir dir;
  std::filesystem::create_directories(dir / "frames");
  const std::string make_frames = "ffmpeg -v error -f lavfi -i testsrc=size=64x48:rate=4 -frames:v 5 '" +
                                  (dir / "frames") + "/f-%02d.png' > " + (dir / "ffmpeg.log") + " 2>&1";
  ASSERT_EQ(std::system(make_frames.c_str()), 0) << Shell("cat " + (dir / "ffmpeg.log"));
  ManagerProcess manager(dir / "manager", "job_types_dir: " + std::string(DUENDE_SOURCE_DIR) + "/job-types\n");
  ASSERT_FALSE(manager.url().empty()) << manager.process().Log();
  WorkerProcess worker(manager.url(), dir / "w1", "w1", {"--task-types", "video-encoding"});
  const std::string video = dir / "out/video.mp4";
  const std::string job = manager.SubmitJob(
      {{"name", "video"},
       {"job_type", "frames-to-video"},
       {"settings", {{"input_files", (dir / "frames") + "/*.png"}, {"output_file", video}, {"fps", 10}}}});
  ASSERT_FALSE(job.empty());
  ASSERT_TRUE(manager.WaitForJobStatus(job, "completed", 120s))
      << manager.Get("/api/jobs/" + job + "/tasks").dump(2) << "\n"
      << worker.process().Log();
  const std::string frames = Shell(
      "ffprobe -v error -count_frames -select_streams v:0 -show_entries "
      "stream=nb_read_frames -of csv=p=0 '" +
      video + "'");
  EXPECT_EQ(std::stoi(frames), 5) << frames;
}

}  // namespace
}  // namespace duende::testing
