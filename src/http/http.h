// The HTTP layer: a small request/response model, a router, an asynchronous
// server (Boost.Beast, kept inside server.cc) and a client (libcurl).
//
// Callers never see Beast: handlers take a Request and return a Response.
// Handlers run on the server's I/O threads and must not block for long.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "common/result.h"

namespace duende::http {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct Request {
  std::string method;  // upper case: "GET", "POST", ...
  std::string path;    // percent-decoded path, no query string
  std::string query;   // raw query string without '?'
  Headers headers;     // names lower-cased
  std::string body;
  std::string remote_host;      // IP only
  std::string remote_endpoint;  // "ip:port"
  std::vector<std::string> params;  // path parameters, filled by the Router

  // Case-insensitive header lookup; empty when absent.
  std::string_view Header(std::string_view name) const;
  // Decoded query parameter, or nullopt.
  std::optional<std::string> Query(std::string_view name) const;
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  Headers headers;

  static Response Json(int status, const nlohmann::json& body);
  static Response Text(int status, std::string body);
  static Response NoContent() { return Response{204, "", "", {}}; }
  // {"message": ...} with the status mapped from the error code.
  static Response FromError(const Error& error);
  static Response Message(int status, std::string_view message);
};

// Maps error codes to HTTP statuses. The one place this mapping lives.
int StatusForError(ErrorCode code);

using Handler = std::function<Response(Request&)>;

// Routes "/tasks/{id}/update"-style patterns. Unmatched paths answer 404,
// matched paths with another method 405, both with a JSON message.
class Router {
 public:
  void Add(std::string_view method, std::string_view pattern, Handler handler);
  Response Dispatch(Request& request) const;

 private:
  struct Route {
    std::string method;
    std::vector<std::string> segments;  // "{}" marks a parameter
    Handler handler;
  };
  std::vector<Route> routes_;
};

struct ServerOptions {
  std::string address = "127.0.0.1";
  uint16_t port = 0;  // 0 = ephemeral
  int threads = 2;
  size_t body_limit_bytes = 10 * 1024 * 1024;
  std::string server_name = "duende";
};

// Asynchronous HTTP/1.1 server with keep-alive. Idle connections cost no
// thread. Bodies over the limit answer 413 with a JSON message.
class Server {
 public:
  Server(ServerOptions options, Handler handler);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and starts the I/O threads. Returns the bound port.
  Result<uint16_t> Start();
  // Stops accepting, closes connections, joins threads. Idempotent.
  void Stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Splits "host:port" ("127.0.0.1:8080", ":8080", "[::1]:80").
Result<std::pair<std::string, uint16_t>> ParseListen(std::string_view listen);

// `plus_as_space` for query strings and form bodies.
std::string PercentDecode(std::string_view s, bool plus_as_space = false);
std::string PercentEncode(std::string_view s);

// --- client ---------------------------------------------------------------

struct ClientRequest {
  std::string method = "GET";
  std::string url;
  Headers headers;
  std::string body;
  long timeout_ms = 10000;
  // Basic auth, when user is non-empty.
  std::string user;
  std::string password;
};

struct ClientResponse {
  int status = 0;
  std::string body;
  Headers headers;  // names lower-cased
  std::string_view Header(std::string_view name) const;
};

// Network errors come back as ErrorCode::kUnavailable; any HTTP status is a
// successful Result (callers decide what a 4xx means).
class Client {
 public:
  virtual ~Client() = default;
  virtual Result<ClientResponse> Send(const ClientRequest& request) = 0;
};

// libcurl-based client. Thread-safe: each thread reuses its own handle, so
// connections stay alive between requests.
std::unique_ptr<Client> MakeCurlClient(std::string user_agent);

}  // namespace duende::http
