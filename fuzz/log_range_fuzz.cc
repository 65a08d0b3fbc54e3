// Range requests for task logs: ?offset=&length= of GET /api/tasks/{id}/log
// and ?offset= / Last-Event-ID of .../log/follow, and where a read of a log
// of a given size then starts. Lines: offset, length, Last-Event-ID, size.
#include <charconv>

#include "fuzz_util.h"
#include "manager/log_api.h"

namespace {

// An absent line is an absent parameter; "\x01" alone marks one too, so
// "present but empty" is reachable as well.
std::optional<std::string> Param(std::string_view line) {
  if (line == "\x01") return std::nullopt;
  return std::string(line);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace duende;
  fuzz::Reader in(fuzz::AsText(data, size));
  const auto offset_text = Param(in.Line());
  const auto length_text = Param(in.Line());
  const std::string_view last_event_id = in.Line();
  const std::string_view size_text = in.Line();
  uint64_t log_size = 0;
  std::from_chars(size_text.data(), size_text.data() + size_text.size(), log_size);

  auto range = manager::ParseLogRange(offset_text, length_text);
  if (!range) {
    FUZZ_CHECK(fuzz::IsClearError(range.error()));
  } else {
    if (range->length) FUZZ_CHECK(*range->length >= 0);
    const uint64_t start = manager::LogRangeStart(range->offset, log_size);
    FUZZ_CHECK(start <= log_size);
    if (!range->offset) FUZZ_CHECK(start == 0);
  }
  auto follow = manager::ParseFollowOffset(offset_text, last_event_id);
  if (!follow) {
    FUZZ_CHECK(fuzz::IsClearError(follow.error()));
  } else if (*follow) {
    FUZZ_CHECK(manager::LogRangeStart(*follow, log_size) <= log_size);
  }
  return 0;
}
