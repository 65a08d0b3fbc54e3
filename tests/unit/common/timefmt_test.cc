#include "common/timefmt.h"

#include <gtest/gtest.h>

#include "common/ids.h"

namespace duende {
namespace {

TEST(TimeFormatTest, RoundTripsWithMicroseconds) {
  const SystemTime t = FromUnixMicros(1'800'000'000'123'456);
  const std::string s = FormatIso8601(t);
  EXPECT_EQ(s, "2027-01-15T08:00:00.123456Z");
  EXPECT_EQ(*ParseIso8601(s), t);
  EXPECT_EQ(*ParseIso8601("2027-01-15T09:00:00.123456+01:00"), t);
  EXPECT_EQ(ToUnixMicros(*ParseIso8601("1970-01-01T00:00:01Z")), 1'000'000);
  EXPECT_FALSE(ParseIso8601("yesterday").has_value());
  EXPECT_FALSE(ParseIso8601("2027-13-01T00:00:00Z").has_value());
}

// Found by fuzz_time_formats and fuzz_server_requests: years SystemTime
// cannot hold (nanoseconds in 64 bits: 1678 to 2261) overflowed.
TEST(TimeFormatTest, TimestampsOutsideSystemTimeAreRejected) {
  EXPECT_FALSE(ParseIso8601("0224-03-01T12:00:00Z").has_value());
  EXPECT_FALSE(ParseIso8601("9999-12-31T23:59:59Z").has_value());
  EXPECT_FALSE(ParseIso8601("2263-01-01T00:00:00Z").has_value());
  EXPECT_FALSE(ParseIso8601("1600-01-01T00:00:00Z").has_value());
  EXPECT_TRUE(ParseIso8601("2261-12-31T23:59:59.999999Z").has_value());
  EXPECT_TRUE(ParseIso8601("1700-01-01T00:00:00Z").has_value());
}

TEST(TimeFormatTest, DurationsNeedAUnit) {
  EXPECT_EQ(*ParseDuration("10m"), std::chrono::minutes(10));
  EXPECT_EQ(*ParseDuration("30s"), std::chrono::seconds(30));
  EXPECT_EQ(*ParseDuration("336h"), std::chrono::hours(336));
  EXPECT_EQ(*ParseDuration("1h30m"), std::chrono::minutes(90));
  EXPECT_EQ(*ParseDuration("250ms"), std::chrono::milliseconds(250));
  EXPECT_EQ(*ParseDuration("0"), std::chrono::milliseconds(0));
  EXPECT_FALSE(ParseDuration("10").has_value());
  EXPECT_FALSE(ParseDuration("").has_value());
  EXPECT_FALSE(ParseDuration("m").has_value());
  EXPECT_FALSE(ParseDuration("5 parsecs").has_value());
  EXPECT_EQ(FormatDuration(std::chrono::minutes(90)), "1h30m");
}

TEST(TimeFormatTest, HumanBytes) {
  EXPECT_EQ(HumanBytes(512), "512 B");
  EXPECT_EQ(HumanBytes(12595), "12.3 KiB");
  EXPECT_EQ(HumanBytes(1ull << 30), "1.0 GiB");
}

TEST(IdsTest, ObjectIdsAreUniqueHexAndOrdered) {
  std::string prev = NewObjectId();
  for (int i = 0; i < 1000; ++i) {
    const std::string id = NewObjectId();
    EXPECT_TRUE(IsObjectId(id)) << id;
    EXPECT_LT(prev, id) << "ids made in sequence sort in sequence within a second";
    prev = id;
  }
  EXPECT_FALSE(IsObjectId("123"));
  EXPECT_FALSE(IsObjectId("zzzzzzzzzzzzzzzzzzzzzzzz"));
  EXPECT_EQ(RandomToken(64).size(), 64u);
  EXPECT_NE(RandomToken(64), RandomToken(64));
}

}  // namespace
}  // namespace duende
