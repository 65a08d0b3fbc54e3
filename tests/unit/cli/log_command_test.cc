// `duende log` against an in-process fake manager.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/cli.h"
#include "fake_manager.h"

namespace duende::cli {
namespace {

using testing::FakeManager;
using ::testing::HasSubstr;

constexpr const char* kTask = "6a7b8c9d0e1f2a3b4c5d6e7f";

int RunLog(FakeManager& m, std::vector<std::string> args, std::string* out, std::string* err) {
  std::vector<const char*> argv{"duende", "--manager"};
  argv.push_back(m.url().c_str());
  for (auto& a : args) argv.push_back(a.c_str());
  std::ostringstream o, e;
  auto client = http::MakeCurlClient("duende-test");
  ::duende::testing::FakeClock clock;
  const int rc = RunCli(static_cast<int>(argv.size()), argv.data(), o, e, *client, clock);
  *out = o.str();
  *err = e.str();
  return rc;
}

TEST(LogCommandTest, PrintsWholeLogInRanges) {
  FakeManager m;
  const std::string log = "first line\nsecond line\n";
  m.On("GET", "/api/tasks/{id}/log", [log](http::Request& r) {
    const uint64_t offset = std::stoull(r.Query("offset").value_or("0"));
    // Serve 5 bytes at a time to exercise paging.
    const std::string part = offset < log.size() ? log.substr(offset, 5) : "";
    http::Response resp = http::Response::Text(200, part);
    resp.headers.emplace_back("X-Log-Size", std::to_string(log.size()));
    resp.headers.emplace_back("X-Log-Next-Offset", std::to_string(offset + part.size()));
    return resp;
  });
  m.Start();
  std::string out, err;
  EXPECT_EQ(RunLog(m, {"log", kTask}, &out, &err), kExitOk) << err;
  EXPECT_EQ(out, log);
  EXPECT_EQ(m.requests("GET").size(), 5u);
}

// --earlier asks for the log of an earlier run of the task; with --follow
// it is a usage error.
TEST(LogCommandTest, EarlierRunsLog) {
  FakeManager m;
  m.On("GET", "/api/tasks/{id}/log", [](http::Request& r) {
    const std::string text = "run " + r.Query("earlier").value_or("current") + "\n";
    const uint64_t offset = std::stoull(r.Query("offset").value_or("0"));
    http::Response resp = http::Response::Text(200, offset < text.size() ? text.substr(offset) : "");
    resp.headers.emplace_back("X-Log-Size", std::to_string(text.size()));
    resp.headers.emplace_back("X-Log-Next-Offset", std::to_string(text.size()));
    return resp;
  });
  m.Start();
  std::string out, err;
  EXPECT_EQ(RunLog(m, {"log", "--earlier", "2", kTask}, &out, &err), kExitOk) << err;
  EXPECT_EQ(out, "run 2\n");
  EXPECT_EQ(RunLog(m, {"log", kTask}, &out, &err), kExitOk) << err;
  EXPECT_EQ(out, "run current\n");
  EXPECT_NE(RunLog(m, {"log", "--earlier", "1", "--follow", kTask}, &out, &err), kExitOk);
  EXPECT_NE(RunLog(m, {"log", "--earlier", "-1", kTask}, &out, &err), kExitOk);
}

TEST(LogCommandTest, MissingLogIsOneErrorLine) {
  FakeManager m;
  m.OnJson("GET", "/api/tasks/{id}/log", 404, {{"message", "task x has no log file"}});
  m.Start();
  std::string out, err;
  EXPECT_EQ(RunLog(m, {"log", kTask}, &out, &err), kExitFailed);
  EXPECT_EQ(err, "duende: error: task x has no log file (HTTP 404)\n");
}

TEST(LogCommandTest, FollowPrintsLinesUntilTheTaskEnds) {
  FakeManager m;
  m.On("GET", "/api/tasks/{id}/log/follow", [](http::Request&) {
    http::Response r;
    r.content_type = "text/event-stream";
    r.stream = std::make_shared<http::Stream>();
    r.stream->Write(": hello\nretry: 3000\n\n");
    r.stream->Write("id: 5\ndata: one\n\nid: 9\ndata: two\n\nevent: skipped\ndata: {\"bytes\":7}\n\n");
    r.stream->Write("id: 15\ndata: three\n\nevent: end\ndata: {\"status\":\"completed\"}\n\n");
    r.stream->Write("data: never printed\n\n");
    r.stream->Close();
    return r;
  });
  m.Start();
  std::string out, err;
  EXPECT_EQ(RunLog(m, {"log", "--follow", kTask}, &out, &err), kExitOk) << err;
  EXPECT_EQ(out, "one\ntwo\nthree\n");
  EXPECT_THAT(err, HasSubstr("7 earlier bytes not shown"));
  EXPECT_THAT(err, HasSubstr("task ended: completed"));
}

TEST(LogCommandTest, FollowUnknownTaskFails) {
  FakeManager m;
  m.OnJson("GET", "/api/tasks/{id}/log/follow", 404, {{"message", "task 6a7b does not exist"}});
  m.Start();
  std::string out, err;
  EXPECT_EQ(RunLog(m, {"log", "-f", kTask}, &out, &err), kExitFailed);
  EXPECT_THAT(err, HasSubstr("does not exist (HTTP 404)"));
}

TEST(LogCommandTest, UnreachableManager) {
  FakeManager m;
  m.Start();
  m.Stop();
  std::string out, err;
  EXPECT_EQ(RunLog(m, {"log", kTask}, &out, &err), kExitUnreachable);
  EXPECT_EQ(RunLog(m, {"log", "--follow", kTask}, &out, &err), kExitUnreachable);
}

}  // namespace
}  // namespace duende::cli
