// HttpUpstream: protocol::Upstream over HTTP to duende-server (linked mode),
// with Flamenco v2's Manager -> Server requests (spec §2.6). The Manager's
// UpstreamLink and queue are the same as in standalone mode; only this
// object differs.
//
// Authentication: HTTP Basic with the Manager ID as user name and its token
// as password. Network errors and unexpected statuses are kUnavailable (the
// link retries); a 4xx answer to a push is kInvalidArgument with the
// Server's message. Thread-safe (the client is).
#pragma once

#include <atomic>
#include <string>

#include "http/http.h"
#include "protocol/upstream.h"

namespace duende::manager {

struct HttpUpstreamOptions {
  std::string base_url;  // e.g. http://server:8090 (no trailing slash needed)
  std::string manager_id;
  std::string token;
  long timeout_ms = 30000;
  // Re-validation happens while a worker waits for its task: keep it short.
  long refetch_timeout_ms = 3000;
};

class HttpUpstream final : public protocol::Upstream {
 public:
  // `client` must outlive this object.
  HttpUpstream(http::Client& client, HttpUpstreamOptions options);

  Result<protocol::Depsgraph> FetchDepsgraph(const std::string& if_updated_since) override;
  Result<protocol::BatchResponse> PushTaskUpdates(const std::vector<protocol::TaskUpdate>& updates) override;
  Status AttachTaskLog(const std::string& job_id, const std::string& task_id, const std::string& gzipped_log) override;
  // The first successful notification is sent to /startup, later ones to
  // /update.
  Status Notify(const protocol::UpstreamNotification& notification) override;
  // 304, network errors, 3xx, 5xx and 401/403 (a credentials problem says
  // nothing about the task): unchanged. 200: changed (undecodable: gone).
  // 204 and other 4xx: gone.
  protocol::TaskCheck RefetchTask(const std::string& task_id, const std::string& etag) override;

 private:
  http::ClientRequest Request(const std::string& method, const std::string& path) const;
  std::string ManagerPath(const std::string& suffix) const;

  http::Client& client_;
  HttpUpstreamOptions options_;
  std::atomic<bool> started_{false};
};

}  // namespace duende::manager
