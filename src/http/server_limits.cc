#include "http/server_limits.h"

#include <charconv>
#include <cstdint>
#include <string>

#include "common/timefmt.h"

namespace duende::http {

namespace {

// Bounds of the size limits: below 1 KiB not even a worker's request
// head fits; above them a limit no longer protects anything.
constexpr uint64_t kMinBytes = 1024;
constexpr uint64_t kMaxHeaderBytes = uint64_t{1} << 20;
constexpr uint64_t kMaxBodyBytes = uint64_t{1} << 32;

Result<size_t> Bytes(std::string_view value, uint64_t max) {
  uint64_t v = 0;
  const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
  const std::string range = "between " + std::to_string(kMinBytes) + " and " + std::to_string(max) + " bytes";
  if (value.empty() || ec != std::errc() || end != value.data() + value.size())
    return InvalidArgument("must be a byte count " + range + ", got '" + std::string(value) + "'");
  if (v < kMinBytes || v > max) return InvalidArgument("must be " + range + ", got '" + std::string(value) + "'");
  return static_cast<size_t>(v);
}

Result<std::chrono::milliseconds> Deadline(std::string_view value) {
  auto d = ParseDuration(value);
  if (!d) return InvalidArgument("must be a duration like 30s or 2m, got '" + std::string(value) + "'");
  if (d->count() <= 0) return InvalidArgument("must be longer than 0");
  return *d;
}

}  // namespace

const std::vector<ServerLimit>& ServerLimits() {
  static const std::vector<ServerLimit> kLimits = {
      {"request_body_limit", "Largest request body in bytes (larger: 413)"},
      {"request_header_limit", "Largest request line plus headers in bytes (larger: 431)"},
      {"http_idle_timeout", "Close a keep-alive connection idle this long (e.g. 120s)"},
      {"http_header_timeout", "Close a connection whose request head is not complete this long after its first byte"},
      {"http_body_timeout", "Close a connection whose request body is not complete this long after its head"},
  };
  return kLimits;
}

Status SetServerLimit(ServerOptions& options, std::string_view key, std::string_view value) {
  auto set_bytes = [&](size_t& field, uint64_t max) -> Status {
    auto v = Bytes(value, max);
    if (!v) return std::unexpected(v.error());
    field = *v;
    return Ok();
  };
  auto set_deadline = [&](std::chrono::milliseconds& field) -> Status {
    auto v = Deadline(value);
    if (!v) return std::unexpected(v.error());
    field = *v;
    return Ok();
  };
  if (key == "request_body_limit") return set_bytes(options.body_limit_bytes, kMaxBodyBytes);
  if (key == "request_header_limit") return set_bytes(options.header_limit_bytes, kMaxHeaderBytes);
  if (key == "http_idle_timeout") return set_deadline(options.idle_timeout);
  if (key == "http_header_timeout") return set_deadline(options.header_timeout);
  if (key == "http_body_timeout") return set_deadline(options.body_timeout);
  return NotFound("'" + std::string(key) + "' is not a connection limit");
}

std::string ServerLimitValue(const ServerOptions& options, std::string_view key) {
  if (key == "request_body_limit") return std::to_string(options.body_limit_bytes);
  if (key == "request_header_limit") return std::to_string(options.header_limit_bytes);
  if (key == "http_idle_timeout") return FormatDuration(options.idle_timeout);
  if (key == "http_header_timeout") return FormatDuration(options.header_timeout);
  if (key == "http_body_timeout") return FormatDuration(options.body_timeout);
  return "";
}

}  // namespace duende::http
