#include "webhooks/webhooks.h"

#include <gtest/gtest.h>

#include <deque>
#include <mutex>
#include <thread>

#include "support/fake_clock.h"

namespace duende::webhooks {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

// --- signing ------------------------------------------------------------------

TEST(WebhookSignatureTest, IsHmacSha256OfTheBodyInHex) {
  // RFC 4231, test case 2.
  EXPECT_EQ(Signature("Jefe", "what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  EXPECT_NE(Signature("Jefe", "what do ya want for nothing!"), Signature("Jefe", "what do ya want for nothing?"));
  EXPECT_NE(Signature("Jeff", "what do ya want for nothing?"), Signature("Jefe", "what do ya want for nothing?"));
}

// --- retry schedule -------------------------------------------------------------

struct RetryCase {
  std::string name;
  int max_attempts;
  std::chrono::milliseconds retry_delay;
  int attempts_made;
  std::optional<std::chrono::milliseconds> want;
};

class RetryDelayTest : public ::testing::TestWithParam<RetryCase> {};

TEST_P(RetryDelayTest, DoublesUpToTheCapAndStopsAtMaxAttempts) {
  WebhookConfig hook;
  hook.max_attempts = GetParam().max_attempts;
  hook.retry_delay = GetParam().retry_delay;
  EXPECT_EQ(RetryDelay(hook, GetParam().attempts_made), GetParam().want);
}

INSTANTIATE_TEST_SUITE_P(
    Table, RetryDelayTest,
    ::testing::Values(RetryCase{"FirstRetry", 8, 10s, 1, 10s}, RetryCase{"SecondRetry", 8, 10s, 2, 20s},
                      RetryCase{"ThirdRetry", 8, 10s, 3, 40s}, RetryCase{"LastRetry", 8, 10s, 7, 640s},
                      RetryCase{"OutOfAttempts", 8, 10s, 8, std::nullopt},
                      RetryCase{"SingleAttempt", 1, 10s, 1, std::nullopt},
                      RetryCase{"CappedAtAnHour", 10, 40min, 2, 1h}, RetryCase{"StaysCapped", 100, 10s, 60, 1h},
                      RetryCase{"Milliseconds", 3, 100ms, 2, 200ms}),
    [](const auto& info) { return info.param.name; });

TEST(WebhookRetryTest, RetriesWhatMayPassAndNotWhatTheReceiverRefused) {
  for (int status : {0, 408, 429, 500, 502, 503, 504}) EXPECT_TRUE(IsRetryable(status)) << status;
  for (int status : {301, 400, 401, 403, 404, 410, 422}) EXPECT_FALSE(IsRetryable(status)) << status;
}

// --- configuration --------------------------------------------------------------

TEST(WebhookConfigTest, ParsesEntriesWithDefaults) {
  auto hooks = WebhooksFromJson(json::parse(R"([
    {"url": "https://hooks.example/a", "secret": "s1"},
    {"url": "http://127.0.0.1:9/b", "secret": "s2", "events": ["job.failed", "worker.timeout"],
     "max_attempts": "3", "retry_delay": "500ms", "timeout": "2s"}
  ])"));
  ASSERT_TRUE(hooks) << hooks.error().message;
  ASSERT_EQ(hooks->size(), 2u);
  const auto& a = (*hooks)[0];
  EXPECT_EQ(a.url, "https://hooks.example/a");
  EXPECT_EQ(a.max_attempts, 8);
  EXPECT_EQ(a.retry_delay, 10s);
  EXPECT_TRUE(a.Wants("job.completed") && a.Wants("worker.timeout")) << "no list: every event";
  const auto& b = (*hooks)[1];
  EXPECT_EQ(b.max_attempts, 3);
  EXPECT_EQ(b.retry_delay, 500ms);
  EXPECT_EQ(b.timeout, 2s);
  EXPECT_TRUE(b.Wants("job.failed"));
  EXPECT_FALSE(b.Wants("job.completed"));
}

struct BadConfig {
  std::string name;
  std::string yaml_as_json;
  std::string message_part;
};

class WebhookConfigRejects : public ::testing::TestWithParam<BadConfig> {};

TEST_P(WebhookConfigRejects, WithAClearMessage) {
  auto hooks = WebhooksFromJson(json::parse(GetParam().yaml_as_json));
  ASSERT_FALSE(hooks);
  EXPECT_EQ(hooks.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(hooks.error().message.find(GetParam().message_part), std::string::npos) << hooks.error().message;
}

INSTANTIATE_TEST_SUITE_P(
    Table, WebhookConfigRejects,
    ::testing::Values(
        BadConfig{"NotAList", R"({"url": "http://x"})", "must be a list"},
        BadConfig{"NoSecret", R"([{"url": "http://x"}])", "webhook 1: 'secret' is required"},
        BadConfig{"EmptySecret", R"([{"url": "http://x", "secret": ""}])", "'secret' is required"},
        BadConfig{"NoUrl", R"([{"secret": "s"}])", "'url' must be an http:// or https:// URL"},
        BadConfig{"NotHttp", R"([{"url": "ftp://x", "secret": "s"}])", "'url' must be an http"},
        BadConfig{"UnknownEvent", R"([{"url": "http://x", "secret": "s", "events": ["job.exploded"]}])",
                  "unknown event \"job.exploded\""},
        BadConfig{"UnknownKey", R"([{"url": "http://x", "secret": "s", "colour": "red"}])", "unknown key 'colour'"},
        BadConfig{"ZeroAttempts", R"([{"url": "http://x", "secret": "s", "max_attempts": "0"}])",
                  "'max_attempts' must be an integer from 1 to 100"},
        BadConfig{"ZeroDelay", R"([{"url": "http://x", "secret": "s", "retry_delay": "0"}])",
                  "'retry_delay' must be longer than 0"},
        BadConfig{"SecondEntryNamed", R"([{"url": "http://x", "secret": "s"}, {"url": "http://y"}])", "webhook 2"}),
    [](const auto& info) { return info.param.name; });

// --- delivery -------------------------------------------------------------------

// Answers from a script (then 200), records every request. Thread-safe.
class FakeClient final : public http::Client {
 public:
  Result<http::ClientResponse> Send(const http::ClientRequest& request) override {
    std::lock_guard lock(mu_);
    requests_.push_back(request);
    if (script_.empty()) return http::ClientResponse{200, "", {}};
    auto r = std::move(script_.front());
    script_.pop_front();
    return r;
  }
  void Answer(int status) {
    std::lock_guard lock(mu_);
    script_.push_back(http::ClientResponse{status, "", {}});
  }
  void FailToConnect() {
    std::lock_guard lock(mu_);
    script_.push_back(Unavailable("connection refused"));
  }
  std::vector<http::ClientRequest> requests() const {
    std::lock_guard lock(mu_);
    return requests_;
  }

 private:
  mutable std::mutex mu_;
  std::deque<Result<http::ClientResponse>> script_;
  std::vector<http::ClientRequest> requests_;
};

std::string HeaderOf(const http::ClientRequest& r, std::string_view name) {
  for (const auto& [k, v] : r.headers)
    if (k == name) return v;
  return "";
}

WebhookConfig Hook(std::string url, std::set<std::string> events = {}) {
  WebhookConfig h;
  h.url = std::move(url);
  h.secret = "secret of " + h.url;
  h.events = std::move(events);
  h.max_attempts = 4;
  h.retry_delay = 10s;
  return h;
}

Event JobCompleted(const std::string& job_id) {
  return Event{std::string(kJobCompleted),
               SystemTime(std::chrono::seconds(1'800'000'000)),
               {{"job", {{"_id", job_id}, {"status", "completed"}}}}};
}

class DispatcherTest : public ::testing::Test {
 protected:
  testing::FakeClock clock_;
  FakeClient client_;
};

TEST_F(DispatcherTest, PostsSignedEventToEveryWebhookThatWantsIt) {
  Dispatcher d(
      {Hook("http://a/all"), Hook("http://b/failures", {"job.failed"}), Hook("http://c/done", {"job.completed"})},
      client_, clock_);
  d.Publish(JobCompleted("j1"));
  EXPECT_EQ(client_.requests().size(), 0u) << "Publish only queues";
  EXPECT_EQ(d.SendDue(), 2);
  const auto requests = client_.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].url, "http://a/all");
  EXPECT_EQ(requests[1].url, "http://c/done");
  for (const auto& r : requests) {
    EXPECT_EQ(r.method, "POST");
    EXPECT_EQ(HeaderOf(r, "Content-Type"), "application/json");
    EXPECT_EQ(HeaderOf(r, kEventHeader), "job.completed");
    EXPECT_EQ(HeaderOf(r, kSignatureHeader), Signature("secret of " + r.url, r.body)) << "each with its own secret";
    const json body = json::parse(r.body);
    EXPECT_EQ(body["event"], "job.completed");
    EXPECT_EQ(body["time"], "2027-01-15T08:00:00.000000Z");
    EXPECT_EQ(body["job"]["_id"], "j1");
    EXPECT_EQ(body["id"], json::parse(requests[0].body)["id"]) << "one event, one ID";
  }
  EXPECT_NE(HeaderOf(requests[0], kDeliveryHeader), HeaderOf(requests[1], kDeliveryHeader))
      << "one delivery per webhook";
  EXPECT_EQ(d.pending(), 0u);
  EXPECT_EQ(d.stats().delivered, 2u);
}

TEST_F(DispatcherTest, RetriesWithExponentialBackOffUntilDelivered) {
  Dispatcher d({Hook("http://a/hook")}, client_, clock_);
  client_.FailToConnect();
  client_.Answer(503);
  client_.Answer(500);
  d.Publish(JobCompleted("j1"));
  const SteadyTime t0 = clock_.SteadyNow();

  EXPECT_EQ(d.SendDue(), 1);  // connection refused
  EXPECT_EQ(d.NextDue(), t0 + 10s);
  clock_.Advance(9s);
  EXPECT_EQ(d.SendDue(), 0) << "not due yet";
  clock_.Advance(1s);
  EXPECT_EQ(d.SendDue(), 1);  // 503
  EXPECT_EQ(d.NextDue(), t0 + 10s + 20s);
  clock_.Advance(20s);
  EXPECT_EQ(d.SendDue(), 1);  // 500
  EXPECT_EQ(d.NextDue(), t0 + 10s + 20s + 40s);
  clock_.Advance(40s);
  EXPECT_EQ(d.SendDue(), 1);  // 200
  EXPECT_FALSE(d.NextDue().has_value());

  const auto requests = client_.requests();
  ASSERT_EQ(requests.size(), 4u);
  for (const auto& r : requests) {
    EXPECT_EQ(r.body, requests[0].body) << "the same body every time";
    EXPECT_EQ(HeaderOf(r, kDeliveryHeader), HeaderOf(requests[0], kDeliveryHeader)) << "the same delivery ID";
  }
  EXPECT_EQ(d.stats().delivered, 1u);
  EXPECT_EQ(d.stats().attempts, 4u);
}

TEST_F(DispatcherTest, GivesUpAfterMaxAttempts) {
  Dispatcher d({Hook("http://a/hook")}, client_, clock_);
  for (int i = 0; i < 10; ++i) client_.Answer(502);
  d.Publish(JobCompleted("j1"));
  for (int i = 0; i < 10; ++i) {
    d.SendDue();
    clock_.Advance(1h);
  }
  EXPECT_EQ(client_.requests().size(), 4u) << "max_attempts";
  EXPECT_EQ(d.pending(), 0u);
  EXPECT_EQ(d.stats().given_up, 1u);
  EXPECT_EQ(d.stats().delivered, 0u);
}

TEST_F(DispatcherTest, RefusedDeliveryIsNotRetried) {
  Dispatcher d({Hook("http://a/hook")}, client_, clock_);
  client_.Answer(404);
  d.Publish(JobCompleted("j1"));
  EXPECT_EQ(d.SendDue(), 1);
  EXPECT_EQ(d.pending(), 0u);
  EXPECT_EQ(d.stats().given_up, 1u);
}

TEST_F(DispatcherTest, FullQueueDropsTheOldest) {
  Dispatcher d({Hook("http://a/hook")}, client_, clock_, DispatcherOptions{2});
  d.Publish(JobCompleted("j1"));
  d.Publish(JobCompleted("j2"));
  d.Publish(JobCompleted("j3"));
  EXPECT_EQ(d.pending(), 2u);
  EXPECT_EQ(d.stats().dropped, 1u);
  d.SendDue();
  const auto requests = client_.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(json::parse(requests[0].body)["job"]["_id"], "j2");
  EXPECT_EQ(json::parse(requests[1].body)["job"]["_id"], "j3");
}

TEST_F(DispatcherTest, RunDeliversPublishedEventsWithoutBlockingThePublisher) {
  Dispatcher d({Hook("http://a/hook")}, client_, clock_);
  std::jthread runner([&](std::stop_token st) { d.Run(st); });
  clock_.AwaitWaiters(1);  // idle, waiting on the clock
  d.Publish(JobCompleted("j1"));
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (d.stats().delivered == 0 && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
  EXPECT_EQ(d.stats().delivered, 1u) << "Publish woke the dispatcher; no time had to pass";
  runner.request_stop();
  clock_.NotifyAll();
}

}  // namespace
}  // namespace duende::webhooks
