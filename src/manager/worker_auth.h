// Worker authentication (spec §2.1): HTTP Basic with the worker ID and its
// secret. Secrets are stored as argon2id hashes. Every worker request carries
// the secret, so the slow hash is verified once per (worker, secret) and
// later requests are accepted by a keyed BLAKE2b digest held in memory.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/clock.h"
#include "common/result.h"

namespace duende::manager {

// argon2id hash string of `secret` (libsodium's crypto_pwhash_str).
Result<std::string> HashSecret(std::string_view secret);

// Splits "Basic base64(user:password)". InvalidArgument when malformed.
Result<std::pair<std::string, std::string>> ParseBasicAuth(std::string_view header);

class WorkerAuthenticator {
 public:
  using HashLoader = std::function<Result<std::optional<std::string>>(const std::string& worker_id)>;
  explicit WorkerAuthenticator(HashLoader loader);

  // Returns the authenticated worker ID, or Unauthorized. Thread-safe.
  Result<std::string> Authenticate(std::string_view authorization_header);
  // Drops the cached digest (worker forgotten or re-registered).
  void Forget(const std::string& worker_id);

 private:
  using Digest = std::array<unsigned char, 32>;
  Digest DigestOf(std::string_view id, std::string_view secret) const;

  HashLoader loader_;
  std::array<unsigned char, 32> key_;
  std::mutex mu_;
  std::unordered_map<std::string, Digest> verified_;
  std::atomic<uint64_t> forgets_{0};  // Forget calls so far
};

// Verifies the optional registration token: "Bearer <JWT>" signed HS256
// with the pre-shared secret, not expired (`exp`, when present). Forbidden
// when missing or invalid.
Status VerifyRegistrationToken(std::string_view authorization_header, const std::string& secret, SystemTime now);
// (common/jwt.h makes such tokens.)

}  // namespace duende::manager
