// Access control for people (issue 7 item 6, issue 9 item 4): every /api
// endpoint, /logfile and /metrics need an authenticated user with a role;
// worker endpoints keep Flamenco v2's own HTTP Basic worker auth
// (worker_auth.h); worker registration, the health check, login and the
// dashboard's static files (no farm data in them) are public.
//
// Users come from the config's `users` list with argon2id hashes of their
// password and/or API token. Without any configured user the Manager makes
// one admin token on first start (BootstrapAdminToken) so a fresh farm is
// never open. Tokens and passwords are never logged or stored in the clear.
#pragma once

#include <array>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/clock.h"
#include "common/result.h"

namespace duende::http {
struct Request;
struct Response;
class Router;
}  // namespace duende::http

namespace duende::manager {

// Ordered: each role may do what the ones before it may.
enum class Role { kViewer = 0, kOperator = 1, kAdmin = 2 };
std::string_view ToString(Role role);
Result<Role> RoleFromString(std::string_view s);

struct UserConfig {
  std::string name;
  Role role = Role::kViewer;
  std::string password_hash;  // argon2id string (HashSecret), or empty
  std::string token_hash;     // argon2id string, or empty
};

// What a request needs (the access policy, a pure function of the method
// and the matched route pattern, so it is tested as a table):
//   kPublic  — no credentials (health, registration, login, static files);
//   kWorker  — Flamenco v2 worker endpoints (and duende-server's
//              Manager-facing ones), authenticated by their handlers with
//              the worker's secret (the Manager's token);
//   a Role   — a logged-in user with at least that role.
// Unknown routes need kAdmin, so a new endpoint is closed until classified.
struct Requirement {
  enum class Kind { kPublic, kWorker, kUser } kind = Kind::kUser;
  Role role = Role::kAdmin;
};
Requirement RequirementFor(std::string_view method, std::string_view route);

struct Principal {
  std::string name;
  Role role = Role::kViewer;
};

struct AccessOptions {
  std::vector<UserConfig> users;
  // A session cookie expires this long after its last use.
  std::chrono::milliseconds session_idle_timeout{std::chrono::hours(12)};
  // Failed authentication per remote address: a burst of `failure_burst`,
  // then one more per `failure_refill` (a token bucket).
  int failure_burst = 10;
  std::chrono::milliseconds failure_refill{std::chrono::seconds(6)};
  // At most this many addresses have a bucket of their own (memory stays
  // bounded under a flood from many addresses); while the map is full, the
  // failures of other addresses share one bucket. Buckets that have refilled
  // are dropped once per `failure_refill`.
  size_t failure_max_addresses = 16384;
};

inline constexpr std::string_view kSessionCookie = "duende_session";

// Thread-safe. Bearer tokens are checked against the argon2id hashes once;
// later requests with the same token match a keyed BLAKE2b digest in memory
// (as WorkerAuthenticator does), so a token check on every request is cheap.
class AccessControl {
 public:
  AccessControl(AccessOptions options, Clock& clock);

  // The guard the Router runs after matching a route: nullopt lets the
  // request through (with the principal's name in the "x-duende-user"
  // header for handlers that want it), otherwise the response to send:
  // 401 (no or wrong credentials), 403 (role too low, or a cross-site
  // write with a session cookie), 429 (too many failures from the address).
  std::optional<http::Response> Check(http::Request& request);

  // Verifies a login: a token alone, or a user name and password.
  // Unauthorized on wrong credentials, kTooManyRequests when the address is
  // rate limited. A failure counts against `remote`.
  Result<Principal> Login(const std::string& remote, std::string_view user, std::string_view password,
                          std::string_view token);
  // Returns a new session ID for `who` (a 256-bit random, hex).
  std::string CreateSession(const Principal& who);
  void EndSession(std::string_view session_id);
  // The session's principal (and refreshes its idle expiry), or nullopt.
  std::optional<Principal> SessionOf(std::string_view session_id);

  // Seconds until `remote` may try to authenticate again, or 0.
  int RetryAfterSeconds(const std::string& remote);
  // Addresses with a failure bucket of their own now (tests, bounds).
  size_t TrackedAddresses();

  // The principal of a request's credentials without any role check
  // (Bearer token, else session cookie). Unauthorized when absent/wrong.
  Result<Principal> Identify(const http::Request& request);

  const std::vector<UserConfig>& users() const { return options_.users; }

 private:
  using Digest = std::array<unsigned char, 32>;
  struct DigestHash {
    size_t operator()(const Digest& d) const;
  };
  struct Session {
    Principal who;
    SteadyTime expires;
  };
  struct Bucket {
    double tokens;
    SteadyTime updated;
  };

  Digest DigestOf(std::string_view token) const;
  Result<Principal> VerifyToken(const std::string& remote, std::string_view token);
  void RecordFailure(const std::string& remote);
  // The bucket of `remote` (refilled to `now`): its own, else the shared
  // one while the map is full, else (no failures recorded) nullptr unless
  // `create`. Prunes refilled buckets when a refill period has passed.
  // Called under mu_.
  Bucket* BucketOf(const std::string& remote, SteadyTime now, bool create);

  AccessOptions options_;
  Clock& clock_;
  std::array<unsigned char, 32> key_;
  std::mutex mu_;
  std::unordered_map<Digest, Principal, DigestHash> verified_tokens_;
  std::unordered_map<std::string, Session> sessions_;
  std::unordered_map<std::string, Bucket> failures_;
  Bucket shared_failures_;      // addresses beyond failure_max_addresses
  bool shared_in_use_ = false;  // warned once per flood
  SteadyTime next_prune_{};
};

// The body of POST /api/auth/login: {"token"} or {"user", "password"}
// (strings; absent = ""). InvalidArgument (400) otherwise. Pure; fuzzed in
// fuzz/.
struct LoginRequest {
  std::string user;
  std::string password;
  std::string token;
};
Result<LoginRequest> ParseLoginRequest(std::string_view body);

// POST /api/auth/login, POST /api/auth/logout, GET /api/auth/session,
// GET /api/auth/users (admin).
void RegisterAuthApi(http::Router& router, AccessControl& access);

// Makes sure a farm without configured users has an admin token: reuses
// DATA_DIR/admin-token.hash while DATA_DIR/admin-token still exists,
// otherwise generates a new random token, writes it to DATA_DIR/admin-token
// (mode 0600, for the CLI, tests and `make demo`) and its argon2id hash to
// DATA_DIR/admin-token.hash. Returns the admin user to add.
Result<UserConfig> BootstrapAdminToken(const std::string& data_dir);

// argon2id hash of a person's password, with libsodium's "interactive"
// limits (unlike worker secrets and generated tokens, a password may be
// guessable, so the hash is made slow).
Result<std::string> HashPassword(std::string_view password);

// A new random API token ("dnd_" + 43 URL-safe characters, 256 bits).
std::string NewToken();

}  // namespace duende::manager
