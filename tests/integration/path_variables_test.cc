// Two-way path variables through the real duende-manager (spec §12.3): a
// job submitted from a Windows artist machine reaches a Linux worker and a
// Windows worker each with its own paths.
#include <gtest/gtest.h>

#include <thread>

#include "support/farm.h"
#include "support/temp_dir.h"

namespace duende::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

constexpr const char* kVariables = R"(variables:
  render:
    direction: twoway
    values:
      - {platform: linux, value: /mnt/render}
      - {platform: windows, value: 'R:\'}
  shots:
    direction: twoway
    values:
      - {platform: linux, value: /mnt/render/shots}
      - {platform: windows, value: 'R:\Shots'}
)";

// Registers with a platform and asks for tasks over the worker protocol.
class RawWorker {
 public:
  RawWorker(std::string base, const std::string& platform) : base_(std::move(base)) {
    client_ = http::MakeCurlClient("duende-tests");
    secret_ = "s3cret-" + platform;
    auto r = Send("/register-worker", json{{"secret", secret_},
                                           {"platform", platform},
                                           {"supported_task_types", {"blender-render"}},
                                           {"nickname", platform + "-box"}}
                                          .dump());
    EXPECT_EQ(r.status, 200) << r.body;
    id_ = json::parse(r.body, nullptr, false).value("_id", "");
  }

  // POST /task until a task comes (the scheduler gets new jobs
  // asynchronously); null on timeout.
  json FetchTask() {
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (std::chrono::steady_clock::now() < deadline) {
      auto r = Send("/task", "");
      if (r.status == 200) return json::parse(r.body, nullptr, false);
      EXPECT_EQ(r.status, 204) << r.body;
      std::this_thread::sleep_for(50ms);
    }
    return nullptr;
  }

 private:
  http::ClientResponse Send(const std::string& path, const std::string& body) {
    http::ClientRequest r;
    r.method = "POST";
    r.url = base_ + path;
    r.body = body;
    if (!body.empty()) r.headers.emplace_back("Content-Type", "application/json");
    if (!id_.empty()) {
      r.user = id_;
      r.password = secret_;
    }
    auto resp = client_->Send(r);
    EXPECT_TRUE(resp.has_value()) << path;
    return resp.value_or(http::ClientResponse{});
  }

  std::string base_;
  std::string id_;
  std::string secret_;
  std::unique_ptr<http::Client> client_;
};

TEST(PathVariablesIntegrationTest, WindowsSubmissionRendersOnLinuxAndWindowsWorkers) {
  TempDir dir;
  ManagerProcess manager(dir / "manager", kVariables);
  ASSERT_FALSE(manager.url().empty()) << manager.process().Log();

  const std::string job = manager.SubmitJob({{"name", "sh010"},
                                             {"job_type", "blender-render"},
                                             {"submitter_platform", "Windows"},
                                             {"settings",
                                              {{"filepath", R"(r:\shots\sh010\sh010.blend)"},
                                               {"render_output", R"(R:\out\sh010\frame-######)"},
                                               {"frames", "1-2"},
                                               {"chunk_size", 1}}}});
  ASSERT_FALSE(job.empty()) << manager.process().Log();
  // The job keeps the placeholders: any platform can read it.
  const auto settings = manager.Get("/api/jobs/" + job)["settings"];
  EXPECT_EQ(settings["filepath"], R"({shots}\sh010\sh010.blend)");
  EXPECT_EQ(settings["render_output"], R"({render}\out\sh010\frame-######)");

  RawWorker linux_worker(manager.url(), "linux");
  const json on_linux = linux_worker.FetchTask();
  ASSERT_TRUE(on_linux.is_object()) << manager.process().Log();
  const auto& linux_cmd = on_linux["commands"][0]["settings"];
  EXPECT_EQ(linux_cmd["filepath"], "/mnt/render/shots/sh010/sh010.blend");
  const std::string linux_out = linux_cmd["render_output"];
  EXPECT_TRUE(linux_out.starts_with("/mnt/render/out/sh010__intermediate-")) << linux_out;
  EXPECT_TRUE(linux_out.ends_with("/frame-######")) << linux_out;
  EXPECT_EQ(linux_out.find('\\'), std::string::npos) << linux_out;

  RawWorker windows_worker(manager.url(), "windows");
  const json on_windows = windows_worker.FetchTask();
  ASSERT_TRUE(on_windows.is_object()) << manager.process().Log();
  EXPECT_NE(on_windows["_id"], on_linux["_id"]);
  const auto& windows_cmd = on_windows["commands"][0]["settings"];
  EXPECT_EQ(windows_cmd["filepath"], R"(R:\Shots\sh010\sh010.blend)");
  const std::string windows_out = windows_cmd["render_output"];
  EXPECT_TRUE(windows_out.starts_with(R"(R:\out\sh010__intermediate-)")) << windows_out;
  EXPECT_EQ(windows_out.find('/'), std::string::npos) << windows_out;
}

}  // namespace
}  // namespace duende::testing
