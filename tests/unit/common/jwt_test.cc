#include "common/jwt.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace duende {
namespace {

std::string Hex(std::string_view bin) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bin) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

TEST(HmacSha256, MatchesRfc4231TestCase2) {
  EXPECT_EQ(Hex(HmacSha256("Jefe", "what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(HmacSha256, AcceptsKeysLongerThanOneBlock) {
  // RFC 4231 test case 6: a 131-byte key is hashed first.
  const std::string key(131, '\xaa');
  EXPECT_EQ(Hex(HmacSha256(key, "Test Using Larger Than Block-Size Key - Hash Key First")),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

TEST(Base64Url, HasNoPaddingAndUsesUrlAlphabet) {
  EXPECT_EQ(Base64UrlEncode(""), "");
  EXPECT_EQ(Base64UrlEncode("f"), "Zg");
  EXPECT_EQ(Base64UrlEncode("fo"), "Zm8");
  EXPECT_EQ(Base64UrlEncode("foo"), "Zm9v");
  EXPECT_EQ(Base64UrlEncode("\xfb\xff"), "-_8");
}

TEST(Base64Url, DecodesWhatItEncodesAndRejectsOtherText) {
  for (std::string s : {"", "f", "fo", "foo", "\xfb\xff\x00x"}) EXPECT_EQ(Base64UrlDecode(Base64UrlEncode(s)), s);
  EXPECT_FALSE(Base64UrlDecode("Zm9v=").has_value());  // padding
  EXPECT_FALSE(Base64UrlDecode("+/8").has_value());    // standard alphabet
  EXPECT_FALSE(Base64UrlDecode("Zm 9v").has_value());
}

TEST(Base64, DecodesStandardPaddedText) {
  EXPECT_EQ(Base64Decode("dXNlcjpwYXNz"), "user:pass");
  EXPECT_EQ(Base64Decode("Zm8="), "fo");
  EXPECT_EQ(Base64Decode("+/8="), "\xfb\xff");
  EXPECT_FALSE(Base64Decode("Zm8").has_value());   // missing padding
  EXPECT_FALSE(Base64Decode("-_8=").has_value());  // URL alphabet
}

TEST(Jwt, MatchesTheWellKnownHs256Example) {
  EXPECT_EQ(SignHs256Jwt("your-256-bit-secret", R"({"alg":"HS256","typ":"JWT"})",
                         R"({"sub":"1234567890","name":"John Doe","iat":1516239022})"),
            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5"
            "MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c");
}

TEST(Jwt, RegistrationTokenCarriesIatAndExpFifteenMinutesLater) {
  const SystemTime now{std::chrono::seconds(1'800'000'000)};
  const std::string token = MakeRegistrationToken("psk", now);
  const size_t dot1 = token.find('.');
  const size_t dot2 = token.find('.', dot1 + 1);
  ASSERT_NE(dot2, std::string::npos);
  const auto header = nlohmann::json::parse(Base64UrlDecode(token.substr(0, dot1)).value());
  EXPECT_EQ(header["alg"], "HS256");
  const auto claims = nlohmann::json::parse(Base64UrlDecode(token.substr(dot1 + 1, dot2 - dot1 - 1)).value());
  EXPECT_EQ(claims["iat"], 1'800'000'000);
  EXPECT_EQ(claims["exp"], 1'800'000'000 + 15 * 60);
  EXPECT_EQ(Base64UrlDecode(token.substr(dot2 + 1)), HmacSha256("psk", token.substr(0, dot2)));
}

}  // namespace
}  // namespace duende
