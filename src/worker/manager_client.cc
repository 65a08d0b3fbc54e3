#include "worker/manager_client.h"

#include <nlohmann/json.hpp>

namespace duende::worker {

ManagerClient::ManagerClient(http::Client& client, std::string base_url, long timeout_ms)
    : client_(client), base_url_(std::move(base_url)), timeout_ms_(timeout_ms) {
  while (!base_url_.empty() && base_url_.back() == '/') base_url_.pop_back();
}

void ManagerClient::SetCredentials(Credentials credentials) {
  std::lock_guard lock(mu_);
  credentials_ = std::move(credentials);
}

Result<http::ClientResponse> ManagerClient::Send(std::string_view method, std::string_view path,
                                                 const nlohmann::json& body, http::Headers headers) {
  // Replace invalid UTF-8 rather than throw: text may come from arbitrary
  // subprocess output.
  headers.emplace_back("Content-Type", "application/json");
  return SendRaw(method, path, body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), std::move(headers));
}

Result<http::ClientResponse> ManagerClient::Send(std::string_view method, std::string_view path,
                                                 http::Headers headers) {
  return SendRaw(method, path, "", std::move(headers));
}

Result<http::ClientResponse> ManagerClient::SendRaw(std::string_view method, std::string_view path, std::string body,
                                                    http::Headers headers) {
  http::ClientRequest req;
  req.method = std::string(method);
  req.url = base_url_ + std::string(path);
  req.headers = std::move(headers);
  req.body = std::move(body);
  req.timeout_ms = timeout_ms_;
  {
    std::lock_guard lock(mu_);
    req.user = credentials_.worker_id;
    req.password = credentials_.worker_secret;
  }
  return client_.Send(req);
}

Result<int> ManagerClient::PostJson(std::string_view path, std::string_view body) {
  auto resp = SendRaw("POST", path, std::string(body), {{"Content-Type", "application/json"}});
  if (!resp) return std::unexpected(resp.error());
  return resp->status;
}

Result<nlohmann::json> ParseJsonObject(std::string_view body) {
  auto j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return InvalidArgument("expected a JSON object in the response");
  return j;
}

}  // namespace duende::worker
