#include "common/wakeup_batch.h"

#include <algorithm>

namespace duende {
namespace {
thread_local WakeupBatch* current = nullptr;
}

WakeupBatch::WakeupBatch() : outer_(current) { current = this; }

WakeupBatch::~WakeupBatch() {
  current = outer_;
  for (auto& [key, wake] : pending_) wake();
}

void DeferWakeup(const void* key, std::function<void()> wake) {
  WakeupBatch* batch = current;
  if (!batch) return wake();
  auto& pending = batch->pending_;
  if (std::any_of(pending.begin(), pending.end(), [&](const auto& p) { return p.first == key; })) return;
  pending.emplace_back(key, std::move(wake));
}

}  // namespace duende
