// gzip (RFC 1952) through zlib: a streaming writer to a file descriptor,
// streaming reading of a .gz file, and in-memory helpers for small data.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "common/result.h"

namespace duende {

// Compresses into an open file descriptor (not owned). Not thread-safe.
class GzipWriter {
 public:
  // `comment` goes into the gzip header's FCOMMENT field (Latin-1, no NUL).
  // `level` 1..9.
  GzipWriter(int fd, int level = 6, std::string comment = "");
  // Hands the compressed bytes to `sink` instead.
  GzipWriter(std::function<Status(std::string_view)> sink, int level = 6, std::string comment = "");
  ~GzipWriter();
  GzipWriter(const GzipWriter&) = delete;
  GzipWriter& operator=(const GzipWriter&) = delete;

  Status Write(std::string_view data);
  // Flushes the stream and writes the trailer. Call once.
  Status Finish();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Decompresses the gzip file at `path` (all members) and hands the text to
// `sink` piece by piece. NotFound when the file does not exist,
// InvalidArgument when it is not gzip or truncated.
Status GunzipFile(const std::string& path, const std::function<Status(std::string_view)>& sink);

// The FCOMMENT of the gzip file's header ("" when there is none).
Result<std::string> GzipComment(const std::string& path);

// In-memory helpers (tests, small payloads).
Result<std::string> Gzip(std::string_view data, int level = 6);
Result<std::string> Gunzip(std::string_view data);

}  // namespace duende
