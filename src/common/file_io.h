// Reading a byte range of an open file.
#pragma once

#include <cstdint>
#include <string>

#include "common/result.h"

namespace duende {

// Bytes [offset, offset + length) of the file open as `fd`, read with
// pread(2) (retried on EINTR and short reads): fewer at the file's end.
// Unavailable on a read error.
Result<std::string> ReadAt(int fd, uint64_t offset, uint64_t length);

}  // namespace duende
