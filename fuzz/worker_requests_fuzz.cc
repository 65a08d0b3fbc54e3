// The other worker-facing bodies and headers (spec §2.2): POST
// /register-worker, POST /sign-on, POST /output-produced and the long-poll
// wait of POST /task. The first byte picks which ('0'..'3').
#include <chrono>

#include "fuzz_util.h"
#include "manager/worker_api.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace duende;
  fuzz::Reader in(fuzz::AsText(data, size));
  const unsigned kind = in.Kind(4);
  const std::string_view body = in.Rest();
  switch (kind) {
    case 0: {
      auto reg = manager::ParseRegistration(body);
      if (!reg) FUZZ_CHECK(fuzz::IsClearError(reg.error()));
      break;
    }
    case 1: {
      auto req = manager::ParseSignOn(body);
      if (!req) FUZZ_CHECK(fuzz::IsClearError(req.error()));
      break;
    }
    case 2: {
      auto paths = manager::ParseOutputProduced(body);
      if (!paths) FUZZ_CHECK(fuzz::IsClearError(paths.error()));
      break;
    }
    default: {
      const auto wait = manager::ParseRequestedWait(body);
      FUZZ_CHECK(wait >= std::chrono::milliseconds(0) && wait <= std::chrono::hours(1));
      break;
    }
  }
  return 0;
}
