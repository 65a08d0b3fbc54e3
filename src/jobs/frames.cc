#include "jobs/frames.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstddef>
#include <cstdint>

namespace duende::jobs {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// Parses a non-negative decimal number; the whole (trimmed) string must be
// digits.
Result<int> ParseFrame(std::string_view item, std::string_view s) {
  s = Trim(s);
  auto bad = [&](const std::string& why) {
    return InvalidArgument("invalid frame range item '" + std::string(item) + "': " + why);
  };
  if (s.empty()) return bad("missing frame number");
  if (s.front() == '-' || s.front() == '+') return bad("negative or signed frame numbers are not supported");
  int64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec == std::errc::result_out_of_range) return bad("frame number too large");
  if (ec != std::errc() || ptr != s.data() + s.size()) return bad("'" + std::string(s) + "' is not a frame number");
  if (v > INT32_MAX) return bad("frame number too large");
  return static_cast<int>(v);
}

}  // namespace

Result<std::vector<int>> ParseFrameRange(std::string_view spec) {
  if (Trim(spec).empty()) return InvalidArgument("frame range is empty");
  std::vector<int> frames;
  int64_t total = 0;
  size_t start = 0;
  while (start <= spec.size()) {
    size_t comma = spec.find(',', start);
    if (comma == std::string_view::npos) comma = spec.size();
    const std::string_view item = Trim(spec.substr(start, comma - start));
    start = comma + 1;
    if (item.empty()) return InvalidArgument("frame range '" + std::string(spec) + "' has an empty item");
    // A '-' after the first character separates a range; a leading '-' is a
    // (rejected) negative number.
    const size_t dash = item.find('-', 1);
    int first = 0;
    int last = 0;
    if (dash == std::string_view::npos) {
      auto f = ParseFrame(item, item);
      if (!f) return std::unexpected(f.error());
      first = last = *f;
    } else {
      auto f = ParseFrame(item, item.substr(0, dash));
      if (!f) return std::unexpected(f.error());
      auto l = ParseFrame(item, item.substr(dash + 1));
      if (!l) return std::unexpected(l.error());
      first = *f;
      last = *l;
      if (first > last)
        return InvalidArgument("invalid frame range item '" + std::string(item) + "': start is after end");
    }
    total += static_cast<int64_t>(last) - first + 1;
    if (total > kMaxFrames)
      return InvalidArgument("frame range '" + std::string(spec) + "' has more than " + std::to_string(kMaxFrames) +
                             " frames");
    for (int64_t f = first; f <= last; ++f) frames.push_back(static_cast<int>(f));
  }
  std::sort(frames.begin(), frames.end());
  frames.erase(std::unique(frames.begin(), frames.end()), frames.end());
  return frames;
}

Result<std::vector<std::vector<int>>> ChunkFrames(const std::vector<int>& frames, int chunk_size) {
  if (chunk_size < 1) return InvalidArgument("chunk size must be at least 1, got " + std::to_string(chunk_size));
  std::vector<std::vector<int>> chunks;
  for (size_t i = 0; i < frames.size(); i += static_cast<size_t>(chunk_size)) {
    const size_t end = std::min(frames.size(), i + static_cast<size_t>(chunk_size));
    chunks.emplace_back(frames.begin() + static_cast<std::ptrdiff_t>(i),
                        frames.begin() + static_cast<std::ptrdiff_t>(end));
  }
  return chunks;
}

std::string FormatFrameRange(const std::vector<int>& frames, std::string_view range_separator) {
  std::string out;
  auto append = [&](const std::string& s) {
    if (!out.empty()) out += ',';
    out += s;
  };
  size_t i = 0;
  while (i < frames.size()) {
    size_t j = i;
    while (j + 1 < frames.size() && static_cast<int64_t>(frames[j + 1]) == static_cast<int64_t>(frames[j]) + 1) ++j;
    if (j - i >= 2) {
      append(std::to_string(frames[i]) + std::string(range_separator) + std::to_string(frames[j]));
    } else {
      for (size_t k = i; k <= j; ++k) append(std::to_string(frames[k]));
    }
    i = j + 1;
  }
  return out;
}

}  // namespace duende::jobs
