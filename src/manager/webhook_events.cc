#include "manager/webhook_events.h"

#include <nlohmann/json.hpp>

namespace duende::manager {

using nlohmann::json;
using protocol::JobStatus;

namespace {

json SourceJson(const EventSource& source) {
  json j = {{"name", source.manager_name}};
  if (!source.manager_url.empty()) j["url"] = source.manager_url;
  return j;
}

}  // namespace

std::optional<webhooks::Event> JobStatusEvent(const jobs::Job& job, JobStatus previous, SystemTime now,
                                              const EventSource& source) {
  std::string_view name;
  switch (job.status) {
    case JobStatus::kCompleted:
      name = webhooks::kJobCompleted;
      break;
    case JobStatus::kFailed:
      name = webhooks::kJobFailed;
      break;
    case JobStatus::kCanceled:
      name = webhooks::kJobCanceled;
      break;
    default:
      return std::nullopt;
  }
  json j = jobs::ToJson(job);
  j["previous_status"] = protocol::ToString(previous);
  return webhooks::Event{std::string(name), now, {{"job", std::move(j)}, {"manager", SourceJson(source)}}};
}

webhooks::Event WorkerTimeoutEvent(const WorkerRecord& worker, SystemTime now, const EventSource& source) {
  return webhooks::Event{
      std::string(webhooks::kWorkerTimeout), now, {{"worker", ToJson(worker)}, {"manager", SourceJson(source)}}};
}

void WebhookNotifier::OnJobStatusChanged(const jobs::Job& job, JobStatus previous) {
  if (auto event = JobStatusEvent(job, previous, clock_.Now(), source_)) sink_.Publish(std::move(*event));
}

void WebhookNotifier::OnWorkerTimedOut(const WorkerRecord& worker) {
  sink_.Publish(WorkerTimeoutEvent(worker, clock_.Now(), source_));
}

}  // namespace duende::manager
