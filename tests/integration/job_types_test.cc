// A data-defined job type end to end: the real duende-manager loads it from
// its job types directory, a real duende-worker runs its chunk tasks and
// the task that depends on them, and the real CLI reloads the directory.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "support/farm.h"
#include "support/temp_dir.h"

namespace duende::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

// Each chunk writes a file; the last task runs only after all of them.
constexpr const char* kWriteChunks = R"(
name: write-chunks
label: Write chunks
settings:
  - {key: out, type: path, required: true}
  - {key: frames, type: frames, required: true}
  - {key: chunk_size, type: integer, default: 2, min: 1}
  - {key: greeting, type: string, default: hello}
chunking: {frames: frames, chunk_size: chunk_size}
tasks:
  - id: write
    name: 'write-{chunk.frames}'
    type: file-management
    per_chunk: true
    commands:
      - name: create_python_file
        parameters:
          filepath: '{out}/chunk-{chunk.first}-{chunk.last}.py'
          contents: '# {greeting} {chunk.frames}'
  - id: list
    type: debug
    depends_on: [write]
    commands:
      - name: exec
        parameters: {cmd: 'ls {out}/chunk-1-2.py {out}/chunk-3-4.py {out}/chunk-5-5.py'}
      - name: exec
        parameters: {cmd: 'touch {out}/all-{job.frame_count}-frames-done'}
)";

std::string Contents(const std::string& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST(JobTypesIntegrationTest, DataDefinedJobRunsOnARealWorker) {
  TempDir dir;
  const std::string types = dir / "types";
  const std::string out = dir / "out";
  std::filesystem::create_directories(types);
  std::filesystem::create_directories(out);
  std::ofstream(types + "/write-chunks.yaml") << kWriteChunks;
  ManagerProcess manager(dir / "manager", "job_types_dir: " + types + "\n");
  ASSERT_FALSE(manager.url().empty()) << manager.process().Log();
  EXPECT_EQ(manager.Get("/api/job-types/write-chunks")["source"], "file");

  WorkerProcess worker(manager.url(), dir / "worker", "w1",
                       {"--task-types", "file-management debug", "--poll-interval", "200ms"});
  const std::string job = manager.SubmitJob(
      {{"name", "chunks"}, {"job_type", "write-chunks"}, {"settings", {{"out", out}, {"frames", "1-5"}}}});
  ASSERT_FALSE(job.empty());
  ASSERT_TRUE(manager.WaitForJobStatus(job, "completed", 60s))
      << manager.Get("/api/jobs/" + job + "/tasks").dump(1) << "\n"
      << worker.process().Log();
  EXPECT_EQ(manager.Get("/api/jobs/" + job)["settings"]["greeting"], "hello");
  EXPECT_EQ(Contents(out + "/chunk-1-2.py"), "# hello 1,2");
  EXPECT_EQ(Contents(out + "/chunk-5-5.py"), "# hello 5");
  EXPECT_TRUE(std::filesystem::exists(out + "/all-5-frames-done"));
  EXPECT_EQ(manager.Get("/api/jobs/" + job + "/tasks")["tasks"].size(), 4u);
}

TEST(JobTypesIntegrationTest, CliListsAndReloadsJobTypes) {
  TempDir dir;
  const std::string types = dir / "types";
  std::filesystem::create_directories(types);
  ManagerProcess manager(dir / "manager", "job_types_dir: " + types + "\n");
  ASSERT_FALSE(manager.url().empty()) << manager.process().Log();
  auto cli = [&](std::vector<std::string> args, const std::string& log) {
    std::vector<std::string> argv{BinPath("duende"), "--manager", manager.url(), "--token-file", manager.token_file()};
    argv.insert(argv.end(), args.begin(), args.end());
    Process p(argv, dir / log);
    auto code = p.Wait(20s);
    return std::pair{code.value_or(-1), p.Log()};
  };
  std::ofstream(types + "/write-chunks.yaml") << kWriteChunks;
  std::ofstream(types + "/bad.yaml") << "name: bad\n";

  auto [code, text] = cli({"job-types", "reload"}, "reload.log");
  EXPECT_EQ(code, 1) << text;
  EXPECT_NE(text.find("loaded 1 job types from " + types + ": write-chunks"), std::string::npos) << text;
  EXPECT_NE(text.find("skipped " + types + "/bad.yaml: 'tasks' must be a non-empty list"), std::string::npos) << text;
  EXPECT_NE(text.find("duende: error: 1 job type file(s) skipped"), std::string::npos) << text;

  std::filesystem::remove(types + "/bad.yaml");
  std::tie(code, text) = cli({"job-types", "reload"}, "reload2.log");
  EXPECT_EQ(code, 0) << text;

  std::tie(code, text) = cli({"job-types"}, "list.log");
  EXPECT_EQ(code, 0) << text;
  EXPECT_NE(text.find("write-chunks    file     Write chunks"), std::string::npos) << text;
  std::tie(code, text) = cli({"job-types", "show", "write-chunks"}, "show.log");
  EXPECT_EQ(code, 0) << text;
  EXPECT_NE(text.find("chunk_size  integer >= 1  no        2"), std::string::npos) << text;
  std::tie(code, text) = cli({"job-types", "show", "nope"}, "nope.log");
  EXPECT_EQ(code, 1) << text;
  EXPECT_NE(text.find("duende: error: job type 'nope' not found"), std::string::npos) << text;
}

}  // namespace
}  // namespace duende::testing
