#include "manager/worker_auth.h"

#include <sodium.h>

#include <nlohmann/json.hpp>

#include "common/jwt.h"

namespace duende::manager {
namespace {

// The secrets are 64 random alphanumerics (~380 bits), so key stretching adds
// nothing; modest argon2id limits keep sign-on of a big farm fast while the
// database never holds a usable secret.
constexpr unsigned long long kOpsLimit = 2;
constexpr size_t kMemLimit = 1 << 20;

void EnsureSodium() {
  static const int rc = sodium_init();
  (void)rc;
}

}  // namespace

Result<std::string> HashSecret(std::string_view secret) {
  EnsureSodium();
  char out[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str_alg(out, secret.data(), secret.size(), kOpsLimit, kMemLimit, crypto_pwhash_ALG_ARGON2ID13) != 0)
    return Internal("cannot hash secret (out of memory)");
  return std::string(out);
}

Result<std::pair<std::string, std::string>> ParseBasicAuth(std::string_view header) {
  if (header.size() < 6 || strncasecmp(header.data(), "Basic ", 6) != 0)
    return Unauthorized("missing HTTP Basic credentials");
  auto decoded = Base64Decode(header.substr(6));
  if (!decoded) return Unauthorized("malformed HTTP Basic credentials");
  const size_t colon = decoded->find(':');
  if (colon == std::string::npos) return Unauthorized("malformed HTTP Basic credentials");
  return std::pair{decoded->substr(0, colon), decoded->substr(colon + 1)};
}

WorkerAuthenticator::WorkerAuthenticator(HashLoader loader) : loader_(std::move(loader)) {
  EnsureSodium();
  crypto_generichash_keygen(key_.data());
}

WorkerAuthenticator::Digest WorkerAuthenticator::DigestOf(std::string_view id, std::string_view secret) const {
  Digest d;
  crypto_generichash_state st;
  crypto_generichash_init(&st, key_.data(), key_.size(), d.size());
  crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>(id.data()), id.size());
  const unsigned char sep = 0;
  crypto_generichash_update(&st, &sep, 1);
  crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>(secret.data()), secret.size());
  crypto_generichash_final(&st, d.data(), d.size());
  return d;
}

Result<std::string> WorkerAuthenticator::Authenticate(std::string_view header) {
  auto creds = ParseBasicAuth(header);
  if (!creds) return std::unexpected(creds.error());
  const auto& [id, secret] = *creds;
  const Digest digest = DigestOf(id, secret);
  {
    std::lock_guard lock(mu_);
    auto it = verified_.find(id);
    if (it != verified_.end() && sodium_memcmp(it->second.data(), digest.data(), digest.size()) == 0) return id;
  }
  // A Forget (revoked, deleted, re-registered) between loading the hash
  // and caching the digest would leave the old secret cached for good:
  // when one happened meanwhile, check again against what is stored now.
  for (;;) {
    const uint64_t forgets = forgets_.load();
    auto hash = loader_(id);
    if (!hash) return std::unexpected(hash.error());
    if (!*hash) return Unauthorized("unknown worker or wrong secret");
    if (crypto_pwhash_str_verify((*hash)->c_str(), secret.data(), secret.size()) != 0)
      return Unauthorized("unknown worker or wrong secret");
    std::lock_guard lock(mu_);
    if (forgets_.load() != forgets) continue;
    verified_[id] = digest;
    return id;
  }
}

void WorkerAuthenticator::Forget(const std::string& worker_id) {
  std::lock_guard lock(mu_);
  verified_.erase(worker_id);
  forgets_.fetch_add(1);
}

Status VerifyRegistrationToken(std::string_view header, const std::string& secret, SystemTime now) {
  EnsureSodium();
  if (header.size() < 7 || strncasecmp(header.data(), "Bearer ", 7) != 0)
    return Forbidden("worker registration needs a Bearer token signed with the registration secret");
  const std::string_view token = header.substr(7);
  const size_t d1 = token.find('.');
  const size_t d2 = d1 == std::string_view::npos ? d1 : token.find('.', d1 + 1);
  if (d2 == std::string_view::npos) return Forbidden("malformed registration token");
  auto header_json = Base64UrlDecode(token.substr(0, d1));
  auto payload_json = Base64UrlDecode(token.substr(d1 + 1, d2 - d1 - 1));
  auto sig = Base64UrlDecode(token.substr(d2 + 1));
  if (!header_json || !payload_json || !sig) return Forbidden("malformed registration token");
  auto h = nlohmann::json::parse(*header_json, nullptr, false);
  if (!h.is_object() || h.value("alg", "") != "HS256") return Forbidden("registration token must be signed HS256");
  const std::string expected = HmacSha256(secret, token.substr(0, d2));
  if (sig->size() != expected.size() || sodium_memcmp(sig->data(), expected.data(), expected.size()) != 0)
    return Forbidden("registration token has an invalid signature");
  auto p = nlohmann::json::parse(*payload_json, nullptr, false);
  if (!p.is_object()) return Forbidden("malformed registration token");
  if (p.contains("exp") && p["exp"].is_number()) {
    const auto exp = p["exp"].get<double>();
    const double now_s = std::chrono::duration<double>(now.time_since_epoch()).count();
    if (exp < now_s) return Forbidden("registration token has expired");
  }
  return Ok();
}

}  // namespace duende::manager
