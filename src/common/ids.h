// ObjectId-style identifiers: 24 lowercase hex characters (12 bytes:
// 4-byte big-endian seconds since epoch, 5 random bytes, 3-byte counter), as
// Flamenco v2 uses for jobs, tasks, workers and task updates.
#pragma once

#include <string>
#include <string_view>

namespace duende {

// Thread-safe. Uses the system clock only for the embedded timestamp, which
// serves ordering ("oldest first"), never timing.
std::string NewObjectId();

// True when `id` is exactly 24 hex characters.
bool IsObjectId(std::string_view id);

// Random alphanumeric string of `length` characters from a CSPRNG.
std::string RandomToken(size_t length);

}  // namespace duende
