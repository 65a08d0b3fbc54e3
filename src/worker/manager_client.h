// ManagerClient: the worker's view of the Manager's worker API (spec §2.2).
//
// A thin layer over http::Client: joins paths onto the Manager URL, adds
// HTTP Basic auth with the worker's credentials once known, JSON bodies.
// The User-Agent ("Duende-Worker/<version>") is set on the http::Client.
// Network failures come back as kUnavailable; every HTTP status is a
// successful Result and the caller decides what it means.
// Thread-safe (the http::Client is, and credentials are guarded).
#pragma once

#include <mutex>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "http/http.h"
#include "worker/credentials.h"
#include "worker/outbox.h"

namespace duende::worker {

class ManagerClient final : public UpdatePoster {
 public:
  // `base_url` like "http://manager:8080" (a trailing '/' is ignored).
  ManagerClient(http::Client& client, std::string base_url, long timeout_ms = 10000);

  void SetCredentials(Credentials credentials);

  // Sends `method path` without a body / with a JSON body, plus extra headers.
  Result<http::ClientResponse> Send(std::string_view method, std::string_view path, http::Headers headers = {});
  Result<http::ClientResponse> Send(std::string_view method, std::string_view path, const nlohmann::json& body,
                                    http::Headers headers = {});

  // UpdatePoster (the outbox).
  Result<int> PostJson(std::string_view path, std::string_view body) override;

  const std::string& base_url() const { return base_url_; }

 private:
  Result<http::ClientResponse> SendRaw(std::string_view method, std::string_view path, std::string body,
                                       http::Headers headers);

  http::Client& client_;
  std::string base_url_;
  long timeout_ms_;
  std::mutex mu_;
  Credentials credentials_;
};

// Parses a JSON response body; an object is returned, anything else (or
// malformed JSON) is kInvalidArgument.
Result<nlohmann::json> ParseJsonObject(std::string_view body);

}  // namespace duende::worker
