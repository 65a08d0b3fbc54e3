#include "webhooks/webhooks.h"

#include <sodium.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>

#include "common/ids.h"
#include "common/timefmt.h"

namespace duende::webhooks {

using nlohmann::json;

namespace {

// Run() waits this long when nothing is pending; Publish() wakes it
// earlier. Any value works: it only bounds how long a stray wait lasts.
constexpr std::chrono::hours kIdleWait{1};

Result<int64_t> IntSetting(const json& v, const std::string& where, int64_t min, int64_t max) {
  int64_t n = 0;
  bool ok = false;
  if (v.is_number_integer()) {
    n = v.get<int64_t>();
    ok = true;
  } else if (v.is_string()) {
    const std::string s = v.get<std::string>();
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
    ok = ec == std::errc() && ptr == s.data() + s.size() && !s.empty();
  }
  if (!ok || n < min || n > max)
    return InvalidArgument(where + " must be an integer from " + std::to_string(min) + " to " + std::to_string(max));
  return n;
}

Result<std::chrono::milliseconds> DurationSetting(const json& v, const std::string& where) {
  if (!v.is_string()) return InvalidArgument(where + " must be a duration like 30s or 10m");
  auto d = ParseDuration(v.get<std::string>());
  if (!d) return std::unexpected(d.error().WithContext(where));
  if (d->count() <= 0) return InvalidArgument(where + " must be longer than 0");
  return *d;
}

Result<WebhookConfig> WebhookFromJson(const json& e, const std::string& where) {
  if (!e.is_object()) return InvalidArgument(where + " must be a mapping with url and secret");
  WebhookConfig h;
  for (const auto& [key, v] : e.items()) {
    const std::string what = where + ": '" + key + "'";
    if (key == "url" || key == "secret") {
      if (!v.is_string()) return InvalidArgument(what + " must be a string");
      (key == "url" ? h.url : h.secret) = v.get<std::string>();
    } else if (key == "events") {
      if (!v.is_array()) return InvalidArgument(what + " must be a list of event names");
      for (const auto& name : v) {
        const auto& known = EventNames();
        if (!name.is_string() || std::find(known.begin(), known.end(), name.get<std::string>()) == known.end())
          return InvalidArgument(what + ": unknown event " + name.dump() +
                                 " (expected job.completed, job.failed, job.canceled, worker.timeout)");
        h.events.insert(name.get<std::string>());
      }
    } else if (key == "max_attempts") {
      auto n = IntSetting(v, what, 1, 100);
      if (!n) return std::unexpected(n.error());
      h.max_attempts = static_cast<int>(*n);
    } else if (key == "retry_delay" || key == "timeout") {
      auto d = DurationSetting(v, what);
      if (!d) return std::unexpected(d.error());
      (key == "retry_delay" ? h.retry_delay : h.timeout) = *d;
    } else {
      return InvalidArgument(where + ": unknown key '" + key +
                             "' (expected url, secret, events, max_attempts, retry_delay, timeout)");
    }
  }
  if (!h.url.starts_with("http://") && !h.url.starts_with("https://"))
    return InvalidArgument(where + ": 'url' must be an http:// or https:// URL, got '" + h.url + "'");
  // Unsigned notifications could be forged by anyone who finds the URL.
  if (h.secret.empty()) return InvalidArgument(where + ": 'secret' is required (it signs every delivery)");
  return h;
}

}  // namespace

const std::vector<std::string>& EventNames() {
  static const auto* names = new std::vector<std::string>{std::string(kJobCompleted), std::string(kJobFailed),
                                                          std::string(kJobCanceled), std::string(kWorkerTimeout)};
  return *names;
}

bool WebhookConfig::Wants(std::string_view event) const {
  return events.empty() || events.contains(std::string(event));
}

Result<std::vector<WebhookConfig>> WebhooksFromJson(const json& j) {
  if (!j.is_array()) return InvalidArgument("'webhooks' must be a list of {url, secret, events, ...}");
  std::vector<WebhookConfig> out;
  for (size_t i = 0; i < j.size(); ++i) {
    auto h = WebhookFromJson(j[i], "webhook " + std::to_string(i + 1));
    if (!h) return std::unexpected(h.error());
    out.push_back(std::move(*h));
  }
  return out;
}

std::string EventBody(const Event& event, const std::string& event_id) {
  json body = {{"id", event_id}, {"event", event.name}, {"time", FormatIso8601(event.time)}};
  if (event.data.is_object())
    for (const auto& [k, v] : event.data.items()) body[k] = v;
  return body.dump();
}

std::string Signature(std::string_view secret, std::string_view body) {
  if (sodium_init() < 0) std::abort();  // no crypto library: nothing sensible to do
  unsigned char mac[crypto_auth_hmacsha256_BYTES];
  crypto_auth_hmacsha256_state st;
  crypto_auth_hmacsha256_init(&st, reinterpret_cast<const unsigned char*>(secret.data()), secret.size());
  crypto_auth_hmacsha256_update(&st, reinterpret_cast<const unsigned char*>(body.data()), body.size());
  crypto_auth_hmacsha256_final(&st, mac);
  char hex[sizeof mac * 2 + 1];
  sodium_bin2hex(hex, sizeof hex, mac, sizeof mac);
  return std::string("sha256=") + hex;
}

std::optional<std::chrono::milliseconds> RetryDelay(const WebhookConfig& hook, int attempts_made) {
  if (attempts_made >= hook.max_attempts) return std::nullopt;
  auto delay = hook.retry_delay;
  for (int i = 1; i < attempts_made && delay < kMaxRetryDelay; ++i) delay *= 2;
  return std::min(delay, kMaxRetryDelay);
}

bool IsRetryable(int status) { return status == 0 || status == 408 || status == 429 || status >= 500; }

// --- Dispatcher -------------------------------------------------------------------

Dispatcher::Dispatcher(std::vector<WebhookConfig> hooks, http::Client& client, Clock& clock, DispatcherOptions options)
    : hooks_(std::move(hooks)), client_(client), clock_(clock), options_(options) {}

void Dispatcher::Publish(Event event) {
  const std::string event_id = NewObjectId();
  std::string body;  // made once, for the first webhook that wants it
  bool queued = false;
  {
    std::lock_guard lock(mu_);
    for (size_t i = 0; i < hooks_.size(); ++i) {
      if (!hooks_[i].Wants(event.name)) continue;
      if (body.empty()) body = EventBody(event, event_id);
      if (queue_.size() >= options_.max_pending) {
        spdlog::warn("webhooks: {} deliveries pending, dropping the oldest ({} to {})", queue_.size(),
                     queue_.front().event, hooks_[queue_.front().hook].url);
        queue_.pop_front();
        ++stats_.dropped;
      }
      queue_.push_back({i, NewObjectId(), event.name, body, 0, clock_.SteadyNow()});
      queued = true;
    }
  }
  if (queued) clock_.NotifyAll();
}

Dispatcher::Outcome Dispatcher::Attempt(Delivery& d) {
  const WebhookConfig& hook = hooks_[d.hook];
  ++d.attempts;
  http::ClientRequest r;
  r.method = "POST";
  r.url = hook.url;
  r.body = d.body;
  r.timeout_ms = static_cast<long>(hook.timeout.count());
  r.headers = {{"Content-Type", "application/json"},
               {kEventHeader, d.event},
               {kDeliveryHeader, d.id},
               {kSignatureHeader, Signature(hook.secret, d.body)}};
  auto resp = client_.Send(r);
  const int status = resp ? resp->status : 0;
  if (status >= 200 && status < 300) {
    spdlog::info("webhook {}: {} delivered ({}, attempt {})", hook.url, d.event, d.id, d.attempts);
    return Outcome::kDelivered;
  }
  const std::string what = resp ? "HTTP " + std::to_string(status) : resp.error().message;
  if (!IsRetryable(status)) {
    spdlog::warn("webhook {}: {} refused ({}): {}; not retried", hook.url, d.event, d.id, what);
    return Outcome::kGivenUp;
  }
  const auto delay = RetryDelay(hook, d.attempts);
  if (!delay) {
    spdlog::warn("webhook {}: {} not delivered after {} attempts ({}): {}", hook.url, d.event, d.attempts, d.id, what);
    return Outcome::kGivenUp;
  }
  spdlog::info("webhook {}: {} attempt {} failed ({}), next in {}", hook.url, d.event, d.attempts, what,
               FormatDuration(*delay));
  d.due = clock_.SteadyNow() + *delay;
  return Outcome::kRetry;
}

int Dispatcher::SendDue() {
  int made = 0;
  for (;;) {
    Delivery d;
    {
      std::lock_guard lock(mu_);
      const SteadyTime now = clock_.SteadyNow();
      auto due = queue_.end();
      for (auto it = queue_.begin(); it != queue_.end(); ++it)
        if (it->due <= now && (due == queue_.end() || it->due < due->due)) due = it;
      if (due == queue_.end()) return made;
      d = std::move(*due);
      queue_.erase(due);
    }
    ++made;
    const Outcome outcome = Attempt(d);
    std::lock_guard lock(mu_);
    ++stats_.attempts;
    switch (outcome) {
      case Outcome::kDelivered:
        ++stats_.delivered;
        break;
      case Outcome::kGivenUp:
        ++stats_.given_up;
        break;
      case Outcome::kRetry:
        queue_.push_back(std::move(d));
        break;
    }
  }
}

void Dispatcher::Run(std::stop_token stop) {
  while (!stop.stop_requested()) {
    // Read before looking for work: a Publish() after this wakes the wait.
    const uint64_t generation = clock_.Generation();
    SendDue();
    const auto next = NextDue();
    if (!clock_.WaitUntil(next.value_or(clock_.SteadyNow() + kIdleWait), stop, generation)) break;
  }
}

size_t Dispatcher::pending() const {
  std::lock_guard lock(mu_);
  return queue_.size();
}

std::optional<SteadyTime> Dispatcher::NextDue() const {
  std::lock_guard lock(mu_);
  std::optional<SteadyTime> next;
  for (const auto& d : queue_)
    if (!next || d.due < *next) next = d.due;
  return next;
}

DispatcherStats Dispatcher::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

}  // namespace duende::webhooks
