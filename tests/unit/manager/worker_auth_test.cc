#include "manager/worker_auth.h"

#include <gtest/gtest.h>

#include <atomic>

#include "common/jwt.h"
#include "support/fake_clock.h"

namespace duende::manager {
namespace {

std::string Basic(const std::string& user, const std::string& pass) {
  static const char* kB64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const std::string in = user + ":" + pass;
  std::string out;
  int val = 0, bits = -6;
  for (unsigned char c : in) {
    val = (val << 8) + c;
    bits += 8;
    while (bits >= 0) {
      out.push_back(kB64[(val >> bits) & 0x3F]);
      bits -= 6;
    }
  }
  if (bits > -6) out.push_back(kB64[((val << 8) >> (bits + 8)) & 0x3F]);
  while (out.size() % 4) out.push_back('=');
  return "Basic " + out;
}

TEST(WorkerAuthTest, VerifiesOnceThenUsesTheFastPath) {
  const std::string hash = *HashSecret("s3cret");
  EXPECT_EQ(hash.rfind("$argon2id$", 0), 0u) << hash;
  std::atomic<int> loads = 0;
  WorkerAuthenticator auth([&](const std::string& id) -> Result<std::optional<std::string>> {
    ++loads;
    if (id == "aaaaaaaaaaaaaaaaaaaaaaaa") return std::optional<std::string>(hash);
    return std::optional<std::string>();
  });
  for (int i = 0; i < 5; ++i) {
    auto id = auth.Authenticate(Basic("aaaaaaaaaaaaaaaaaaaaaaaa", "s3cret"));
    ASSERT_TRUE(id.has_value());
    EXPECT_EQ(*id, "aaaaaaaaaaaaaaaaaaaaaaaa");
  }
  EXPECT_EQ(loads, 1) << "the slow hash is checked once";
  auto wrong = auth.Authenticate(Basic("aaaaaaaaaaaaaaaaaaaaaaaa", "guess"));
  ASSERT_FALSE(wrong.has_value());
  EXPECT_EQ(wrong.error().code, ErrorCode::kUnauthorized);
  EXPECT_FALSE(auth.Authenticate(Basic("bbbbbbbbbbbbbbbbbbbbbbbb", "s3cret")).has_value());
  EXPECT_FALSE(auth.Authenticate("Bearer xyz").has_value());
  EXPECT_FALSE(auth.Authenticate("Basic !!!notbase64").has_value());
  EXPECT_FALSE(auth.Authenticate("").has_value());
}

// The worker is forgotten (revoked, deleted) while its first request is
// between loading the stored hash and caching the digest: the request is
// checked again against the store, and the old secret is not cached.
TEST(WorkerAuthTest, AForgetDuringTheSlowCheckIsNotUndoneByTheCache) {
  const std::string hash = *HashSecret("s3cret");
  const std::string id = "aaaaaaaaaaaaaaaaaaaaaaaa";
  bool revoked = false;
  int loads = 0;
  WorkerAuthenticator* self = nullptr;
  WorkerAuthenticator auth([&](const std::string&) -> Result<std::optional<std::string>> {
    ++loads;
    if (revoked) return std::optional<std::string>();
    // Revoked right after this load: the store changes and Forget runs
    // before the caller gets to cache what it loaded.
    revoked = true;
    self->Forget(id);
    return std::optional<std::string>(hash);
  });
  self = &auth;
  auto first = auth.Authenticate(Basic(id, "s3cret"));
  ASSERT_FALSE(first.has_value());
  EXPECT_EQ(first.error().code, ErrorCode::kUnauthorized);
  EXPECT_EQ(loads, 2);
  EXPECT_FALSE(auth.Authenticate(Basic(id, "s3cret")).has_value()) << "nothing was cached";
}

TEST(WorkerAuthTest, RegistrationTokenHs256) {
  testing::FakeClock clock;
  const std::string token = MakeRegistrationToken("psk", clock.Now());
  EXPECT_TRUE(VerifyRegistrationToken("Bearer " + token, "psk", clock.Now()).has_value());
  auto wrong_key = VerifyRegistrationToken("Bearer " + token, "other", clock.Now());
  ASSERT_FALSE(wrong_key.has_value());
  EXPECT_EQ(wrong_key.error().code, ErrorCode::kForbidden);
  EXPECT_FALSE(VerifyRegistrationToken("", "psk", clock.Now()).has_value());
  EXPECT_FALSE(VerifyRegistrationToken("Bearer a.b", "psk", clock.Now()).has_value());
  clock.Advance(std::chrono::minutes(16));
  auto expired = VerifyRegistrationToken("Bearer " + token, "psk", clock.Now());
  ASSERT_FALSE(expired.has_value());
  EXPECT_NE(expired.error().message.find("expired"), std::string::npos);
}

}  // namespace
}  // namespace duende::manager
