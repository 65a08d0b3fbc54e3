#include "common/fd_limit.h"

#include <sys/resource.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

namespace duende {
namespace {

// Linux's default nr_open: the most an "unlimited" hard limit allows.
constexpr rlim_t kInfinityFallback = 1 << 20;

}  // namespace

Result<FdLimit> RaiseFdLimit() {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0)
    return Unavailable(std::string("cannot read the open-file limit: ") + std::strerror(errno));
  FdLimit out;
  out.before = lim.rlim_cur;
  out.hard = lim.rlim_max;
  if (lim.rlim_cur < lim.rlim_max) {
    // An unlimited hard limit is still capped by the kernel (nr_open).
    lim.rlim_cur = lim.rlim_max == RLIM_INFINITY ? std::max(lim.rlim_cur, kInfinityFallback) : lim.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &lim) != 0)
      return Unavailable(std::string("cannot raise the open-file limit: ") + std::strerror(errno));
  }
  out.now = lim.rlim_cur;
  return out;
}

}  // namespace duende
