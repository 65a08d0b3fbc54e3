// Timestamps on the wire and in the store: ISO-8601 UTC with microseconds,
// e.g. "2026-11-27T18:30:00.123456Z". Parsing also accepts "+00:00" offsets
// and fewer fractional digits.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/result.h"

namespace duende {

std::string FormatIso8601(SystemTime t);
Result<SystemTime> ParseIso8601(std::string_view s);

// Microseconds since the Unix epoch: the store's integer time representation.
int64_t ToUnixMicros(SystemTime t);
SystemTime FromUnixMicros(int64_t us);

// "10m", "30s", "1h30m", "336h", "500ms", "0" -> duration. A bare number
// other than 0 is rejected: v2 requires a unit suffix.
Result<std::chrono::milliseconds> ParseDuration(std::string_view s);
// Inverse of ParseDuration for display: "1h30m", "45s", "250ms", "0s".
std::string FormatDuration(std::chrono::milliseconds d);

// Human-readable size: "512 B", "12.3 KiB", "1.0 GiB".
std::string HumanBytes(uint64_t bytes);

}  // namespace duende
