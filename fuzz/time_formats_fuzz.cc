// Times and durations from outside: ISO-8601 timestamps (received_on_manager
// in task-update batches, X-Flamenco-If-Updated-Since) and durations of the
// config file ("30s", "1h30m"). The first byte picks ('0'..'1').
#include "common/timefmt.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace duende;
  fuzz::Reader in(fuzz::AsText(data, size));
  if (in.Kind(2) == 0) {
    auto t = ParseIso8601(in.Rest());
    if (!t) {
      FUZZ_CHECK(fuzz::IsClearError(t.error()));
      return 0;
    }
    // The formatted form reads back as the same instant.
    auto again = ParseIso8601(FormatIso8601(*t));
    FUZZ_CHECK(again.has_value() && *again == *t);
  } else {
    auto d = ParseDuration(in.Rest());
    if (!d) {
      FUZZ_CHECK(fuzz::IsClearError(d.error()));
      return 0;
    }
    FUZZ_CHECK(d->count() >= 0);
    auto again = ParseDuration(FormatDuration(*d));
    FUZZ_CHECK(again.has_value());
  }
  return 0;
}
