#include "cli/manager_api.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <utility>

#include "cli/cli.h"

namespace duende::cli {
namespace {

// Long enough for a loaded manager answering a big job list; short enough
// that a wedged manager does not hang a script forever.
constexpr long kRequestTimeoutMs = 30'000;

// The client prefixes network errors with "METHOD URL: "; the CLI line
// already names the manager, so keep only the reason.
std::string NetworkReason(const std::string& message, const std::string& url) {
  const std::string marker = url + ": ";
  const size_t at = message.find(marker);
  if (at != std::string::npos) return message.substr(at + marker.size());
  return message;
}

std::string ServerMessage(const http::ClientResponse& response, std::string_view method, std::string_view path) {
  const auto body = nlohmann::json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  std::string message;
  if (body.is_object() && body.contains("message") && body["message"].is_string()) {
    message = body["message"].get<std::string>();
  } else if (!body.is_discarded() && !response.body.empty()) {
    message = body.dump();
  } else {
    // v2-style plain-text error bodies: show their first line.
    message = response.body.substr(0, response.body.find('\n'));
  }
  if (message.empty()) message = std::string(method) + " " + std::string(path) + " failed";
  return OneLine(message) + " (HTTP " + std::to_string(response.status) + ")";
}

}  // namespace

ManagerApi::ManagerApi(http::Client& client, std::string base_url) : client_(client), base_url_(std::move(base_url)) {
  while (!base_url_.empty() && base_url_.back() == '/') base_url_.pop_back();
}

CliResult<nlohmann::json> ManagerApi::Get(std::string_view path) {
  http::ClientRequest request;
  request.method = "GET";
  return Send(std::move(request), path);
}

CliResult<nlohmann::json> ManagerApi::Post(std::string_view path, const nlohmann::json& body) {
  http::ClientRequest request;
  request.method = "POST";
  request.body = body.dump();
  request.headers.emplace_back("Content-Type", "application/json");
  return Send(std::move(request), path);
}

CliResult<nlohmann::json> ManagerApi::Delete(std::string_view path) {
  http::ClientRequest request;
  request.method = "DELETE";
  return Send(std::move(request), path);
}

std::string ManagerApi::ErrorLine(const http::ClientResponse& response, std::string_view method,
                                  std::string_view path) {
  return ServerMessage(response, method, path);
}

CliResult<http::ClientResponse> ManagerApi::Fetch(std::string_view path) {
  http::ClientRequest request;
  request.method = "GET";
  return Exchange(request, path);
}

CliResult<http::ClientResponse> ManagerApi::Exchange(http::ClientRequest& request, std::string_view path) {
  request.url = base_url_ + std::string(path);
  request.timeout_ms = kRequestTimeoutMs;
  auto response = client_.Send(request);
  if (!response) {
    return std::unexpected(CliError{
        kExitUnreachable,
        "cannot reach manager at " + base_url_ + ": " + OneLine(NetworkReason(response.error().message, request.url))});
  }
  return std::move(*response);
}

CliResult<nlohmann::json> ManagerApi::Send(http::ClientRequest request, std::string_view path) {
  request.headers.emplace_back("Accept", "application/json");
  auto response = Exchange(request, path);
  if (!response) return std::unexpected(response.error());
  if (response->status < 200 || response->status >= 300) {
    return std::unexpected(CliError{kExitFailed, ServerMessage(*response, request.method, path)});
  }
  if (response->body.empty()) return nlohmann::json(nullptr);
  auto body = nlohmann::json::parse(response->body, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded()) {
    return std::unexpected(CliError{kExitFailed, "manager sent a response that is not JSON for " + request.method +
                                                     " " + std::string(path) + " (HTTP " +
                                                     std::to_string(response->status) + ")"});
  }
  return body;
}

std::string JobPath(std::string_view id, std::string_view suffix) {
  return "/api/jobs/" + http::PercentEncode(id) + std::string(suffix);
}

std::string OneLine(std::string_view text, size_t max_chars) {
  std::string line;
  line.reserve(std::min(text.size(), max_chars + 3));
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    line.push_back(u < 0x20 || u == 0x7f ? ' ' : c);
  }
  while (!line.empty() && line.back() == ' ') line.pop_back();
  if (line.size() > max_chars) {
    // Do not cut a UTF-8 sequence in half.
    size_t cut = max_chars;
    while (cut > 0 && (static_cast<unsigned char>(line[cut]) & 0xC0) == 0x80) --cut;
    line.resize(cut);
    line += "...";
  }
  return line;
}

}  // namespace duende::cli
