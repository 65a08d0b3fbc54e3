// The durable outbox (spec §10.5): every update the worker sends to the
// Manager (task updates, in order) is first written to SQLite in
// <data-dir>/outbox.sqlite, then delivered by a flusher in insertion order.
// It survives Manager outages and worker restarts.
//
// Delivery rules: 2xx → delete; 404/409 → drop (task gone / reassigned, spec
// §10.5) and also 400 (the Manager can never accept that payload, so keeping
// it would block every later update forever); anything else or a network
// error → keep, stop the round, back off, retry.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "store/sqlite.h"

namespace duende::worker {

// Where queued updates go; implemented by the outbox, faked in tests.
class UpdateSink {
 public:
  virtual ~UpdateSink() = default;
  // Queues a JSON `payload` to be POSTed to `path` (relative to the Manager
  // URL). Thread-safe. Errors: store failures (the update is lost).
  virtual Status Enqueue(std::string_view path, std::string_view payload) = 0;
};

// The one call the flusher makes; implemented by ManagerClient.
class UpdatePoster {
 public:
  virtual ~UpdatePoster() = default;
  // POSTs a JSON body; returns the HTTP status, kUnavailable on network errors.
  virtual Result<int> PostJson(std::string_view path, std::string_view body) = 0;
};

struct OutboxItem {
  int64_t id = 0;
  std::string path;
  std::string payload;
};

struct OutboxOptions {
  // Wait after a failed delivery before trying again (spec: 5 s).
  std::chrono::milliseconds backoff = std::chrono::seconds(5);
  // Items delivered per round (spec: ~1000); bounds one round's duration.
  int max_items_per_round = 1000;
};

class Outbox final : public UpdateSink {
 public:
  enum class Round { kEmpty, kDelivered, kFailed };

  // Opens (creating) the SQLite file and applies the "worker_outbox"
  // migrations. `poster` and `clock` must outlive the outbox.
  static Result<std::unique_ptr<Outbox>> Open(const std::string& path, UpdatePoster& poster, Clock& clock,
                                              OutboxOptions options = {});

  Status Enqueue(std::string_view path, std::string_view payload) override;
  Result<int64_t> Count();
  // Oldest first.
  Result<std::vector<OutboxItem>> Peek(int limit);

  // Delivers queued items in order until the queue is empty or one fails.
  // Thread-safe: rounds are serialised, so items are never sent twice
  // concurrently.
  Round FlushRound();
  // Flushes until empty (true) or `deadline` passes / `stop` is requested
  // (false), backing off between failed rounds.
  bool FlushUntil(SteadyTime deadline, std::stop_token stop);

  // The background flusher: flushes whenever something is queued, backs off
  // on failure. Returns when `stop` is requested.
  void Run(std::stop_token stop);

 private:
  Outbox(std::unique_ptr<store::Database> db, UpdatePoster& poster, Clock& clock, OutboxOptions options)
      : db_(std::move(db)), poster_(poster), clock_(clock), options_(options) {}
  bool BackOff(SteadyTime deadline, std::stop_token stop);

  std::unique_ptr<store::Database> db_;
  UpdatePoster& poster_;
  Clock& clock_;
  OutboxOptions options_;
  std::mutex round_mu_;  // serialises FlushRound
  std::mutex kick_mu_;
  std::condition_variable_any kick_cv_;
  uint64_t enqueued_ = 0;  // guarded by kick_mu_
};

}  // namespace duende::worker
