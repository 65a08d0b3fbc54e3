// The durable outbox (spec §10.5): every update the worker sends to the
// Manager (task updates, in order) is first written to SQLite in
// <data-dir>/outbox.sqlite, then delivered by a flusher in insertion order.
// It survives Manager outages and worker restarts.
//
// The queued items are also kept in memory (up to kMirrorMaxBytes of
// payload, while they are every row of the table), so the flusher reads the
// next item from memory and each update costs two small transactions (its
// insert and, once delivered, its delete) instead of a read per round too.
//
// Delivery rules: 2xx → delete; 404/409 → drop (task gone / reassigned, spec
// §10.5) and also 400 (the Manager can never accept that payload, so keeping
// it would block every later update forever); anything else or a network
// error → keep, stop the round, back off, retry.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
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

  // Payload bytes the in-memory copy of the queue holds at most; past it the
  // flusher reads the table until the queue drains.
  static constexpr size_t kMirrorMaxBytes = 8 << 20;

  Status Enqueue(std::string_view path, std::string_view payload) override;
  // Items queued (from memory while the mirror is complete).
  Result<int64_t> Count();
  // Oldest first, read from the table.
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
  // The oldest `limit` queued items: from memory when the mirror is
  // complete, else from the table (which makes the mirror complete again
  // once everything queued fits).
  Result<std::vector<OutboxItem>> Head(int limit);
  // A delivered (or dropped) item left the table: drop it from memory.
  void Forget(int64_t id);

  std::unique_ptr<store::Database> db_;
  UpdatePoster& poster_;
  Clock& clock_;
  OutboxOptions options_;
  std::mutex round_mu_;  // serialises FlushRound
  std::mutex kick_mu_;
  std::condition_variable_any kick_cv_;
  uint64_t enqueued_ = 0;  // guarded by kick_mu_
  // The mirror: held across an insert and its push (Enqueue), and across a
  // table read and the mirror's refill (Head), so both agree on the order.
  std::mutex mirror_mu_;
  std::deque<OutboxItem> mirror_;  // guarded by mirror_mu_
  size_t mirror_bytes_ = 0;        // guarded by mirror_mu_
  bool mirror_complete_ = false;   // mirror_ holds every queued row; guarded by mirror_mu_
};

}  // namespace duende::worker
