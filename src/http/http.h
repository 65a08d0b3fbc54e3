// The HTTP layer: a small request/response model, a router, an asynchronous
// server (Boost.Beast, kept inside server.cc) and a client (libcurl).
//
// Callers never see Beast: handlers take a Request and return a Response.
// Handlers run on the server's I/O threads and must not block for long.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"

namespace duende::http {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct Request {
  std::string method;  // upper case: "GET", "POST", ...
  std::string path;    // percent-decoded path, no query string
  std::string query;   // raw query string without '?'
  Headers headers;     // names lower-cased
  std::string body;
  std::string remote_host;          // IP only
  std::string remote_endpoint;      // "ip:port"
  std::vector<std::string> params;  // path parameters, filled by the Router
  std::string route;                // matched pattern ("/tasks/{id}/update"), filled by the Router

  // Sets `path` (percent-decoded, up to the first '?') and `query` (the raw
  // rest) from an HTTP request target such as "/api/jobs?limit=5".
  void SetTarget(std::string_view target);
  // Case-insensitive header lookup; empty when absent.
  std::string_view Header(std::string_view name) const;
  // Decoded query parameter, or nullopt.
  std::optional<std::string> Query(std::string_view name) const;
};

// A byte range of an open file, sent as a response body in chunks so a large
// file is never loaded in memory. Owns the descriptor (closed on
// destruction), so the file stays readable even if it is renamed or unlinked
// after the handler opened it.
class FileSlice {
 public:
  FileSlice(int fd, uint64_t offset, uint64_t length) : fd_(fd), offset_(offset), length_(length) {}
  ~FileSlice();
  FileSlice(const FileSlice&) = delete;
  FileSlice& operator=(const FileSlice&) = delete;

  // Opens `path` read-only; NotFound when it does not exist. `length`
  // nullopt means "to the end of the file as it is now".
  static Result<std::shared_ptr<FileSlice>> Open(const std::string& path, uint64_t offset = 0,
                                                 std::optional<uint64_t> length = std::nullopt);

  int fd() const { return fd_; }
  uint64_t offset() const { return offset_; }
  uint64_t length() const { return length_; }

 private:
  int fd_;
  uint64_t offset_;
  uint64_t length_;
};

// A response body produced over time (Server-Sent Events, live logs). The
// handler returns a Response carrying the Stream and keeps writing to it from
// any thread; the server sends what was written as HTTP/1.1 chunks on the
// connection's strand. While nothing is queued the connection holds no
// thread. The stream closes when the producer calls Close() (the response
// ends), when the client disconnects, when the producer overruns
// `max_pending_bytes` (a client that does not read), or when the server
// stops. Thread-safe.
class Stream {
 public:
  static constexpr size_t kDefaultMaxPendingBytes = 8 * 1024 * 1024;
  explicit Stream(size_t max_pending_bytes = kDefaultMaxPendingBytes) : max_pending_(max_pending_bytes) {}

  // Queues `data`. Returns false (and drops it) once the stream is closed;
  // closes the stream and returns false when the queue would exceed the limit.
  bool Write(std::string_view data);
  // Server side, before sending starts: puts `data` (the Response's body)
  // in front of whatever producers wrote already, even if they have closed
  // the stream meanwhile.
  void Prepend(std::string_view data);
  // Ends the response after what is queued has been sent. Idempotent.
  void Close();
  bool closed() const;
  // `fn` runs exactly once when the stream closes for any reason (at once,
  // on this thread, if it already is closed). Not called under a lock, so it
  // may call back into the stream.
  void OnClose(std::function<void()> fn);

  // --- for the server
  struct Taken {
    std::string data;
    bool closed = false;
  };
  // Takes what is queued. When nothing is queued and the stream is open,
  // `wake` is armed and called (once, from the writer's thread) on the next
  // Write() or Close().
  Taken Take(std::function<void()> wake);

 private:
  void FireOnClose(std::unique_lock<std::mutex>& lock);

  const size_t max_pending_;
  mutable std::mutex mu_;
  std::string pending_;
  bool closed_ = false;
  std::function<void()> wake_;
  std::function<void()> on_close_;
  bool on_close_fired_ = false;
};

struct Response;

// A response completed later, from any thread, without holding an I/O thread
// while waiting (long poll). The handler returns a Response carrying the
// Deferred; the server sends the Response given to Complete() on the same
// connection, keep-alive as usual. The producer must complete it eventually
// (a long poll has a deadline); until then the connection's session stays
// alive. Complete() after the first call is ignored. Thread-safe.
class Deferred {
 public:
  // Returns false when it was already completed.
  bool Complete(Response response);

  // --- for the server: `sink` receives the response exactly once (at once,
  // on this thread, when Complete() already happened).
  void SetSink(std::function<void(Response)> sink);

 private:
  std::mutex mu_;
  bool completed_ = false;
  std::unique_ptr<Response> pending_;
  std::function<void(Response)> sink_;
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  Headers headers;
  // When set, the body is the file slice (with Content-Length) and `body`
  // is ignored.
  std::shared_ptr<FileSlice> file;
  // When set, the body is streamed (chunked, connection closed afterwards)
  // and `body` is sent first.
  std::shared_ptr<Stream> stream;
  // When set, every other field is ignored and the response sent is the one
  // given to Deferred::Complete().
  std::shared_ptr<Deferred> deferred;

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
  // Runs after a route matched (request.route and params are set) and
  // before its handler: a returned Response is sent instead of calling the
  // handler (access control). Set before serving; not thread-safe to change.
  using Guard = std::function<std::optional<Response>(Request&)>;
  void SetGuard(Guard guard) { guard_ = std::move(guard); }
  // Every registered (method, pattern), in registration order.
  std::vector<std::pair<std::string, std::string>> Routes() const;

 private:
  struct Route {
    std::string method;
    std::vector<std::string> segments;  // "{}" marks a parameter
    Handler handler;
    std::string pattern;
  };
  std::vector<Route> routes_;
  Guard guard_;
};

// Serving HTTPS: PEM files of the certificate chain (server certificate
// first) and its private key. Both empty: plain HTTP.
struct ServerTls {
  std::string cert_path;
  std::string key_path;
  bool enabled() const { return !cert_path.empty() || !key_path.empty(); }
};

struct ServerOptions {
  std::string address = "127.0.0.1";
  uint16_t port = 0;  // 0 = ephemeral
  int threads = 2;
  size_t body_limit_bytes = 10 * 1024 * 1024;
  // Request line plus headers.
  size_t header_limit_bytes = 64 * 1024;
  // A keep-alive connection waiting for its next request is closed after
  // this long (a worker polls every few seconds; a long poll's wait is not
  // idle time: the server is the one that owes an answer).
  std::chrono::milliseconds idle_timeout{std::chrono::seconds(120)};
  // The whole request head (request line and headers), counted from its
  // first byte, and the TLS handshake must arrive within this: a client
  // trickling one byte at a time (slowloris) cannot hold a connection.
  std::chrono::milliseconds header_timeout{std::chrono::seconds(15)};
  // The whole body must arrive within this after the head.
  std::chrono::milliseconds body_timeout{std::chrono::seconds(300)};
  ServerTls tls;
  std::string server_name = "duende";
};

// Asynchronous HTTP/1.1 server with keep-alive, plain or over TLS. Idle
// connections cost no thread. Bodies over the limit answer 413, heads over
// the limit 431, both with a JSON message; connections that stay idle or
// send too slowly are closed (see ServerOptions).
class Server {
 public:
  Server(ServerOptions options, Handler handler);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Loads the TLS certificate and key (InvalidArgument naming the file when
  // they do not load), binds and starts the I/O threads. Returns the bound
  // port.
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
  // https:// only: the CA certificates that may sign the server's
  // certificate, a PEM file or a directory of hashed PEM files (c_rehash).
  // Empty: the system's CA store (or the client's default, see
  // ClientOptions).
  std::string ca_path;
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

// Sends `request` with libcurl and hands each piece of a 2xx body to
// `on_data` as it arrives (for streamed responses such as Server-Sent
// Events); `on_data` returns false to stop reading. A non-2xx body is
// collected in the returned ClientResponse::body instead. `timeout_ms` 0 means
// no overall timeout. Returns when the response ends, `on_data` says stop, or
// `stop` is requested (then the status is that of the response so far).
// Network errors are kUnavailable.
Result<ClientResponse> StreamRequest(const ClientRequest& request, std::string user_agent,
                                     const std::function<bool(std::string_view)>& on_data, std::stop_token stop = {});

struct ClientOptions {
  // The CA path of requests that name none (see ClientRequest::ca_path).
  std::string ca_path;
};

// libcurl-based client. Thread-safe: each thread reuses its own handle, so
// connections stay alive between requests. https:// URLs verify the
// server's certificate and host name; a failed verification is a
// kUnavailable error saying why ("SSL certificate problem: ...").
std::unique_ptr<Client> MakeCurlClient(std::string user_agent, ClientOptions options = {});

// Checks a CA path given on a command line or in a config: it must be a
// readable file or directory. InvalidArgument with one line otherwise.
Status CheckCaPath(const std::string& path);

}  // namespace duende::http
