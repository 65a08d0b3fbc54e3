// The Manager's side of webhooks: job status changes and worker timeouts
// become webhooks::Events for the dispatcher (src/webhooks). The mapping is
// pure; WebhookNotifier only forwards what the job side and the Farm
// announce after their commits.
#pragma once

#include <optional>
#include <string>

#include "common/clock.h"
#include "jobs/job_service.h"
#include "manager/farm.h"
#include "webhooks/webhooks.h"

namespace duende::manager {

// Who sends the events: {"name": ..., "url": ...} in every body.
struct EventSource {
  std::string manager_name;
  std::string manager_url;  // own_url; may be empty
};

// job.completed / job.failed / job.canceled for a job that reached that
// status, with {"job": <job JSON as GET /api/jobs/{id} has it, plus
// "previous_status">, "manager": ...}; nullopt for any other status.
std::optional<webhooks::Event> JobStatusEvent(const jobs::Job& job, protocol::JobStatus previous, SystemTime now,
                                              const EventSource& source);

// worker.timeout with {"worker": <worker JSON as GET /api/workers has it>,
// "manager": ...}.
webhooks::Event WorkerTimeoutEvent(const WorkerRecord& worker, SystemTime now, const EventSource& source);

// Listens to the job side and the Farm and publishes their events to `sink`.
// Both callbacks come after commits and only queue (EventSink::Publish).
class WebhookNotifier final : public jobs::JobStatusListener, public FarmListener {
 public:
  WebhookNotifier(webhooks::EventSink& sink, Clock& clock, EventSource source)
      : sink_(sink), clock_(clock), source_(std::move(source)) {}

  void OnJobStatusChanged(const jobs::Job& job, protocol::JobStatus previous) override;
  void OnWorkerTimedOut(const WorkerRecord& worker) override;

 private:
  webhooks::EventSink& sink_;
  Clock& clock_;
  const EventSource source_;
};

}  // namespace duende::manager
