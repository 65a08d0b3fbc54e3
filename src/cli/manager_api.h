// Thin JSON-over-HTTP access to the Manager's /api/ endpoints, turning every
// failure into the one line and exit code the CLI reports.
#pragma once

#include <expected>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>

#include "http/http.h"

namespace duende::cli {

// A failure ready to print: `message` is one line without the
// "duende: error: " prefix; `exit_code` is kExitFailed or kExitUnreachable.
struct CliError {
  int exit_code = 1;
  std::string message;
};

template <typename T>
using CliResult = std::expected<T, CliError>;

class ManagerApi {
 public:
  // `base_url` like "http://127.0.0.1:8080" (a trailing '/' is ignored).
  // `client` must outlive this object.
  ManagerApi(http::Client& client, std::string base_url);

  const std::string& base_url() const { return base_url_; }

  // GET `path` (starting with "/api/"). Returns the parsed body; an empty
  // body (204) gives null. Errors:
  //   network failure → kExitUnreachable, "cannot reach manager at URL: why";
  //   status >= 300   → kExitFailed, "<server message> (HTTP <status>)";
  //   a 2xx body that is not JSON → kExitFailed.
  CliResult<nlohmann::json> Get(std::string_view path);
  // POST `body` as JSON to `path`; results and errors as Get().
  CliResult<nlohmann::json> Post(std::string_view path, const nlohmann::json& body);
  // DELETE `path`; results and errors as Get().
  CliResult<nlohmann::json> Delete(std::string_view path);
  // GET `path` and return the response whatever its status (for bodies that
  // are not JSON, or a 404 that means "not yet"). Only a network failure is
  // an error (kExitUnreachable).
  CliResult<http::ClientResponse> Fetch(std::string_view path);
  // "<server message> (HTTP <status>)" for a response Fetch returned.
  static std::string ErrorLine(const http::ClientResponse& response, std::string_view method, std::string_view path);

 private:
  CliResult<nlohmann::json> Send(http::ClientRequest request, std::string_view path);
  CliResult<http::ClientResponse> Exchange(http::ClientRequest& request, std::string_view path);

  http::Client& client_;
  std::string base_url_;
};

// "/api/jobs/<id>": percent-encodes `id` so it is always one path segment.
std::string JobPath(std::string_view id, std::string_view suffix = "");

// Collapses an arbitrary message to one printable line (newlines and control
// characters become spaces, long text is cut with "...").
std::string OneLine(std::string_view text, size_t max_chars = 300);

}  // namespace duende::cli
