#include "common/gzip.h"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace duende {
namespace {

constexpr size_t kChunk = 64 * 1024;
constexpr int kGzipWindowBits = 15 + 16;  // +16: gzip wrapper instead of zlib
constexpr int kAutoWindowBits = 15 + 32;  // +32: detect gzip header on inflate

Status WriteAll(int fd, const char* data, size_t size) {
  while (size > 0) {
    const ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Unavailable(std::string("write failed: ") + std::strerror(errno));
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
  return Ok();
}

// Inflates everything `read` produces; concatenated members are all
// decoded (gzip -d does the same).
Status InflateAll(const std::function<Result<size_t>(char*, size_t)>& read,
                  const std::function<Status(std::string_view)>& sink, gz_header* header) {
  z_stream zs{};
  if (inflateInit2(&zs, kAutoWindowBits) != Z_OK) return Internal("inflateInit2 failed");
  if (header && inflateGetHeader(&zs, header) != Z_OK) {
    inflateEnd(&zs);
    return Internal("inflateGetHeader failed");
  }
  std::vector<char> in(kChunk), out(kChunk);
  Status result = Ok();
  bool at_member_end = false;
  bool any_input = false;
  for (;;) {
    auto n = read(in.data(), in.size());
    if (!n) {
      result = std::unexpected(n.error());
      break;
    }
    if (*n == 0) {
      if (!any_input || !at_member_end) result = InvalidArgument("gzip data is truncated");
      break;
    }
    any_input = true;
    zs.next_in = reinterpret_cast<Bytef*>(in.data());
    zs.avail_in = static_cast<uInt>(*n);
    while (zs.avail_in > 0) {
      zs.next_out = reinterpret_cast<Bytef*>(out.data());
      zs.avail_out = static_cast<uInt>(out.size());
      const int rc = inflate(&zs, Z_NO_FLUSH);
      if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) {
        inflateEnd(&zs);
        return InvalidArgument(std::string("not valid gzip data: ") + (zs.msg ? zs.msg : "inflate error"));
      }
      const size_t produced = out.size() - zs.avail_out;
      if (produced > 0) {
        if (auto st = sink(std::string_view(out.data(), produced)); !st) {
          inflateEnd(&zs);
          return st;
        }
      }
      at_member_end = rc == Z_STREAM_END;
      if (header && header->done != 0) {
        // Only the header was wanted.
        inflateEnd(&zs);
        return Ok();
      }
      if (rc == Z_STREAM_END) {
        if (inflateReset(&zs) != Z_OK) {
          inflateEnd(&zs);
          return Internal("inflateReset failed");
        }
      } else if (rc == Z_BUF_ERROR && produced == 0) {
        break;  // needs more input
      }
    }
  }
  inflateEnd(&zs);
  return result;
}

Result<int> OpenRead(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return NotFound(path + " does not exist");
    return Unavailable("cannot open " + path + ": " + std::strerror(errno));
  }
  return fd;
}

std::function<Result<size_t>(char*, size_t)> FdReader(int fd) {
  return [fd](char* buf, size_t cap) -> Result<size_t> {
    for (;;) {
      const ssize_t n = ::read(fd, buf, cap);
      if (n >= 0) return static_cast<size_t>(n);
      if (errno != EINTR) return Unavailable(std::string("read failed: ") + std::strerror(errno));
    }
  };
}

}  // namespace

struct GzipWriter::Impl {
  std::function<Status(std::string_view)> sink;
  z_stream zs{};
  gz_header header{};
  std::string comment;
  bool ok = false;
  std::vector<char> out = std::vector<char>(kChunk);

  Status Pump(int flush) {
    do {
      zs.next_out = reinterpret_cast<Bytef*>(out.data());
      zs.avail_out = static_cast<uInt>(out.size());
      const int rc = deflate(&zs, flush);
      if (rc == Z_STREAM_ERROR) return Internal("deflate failed");
      const size_t produced = out.size() - zs.avail_out;
      if (produced > 0)
        if (auto st = sink(std::string_view(out.data(), produced)); !st) return st;
    } while (zs.avail_out == 0);
    return Ok();
  }
};

GzipWriter::GzipWriter(int fd, int level, std::string comment)
    : GzipWriter([fd](std::string_view d) { return WriteAll(fd, d.data(), d.size()); }, level, std::move(comment)) {}

GzipWriter::GzipWriter(std::function<Status(std::string_view)> sink, int level, std::string comment)
    : impl_(std::make_unique<Impl>()) {
  impl_->sink = std::move(sink);
  impl_->comment = std::move(comment);
  impl_->ok = deflateInit2(&impl_->zs, level, Z_DEFLATED, kGzipWindowBits, 8, Z_DEFAULT_STRATEGY) == Z_OK;
  if (impl_->ok && !impl_->comment.empty()) {
    impl_->header.comment = reinterpret_cast<Bytef*>(impl_->comment.data());
    impl_->header.os = 3;  // Unix
    deflateSetHeader(&impl_->zs, &impl_->header);
  }
}

GzipWriter::~GzipWriter() {
  if (impl_->ok) deflateEnd(&impl_->zs);
}

Status GzipWriter::Write(std::string_view data) {
  if (!impl_->ok) return Internal("deflateInit2 failed");
  while (!data.empty()) {
    const size_t n = std::min<size_t>(data.size(), 1u << 30);
    impl_->zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    impl_->zs.avail_in = static_cast<uInt>(n);
    if (auto st = impl_->Pump(Z_NO_FLUSH); !st) return st;
    data.remove_prefix(n);
  }
  return Ok();
}

Status GzipWriter::Finish() {
  if (!impl_->ok) return Internal("deflateInit2 failed");
  impl_->zs.next_in = nullptr;
  impl_->zs.avail_in = 0;
  return impl_->Pump(Z_FINISH);
}

Status GunzipFile(const std::string& path, const std::function<Status(std::string_view)>& sink) {
  auto fd = OpenRead(path);
  if (!fd) return std::unexpected(fd.error());
  Status st = InflateAll(FdReader(*fd), sink, nullptr);
  ::close(*fd);
  if (!st) return std::unexpected(st.error().WithContext(path));
  return Ok();
}

Result<std::string> GzipComment(const std::string& path) {
  auto fd = OpenRead(path);
  if (!fd) return std::unexpected(fd.error());
  std::vector<char> comment(1024, '\0');
  gz_header header{};
  header.comment = reinterpret_cast<Bytef*>(comment.data());
  header.comm_max = static_cast<uInt>(comment.size() - 1);
  Status st = InflateAll(
      FdReader(*fd), [](std::string_view) { return Ok(); }, &header);
  ::close(*fd);
  if (!st) return std::unexpected(st.error().WithContext(path));
  if (header.done == 0) return InvalidArgument(path + ": no gzip header");
  return std::string(comment.data());
}

Result<std::string> Gzip(std::string_view data, int level) {
  std::string out;
  GzipWriter w(
      [&out](std::string_view d) -> Status {
        out.append(d);
        return Ok();
      },
      level);
  if (auto st = w.Write(data); !st) return std::unexpected(st.error());
  if (auto st = w.Finish(); !st) return std::unexpected(st.error());
  return out;
}

Result<std::string> Gunzip(std::string_view data) {
  size_t pos = 0;
  std::string out;
  auto read = [&](char* buf, size_t cap) -> Result<size_t> {
    const size_t n = std::min(cap, data.size() - pos);
    std::memcpy(buf, data.data() + pos, n);
    pos += n;
    return n;
  };
  auto st = InflateAll(
      read,
      [&](std::string_view s) -> Status {
        out.append(s);
        return Ok();
      },
      nullptr);
  if (!st) return std::unexpected(st.error());
  return out;
}

}  // namespace duende
