// Result<T>: the error-handling currency of Duende.
//
// Every fallible operation returns Result<T> (std::expected<T, Error>). The set
// of codes is closed; the HTTP layer maps them to status codes in exactly one
// place (http::StatusForError). Exceptions never cross component or thread
// boundaries.
#pragma once

#include <expected>
#include <string>
#include <string_view>
#include <utility>

namespace duende {

enum class ErrorCode {
  kNotFound,
  kConflict,
  kInvalidArgument,
  kUnauthorized,
  kForbidden,
  // Too many failed attempts (authentication rate limit).
  kTooManyRequests,
  kBusy,
  kUnavailable,
  kInternal,
};

std::string_view ToString(ErrorCode code);

struct Error {
  ErrorCode code = ErrorCode::kInternal;
  std::string message;

  // Returns a copy with "context: " prepended to the message.
  Error WithContext(std::string_view context) const { return Error{code, std::string(context) + ": " + message}; }
};

template <typename T>
using Result = std::expected<T, Error>;
using Status = std::expected<void, Error>;

inline std::unexpected<Error> MakeError(ErrorCode code, std::string message) {
  return std::unexpected<Error>(Error{code, std::move(message)});
}
inline std::unexpected<Error> NotFound(std::string m) { return MakeError(ErrorCode::kNotFound, std::move(m)); }
inline std::unexpected<Error> Conflict(std::string m) { return MakeError(ErrorCode::kConflict, std::move(m)); }
inline std::unexpected<Error> InvalidArgument(std::string m) {
  return MakeError(ErrorCode::kInvalidArgument, std::move(m));
}
inline std::unexpected<Error> Unauthorized(std::string m) { return MakeError(ErrorCode::kUnauthorized, std::move(m)); }
inline std::unexpected<Error> Forbidden(std::string m) { return MakeError(ErrorCode::kForbidden, std::move(m)); }
inline std::unexpected<Error> TooManyRequests(std::string m) {
  return MakeError(ErrorCode::kTooManyRequests, std::move(m));
}
inline std::unexpected<Error> Unavailable(std::string m) { return MakeError(ErrorCode::kUnavailable, std::move(m)); }
inline std::unexpected<Error> Internal(std::string m) { return MakeError(ErrorCode::kInternal, std::move(m)); }

inline Status Ok() { return {}; }

}  // namespace duende
