#include "common/jwt.h"

#include <sodium.h>

#include <chrono>
#include <cstdlib>
#include <nlohmann/json.hpp>

namespace duende {

// libsodium is already a Duende dependency (random tokens, password hashes)
// and provides both HMAC-SHA256 with keys of any length and a URL-safe,
// unpadded base64 encoder, so JWT signing needs neither OpenSSL nor a
// hand-written encoder.

std::string Base64UrlEncode(std::string_view data) {
  constexpr int kVariant = sodium_base64_VARIANT_URLSAFE_NO_PADDING;
  std::string out(sodium_base64_ENCODED_LEN(data.size(), kVariant), '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(data.data()), data.size(), kVariant);
  out.resize(std::char_traits<char>::length(out.c_str()));  // drop the NUL terminator
  return out;
}

namespace {

std::optional<std::string> DecodeBase64(std::string_view data, int variant) {
  std::string out(data.size(), '\0');
  size_t len = 0;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), data.data(), data.size(), nullptr,
                        &len, nullptr, variant) != 0)
    return std::nullopt;
  out.resize(len);
  return out;
}

}  // namespace

std::optional<std::string> Base64UrlDecode(std::string_view data) {
  return DecodeBase64(data, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

std::optional<std::string> Base64Decode(std::string_view data) {
  return DecodeBase64(data, sodium_base64_VARIANT_ORIGINAL);
}

std::string HmacSha256(std::string_view key, std::string_view data) {
  if (sodium_init() < 0) std::abort();  // no CSPRNG/crypto: nothing sensible to do
  crypto_auth_hmacsha256_state state;
  crypto_auth_hmacsha256_init(&state, reinterpret_cast<const unsigned char*>(key.data()), key.size());
  crypto_auth_hmacsha256_update(&state, reinterpret_cast<const unsigned char*>(data.data()), data.size());
  unsigned char mac[crypto_auth_hmacsha256_BYTES];
  crypto_auth_hmacsha256_final(&state, mac);
  return std::string(reinterpret_cast<const char*>(mac), sizeof mac);
}

std::string SignHs256Jwt(std::string_view secret, std::string_view header_json, std::string_view payload_json) {
  std::string signing_input = Base64UrlEncode(header_json) + "." + Base64UrlEncode(payload_json);
  const std::string mac = HmacSha256(secret, signing_input);
  return signing_input + "." + Base64UrlEncode(mac);
}

std::string MakeRegistrationToken(std::string_view secret, SystemTime now) {
  // Same lifetime as the Python worker's tokens.
  constexpr auto kTokenLifetime = std::chrono::minutes(15);
  const auto iat = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  const auto exp = iat + std::chrono::duration_cast<std::chrono::seconds>(kTokenLifetime).count();
  const nlohmann::json payload = {{"iat", iat}, {"exp", exp}};
  return SignHs256Jwt(secret, R"({"alg":"HS256","typ":"JWT"})", payload.dump());
}

}  // namespace duende
