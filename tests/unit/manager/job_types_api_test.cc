// The job types API through the real Manager over loopback HTTP: schemas of
// built-in and data-defined types, submissions validated against a
// data-defined schema, and the admin-only reload.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "http/http.h"
#include "manager/app.h"
#include "manager/config.h"
#include "manager/worker_auth.h"
#include "support/temp_dir.h"

namespace duende::manager {
namespace {

using nlohmann::json;

constexpr const char* kOperatorToken = "operator-token-0123456789";
constexpr const char* kAdminToken = "admin-token-0123456789";

class JobTypesApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::filesystem::create_directory(types_dir_);
    std::filesystem::copy_file(std::string(DUENDE_SOURCE_DIR) + "/job-types/frames-to-video.yaml",
                               types_dir_ + "/frames-to-video.yaml");
    auto config = ParseConfig("listen: 127.0.0.1:0\njob_types_dir: " + types_dir_ + "\n", dir_.path());
    ASSERT_TRUE(config.has_value()) << config.error().message;
    config->users = {UserConfig{"otto", Role::kOperator, "", *HashSecret(kOperatorToken)},
                     UserConfig{"ada", Role::kAdmin, "", *HashSecret(kAdminToken)}};
    app_ = std::make_unique<ManagerApp>(*config, clock_);
    auto port = app_->Start();
    ASSERT_TRUE(port.has_value()) << port.error().message;
    base_ = "http://127.0.0.1:" + std::to_string(*port);
    client_ = http::MakeCurlClient("duende-tests");
  }
  void TearDown() override { app_->Stop(); }

  http::ClientResponse Call(const std::string& method, const std::string& path, const json& body = nullptr,
                            const char* token = kOperatorToken) {
    http::ClientRequest r;
    r.method = method;
    r.url = base_ + path;
    if (!body.is_null()) r.body = body.dump();
    r.headers = {{"Authorization", std::string("Bearer ") + token}, {"Content-Type", "application/json"}};
    auto resp = client_->Send(r);
    EXPECT_TRUE(resp.has_value());
    return resp.value_or(http::ClientResponse{});
  }

  json GetJson(const std::string& path) {
    auto r = Call("GET", path);
    EXPECT_EQ(r.status, 200) << r.body;
    return json::parse(r.body, nullptr, false);
  }

  static std::string Message(const http::ClientResponse& r) {
    auto j = json::parse(r.body, nullptr, false);
    return j.is_object() ? j.value("message", "") : "";
  }

  testing::TempDir dir_;
  std::string types_dir_ = dir_ / "job-types";
  SystemClock clock_;
  std::unique_ptr<ManagerApp> app_;
  std::unique_ptr<http::Client> client_;
  std::string base_;
};

TEST_F(JobTypesApiTest, ListsBuiltInAndFileTypesWithTheirSchemas) {
  const json list = GetJson("/api/job-types");
  ASSERT_TRUE(list["job_types"].is_array()) << list.dump();
  std::vector<std::string> names;
  for (const auto& t : list["job_types"])
    names.push_back(t["name"].get<std::string>() + "/" + t["source"].get<std::string>());
  EXPECT_EQ(names, (std::vector<std::string>{"blender-render/builtin", "exec-command/builtin", "sleep/builtin",
                                             "frames-to-video/file"}));
  for (const auto& t : list["job_types"]) {
    for (const char* key : {"name", "label", "description", "source", "settings"}) EXPECT_TRUE(t.contains(key)) << key;
    for (const auto& s : t["settings"])
      for (const char* key : {"key", "type", "required", "default", "description"})
        EXPECT_TRUE(s.contains(key)) << t["name"] << " " << s.dump();
  }

  const json video = GetJson("/api/job-types/frames-to-video");
  EXPECT_EQ(video["label"], "Frames to video");
  ASSERT_EQ(video["settings"].size(), 4u);
  EXPECT_EQ(video["settings"][2], json({{"key", "fps"},
                                        {"type", "number"},
                                        {"required", false},
                                        {"default", 24},
                                        {"description", "Frames per second."},
                                        {"min", 1},
                                        {"max", 240}}));
  const json blender = GetJson("/api/job-types/blender-render");
  EXPECT_EQ(blender["source"], "builtin");
  EXPECT_EQ(blender["settings"][0]["key"], "filepath");

  auto missing = Call("GET", "/api/job-types/nope");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(Message(missing), "job type 'nope' not found");
}

TEST_F(JobTypesApiTest, SubmissionsAreCheckedAgainstTheSchemaAndGetDefaults) {
  struct Case {
    json settings;
    std::string message;
  } bad[] = {
      {json{{"output_file", "/r/v.mkv"}}, "invalid job: setting 'input_files' is required"},
      {json{{"input_files", "/r/*.png"}, {"output_file", "/r/v.mkv"}, {"fps", 0}},
       "invalid job: setting 'fps' must be at least 1"},
      {json{{"input_files", "/r/*.png"}, {"output_file", "/r/v.avi"}}, "setting 'output_file' must match the pattern"},
      {json{{"input_files", "/r/*.png"}, {"output_file", "/r/v.mkv"}, {"fsp", 25}}, "setting 'fsp' is not a setting"},
  };
  for (const auto& c : bad) {
    auto r = Call("POST", "/api/jobs", json{{"name", "v"}, {"job_type", "frames-to-video"}, {"settings", c.settings}});
    EXPECT_EQ(r.status, 400) << r.body;
    EXPECT_NE(Message(r).find(c.message), std::string::npos) << Message(r);
  }
  EXPECT_TRUE(GetJson("/api/jobs")["jobs"].empty()) << "a refused submission stores nothing";

  auto r = Call("POST", "/api/jobs",
                json{{"name", "v"},
                     {"job_type", "frames-to-video"},
                     {"settings", {{"input_files", "/r/*.png"}, {"output_file", "/r/v.mkv"}}}});
  ASSERT_EQ(r.status, 201) << r.body;
  const json job = json::parse(r.body);
  EXPECT_EQ(job["settings"]["fps"], 24);
  EXPECT_EQ(job["settings"]["ffmpeg_cmd"], "{ffmpeg}");
  const json tasks = GetJson("/api/jobs/" + job["_id"].get<std::string>() + "/tasks")["tasks"];
  ASSERT_EQ(tasks.size(), 1u);
  EXPECT_EQ(tasks[0]["task_type"], "video-encoding");
  EXPECT_EQ(tasks[0]["commands"][0]["settings"]["fps"], 24);
}

TEST_F(JobTypesApiTest, ReloadIsForAdminsAndReportsBadFiles) {
  std::ofstream(types_dir_ + "/echo.yaml") << "name: echo\ntasks: [{id: say, type: misc, commands: [{name: echo}]}]\n";
  std::ofstream(types_dir_ + "/broken.yaml") << "name: broken\nsettings: [{key: x, type: colour}]\ntasks: []\n";

  auto denied = Call("POST", "/api/job-types/reload", json::object(), kOperatorToken);
  EXPECT_EQ(denied.status, 403) << denied.body;
  EXPECT_NE(Message(denied).find("admin"), std::string::npos) << denied.body;
  EXPECT_EQ(Call("GET", "/api/job-types/echo").status, 404) << "nothing reloaded";

  auto r = Call("POST", "/api/job-types/reload", json::object(), kAdminToken);
  ASSERT_EQ(r.status, 200) << r.body;
  const json report = json::parse(r.body);
  EXPECT_EQ(report["dir"], types_dir_);
  EXPECT_EQ(report["loaded"], json({"echo", "frames-to-video"}));
  ASSERT_EQ(report["errors"].size(), 1u);
  EXPECT_EQ(report["errors"][0]["path"], types_dir_ + "/broken.yaml");
  EXPECT_NE(report["errors"][0]["message"].get<std::string>().find("type 'colour'"), std::string::npos);
  EXPECT_EQ(GetJson("/api/job-types/echo")["source"], "file");

  // The reloaded type takes jobs at once.
  auto submitted = Call("POST", "/api/jobs", json{{"name", "hi"}, {"job_type", "echo"}, {"settings", json::object()}});
  EXPECT_EQ(submitted.status, 201) << submitted.body;
}

}  // namespace
}  // namespace duende::manager
