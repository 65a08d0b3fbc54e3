#include "common/file_io.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace duende {

Result<std::string> ReadAt(int fd, uint64_t offset, uint64_t length) {
  std::string buf(static_cast<size_t>(length), '\0');
  size_t got = 0;
  while (got < buf.size()) {
    const ssize_t n = ::pread(fd, buf.data() + got, buf.size() - got, static_cast<off_t>(offset + got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Unavailable(std::string("cannot read: ") + std::strerror(errno));
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  buf.resize(got);
  return buf;
}

}  // namespace duende
