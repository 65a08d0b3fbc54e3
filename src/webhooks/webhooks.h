// Webhooks: notifications by HTTP POST to URLs an admin configures (issue
// 10 §5). Producers hand events to an EventSink; the Dispatcher delivers
// each event to every webhook that wants it, on its own thread, signed and
// retried with exponential back-off. Nothing here knows about jobs or
// workers: the Manager turns its changes into Events.
//
// A delivery is a POST of the event's JSON with the headers
//   Content-Type: application/json
//   X-Duende-Event: <event name>            e.g. job.completed
//   X-Duende-Delivery: <delivery id>        the same on every retry
//   X-Duende-Signature-256: sha256=<hex>    HMAC-SHA256 of the body, keyed
//                                           with the webhook's secret
// A 2xx answer delivers it. Network errors, 408, 429 and 5xx are retried;
// any other status is the receiver refusing the event, which is not
// retried. Pending deliveries live in memory: a Manager restart drops them.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "http/http.h"

namespace duende::webhooks {

inline constexpr std::string_view kJobCompleted = "job.completed";
inline constexpr std::string_view kJobFailed = "job.failed";
inline constexpr std::string_view kJobCanceled = "job.canceled";
inline constexpr std::string_view kWorkerTimeout = "worker.timeout";
// Every event name, in the order above.
const std::vector<std::string>& EventNames();

inline constexpr char kEventHeader[] = "X-Duende-Event";
inline constexpr char kDeliveryHeader[] = "X-Duende-Delivery";
inline constexpr char kSignatureHeader[] = "X-Duende-Signature-256";

struct Event {
  std::string name;  // one of EventNames()
  SystemTime time{};
  // The event's subject, merged into the body: {"job": {...}} or
  // {"worker": {...}}.
  nlohmann::json data = nlohmann::json::object();
};

// Where producers put events. Publish never blocks on I/O: it may be called
// from request handlers and right after store commits. Thread-safe.
class EventSink {
 public:
  virtual ~EventSink() = default;
  virtual void Publish(Event event) = 0;
};

struct WebhookConfig {
  std::string url;               // http:// or https://
  std::string secret;            // HMAC key; required
  std::set<std::string> events;  // empty = every event
  // Attempts per delivery, the first included.
  int max_attempts = 8;
  // Wait before the second attempt; each later wait doubles, up to
  // kMaxRetryDelay. With the defaults the last attempt comes about 21
  // minutes after the first.
  std::chrono::milliseconds retry_delay{std::chrono::seconds(10)};
  // Per attempt, for the whole request.
  std::chrono::milliseconds timeout{std::chrono::seconds(10)};

  bool Wants(std::string_view event) const;
};

// The longest wait between two attempts.
inline constexpr std::chrono::milliseconds kMaxRetryDelay{std::chrono::hours(1)};

// Parses the Manager config's `webhooks` list (YAML converted to JSON, so
// numbers may come as strings): each entry {url, secret, events?,
// max_attempts?, retry_delay?, timeout?}; durations like "30s". Unknown keys,
// unknown event names, a URL that is not http(s) and an empty secret are
// InvalidArgument naming the entry.
Result<std::vector<WebhookConfig>> WebhooksFromJson(const nlohmann::json& j);

// --- pure policy ------------------------------------------------------------

// The body of a delivery: {"id": event_id, "event": name, "time": ISO 8601
// UTC, ...data}.
std::string EventBody(const Event& event, const std::string& event_id);

// "sha256=" + lower-case hex HMAC-SHA256 of `body` keyed with `secret`.
std::string Signature(std::string_view secret, std::string_view body);

// How long to wait after attempt number `attempts_made` (1-based) failed,
// or nullopt when no attempt is left: retry_delay * 2^(attempts_made - 1),
// at most kMaxRetryDelay.
std::optional<std::chrono::milliseconds> RetryDelay(const WebhookConfig& hook, int attempts_made);

// Whether an attempt that got HTTP `status` (0: no answer at all) deserves
// another one.
bool IsRetryable(int status);

// --- delivery -----------------------------------------------------------------

struct DispatcherOptions {
  // Deliveries queued beyond this many are dropped (oldest first) with a
  // warning: a receiver that is down for long must not eat the Manager's
  // memory.
  size_t max_pending = 10000;
};

struct DispatcherStats {
  uint64_t delivered = 0;  // got a 2xx
  uint64_t given_up = 0;   // refused, or out of attempts
  uint64_t dropped = 0;    // queue full
  uint64_t attempts = 0;
};

// Delivers published events to the webhooks that want them. Publish() only
// queues; Run() sends on its own thread, waiting on the injected Clock
// between attempts, one request at a time. Thread-safe.
class Dispatcher final : public EventSink {
 public:
  // `client` and `clock` must outlive the dispatcher.
  Dispatcher(std::vector<WebhookConfig> hooks, http::Client& client, Clock& clock, DispatcherOptions options = {});

  void Publish(Event event) override;

  // Sends what is due until stopped. Publish() wakes it (Clock::NotifyAll).
  void Run(std::stop_token stop);
  // Makes every attempt that is due now; returns how many were made. Run()
  // calls it; tests call it directly with a FakeClock.
  int SendDue();

  size_t pending() const;
  // When the next attempt is due (nullopt: nothing pending).
  std::optional<SteadyTime> NextDue() const;
  DispatcherStats stats() const;

 private:
  struct Delivery {
    size_t hook = 0;  // index into hooks_
    std::string id;
    std::string event;
    std::string body;
    int attempts = 0;
    SteadyTime due{};
  };

  enum class Outcome { kDelivered, kGivenUp, kRetry };
  // Sends one attempt (no lock held); for kRetry, `d.due` is set to the
  // next attempt.
  Outcome Attempt(Delivery& d);

  const std::vector<WebhookConfig> hooks_;
  http::Client& client_;
  Clock& clock_;
  const DispatcherOptions options_;
  mutable std::mutex mu_;
  std::deque<Delivery> queue_;  // guarded by mu_
  DispatcherStats stats_;       // guarded by mu_
};

}  // namespace duende::webhooks
