// POST /tasks/{id}/update bodies (a worker's task update, spec §2.2) and the
// Manager form that goes upstream.
#include "fuzz_util.h"
#include "manager/worker_api.h"
#include "protocol/types.h"

namespace {

using duende::protocol::TaskUpdate;

bool SameWorkerFields(const TaskUpdate& a, const TaskUpdate& b) {
  return a.task_status == b.task_status && a.activity == b.activity &&
         a.task_progress_percentage == b.task_progress_percentage &&
         a.current_command_index == b.current_command_index &&
         a.command_progress_percentage == b.command_progress_percentage && a.log == b.log && a.metrics == b.metrics;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace duende;
  auto update = manager::ParseWorkerTaskUpdate(fuzz::AsText(data, size));
  if (!update) {
    FUZZ_CHECK(fuzz::IsClearError(update.error()));
    return 0;
  }
  // What a worker sent survives the worker wire form...
  auto again = protocol::WorkerTaskUpdateFromJson(protocol::ToWorkerJson(*update));
  FUZZ_CHECK(again.has_value());
  FUZZ_CHECK(SameWorkerFields(*update, *again));
  // ...and the Manager form queued for the job side (minus the full log,
  // which travels as a tail).
  update->id = "0123456789abcdef01234567";
  update->task_id = "76543210fedcba9876543210";
  update->log_tail = protocol::LogTail(update->log);
  // The upstream queue stores it as JSON text (strict UTF-8: throws otherwise).
  const auto stored = nlohmann::json::parse(protocol::ToJson(*update).dump());
  auto upstream = protocol::TaskUpdateFromJson(stored);
  FUZZ_CHECK(upstream.has_value());
  FUZZ_CHECK(upstream->id == update->id && upstream->task_id == update->task_id);
  FUZZ_CHECK(upstream->log_tail == update->log_tail);
  upstream->log = update->log;
  FUZZ_CHECK(SameWorkerFields(*update, *upstream));
  return 0;
}
