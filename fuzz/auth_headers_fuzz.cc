// Credentials in request headers and bodies: HTTP Basic of the worker
// endpoints (spec §2.1), the registration token (Bearer JWT), the login body,
// and the access check every /api request goes through (Bearer token or
// session cookie, role, cross-site writes). The first byte picks ('0'..'3').
#include <sodium.h>

#include "../tests/support/fake_clock.h"
#include "fuzz_util.h"
#include "http/http.h"
#include "manager/access.h"
#include "manager/worker_auth.h"

namespace {

using namespace duende;

constexpr std::string_view kToken = "dnd_fuzz-operator-token";
constexpr std::string_view kSessionMarker = "@session@";
constexpr std::string_view kTokenMarker = "@token@";

std::string Base64(std::string_view in) {
  std::string out(sodium_base64_encoded_len(in.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(in.data()), in.size(),
                    sodium_base64_VARIANT_ORIGINAL);
  out.resize(std::strlen(out.c_str()));
  return out;
}

// The markers stand for a valid session ID and API token: the fuzzer cannot
// guess 256-bit secrets, but should reach the code behind them.
std::string Expand(std::string_view text, const std::string& session) {
  std::string out(text);
  for (auto [marker, value] : {std::pair{kSessionMarker, std::string_view(session)}, std::pair{kTokenMarker, kToken}})
    for (size_t p = out.find(marker); p != std::string::npos; p = out.find(marker, p + value.size()))
      out.replace(p, marker.size(), value);
  return out;
}

struct Access {
  testing::FakeClock clock;
  std::unique_ptr<manager::AccessControl> control;
  std::string session;
  Access() {
    manager::UserConfig op{"op", manager::Role::kOperator, "", *manager::HashSecret(kToken)};
    control = std::make_unique<manager::AccessControl>(manager::AccessOptions{{op}}, clock);
    auto who = control->Login("127.0.0.1", "", "", kToken);  // caches the token's digest
    FUZZ_CHECK(who.has_value());
    session = control->CreateSession(manager::Principal{"viewer", manager::Role::kViewer});
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::QuietLogs();
  static Access* access = new Access();
  fuzz::Reader in(fuzz::AsText(data, size));
  switch (in.Kind(4)) {
    case 0: {
      auto creds = manager::ParseBasicAuth(in.Rest());
      if (!creds) {
        FUZZ_CHECK(fuzz::IsClearError(creds.error(), ErrorCode::kUnauthorized));
        return 0;
      }
      // What was decoded encodes back to the same credentials.
      auto again = manager::ParseBasicAuth("Basic " + Base64(creds->first + ":" + creds->second));
      FUZZ_CHECK(again.has_value() && *again == *creds);
      break;
    }
    case 1: {
      const auto now = SystemTime(std::chrono::seconds(1'800'000'000));
      auto st = manager::VerifyRegistrationToken(in.Rest(), "fuzz-registration-secret", now);
      if (!st) FUZZ_CHECK(fuzz::IsClearError(st.error(), ErrorCode::kForbidden));
      break;
    }
    case 2: {
      auto login = manager::ParseLoginRequest(in.Rest());
      if (!login) FUZZ_CHECK(fuzz::IsClearError(login.error()));
      if (login) FUZZ_CHECK(!login->token.empty() || !login->user.empty());
      break;
    }
    default: {
      // Lines: method, route, Authorization, Cookie, Origin, Host.
      http::Request r;
      r.method = std::string(in.Line());
      r.route = std::string(in.Line());
      r.path = r.route;
      r.remote_host = "192.0.2.1";
      for (const char* name : {"authorization", "cookie", "origin", "host"}) {
        std::string value = Expand(in.Line(), access->session);
        if (!value.empty()) r.headers.emplace_back(name, std::move(value));
      }
      // Failed attempts are rate limited per address; a minute per input
      // lets the bucket refill so later inputs reach the checks again.
      access->clock.Advance(std::chrono::minutes(1));
      const auto need = manager::RequirementFor(r.method, r.route);
      auto refused = access->control->Check(r);
      if (need.kind != manager::Requirement::Kind::kUser) FUZZ_CHECK(!refused);
      if (refused) FUZZ_CHECK(refused->status == 401 || refused->status == 403 || refused->status == 429);
      break;
    }
  }
  return 0;
}
