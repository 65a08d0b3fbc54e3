// POST /task long poll (X-Duende-Wait) and GET /metrics, against the real
// duende-manager. No timing is asserted beyond "answered before the wait
// ran out"; latencies are measured by bench/duende-bench.
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <thread>

#include "support/farm.h"
#include "support/temp_dir.h"

namespace duende::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

class LongPollTest : public ::testing::Test {
 protected:
  void SetUp() override {
    manager_ = std::make_unique<ManagerProcess>(dir_.path());
    client_ = http::MakeCurlClient("long-poll-test");
    auto r = Send("/register-worker",
                  json{{"secret", "s3cret"}, {"platform", "linux"}, {"supported_task_types", {"sleep"}}}, false);
    ASSERT_EQ(r.status, 200) << r.body;
    id_ = json::parse(r.body)["_id"];
    ASSERT_EQ(Send("/sign-on", json::object()).status, 204);
  }
  http::ClientResponse Send(const std::string& path, const std::optional<json>& body, bool auth = true,
                            http::Headers headers = {}, long timeout_ms = 20000) {
    http::ClientRequest r;
    r.method = "POST";
    r.url = manager_->url() + path;
    r.timeout_ms = timeout_ms;
    if (body) {
      r.body = body->dump();
      r.headers.emplace_back("Content-Type", "application/json");
    }
    for (auto& h : headers) r.headers.push_back(h);
    if (auth) {
      r.user = id_;
      r.password = "s3cret";
    }
    auto resp = client_->Send(r);
    EXPECT_TRUE(resp.has_value()) << path;
    return resp.value_or(http::ClientResponse{});
  }
  static json SleepJob() {
    return {{"name", "one"},
            {"job_type", "sleep"},
            {"settings", {{"frames", "1"}, {"chunk_size", 1}, {"time_in_seconds", 0}}}};
  }

  TempDir dir_;
  std::unique_ptr<ManagerProcess> manager_;
  std::unique_ptr<http::Client> client_;
  std::string id_;
};

TEST_F(LongPollTest, WithoutTheHeaderTheAnswerIsV2sImmediate204) {
  auto r = Send("/task", std::nullopt);
  EXPECT_EQ(r.status, 204);
  EXPECT_TRUE(r.Header("x-duende-waited").empty());
}

TEST_F(LongPollTest, AParkedWorkerGetsTheTaskOfAJobSubmittedWhileItWaits) {
  const auto t0 = std::chrono::steady_clock::now();
  auto fetch = std::async(std::launch::async, [&] {
    return Send("/task", std::nullopt, true, {{"X-Duende-Wait", "20"}});
  });
  // Let the request park, then submit.
  ASSERT_EQ(fetch.wait_for(300ms), std::future_status::timeout) << "answered without waiting";
  manager_->SubmitJob(SleepJob());
  auto r = fetch.get();
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 15s) << "answered at the deadline, not when the task came";
  auto task = json::parse(r.body);
  // The job side hears of the assignment through the upstream queue.
  EXPECT_TRUE(WaitFor(
      [&] { return manager_->Get("/api/tasks/" + task["_id"].get<std::string>())["status"] == "active"; }, 10s));
}

TEST_F(LongPollTest, AWaitThatRunsOutAnswers204MarkedAsWaited) {
  auto r = Send("/task", std::nullopt, true, {{"X-Duende-Wait", "0.3"}});
  EXPECT_EQ(r.status, 204);
  EXPECT_EQ(r.Header("x-duende-waited"), "1");
}

TEST_F(LongPollTest, AStatusRequestReachesAParkedWorker) {
  auto fetch = std::async(std::launch::async, [&] {
    return Send("/task", std::nullopt, true, {{"X-Duende-Wait", "20"}});
  });
  ASSERT_EQ(fetch.wait_for(300ms), std::future_status::timeout);
  auto req = manager_->Post("/api/workers/" + id_ + "/status", json{{"status", "asleep"}});
  ASSERT_LT(req.status, 300) << req.body;
  auto r = fetch.get();
  EXPECT_EQ(r.status, 423) << r.body;
}

TEST_F(LongPollTest, MetricsReportTasksWorkersRequestsAndCommits) {
  manager_->SubmitJob(SleepJob());
  ASSERT_TRUE(WaitFor([&] { return Send("/task", std::nullopt).status == 200; }, 10s));
  http::ClientRequest get;
  get.url = manager_->url() + "/metrics";
  manager_->Authorize(get);
  auto r = client_->Send(get);
  ASSERT_TRUE(r.has_value());
  ASSERT_EQ(r->status, 200);
  EXPECT_TRUE(r->Header("content-type").starts_with("text/plain")) << r->Header("content-type");
  const std::string& m = r->body;
  EXPECT_NE(m.find("duende_tasks{status=\"active\"} 1\n"), std::string::npos) << m;
  EXPECT_NE(m.find("duende_workers{status=\"awake\"} 1\n"), std::string::npos) << m;
  EXPECT_NE(m.find("duende_upstream_queue_updates "), std::string::npos) << m;
  EXPECT_NE(m.find("duende_http_request_duration_seconds_count{method=\"POST\",endpoint=\"/task\"} "),
            std::string::npos)
      << m;
  EXPECT_NE(
      m.find(
          "duende_http_request_duration_seconds_bucket{method=\"POST\",endpoint=\"/register-worker\",le=\"+Inf\"} 1\n"),
      std::string::npos)
      << m;
  EXPECT_NE(m.find("duende_store_commit_duration_seconds_count "), std::string::npos) << m;
  EXPECT_EQ(m.find("duende_store_commit_duration_seconds_count 0\n"), std::string::npos) << m;
}

}  // namespace
}  // namespace duende::testing
