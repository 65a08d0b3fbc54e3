// The process's limit on open file descriptors (RLIMIT_NOFILE).
#pragma once

#include <cstdint>

#include "common/result.h"

namespace duende {

struct FdLimit {
  uint64_t before = 0;  // the soft limit found
  uint64_t now = 0;     // the soft limit after raising it
  uint64_t hard = 0;
};

// Raises the soft limit to the hard limit. A server holds a descriptor per
// connection, and the common default soft limit (1024) is below what a
// farm's idle keep-alive workers plus a burst of clients need; the hard
// limit is what the administrator allows. Unavailable when the limit cannot
// be read or set. Not thread-safe with respect to other setrlimit callers.
Result<FdLimit> RaiseFdLimit();

}  // namespace duende
