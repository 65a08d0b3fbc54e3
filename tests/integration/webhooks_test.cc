// Webhooks through the real duende-manager and duende-worker: a local HTTP
// listener (the project's own server) receives the notifications and checks
// their HMAC-SHA256 signature with libsodium.
#include <gtest/gtest.h>
#include <sodium.h>

#include <mutex>

#include "support/farm.h"
#include "support/temp_dir.h"

namespace duende::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

constexpr const char* kSecret = "listener-secret";

// Records every POST; answers 503 to the first `fail_first` of them.
class Listener {
 public:
  struct Received {
    std::string path;
    std::string event;
    std::string delivery;
    std::string signature;
    std::string body;
  };

  explicit Listener(int fail_first = 0) : fail_first_(fail_first) {
    server_ = std::make_unique<http::Server>(http::ServerOptions{}, [this](http::Request& r) {
      std::lock_guard lock(mu_);
      received_.push_back({r.path, std::string(r.Header("X-Duende-Event")), std::string(r.Header("X-Duende-Delivery")),
                           std::string(r.Header("X-Duende-Signature-256")), r.body});
      if (static_cast<int>(received_.size()) <= fail_first_) return http::Response::Message(503, "not yet");
      return http::Response::NoContent();
    });
    port_ = server_->Start().value_or(0);
  }
  ~Listener() { server_->Stop(); }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/hook"; }
  std::vector<Received> received() const {
    std::lock_guard lock(mu_);
    return received_;
  }
  // The requests carrying `event`, waiting up to `timeout` for at least `n`.
  std::vector<Received> WaitFor(const std::string& event, size_t n, std::chrono::milliseconds timeout) const {
    std::vector<Received> out;
    testing::WaitFor(
        [&] {
          out.clear();
          for (auto& r : received())
            if (r.event == event) out.push_back(r);
          return out.size() >= n;
        },
        timeout);
    return out;
  }

 private:
  const int fail_first_;
  mutable std::mutex mu_;
  std::vector<Received> received_;
  std::unique_ptr<http::Server> server_;
  uint16_t port_ = 0;
};

// Checks "sha256=<hex>" against the body independently of the Manager's code.
bool SignatureValid(const std::string& header, const std::string& body, const std::string& secret) {
  if (sodium_init() < 0 || !header.starts_with("sha256=")) return false;
  const std::string hex = header.substr(7);
  unsigned char mac[crypto_auth_hmacsha256_BYTES];
  size_t len = 0;
  if (sodium_hex2bin(mac, sizeof mac, hex.data(), hex.size(), nullptr, &len, nullptr) != 0 || len != sizeof mac)
    return false;
  // The key is used as is, of any length (HMAC hashes a long key).
  crypto_auth_hmacsha256_state st;
  crypto_auth_hmacsha256_init(&st, reinterpret_cast<const unsigned char*>(secret.data()), secret.size());
  crypto_auth_hmacsha256_update(&st, reinterpret_cast<const unsigned char*>(body.data()), body.size());
  unsigned char want[crypto_auth_hmacsha256_BYTES];
  crypto_auth_hmacsha256_final(&st, want);
  return sodium_memcmp(mac, want, sizeof mac) == 0;
}

std::string WebhookConfig(const std::string& url, const std::string& extra = "") {
  return "webhooks:\n  - url: " + url + "\n    secret: " + kSecret + "\n    retry_delay: 200ms\n" + extra;
}

json SleepJob(const std::string& name) {
  return {{"name", name},
          {"job_type", "sleep"},
          {"settings", {{"frames", "1-2"}, {"chunk_size", 1}, {"time_in_seconds", 0.1}}}};
}

std::vector<std::string> WorkerArgs() { return {"--task-types", "sleep", "--poll-interval", "500ms"}; }

TEST(WebhooksIntegrationTest, CompletedJobIsPostedSigned) {
  TempDir dir;
  Listener listener;
  ManagerProcess manager(dir / "manager", WebhookConfig(listener.url()));
  ASSERT_FALSE(manager.url().empty()) << manager.process().Log();
  WorkerProcess worker(manager.url(), dir / "w1", "w1", WorkerArgs());
  const std::string job = manager.SubmitJob(SleepJob("tiny"));
  ASSERT_FALSE(job.empty());
  ASSERT_TRUE(manager.WaitForJobStatus(job, "completed", 60s)) << manager.process().Log();

  const auto got = listener.WaitFor("job.completed", 1, 20s);
  ASSERT_EQ(got.size(), 1u) << manager.process().Log();
  EXPECT_EQ(got[0].path, "/hook");
  EXPECT_TRUE(SignatureValid(got[0].signature, got[0].body, kSecret)) << got[0].signature;
  EXPECT_FALSE(SignatureValid(got[0].signature, got[0].body, "another secret"));
  EXPECT_FALSE(got[0].delivery.empty());
  const json body = json::parse(got[0].body, nullptr, false);
  ASSERT_TRUE(body.is_object()) << got[0].body;
  EXPECT_EQ(body["event"], "job.completed");
  EXPECT_EQ(body["job"]["_id"], job);
  EXPECT_EQ(body["job"]["name"], "tiny");
  EXPECT_EQ(body["job"]["status"], "completed");
  EXPECT_EQ(body["job"]["tasks_status"]["completed"], 2);
  EXPECT_EQ(body["manager"]["name"], "Duende Manager");
  for (const auto& r : listener.received()) EXPECT_NE(r.event, "job.failed");
}

TEST(WebhooksIntegrationTest, ListenerThatFailsFirstGetsTheEventAfterRetries) {
  TempDir dir;
  Listener listener(/*fail_first=*/2);
  ManagerProcess manager(dir / "manager", WebhookConfig(listener.url()));
  ASSERT_FALSE(manager.url().empty()) << manager.process().Log();
  json paused = SleepJob("unwanted");
  paused["start_paused"] = true;
  const std::string job = manager.SubmitJob(paused);
  ASSERT_FALSE(job.empty());
  // No task of a paused job is on the farm: canceling ends it at once.
  ASSERT_EQ(manager.Post("/api/jobs/" + job + "/status", {{"status", "cancel-requested"}}).status, 200);

  const auto got = listener.WaitFor("job.canceled", 3, 20s);
  ASSERT_EQ(got.size(), 3u) << "two 503s, then delivered\n" << manager.process().Log();
  for (const auto& r : got) {
    EXPECT_EQ(r.delivery, got[0].delivery) << "one delivery, retried";
    EXPECT_EQ(r.body, got[0].body);
    EXPECT_TRUE(SignatureValid(r.signature, r.body, kSecret));
  }
  EXPECT_EQ(json::parse(got[2].body)["job"]["_id"], job);
  // Delivered: no fourth attempt.
  std::this_thread::sleep_for(1s);
  EXPECT_EQ(listener.WaitFor("job.canceled", 4, 0ms).size(), 3u);
}

TEST(WebhooksIntegrationTest, WorkerThatStopsReportingIsPosted) {
  TempDir dir;
  Listener listener;
  ManagerProcess manager(dir / "manager", WebhookConfig(listener.url(),
                                                        "active_worker_timeout_interval: 2s\n"
                                                        "timeout_startup_grace: 0\n"
                                                        "timeout_check_interval: 250ms\n"));
  ASSERT_FALSE(manager.url().empty()) << manager.process().Log();
  WorkerProcess worker(manager.url(), dir / "w1", "doomed", WorkerArgs());
  ASSERT_TRUE(WaitFor(
      [&] {
        const auto workers = manager.Get("/api/workers");
        return workers.is_object() && workers["workers"].size() == 1 && workers["workers"][0]["status"] == "awake";
      },
      20s))
      << worker.process().Log();
  worker.process().Kill();

  const auto got = listener.WaitFor("worker.timeout", 1, 20s);
  ASSERT_EQ(got.size(), 1u) << manager.process().Log();
  EXPECT_TRUE(SignatureValid(got[0].signature, got[0].body, kSecret));
  const json body = json::parse(got[0].body);
  EXPECT_EQ(body["worker"]["nickname"], "doomed");
  EXPECT_EQ(body["worker"]["status"], "timeout");
}

}  // namespace
}  // namespace duende::testing
