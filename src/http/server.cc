// Boost.Beast lives only in this file: the rest of Duende sees http.h.
#include <spdlog/spdlog.h>
#include <sys/types.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/version.hpp>
#include <cerrno>
#include <cstring>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "common/thread_name.h"
#include "common/wakeup_batch.h"
#include "http/http.h"

namespace duende::http {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

// A client must take each piece of a response within this long (a
// follower of a large log on a slow link still gets it; a client that
// stopped reading does not hold the connection for ever).
constexpr auto kWriteTimeout = std::chrono::seconds(120);
// A TLS close_notify exchange; after it the socket closes regardless.
constexpr auto kTlsShutdownTimeout = std::chrono::seconds(5);
// How much of the next request is read while waiting for its first byte.
constexpr size_t kFirstReadBytes = 4096;
// After accept() fails (no file descriptors left, say), the next try waits
// this long rather than spinning; connections closing meanwhile free some.
constexpr auto kAcceptRetryDelay = std::chrono::milliseconds(100);

std::string ToLower(std::string_view s) {
  std::string out(s);
  for (auto& ch : out) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return out;
}

// Read size of one file-body chunk.
constexpr size_t kFileChunkBytes = 64 * 1024;

// Streams alive on a server, closed when it stops so their producers let go.
class StreamRegistry {
 public:
  void Add(const std::shared_ptr<Stream>& s) {
    std::lock_guard lock(mu_);
    std::erase_if(streams_, [](const std::weak_ptr<Stream>& w) { return w.expired(); });
    streams_.push_back(s);
  }
  void CloseAll() {
    std::vector<std::weak_ptr<Stream>> all;
    {
      std::lock_guard lock(mu_);
      all.swap(streams_);
    }
    for (auto& w : all)
      if (auto s = w.lock()) s->Close();
  }

 private:
  std::mutex mu_;
  std::vector<std::weak_ptr<Stream>> streams_;
};

// A response whose body a Session sends piece by piece. At namespace scope:
// clang cannot use the default member initializers of a class nested in one
// that is still incomplete (std::optional<Outgoing> as a Session member).
struct Outgoing {
  bhttp::response<bhttp::buffer_body> res;
  std::optional<bhttp::response_serializer<bhttp::buffer_body>> sr;
  std::shared_ptr<FileSlice> file;
  uint64_t sent = 0;
  std::shared_ptr<Stream> stream;
  std::string piece;  // the buffer being written
  bool keep_alive = false;
};

// Hands work from other threads to one I/O thread: deferred responses,
// completed by the store's finisher or a long poll's producer. The first
// item of a run posts one drain to the thread, and items handed over before
// the drain runs go along with it. On a thread inside a WakeupBatch (the
// store's finisher answering a committed batch of up to 256 writes) the
// drain is posted when the batch ends. A wake-up per answer was a context
// switch per request: the woken I/O thread preempted the finisher
// (docs/benchmarks.md, "Figures (ninth slice").
class Handoff {
 public:
  explicit Handoff(asio::io_context& ioc) : ioc_(ioc) {}

  void Post(std::function<void()> fn) {
    {
      std::lock_guard lock(mu_);
      items_.push_back(std::move(fn));
      if (items_.size() > 1) return;  // a drain is already on its way
    }
    DeferWakeup(this, [this] { asio::post(ioc_, [this] { Drain(); }); });
  }

 private:
  void Drain() {
    std::vector<std::function<void()>> run;
    {
      std::lock_guard lock(mu_);
      run.swap(items_);
    }
    for (auto& fn : run) fn();
  }

  asio::io_context& ioc_;
  std::mutex mu_;
  std::vector<std::function<void()>> items_;
};

// One io_context per I/O thread, each run by that thread alone: a
// connection lives on one of them for its whole life, so its handlers never
// hop threads and no thread wakes another to run them. A single io_context
// shared by all threads cost the Manager ~1.8x the CPU on an idle farm
// (condition-variable hand-offs between threads on every read and write;
// docs/benchmarks.md, "Figures (fifth slice").
struct IoThread {
  std::atomic<int> connections{0};  // outlives ioc: sessions end with it
  asio::io_context ioc{1};
  // Keeps run() going while the thread has no connection yet.
  asio::executor_work_guard<asio::io_context::executor_type> work{ioc.get_executor()};
  // After ioc: what it still holds (sessions) goes while ioc is alive.
  Handoff handoff{ioc};
};

// One connection. `S` is beast::tcp_stream (plain HTTP) or an ssl_stream
// over one (HTTPS); everything but the handshake and the close is the same.
//
// Reading a request has three deadlines (ServerOptions): the idle timeout
// until its first byte, the header timeout for the whole head from there,
// and the body timeout for the body. Each is one deadline for a whole phase,
// not per byte, so a client trickling bytes is cut off all the same.
template <class S>
class Session : public std::enable_shared_from_this<Session<S>> {
  static constexpr bool kTls = !std::is_same_v<S, beast::tcp_stream>;

 public:
  template <class... Args>
  Session(const ServerOptions& options, const Handler& handler, StreamRegistry& streams, IoThread& home,
          Args&&... stream_args)
      : stream_(std::forward<Args>(stream_args)...),
        streams_(streams),
        thread_connections_(home.connections),
        handoff_(home.handoff),
        options_(options),
        handler_(handler) {
    thread_connections_.fetch_add(1, std::memory_order_relaxed);
  }
  ~Session() { thread_connections_.fetch_sub(1, std::memory_order_relaxed); }

  void Run() {
    asio::dispatch(stream_.get_executor(), beast::bind_front_handler(&Session::Start, this->shared_from_this()));
  }

 private:
  beast::tcp_stream& Tcp() { return beast::get_lowest_layer(stream_); }

  void Start() {
    if constexpr (kTls) {
      Tcp().expires_after(options_.header_timeout);
      stream_.async_handshake(asio::ssl::stream_base::server,
                              beast::bind_front_handler(&Session::OnHandshake, this->shared_from_this()));
    } else {
      DoRead();
    }
  }

  void OnHandshake(beast::error_code ec) {
    if (ec) {
      // A client that does not trust the certificate, or speaks plain HTTP
      // to the TLS port: nothing to answer in HTTP.
      spdlog::debug("TLS handshake failed: {}", ec.message());
      return;  // the session ends and the socket closes
    }
    DoRead();
  }

  void DoRead() {
    parser_.emplace();
    parser_->body_limit(options_.body_limit_bytes);
    parser_->header_limit(static_cast<std::uint32_t>(options_.header_limit_bytes));
    // A pipelined request may already be in the buffer.
    if (buffer_.size() > 0) return ReadHead();
    Tcp().expires_after(options_.idle_timeout);
    stream_.async_read_some(buffer_.prepare(kFirstReadBytes),
                            beast::bind_front_handler(&Session::OnFirstBytes, this->shared_from_this()));
  }

  void OnFirstBytes(beast::error_code ec, std::size_t n) {
    if (ec) return DoClose();  // idle timeout, or the client went away
    buffer_.commit(n);
    ReadHead();
  }

  void ReadHead() {
    Tcp().expires_after(options_.header_timeout);
    bhttp::async_read_header(stream_, buffer_, *parser_,
                             beast::bind_front_handler(&Session::OnHead, this->shared_from_this()));
  }

  void OnHead(beast::error_code ec, std::size_t n) {
    if (ec || parser_->is_done()) return OnRead(ec, n);
    Tcp().expires_after(options_.body_timeout);
    bhttp::async_read(stream_, buffer_, *parser_,
                      beast::bind_front_handler(&Session::OnRead, this->shared_from_this()));
  }

  void OnRead(beast::error_code ec, std::size_t) {
    if (ec == bhttp::error::end_of_stream || ec == beast::error::timeout || ec == asio::error::operation_aborted ||
        ec == asio::error::connection_reset || ec == asio::error::eof || ec == asio::ssl::error::stream_truncated) {
      // A deadline passed (the socket is closed already) or the client left.
      return DoClose();
    }
    if (ec == bhttp::error::body_limit) {
      Response r = Response::Message(
          413, "request body exceeds the limit of " + std::to_string(options_.body_limit_bytes) + " bytes");
      return Send(std::move(r), /*keep_alive=*/false, 11);
    }
    if (ec == bhttp::error::header_limit) {
      Response r = Response::Message(431, "request line and headers exceed the limit of " +
                                              std::to_string(options_.header_limit_bytes) + " bytes");
      return Send(std::move(r), /*keep_alive=*/false, 11);
    }
    if (ec) {
      Response r = Response::Message(400, std::string("malformed HTTP request: ") + ec.message());
      return Send(std::move(r), false, 11);
    }
    auto& msg = parser_->get();
    Request req;
    req.method = std::string(msg.method_string());
    req.SetTarget(msg.target());
    req.headers.reserve(8);
    for (const auto& field : msg) req.headers.emplace_back(ToLower(field.name_string()), std::string(field.value()));
    req.body = std::move(msg.body());
    if (remote_host_.empty()) {
      // Asked once per connection (a getpeername(2) and a formatting each).
      beast::error_code ep_ec;
      auto ep = Tcp().socket().remote_endpoint(ep_ec);
      if (!ep_ec) {
        remote_host_ = ep.address().to_string();
        remote_endpoint_ = remote_host_ + ":" + std::to_string(ep.port());
      }
    }
    req.remote_host = remote_host_;
    req.remote_endpoint = remote_endpoint_;
    Response resp;
    try {
      resp = handler_(req);
    } catch (const std::exception& e) {
      spdlog::error("unhandled exception in {} {}: {}", req.method, req.path, e.what());
      resp = Response::Message(500, "internal error");
    }
    if (resp.deferred) {
      // Long poll: no read is pending, so only this sink keeps the session
      // alive until the producer completes the response.
      auto deferred = std::move(resp.deferred);
      deferred->SetSink(
          [self = this->shared_from_this(), keep_alive = msg.keep_alive(), version = msg.version()](Response r) {
            self->handoff_.Post([self, r = std::move(r), keep_alive, version]() mutable {
              self->Send(std::move(r), keep_alive, version);
            });
          });
      return;
    }
    const bool head = req.method == "HEAD";
    if (resp.file && !head) return SendFile(std::move(resp), msg.keep_alive(), msg.version());
    if (resp.stream) return SendStream(std::move(resp), msg.version(), head);
    Send(std::move(resp), msg.keep_alive(), msg.version());
  }

  // --- bodies sent piece by piece (file slices and streams) ----------------
  //
  // Both use a buffer_body serializer: the header goes first, then each
  // piece, then an empty buffer with more=false ends the body (the final
  // chunk for a chunked stream).

  void StartBuffered(Response& r, unsigned version) {
    out_.emplace();
    auto& res = out_->res;
    res.result(static_cast<bhttp::status>(r.status));
    res.version(version);
    res.set(bhttp::field::server, options_.server_name);
    if (!r.content_type.empty()) res.set(bhttp::field::content_type, r.content_type);
    for (auto& [k, v] : r.headers) res.set(k, v);
    res.body().data = nullptr;
    res.body().more = true;
  }

  void SendFile(Response&& r, bool keep_alive, unsigned version) {
    StartBuffered(r, version);
    out_->file = std::move(r.file);
    out_->keep_alive = keep_alive;
    out_->res.keep_alive(keep_alive);
    out_->res.content_length(out_->file->length());
    out_->sr.emplace(out_->res);
    Tcp().expires_after(kWriteTimeout);
    bhttp::async_write_header(stream_, *out_->sr,
                              beast::bind_front_handler(&Session::OnPieceWritten, this->shared_from_this()));
  }

  void SendStream(Response&& r, unsigned version, bool head) {
    StartBuffered(r, version);
    out_->stream = std::move(r.stream);
    out_->keep_alive = false;  // the response ends only when the stream does
    out_->res.keep_alive(false);
    out_->res.chunked(true);
    if (head) out_->stream->Close();
    // The handler's body goes first, also when a producer on another thread
    // already wrote (or wrote everything and closed) since the handler
    // returned: Write would drop it after a Close.
    if (!r.body.empty() && !head) out_->stream->Prepend(r.body);
    streams_.Add(out_->stream);
    out_->sr.emplace(out_->res);
    // A follower may stay quiet for hours: no idle timeout while streaming.
    Tcp().expires_never();
    bhttp::async_write_header(stream_, *out_->sr,
                              beast::bind_front_handler(&Session::OnPieceWritten, this->shared_from_this()));
    // The client sends nothing more on a streamed response; a completed read
    // means it went away (or broke protocol): either way the stream ends.
    // Read below TLS: the byte is never decrypted, the stream ends anyway.
    Tcp().socket().async_read_some(asio::buffer(peer_byte_), [self = this->shared_from_this(), s = out_->stream](
                                                                 beast::error_code, std::size_t) { s->Close(); });
  }

  void OnPieceWritten(beast::error_code ec, std::size_t) {
    if (ec == bhttp::error::need_buffer) ec = {};
    if (ec) {
      if (out_->stream) out_->stream->Close();
      out_.reset();
      return DoClose();
    }
    if (out_->sr->is_done()) {
      const bool keep_alive = out_->keep_alive;
      out_.reset();
      if (!keep_alive) return DoClose();
      return DoRead();
    }
    if (out_->file) return NextFilePiece();
    NextStreamPiece();
  }

  void WritePiece(const char* data, size_t size, bool more) {
    out_->res.body().data = size ? const_cast<char*>(data) : nullptr;
    out_->res.body().size = size;
    out_->res.body().more = more;
    bhttp::async_write(stream_, *out_->sr,
                       beast::bind_front_handler(&Session::OnPieceWritten, this->shared_from_this()));
  }

  void NextFilePiece() {
    auto& f = *out_->file;
    if (out_->sent >= f.length()) return WritePiece(nullptr, 0, false);
    const size_t want = static_cast<size_t>(std::min<uint64_t>(kFileChunkBytes, f.length() - out_->sent));
    out_->piece.resize(want);
    ssize_t n;
    do {
      n = ::pread(f.fd(), out_->piece.data(), want, static_cast<off_t>(f.offset() + out_->sent));
    } while (n < 0 && errno == EINTR);
    if (n <= 0) {
      // The file shrank or failed under us; the Content-Length can no longer
      // be honoured, so the only honest thing is to cut the connection.
      spdlog::warn("file body ended early after {} of {} bytes", out_->sent, f.length());
      out_.reset();
      return DoClose();
    }
    out_->sent += static_cast<uint64_t>(n);
    Tcp().expires_after(kWriteTimeout);
    WritePiece(out_->piece.data(), static_cast<size_t>(n), true);
  }

  void NextStreamPiece() {
    std::weak_ptr<Session> weak = this->shared_from_this();
    auto exec = stream_.get_executor();
    auto taken = out_->stream->Take([weak, exec] {
      asio::post(exec, [weak] {
        if (auto self = weak.lock(); self && self->out_ && self->out_->stream) self->NextStreamPiece();
      });
    });
    if (!taken.data.empty()) {
      out_->piece = std::move(taken.data);
      return WritePiece(out_->piece.data(), out_->piece.size(), true);
    }
    if (taken.closed) return WritePiece(nullptr, 0, false);
    // Nothing queued: the armed wake-up posts NextStreamPiece on this connection's thread.
  }

  void Send(Response&& r, bool keep_alive, unsigned version) {
    auto res = std::make_shared<bhttp::response<bhttp::string_body>>(static_cast<bhttp::status>(r.status), version);
    res->set(bhttp::field::server, options_.server_name);
    if (!r.content_type.empty()) res->set(bhttp::field::content_type, r.content_type);
    for (auto& [k, v] : r.headers) res->set(k, v);
    res->body() = std::move(r.body);
    res->keep_alive(keep_alive);
    res->prepare_payload();
    response_ = res;
    Tcp().expires_after(kWriteTimeout);
    bhttp::async_write(stream_, *res,
                       beast::bind_front_handler(&Session::OnWrite, this->shared_from_this(), res->need_eof()));
  }

  void OnWrite(bool close, beast::error_code ec, std::size_t) {
    response_.reset();
    if (ec) return DoClose();
    if (close) return DoClose();
    DoRead();
  }

  void DoClose() {
    if constexpr (kTls) {
      // close_notify, so the client knows the response was not cut short;
      // the socket closes when the session ends, answered or not.
      Tcp().expires_after(kTlsShutdownTimeout);
      stream_.async_shutdown([self = this->shared_from_this()](beast::error_code) {});
    } else {
      beast::error_code ec;
      Tcp().socket().shutdown(tcp::socket::shutdown_send, ec);
    }
  }

  S stream_;
  std::optional<Outgoing> out_;
  char peer_byte_[1];
  StreamRegistry& streams_;
  std::atomic<int>& thread_connections_;
  Handoff& handoff_;
  beast::flat_buffer buffer_;
  std::string remote_host_;  // the peer, once known (empty: not yet)
  std::string remote_endpoint_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::shared_ptr<void> response_;
  const ServerOptions& options_;
  const Handler& handler_;
};

}  // namespace

struct Server::Impl {
  ServerOptions options;
  Handler handler;
  std::vector<std::unique_ptr<IoThread>> io;  // io[0] also runs the acceptor
  std::optional<asio::ssl::context> tls;
  std::optional<tcp::acceptor> acceptor;
  std::optional<asio::steady_timer> accept_retry;
  uint64_t accept_failures = 0;
  std::vector<std::thread> threads;
  std::atomic<bool> stopped{false};
  StreamRegistry streams;

  Status LoadTls() {
    const auto& t = options.tls;
    if (t.cert_path.empty() || t.key_path.empty())
      return InvalidArgument("TLS needs both a certificate and a key file");
    tls.emplace(asio::ssl::context::tls_server);
    beast::error_code ec;
    tls->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                         asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1 |
                         asio::ssl::context::single_dh_use,
                     ec);
    // OpenSSL says only "asio.ssl error" for a file it cannot open.
    for (const auto& [what, path] : {std::pair{"certificate", &t.cert_path}, std::pair{"key", &t.key_path}}) {
      if (::access(path->c_str(), R_OK) != 0)
        return InvalidArgument(std::string("cannot read the TLS ") + what + " " + *path + ": " + std::strerror(errno));
    }
    tls->use_certificate_chain_file(t.cert_path, ec);
    if (ec) return InvalidArgument("cannot load the TLS certificate " + t.cert_path + ": " + ec.message());
    tls->use_private_key_file(t.key_path, asio::ssl::context::pem, ec);
    if (ec) return InvalidArgument("cannot load the TLS key " + t.key_path + ": " + ec.message());
    if (SSL_CTX_check_private_key(tls->native_handle()) != 1)
      return InvalidArgument("the TLS key " + t.key_path + " does not belong to the certificate " + t.cert_path);
    return Ok();
  }

  // The I/O thread with the fewest connections takes the next one.
  IoThread& LeastLoaded() {
    IoThread* best = io.front().get();
    for (auto& t : io)
      if (t->connections.load(std::memory_order_relaxed) < best->connections.load(std::memory_order_relaxed))
        best = t.get();
    return *best;
  }

  void DoAccept() {
    IoThread& home = LeastLoaded();
    acceptor->async_accept(home.ioc, [this, &home](beast::error_code ec, tcp::socket socket) {
      if (ec) {
        if (ec == asio::error::operation_aborted || stopped) return;
        // Out of file descriptors (or another transient failure): say so
        // once per run of failures and try again shortly, without spinning.
        if (accept_failures++ == 0) spdlog::warn("accept failed: {} (retrying)", ec.message());
        accept_retry->expires_after(kAcceptRetryDelay);
        accept_retry->async_wait([this](beast::error_code wait_ec) {
          if (!wait_ec && !stopped) DoAccept();
        });
        return;
      }
      if (accept_failures > 0) {
        spdlog::info("accepting connections again after {} failed attempts", accept_failures);
        accept_failures = 0;
      }
      beast::error_code opt_ec;
      socket.set_option(tcp::no_delay(true), opt_ec);
      if (tls) {
        std::make_shared<Session<beast::ssl_stream<beast::tcp_stream>>>(options, handler, streams, home,
                                                                        std::move(socket), *tls)
            ->Run();
      } else {
        std::make_shared<Session<beast::tcp_stream>>(options, handler, streams, home, std::move(socket))->Run();
      }
      if (!stopped) DoAccept();
    });
  }
};

Server::Server(ServerOptions options, Handler handler) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  impl_->handler = std::move(handler);
}

Server::~Server() { Stop(); }

Result<uint16_t> Server::Start() {
  if (impl_->options.tls.enabled()) {
    if (auto st = impl_->LoadTls(); !st) return std::unexpected(st.error());
  }
  beast::error_code ec;
  auto address = asio::ip::make_address(impl_->options.address, ec);
  if (ec) return InvalidArgument("invalid listen address '" + impl_->options.address + "'");
  tcp::endpoint endpoint{address, impl_->options.port};
  const int n = std::max(1, impl_->options.threads);
  for (int i = 0; i < n; ++i) impl_->io.push_back(std::make_unique<IoThread>());
  impl_->acceptor.emplace(impl_->io.front()->ioc);
  impl_->accept_retry.emplace(impl_->io.front()->ioc);
  impl_->acceptor->open(endpoint.protocol(), ec);
  if (!ec) impl_->acceptor->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) impl_->acceptor->bind(endpoint, ec);
  if (!ec) impl_->acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return Unavailable("cannot listen on " + impl_->options.address + ":" + std::to_string(impl_->options.port) + ": " +
                       ec.message());
  }
  const uint16_t port = impl_->acceptor->local_endpoint().port();
  impl_->DoAccept();
  for (size_t i = 0; i < impl_->io.size(); ++i) {
    impl_->threads.emplace_back([&ioc = impl_->io[i]->ioc, i] {
      NameThisThread("http-io-" + std::to_string(i));
      ioc.run();
    });
  }
  return port;
}

void Server::Stop() {
  if (!impl_ || impl_->stopped.exchange(true)) return;
  if (impl_->acceptor) {
    beast::error_code ec;
    impl_->acceptor->close(ec);
  }
  // Not cancelled here: the timer belongs to the I/O threads; a pending
  // retry sees `stopped` (or ends with the io_context).
  // Producers drop their streams now; the sessions end with the io_context.
  impl_->streams.CloseAll();
  for (auto& t : impl_->io) t->ioc.stop();
  for (auto& t : impl_->threads)
    if (t.joinable()) t.join();
}

}  // namespace duende::http
