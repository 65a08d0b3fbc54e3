// The connection limits of ServerOptions as a server's configuration names
// them: the Manager's config keys (request_body_limit, http_idle_timeout,
// ...), which duende-server takes as flags with dashes
// (--request-body-limit, --http-idle-timeout, ...). One parser and one set
// of bounds for both executables.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "http/http.h"

namespace duende::http {

struct ServerLimit {
  std::string_view key;   // "http_idle_timeout"
  std::string_view help;  // one line, for --help and the docs
};
// Every limit SetServerLimit knows, in documentation order.
const std::vector<ServerLimit>& ServerLimits();

// Sets the limit `key` of `options` from its text: a byte count for the
// size limits, a duration ("30s", "2m") for the deadlines. InvalidArgument
// when the value is bad, with a message that follows the key's name ("must
// be between 1024 and 1048576 bytes, got '10'"); NotFound when `key` is not
// one of ServerLimits(). Changes nothing on error.
Status SetServerLimit(ServerOptions& options, std::string_view key, std::string_view value);

// The limit `key` of `options` as SetServerLimit reads it ("65536",
// "2m"); empty for a key that is not a limit.
std::string ServerLimitValue(const ServerOptions& options, std::string_view key);

}  // namespace duende::http
