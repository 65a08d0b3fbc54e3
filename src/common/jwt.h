// HS256 JSON Web Tokens for worker registration with a pre-shared secret:
// the worker signs them, the Manager checks them
// (spec §2.1: `Authorization: Bearer <JWT>` on POST /register-worker, claims
// `iat` and `exp` = now + 15 min, as the Python worker issues them).
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "common/clock.h"

namespace duende {

// Base64url without padding (RFC 4648 §5), as JWT requires.
std::string Base64UrlEncode(std::string_view data);

// Decodes base64url without padding; nullopt when `data` is not that.
std::optional<std::string> Base64UrlDecode(std::string_view data);
// Decodes standard, padded base64 (RFC 4648 §4, as in Basic auth headers).
std::optional<std::string> Base64Decode(std::string_view data);

// Raw 32-byte HMAC-SHA256 of `data` under `key` (any key length).
std::string HmacSha256(std::string_view key, std::string_view data);

// "<b64url(header)>.<b64url(payload)>.<b64url(HMAC-SHA256)>" for the exact
// header and payload texts given (lets tests check published vectors).
std::string SignHs256Jwt(std::string_view secret, std::string_view header_json, std::string_view payload_json);

// Registration token: header {"alg":"HS256","typ":"JWT"}, claims
// {"iat": now, "exp": now + 15 min} (seconds since the epoch).
std::string MakeRegistrationToken(std::string_view secret, SystemTime now);

}  // namespace duende
