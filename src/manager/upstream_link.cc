#include "manager/upstream_link.h"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace duende::manager {

namespace {
constexpr const char* kDepsgraphTokenKey = "depsgraph_last_modified";
}

UpstreamLink::UpstreamLink(protocol::Upstream& upstream, Farm& farm, FarmStore& store, Clock& clock,
                           UpstreamLinkOptions options)
    : upstream_(upstream), farm_(farm), store_(store), clock_(clock), options_(options) {}

void UpstreamLink::KickDownload() {
  download_wanted_ = true;
  clock_.NotifyAll();
}

void UpstreamLink::KickDownloadThrottled() {
  {
    std::lock_guard lock(kick_mu_);
    const SteadyTime now = clock_.SteadyNow();
    if (last_kick_ && now - *last_kick_ < options_.download_recheck_throttle) return;
    last_kick_ = now;
  }
  KickDownload();
}

void UpstreamLink::KickCancelFetch() {
  cancel_fetch_wanted_ = true;
  clock_.NotifyAll();
}

bool UpstreamLink::Revalidate(const protocol::Task& task) {
  if (upstream_down_) return true;
  const protocol::TaskCheck check = upstream_.RefetchTask(task.id, task.etag);
  switch (check.kind) {
    case protocol::TaskCheck::Kind::kUnchanged:
      return true;
    case protocol::TaskCheck::Kind::kChanged:
      spdlog::info("task {} changed upstream; updating the local copy before assignment", task.id);
      if (auto st = farm_.ApplyDepsgraph({check.task}); !st) spdlog::warn("task {}: {}", task.id, st.error().message);
      return false;
    case protocol::TaskCheck::Kind::kGone:
      spdlog::info("task {} is gone upstream; canceling it locally", task.id);
      if (auto st = farm_.CancelTasks({task.id}); !st) spdlog::warn("task {}: {}", task.id, st.error().message);
      return false;
  }
  return true;
}

void UpstreamLink::OnUpstreamQueued() {
  // Wake the link only when this update makes a push wanted: while one is
  // already wanted the link is about to push (or retrying after a failure)
  // and will take this update along. Waking every background thread per
  // task update was a tenth of the Manager's time under load. Woken, the
  // link pushes at once or, within push_max_interval of its last push, at
  // the end of that interval.
  const bool was_wanted = push_wanted_.exchange(true);
  if (!was_wanted) clock_.NotifyAll();
}

Result<bool> UpstreamLink::Download() {
  if (notification_source_) {
    protocol::UpstreamNotification n = notification_source_();
    const bool same = notified_ && notified_->nr_of_workers == n.nr_of_workers &&
                      notified_->worker_task_types == n.worker_task_types && notified_->manager_url == n.manager_url &&
                      notified_->variables == n.variables;
    if (!same) {
      if (auto st = upstream_.Notify(n); !st) return std::unexpected(st.error());
      notified_ = std::move(n);
    }
  }
  auto token =
      store_.Read([](FarmTx& tx) -> Result<std::optional<std::string>> { return tx.GetSetting(kDepsgraphTokenKey); });
  if (!token) return std::unexpected(token.error());
  auto graph = upstream_.FetchDepsgraph(token->value_or(""));
  if (!graph) return std::unexpected(graph.error());
  if (graph->kind != protocol::Depsgraph::Kind::kTasks) return false;
  // The token commits with the tasks: saved apart, a crash in between made
  // the next download (with the old token) bring back the same copies and
  // overwrite what workers had done with them since (an assigned task
  // became claimed-by-manager again and its worker's completion was
  // ignored).
  std::function<void(FarmTx&)> save_token;
  if (!graph->last_updated.empty())
    save_token = [&](FarmTx& tx) { tx.PutSetting(kDepsgraphTokenKey, graph->last_updated); };
  // A chunk of a big change (the job side's `more`) is stored with its
  // token like a whole answer: its tasks are schedulable at once, and after
  // a crash the next download starts after the last chunk stored.
  if (auto st = farm_.ApplyDepsgraph(graph->tasks, save_token); !st) return std::unexpected(st.error());
  spdlog::debug("depsgraph: {} tasks{}", graph->tasks.size(), graph->more ? ", more to come" : "");
  return graph->more;
}

Result<int> UpstreamLink::Push(bool allow_empty) {
  auto batch = store_.Read(
      [&](FarmTx& tx) -> Result<std::vector<protocol::TaskUpdate>> { return tx.PeekUpdates(options_.push_max_count); });
  if (!batch) return std::unexpected(batch.error());
  if (batch->empty() && !allow_empty) return 0;
  const SteadyTime asked_at = clock_.SteadyNow();
  auto response = upstream_.PushTaskUpdates(*batch);
  if (!response) return std::unexpected(response.error());
  if (response->handled_update_ids.size() < batch->size())
    spdlog::warn("upstream accepted {} of {} task updates", response->handled_update_ids.size(), batch->size());
  // A cancellation fetch (an empty push) has nothing to remove: no write,
  // which could otherwise be the one waiting while another process holds
  // the database's write lock, and make the workers' writes fail meanwhile.
  if (!response->handled_update_ids.empty()) {
    auto st = store_.Write([&](FarmTx& tx) -> Status {
      tx.RemoveUpdates(response->handled_update_ids);
      return Ok();
    });
    if (!st) return std::unexpected(st.error());
  }
  delivered_.fetch_add(response->handled_update_ids.size(), std::memory_order_relaxed);
  last_push_ = clock_.SteadyNow();
  upstream_down_ = false;
  if (log_uploader_) log_uploader_->Request(response->upload_task_file_queue, asked_at);
  if (auto c = farm_.CancelTasks(response->cancel_task_ids); !c) return std::unexpected(c.error());
  return static_cast<int>(batch->size());
}

Status UpstreamLink::SyncOnce() {
  for (;;) {
    auto more = Download();
    if (!more) return std::unexpected(more.error());
    if (!*more) break;
  }
  auto pushed = Push(true);
  if (!pushed) return std::unexpected(pushed.error());
  return Ok();
}

void UpstreamLink::Run(std::stop_token stop) {
  last_push_ = clock_.SteadyNow();
  last_download_ = clock_.SteadyNow();
  while (!stop.stop_requested()) {
    const uint64_t generation = clock_.Generation();
    const SteadyTime now = clock_.SteadyNow();
    bool failed = false;
    if (download_wanted_.exchange(false) || now - last_download_ >= options_.download_task_sleep) {
      last_download_ = now;
      if (auto more = Download(); !more) {
        spdlog::warn("depsgraph download failed: {}", more.error().message);
        download_wanted_ = true;
        failed = true;
        upstream_down_ = true;
      } else {
        upstream_down_ = false;
        // The next chunk right after this loop's push, if one is due.
        if (*more) download_wanted_ = true;
      }
    }
    const bool push_due = push_wanted_.load() && now - last_push_ >= options_.push_max_interval;
    const bool cancel_due =
        cancel_fetch_wanted_.exchange(false) || now - last_push_ >= options_.cancel_fetch_max_interval;
    if (push_due || cancel_due) {
      push_wanted_ = false;
      auto pushed = Push(cancel_due);
      if (!pushed) {
        spdlog::warn("task update push failed: {}", pushed.error().message);
        push_wanted_ = true;
        failed = true;
        upstream_down_ = true;
      } else if (*pushed >= options_.push_max_count) {
        push_wanted_ = true;  // more waiting: go again at once
        continue;
      }
    }
    SteadyTime next = last_download_ + options_.download_task_sleep;
    next = std::min(next, last_push_ + options_.cancel_fetch_max_interval);
    if (push_wanted_) next = std::min(next, last_push_ + options_.push_max_interval);
    if (failed) next = std::min(next, clock_.SteadyNow() + options_.retry_delay);
    if (!failed && (download_wanted_ || cancel_fetch_wanted_ || (push_wanted_ && next <= clock_.SteadyNow()))) continue;
    clock_.WaitUntil(next, stop, generation);
  }
}

}  // namespace duende::manager
