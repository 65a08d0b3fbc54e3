#include "manager/access.h"

#include <fcntl.h>
#include <sodium.h>
#include <spdlog/spdlog.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "http/http.h"
#include "manager/worker_auth.h"

namespace duende::manager {
namespace {

using http::Request;
using http::Response;

void EnsureSodium() {
  static const int rc = sodium_init();
  (void)rc;
}

// "/tasks/{id}/update" -> "/tasks/{}/update": the policy does not depend on
// parameter names.
std::string NormalizeRoute(std::string_view route) {
  std::string out;
  for (size_t i = 0; i < route.size(); ++i) {
    if (route[i] == '{') {
      const size_t close = route.find('}', i);
      if (close != std::string_view::npos) {
        out += "{}";
        i = close;
        continue;
      }
    }
    out.push_back(route[i]);
  }
  return out;
}

// Flamenco v2's worker-facing endpoints (spec §2.2): their handlers check
// HTTP Basic worker-id:secret, exactly as v2 does.
const std::set<std::string, std::less<>> kWorkerRoutes = {
    "/sign-on",         "/sign-off",     "/task",          "/tasks/{}/update",
    "/tasks/{}/return", "/may-i-run/{}", "/status-change", "/ack-status-change/{}",
    "/output-produced",
};
// duende-server's Manager-facing endpoints (spec §2.6): their handlers check
// the Manager's own token, as the worker endpoints check the worker's.
const std::set<std::string, std::less<>> kManagerRoutes = {
    "/api/flamenco/managers/{}",
    "/api/flamenco/managers/{}/depsgraph",
    "/api/flamenco/managers/{}/task-update-batch",
    "/api/flamenco/managers/{}/attach-task-log/{}",
    "/api/flamenco/managers/{}/startup",
    "/api/flamenco/managers/{}/update",
    "/api/flamenco/tasks/{}",
};
// The static dashboard files hold no farm data: the login page is one of
// them. Registration is protected by worker_registration_secret instead.
const std::set<std::string, std::less<>> kPublicRoutes = {
    "/register-worker", "/api/health", "/", "/index.html", "/assets/{}", "/api/auth/login", "/api/auth/logout",
};
const std::set<std::string, std::less<>> kAdminRoutes = {"/api/auth/users", "/api/job-types/reload"};
// Operators act on jobs, tasks, workers and blacklists.
constexpr std::string_view kOperatorPrefixes[] = {"/api/jobs", "/api/tasks/", "/api/workers", "/api/blacklist/"};

std::string HexOf(const unsigned char* data, size_t n) {
  std::string out(n * 2 + 1, '\0');
  sodium_bin2hex(out.data(), out.size(), data, n);
  out.resize(n * 2);
  return out;
}

std::string_view CookieValue(std::string_view header, std::string_view name) {
  while (!header.empty()) {
    const size_t semi = header.find(';');
    std::string_view part = header.substr(0, semi);
    while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
    if (part.size() > name.size() && part.starts_with(name) && part[name.size()] == '=')
      return part.substr(name.size() + 1);
    if (semi == std::string_view::npos) break;
    header.remove_prefix(semi + 1);
  }
  return {};
}

// "http://host:port/..." -> "host:port".
std::string_view HostOfOrigin(std::string_view origin) {
  const size_t scheme = origin.find("://");
  if (scheme != std::string_view::npos) origin.remove_prefix(scheme + 3);
  return origin.substr(0, origin.find('/'));
}

Response ErrorResponse(const Error& e, int retry_after_s = 0) {
  Response r = Response::Message(http::StatusForError(e.code), e.message);
  // Bearer, not Basic: a Basic challenge makes browsers pop up their own
  // login dialog over the dashboard's.
  if (e.code == ErrorCode::kUnauthorized) r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"Duende\"");
  if (retry_after_s > 0) r.headers.emplace_back("Retry-After", std::to_string(retry_after_s));
  return r;
}

nlohmann::json PrincipalJson(const Principal& p) { return {{"user", p.name}, {"role", ToString(p.role)}}; }

}  // namespace

std::string_view ToString(Role role) {
  switch (role) {
    case Role::kViewer:
      return "viewer";
    case Role::kOperator:
      return "operator";
    case Role::kAdmin:
      return "admin";
  }
  return "viewer";
}

Result<Role> RoleFromString(std::string_view s) {
  if (s == "viewer") return Role::kViewer;
  if (s == "operator") return Role::kOperator;
  if (s == "admin") return Role::kAdmin;
  return InvalidArgument("unknown role '" + std::string(s) + "' (expected viewer, operator or admin)");
}

Requirement RequirementFor(std::string_view method, std::string_view route) {
  const std::string r = NormalizeRoute(route);
  if (kPublicRoutes.contains(r)) return {Requirement::Kind::kPublic, Role::kViewer};
  if (kWorkerRoutes.contains(r) || kManagerRoutes.contains(r)) return {Requirement::Kind::kWorker, Role::kViewer};
  if (kAdminRoutes.contains(r)) return {Requirement::Kind::kUser, Role::kAdmin};
  const bool read = method == "GET" || method == "HEAD";
  if (read && (r.starts_with("/api/") || r.starts_with("/logfile/") || r == "/metrics"))
    return {Requirement::Kind::kUser, Role::kViewer};
  if (!read)
    for (auto prefix : kOperatorPrefixes)
      if (r.starts_with(prefix)) return {Requirement::Kind::kUser, Role::kOperator};
  return {Requirement::Kind::kUser, Role::kAdmin};
}

size_t AccessControl::DigestHash::operator()(const Digest& d) const {
  size_t h;
  std::memcpy(&h, d.data(), sizeof h);
  return h;
}

AccessControl::AccessControl(AccessOptions options, Clock& clock) : options_(std::move(options)), clock_(clock) {
  EnsureSodium();
  crypto_generichash_keygen(key_.data());
}

AccessControl::Digest AccessControl::DigestOf(std::string_view token) const {
  Digest d;
  crypto_generichash(d.data(), d.size(), reinterpret_cast<const unsigned char*>(token.data()), token.size(),
                     key_.data(), key_.size());
  return d;
}

AccessControl::Bucket* AccessControl::BucketOf(const std::string& remote, SteadyTime now, bool create) {
  const double refill_s = std::chrono::duration<double>(options_.failure_refill).count();
  const double burst = options_.failure_burst;
  auto refill = [&](Bucket& b) {
    b.tokens = std::min(burst, b.tokens + std::chrono::duration<double>(now - b.updated).count() / refill_s);
    b.updated = now;
  };
  // A full bucket holds no information: drop those, at most once per
  // refill period (cheap on every failure, and the map cannot keep
  // addresses that stopped failing).
  if (now >= next_prune_) {
    next_prune_ = now + options_.failure_refill;
    std::erase_if(failures_, [&](const auto& kv) {
      return kv.second.tokens + std::chrono::duration<double>(now - kv.second.updated).count() / refill_s >= burst;
    });
    if (shared_in_use_ && failures_.size() < options_.failure_max_addresses) {
      shared_in_use_ = false;
      spdlog::info("failed-authentication buckets: back to one per address ({} addresses)", failures_.size());
    }
  }
  Bucket* b = nullptr;
  if (auto it = failures_.find(remote); it != failures_.end()) {
    b = &it->second;
  } else if (failures_.size() >= options_.failure_max_addresses) {
    // Full: the addresses without a bucket share one, so a flood from many
    // addresses is still limited (they may also block one another, which
    // is the price of bounded memory).
    if (!shared_in_use_) {
      shared_in_use_ = true;
      shared_failures_ = Bucket{burst, now};
      spdlog::warn("failed authentication from more than {} addresses: further addresses share one rate limit",
                   options_.failure_max_addresses);
    }
    b = &shared_failures_;
  } else if (create) {
    b = &failures_.try_emplace(remote, Bucket{burst, now}).first->second;
  }
  if (b) refill(*b);
  return b;
}

int AccessControl::RetryAfterSeconds(const std::string& remote) {
  std::lock_guard lock(mu_);
  const Bucket* b = BucketOf(remote, clock_.SteadyNow(), false);
  if (!b || b->tokens >= 1) return 0;
  const double refill_s = std::chrono::duration<double>(options_.failure_refill).count();
  return std::max(1, static_cast<int>(std::ceil((1 - b->tokens) * refill_s)));
}

size_t AccessControl::TrackedAddresses() {
  std::lock_guard lock(mu_);
  return failures_.size();
}

void AccessControl::RecordFailure(const std::string& remote) {
  std::lock_guard lock(mu_);
  BucketOf(remote, clock_.SteadyNow(), true)->tokens -= 1;
  // The address only: what was tried is never logged.
  spdlog::warn("failed authentication from {}", remote);
}

Result<Principal> AccessControl::VerifyToken(const std::string& remote, std::string_view token) {
  const Digest digest = DigestOf(token);
  {
    std::lock_guard lock(mu_);
    if (auto it = verified_tokens_.find(digest); it != verified_tokens_.end()) return it->second;
  }
  if (int wait = RetryAfterSeconds(remote); wait > 0)
    return TooManyRequests("too many failed logins from " + remote + "; try again in " + std::to_string(wait) + " s");
  for (const auto& u : options_.users) {
    if (u.token_hash.empty()) continue;
    if (crypto_pwhash_str_verify(u.token_hash.c_str(), token.data(), token.size()) == 0) {
      Principal p{u.name, u.role};
      std::lock_guard lock(mu_);
      verified_tokens_[digest] = p;
      return p;
    }
  }
  RecordFailure(remote);
  return Unauthorized("unknown API token");
}

Result<Principal> AccessControl::Login(const std::string& remote, std::string_view user, std::string_view password,
                                       std::string_view token) {
  if (!token.empty()) return VerifyToken(remote, token);
  if (int wait = RetryAfterSeconds(remote); wait > 0)
    return TooManyRequests("too many failed logins from " + remote + "; try again in " + std::to_string(wait) + " s");
  for (const auto& u : options_.users) {
    if (u.name != user || u.password_hash.empty()) continue;
    if (crypto_pwhash_str_verify(u.password_hash.c_str(), password.data(), password.size()) == 0)
      return Principal{u.name, u.role};
    break;
  }
  RecordFailure(remote);
  return Unauthorized("wrong user name or password");
}

std::string AccessControl::CreateSession(const Principal& who) {
  unsigned char raw[32];
  randombytes_buf(raw, sizeof raw);
  std::string id = HexOf(raw, sizeof raw);
  std::lock_guard lock(mu_);
  const auto now = clock_.SteadyNow();
  std::erase_if(sessions_, [&](const auto& kv) { return kv.second.expires <= now; });
  sessions_[id] = Session{who, now + options_.session_idle_timeout};
  return id;
}

void AccessControl::EndSession(std::string_view session_id) {
  std::lock_guard lock(mu_);
  sessions_.erase(std::string(session_id));
}

std::optional<Principal> AccessControl::SessionOf(std::string_view session_id) {
  std::lock_guard lock(mu_);
  auto it = sessions_.find(std::string(session_id));
  if (it == sessions_.end()) return std::nullopt;
  const auto now = clock_.SteadyNow();
  if (it->second.expires <= now) {
    sessions_.erase(it);
    return std::nullopt;
  }
  it->second.expires = now + options_.session_idle_timeout;
  return it->second.who;
}

Result<Principal> AccessControl::Identify(const Request& request) {
  const std::string_view auth = request.Header("authorization");
  if (auth.size() > 7 && strncasecmp(auth.data(), "Bearer ", 7) == 0)
    return VerifyToken(request.remote_host, auth.substr(7));
  if (!auth.empty()) return Unauthorized("unsupported Authorization scheme: send 'Bearer TOKEN' or log in");
  if (auto sid = CookieValue(request.Header("cookie"), kSessionCookie); !sid.empty()) {
    // Not counted as a failure: an expired session is routine (a Manager
    // restart ends them all) and 256-bit IDs are not guessable.
    if (auto who = SessionOf(sid)) return *who;
    return Unauthorized("your session has expired: log in again");
  }
  return Unauthorized("authentication required: log in, or send 'Authorization: Bearer TOKEN'");
}

std::optional<Response> AccessControl::Check(Request& request) {
  const Requirement need = RequirementFor(request.method, request.route);
  if (need.kind != Requirement::Kind::kUser) return std::nullopt;
  auto who = Identify(request);
  if (!who) {
    const int wait = who.error().code == ErrorCode::kTooManyRequests ? RetryAfterSeconds(request.remote_host) : 0;
    return ErrorResponse(who.error(), wait);
  }
  if (who->role < need.role)
    return ErrorResponse(Error{ErrorCode::kForbidden, "user '" + who->name + "' (" + std::string(ToString(who->role)) +
                                                          ") may not do this: it needs the " +
                                                          std::string(ToString(need.role)) + " role"});
  // A session cookie rides along with any request the browser makes, so a
  // write from another site's page is refused (SameSite=Strict already
  // stops current browsers; this covers the rest). Bearer tokens are never
  // sent by a browser on its own.
  const bool read = request.method == "GET" || request.method == "HEAD";
  if (!read && request.Header("authorization").empty()) {
    const std::string_view origin = request.Header("origin");
    if (!origin.empty() && HostOfOrigin(origin) != request.Header("host"))
      return ErrorResponse(Error{ErrorCode::kForbidden, "cross-site request refused"});
  }
  return std::nullopt;
}

Result<LoginRequest> ParseLoginRequest(std::string_view text) {
  const auto body = nlohmann::json::parse(text, nullptr, false);
  if (!body.is_object())
    return InvalidArgument("the body must be a JSON object with 'token', or 'user' and 'password'");
  LoginRequest req;
  for (auto [field, key] :
       {std::pair{&req.token, "token"}, std::pair{&req.user, "user"}, std::pair{&req.password, "password"}}) {
    auto it = body.find(key);
    if (it == body.end()) continue;
    if (!it->is_string()) return InvalidArgument("'token', 'user' and 'password' must be strings");
    *field = it->get<std::string>();
  }
  if (req.token.empty() && req.user.empty()) return InvalidArgument("give a 'token', or a 'user' and 'password'");
  return req;
}

void RegisterAuthApi(http::Router& router, AccessControl& access) {
  router.Add("POST", "/api/auth/login", [&access](Request& r) -> Response {
    auto login = ParseLoginRequest(r.body);
    if (!login) return Response::FromError(login.error());
    auto who = access.Login(r.remote_host, login->user, login->password, login->token);
    if (!who) {
      const int wait = who.error().code == ErrorCode::kTooManyRequests ? access.RetryAfterSeconds(r.remote_host) : 0;
      return ErrorResponse(who.error(), wait);
    }
    const std::string sid = access.CreateSession(*who);
    Response resp = Response::Json(200, PrincipalJson(*who));
    // HttpOnly: page scripts (and so an injected one) cannot read it;
    // EventSource sends it, which a bearer token in sessionStorage could not.
    resp.headers.emplace_back("Set-Cookie",
                              std::string(kSessionCookie) + "=" + sid + "; Path=/; HttpOnly; SameSite=Strict");
    resp.headers.emplace_back("Cache-Control", "no-store");
    return resp;
  });
  router.Add("POST", "/api/auth/logout", [&access](Request& r) -> Response {
    if (auto sid = CookieValue(r.Header("cookie"), kSessionCookie); !sid.empty()) access.EndSession(sid);
    Response resp = Response::NoContent();
    resp.headers.emplace_back("Set-Cookie",
                              std::string(kSessionCookie) + "=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    return resp;
  });
  router.Add("GET", "/api/auth/session", [&access](Request& r) -> Response {
    auto who = access.Identify(r);
    if (!who) return ErrorResponse(who.error());
    return Response::Json(200, PrincipalJson(*who));
  });
  router.Add("GET", "/api/auth/users", [&access](Request&) -> Response {
    nlohmann::json users = nlohmann::json::array();
    for (const auto& u : access.users())
      users.push_back({{"name", u.name},
                       {"role", ToString(u.role)},
                       {"password", !u.password_hash.empty()},
                       {"token", !u.token_hash.empty()}});
    return Response::Json(200, {{"users", users}});
  });
}

Result<std::string> HashPassword(std::string_view password) {
  EnsureSodium();
  char out[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str_alg(out, password.data(), password.size(), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                            crypto_pwhash_MEMLIMIT_INTERACTIVE, crypto_pwhash_ALG_ARGON2ID13) != 0)
    return Internal("cannot hash password (out of memory)");
  return std::string(out);
}

std::string NewToken() {
  EnsureSodium();
  unsigned char raw[32];
  randombytes_buf(raw, sizeof raw);
  std::string out(sodium_base64_encoded_len(sizeof raw, sodium_base64_VARIANT_URLSAFE_NO_PADDING), '\0');
  sodium_bin2base64(out.data(), out.size(), raw, sizeof raw, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  out.resize(std::strlen(out.c_str()));
  return "dnd_" + out;
}

Result<UserConfig> BootstrapAdminToken(const std::string& data_dir) {
  const std::string token_path = data_dir + "/admin-token";
  const std::string hash_path = data_dir + "/admin-token.hash";
  std::error_code ec;
  if (std::filesystem::exists(token_path, ec) && std::filesystem::exists(hash_path, ec)) {
    std::ifstream in(hash_path);
    std::string hash;
    if (in >> hash && hash.starts_with("$argon2id$")) return UserConfig{"admin", Role::kAdmin, "", hash};
  }
  // A missing token file means nobody can know the old token: make a new one.
  const std::string token = NewToken();
  auto hash = HashSecret(token);
  if (!hash) return std::unexpected(hash.error());
  auto write_file = [](const std::string& path, const std::string& text) -> Status {
    const std::string tmp = path + ".tmp";
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return Unavailable("cannot write " + tmp + ": " + std::strerror(errno));
    ::fchmod(fd, 0600);  // also when the file existed with a wider mode
    const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && ::fsync(fd) == 0;
    ::close(fd);
    if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) return Unavailable("cannot write " + path);
    return Ok();
  };
  if (auto st = write_file(hash_path, *hash + "\n"); !st) return std::unexpected(st.error());
  if (auto st = write_file(token_path, token + "\n"); !st) return std::unexpected(st.error());
  return UserConfig{"admin", Role::kAdmin, "", *hash};
}

}  // namespace duende::manager
