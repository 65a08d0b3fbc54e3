#include "worker/outbox.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <nlohmann/json.hpp>

namespace duende::worker {
namespace {

const std::vector<std::string> kMigrations = {
    "CREATE TABLE outbox (id INTEGER PRIMARY KEY, path TEXT NOT NULL, payload TEXT NOT NULL)",
};

// Answers that the same request would get again. 413: an update larger than
// the Manager accepts (its request_body_limit was set below what the task
// reporter sends) would otherwise block every later update for ever.
bool Droppable(int status) { return status == 404 || status == 409 || status == 400 || status == 413; }

// At debug level, one line per update the Manager acknowledged: its task
// status and last log line, so an operator (and the crash tests) can check
// that everything a worker was told was accepted is on the Manager.
void LogAcknowledged(const OutboxItem& item, int http_status) {
  if (!spdlog::should_log(spdlog::level::debug)) return;
  const auto body = nlohmann::json::parse(item.payload, nullptr, false);
  std::string task_status = "-";
  std::string last_line;
  if (body.is_object()) {
    if (auto it = body.find("task_status"); it != body.end() && it->is_string()) task_status = it->get<std::string>();
    if (auto it = body.find("log"); it != body.end() && it->is_string()) {
      const auto& log = it->get_ref<const std::string&>();
      last_line = log.substr(log.rfind('\n') + 1);
    }
  }
  spdlog::debug("outbox: acknowledged #{} {} [{}] status={} last-log-line={}", item.id, item.path, http_status,
                task_status, last_line);
}

}  // namespace

Result<std::unique_ptr<Outbox>> Outbox::Open(const std::string& path, UpdatePoster& poster, Clock& clock,
                                             OutboxOptions options) {
  auto db = store::Database::Open(path);
  if (!db) return std::unexpected(db.error().WithContext("opening outbox " + path));
  if (auto st = (*db)->Migrate("worker_outbox", kMigrations); !st)
    return std::unexpected(st.error().WithContext("migrating outbox " + path));
  return std::unique_ptr<Outbox>(new Outbox(std::move(*db), poster, clock, options));
}

Status Outbox::Enqueue(std::string_view path, std::string_view payload) {
  {
    std::lock_guard mirror(mirror_mu_);
    int64_t id = 0;
    auto st = db_->WriteTx([&](store::Conn& c) -> Status {
      c.Prepare("INSERT INTO outbox (path, payload) VALUES (?, ?)").Bind(1, path).Bind(2, payload).Run();
      id = c.LastInsertRowid();
      return Ok();
    });
    if (!st) return st;
    if (mirror_complete_) {
      if (mirror_bytes_ + payload.size() <= kMirrorMaxBytes) {
        mirror_.push_back({id, std::string(path), std::string(payload)});
        mirror_bytes_ += payload.size();
      } else {
        mirror_.clear();  // the flusher reads the table until the queue drains
        mirror_bytes_ = 0;
        mirror_complete_ = false;
      }
    }
  }
  {
    std::lock_guard lock(kick_mu_);
    ++enqueued_;
  }
  kick_cv_.notify_all();
  return Ok();
}

Result<int64_t> Outbox::Count() {
  {
    std::lock_guard mirror(mirror_mu_);
    if (mirror_complete_) return static_cast<int64_t>(mirror_.size());
  }
  return db_->Read([](store::Conn& c) -> Result<int64_t> {
    auto& s = c.Prepare("SELECT COUNT(*) FROM outbox");
    s.Step();
    return s.Int(0);
  });
}

Result<std::vector<OutboxItem>> Outbox::Peek(int limit) {
  return db_->Read([&](store::Conn& c) -> Result<std::vector<OutboxItem>> {
    std::vector<OutboxItem> items;
    auto& s = c.Prepare("SELECT id, path, payload FROM outbox ORDER BY id LIMIT ?").Bind(1, limit);
    while (s.Step()) items.push_back({s.Int(0), s.Text(1), s.Text(2)});
    return items;
  });
}

Result<std::vector<OutboxItem>> Outbox::Head(int limit) {
  std::lock_guard mirror(mirror_mu_);
  if (mirror_complete_) {
    const auto n = std::min(mirror_.size(), static_cast<size_t>(std::max(limit, 0)));
    return std::vector<OutboxItem>(mirror_.begin(), mirror_.begin() + static_cast<std::ptrdiff_t>(n));
  }
  auto items = Peek(limit);
  if (!items) return items;
  size_t bytes = 0;
  for (const auto& item : *items) bytes += item.payload.size();
  if (items->size() < static_cast<size_t>(limit) && bytes <= kMirrorMaxBytes) {
    mirror_.assign(items->begin(), items->end());  // the whole queue
    mirror_bytes_ = bytes;
    mirror_complete_ = true;
  }
  return items;
}

void Outbox::Forget(int64_t id) {
  std::lock_guard mirror(mirror_mu_);
  if (!mirror_complete_ || mirror_.empty() || mirror_.front().id != id) return;
  mirror_bytes_ -= mirror_.front().payload.size();
  mirror_.pop_front();
}

Outbox::Round Outbox::FlushRound() {
  std::lock_guard round(round_mu_);
  auto items = Head(options_.max_items_per_round);
  if (!items) {
    spdlog::error("outbox: {}", items.error().message);
    return Round::kFailed;
  }
  if (items->empty()) return Round::kEmpty;
  for (const auto& item : *items) {
    auto status = poster_.PostJson(item.path, item.payload);
    if (!status) {
      spdlog::debug("outbox: cannot deliver to {}: {}", item.path, status.error().message);
      return Round::kFailed;
    }
    if (*status >= 200 && *status < 300) {
      LogAcknowledged(item, *status);
    } else if (Droppable(*status)) {
      spdlog::warn("outbox: Manager answered {} for {}; dropping the update", *status, item.path);
    } else {
      spdlog::warn("outbox: Manager answered {} for {}; will retry", *status, item.path);
      return Round::kFailed;
    }
    auto removed = db_->WriteTx([&](store::Conn& c) -> Status {
      c.Prepare("DELETE FROM outbox WHERE id = ?").Bind(1, item.id).Run();
      return Ok();
    });
    if (!removed) {
      // It was delivered but stays queued; the Manager sees it twice at worst
      // (updates are idempotent merges), which beats losing order.
      spdlog::error("outbox: cannot delete delivered item: {}", removed.error().message);
      return Round::kFailed;
    }
    Forget(item.id);
  }
  return Round::kDelivered;
}

bool Outbox::BackOff(SteadyTime deadline, std::stop_token stop) {
  while (clock_.SteadyNow() < deadline) {
    if (!clock_.WaitUntil(deadline, stop)) return false;
  }
  return true;
}

bool Outbox::FlushUntil(SteadyTime deadline, std::stop_token stop) {
  while (!stop.stop_requested()) {
    switch (FlushRound()) {
      case Round::kEmpty:
        return true;
      case Round::kDelivered:
        break;
      case Round::kFailed:
        if (clock_.SteadyNow() >= deadline) return false;
        if (!BackOff(std::min(deadline, clock_.SteadyNow() + options_.backoff), stop)) return false;
        break;
    }
  }
  return false;
}

void Outbox::Run(std::stop_token stop) {
  while (!stop.stop_requested()) {
    uint64_t seen;
    {
      std::lock_guard lock(kick_mu_);
      seen = enqueued_;
    }
    switch (FlushRound()) {
      case Round::kDelivered:
        continue;
      case Round::kFailed:
        BackOff(clock_.SteadyNow() + options_.backoff, stop);
        continue;
      case Round::kEmpty: {
        // Nothing queued: sleep until Enqueue() signals. Not a timer, so no
        // Clock involved.
        std::unique_lock lock(kick_mu_);
        kick_cv_.wait(lock, stop, [&] { return enqueued_ != seen; });
        continue;
      }
    }
  }
}

}  // namespace duende::worker
