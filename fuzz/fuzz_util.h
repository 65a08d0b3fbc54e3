// Helpers shared by the libFuzzer targets in this folder.
//
// Each target feeds the bytes libFuzzer gives it to one parser of outside
// input and checks what the parser promises: an error is a clear
// InvalidArgument-style message (never an exception, crash or hang), and what
// parses survives a round trip where the code has one. A broken promise
// aborts, which libFuzzer reports as a crash with the input that caused it.
#pragma once

#include <spdlog/spdlog.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "common/result.h"

// Aborts (a libFuzzer crash) when `cond` does not hold.
#define FUZZ_CHECK(cond)                                                                  \
  do {                                                                                    \
    if (!(cond)) {                                                                        \
      std::fprintf(stderr, "FUZZ_CHECK failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
      std::abort();                                                                       \
    }                                                                                     \
  } while (false)

namespace duende::fuzz {

inline std::string_view AsText(const uint8_t* data, size_t size) { return {reinterpret_cast<const char*>(data), size}; }

// Silences spdlog once per process: some parsers log what they reject, and a
// fuzzer calls them millions of times.
inline void QuietLogs() {
  static const bool done = [] {
    spdlog::set_level(spdlog::level::off);
    return true;
  }();
  (void)done;
}

// An error a handler turns into a 4xx: the code is the expected one and the
// message says something.
inline bool IsClearError(const Error& e, ErrorCode code = ErrorCode::kInvalidArgument) {
  return e.code == code && !e.message.empty();
}

// Reads an input as a few fields: a selector byte, then lines.
class Reader {
 public:
  explicit Reader(std::string_view text) : rest_(text) {}

  // Which of `n` cases an input exercises, from its first byte (consumed):
  // '0' picks case 0, '1' case 1, ... so seed files stay readable text.
  unsigned Kind(unsigned n) {
    if (rest_.empty()) return 0;
    const auto b = static_cast<uint8_t>(rest_.front() - '0');
    rest_.remove_prefix(1);
    return b % n;
  }
  // Up to the next '\n' (consumed, not returned), or everything left.
  std::string_view Line() {
    const size_t nl = rest_.find('\n');
    std::string_view line = rest_.substr(0, nl);
    rest_.remove_prefix(nl == std::string_view::npos ? rest_.size() : nl + 1);
    return line;
  }
  std::string_view Rest() const { return rest_; }

 private:
  std::string_view rest_;
};

}  // namespace duende::fuzz
