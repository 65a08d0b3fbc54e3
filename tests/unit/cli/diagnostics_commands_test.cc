// `duende explain` and `duende blacklist` against an in-process fake manager.
#include "cli/diagnostics_commands.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/cli.h"
#include "fake_manager.h"

namespace duende::cli {
namespace {

using nlohmann::json;
using testing::FakeManager;
using testing::StepClock;

constexpr const char* kTask = "5f00000000000000000000aa";
constexpr const char* kWorker = "5f00000000000000000000bb";
constexpr const char* kJob = "5f00000000000000000000cc";

class DiagnosticsCommandsTest : public ::testing::Test {
 protected:
  void SetUp() override { client_ = http::MakeCurlClient("cli-test"); }
  int Run(std::vector<std::string> args) {
    std::vector<std::string> storage = {"duende", "--manager", manager_.url()};
    storage.insert(storage.end(), args.begin(), args.end());
    std::vector<const char*> argv;
    for (const auto& a : storage) argv.push_back(a.c_str());
    out_.str("");
    err_.str("");
    return RunCli(static_cast<int>(argv.size()), argv.data(), out_, err_, *client_, clock_);
  }
  FakeManager manager_;
  StepClock clock_;
  std::unique_ptr<http::Client> client_;
  std::ostringstream out_, err_;
};

TEST_F(DiagnosticsCommandsTest, ExplainPrintsTheVerdictPerWorker) {
  manager_.OnJson("GET", "/api/tasks/{id}/explain", 200,
                  {{"task_id", kTask},
                   {"name", "render-1-10"},
                   {"status", "soft-failed"},
                   {"task_type", "blender-render"},
                   {"summary", "waiting: no worker can run it right now"},
                   {"task_reasons", json::array()},
                   {"workers",
                    {{{"worker_id", kWorker},
                      {"identifier", "10.0.0.2 (node2)"},
                      {"status", "awake"},
                      {"could_run", false},
                      {"reason", "failed this task before"}}}}});
  manager_.Start();
  ASSERT_EQ(Run({"explain", kTask}), kExitOk) << err_.str();
  EXPECT_NE(out_.str().find("waiting: no worker can run it right now"), std::string::npos) << out_.str();
  EXPECT_NE(out_.str().find("failed this task before"), std::string::npos);
  EXPECT_NE(out_.str().find("10.0.0.2 (node2)"), std::string::npos);
}

TEST_F(DiagnosticsCommandsTest, ExplainOfUnknownTaskIsOneLineAndExit1) {
  manager_.OnJson("GET", "/api/tasks/{id}/explain", 404, {{"message", "task x is not known to this Manager"}});
  manager_.Start();
  EXPECT_EQ(Run({"explain", kTask}), kExitFailed);
  EXPECT_EQ(err_.str(), "duende: error: task x is not known to this Manager (HTTP 404)\n");
}

TEST_F(DiagnosticsCommandsTest, BlacklistListsWithFiltersAndForgets) {
  manager_.OnJson("GET", "/api/blacklist", 200,
                  {{"blacklist",
                    {{{"worker_id", kWorker},
                      {"job_id", kJob},
                      {"task_type", "blender-render"},
                      {"_created", "2026-11-27T10:00:00.000000Z"}}}}});
  manager_.On("POST", "/api/blacklist/forget", [](http::Request&) { return http::Response::NoContent(); });
  manager_.Start();
  ASSERT_EQ(Run({"blacklist", "--worker", kWorker}), kExitOk) << err_.str();
  EXPECT_NE(out_.str().find("blender-render"), std::string::npos) << out_.str();
  EXPECT_EQ(manager_.requests("GET").back().query, std::string("worker=") + kWorker);
  ASSERT_EQ(Run({"blacklist", "forget", kWorker, kJob, "blender-render"}), kExitOk) << err_.str();
  EXPECT_EQ(manager_.requests("POST").back().Json(),
            (json{{"worker_id", kWorker}, {"job_id", kJob}, {"task_type", "blender-render"}}));
  EXPECT_EQ(Run({"blacklist", "forget", kWorker}), kExitUsage);
}

}  // namespace
}  // namespace duende::cli
