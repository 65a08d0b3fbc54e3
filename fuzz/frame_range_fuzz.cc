// Frame ranges of job settings ("1-10,15,20-30"; spec §11): the parser, and
// the formatting and chunking applied to what it returns.
#include <algorithm>

#include "fuzz_util.h"
#include "jobs/frames.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace duende;
  const std::string_view spec = fuzz::AsText(data, size);
  auto frames = jobs::ParseFrameRange(spec);
  if (!frames) {
    FUZZ_CHECK(fuzz::IsClearError(frames.error()));
    return 0;
  }
  FUZZ_CHECK(!frames->empty() && frames->size() <= static_cast<size_t>(jobs::kMaxFrames));
  FUZZ_CHECK(std::is_sorted(frames->begin(), frames->end()));
  FUZZ_CHECK(std::adjacent_find(frames->begin(), frames->end()) == frames->end());
  FUZZ_CHECK(frames->front() >= 0);
  // Formatting a million frames per input would only slow the fuzzer down;
  // the parser itself is exercised up to its limit.
  if (frames->size() > 10'000) return 0;
  // The compact form names the same frames.
  auto again = jobs::ParseFrameRange(jobs::FrameRangeForName(*frames));
  FUZZ_CHECK(again.has_value() && *again == *frames);
  // Chunks cover every frame once, in order.
  const int chunk_size = 1 + static_cast<int>(size % 7) * 13;
  auto chunks = jobs::ChunkFrames(*frames, chunk_size);
  FUZZ_CHECK(chunks.has_value());
  size_t n = 0;
  for (const auto& c : *chunks) {
    FUZZ_CHECK(!c.empty() && c.size() <= static_cast<size_t>(chunk_size));
    FUZZ_CHECK(std::equal(c.begin(), c.end(), frames->begin() + static_cast<std::ptrdiff_t>(n)));
    n += c.size();
  }
  FUZZ_CHECK(n == frames->size());
  return 0;
}
