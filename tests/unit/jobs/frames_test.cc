#include "jobs/frames.h"

#include <gtest/gtest.h>

namespace duende::jobs {
namespace {

struct ParseCase {
  std::string spec;
  std::vector<int> want;
};

class ParseFrameRangeOk : public ::testing::TestWithParam<ParseCase> {};

TEST_P(ParseFrameRangeOk, Parses) {
  auto got = ParseFrameRange(GetParam().spec);
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(*got, GetParam().want);
}

INSTANTIATE_TEST_SUITE_P(Table, ParseFrameRangeOk,
                         ::testing::Values(ParseCase{"1", {1}}, ParseCase{"0", {0}}, ParseCase{"1-4", {1, 2, 3, 4}},
                                           ParseCase{"1,3-5,8", {1, 3, 4, 5, 8}},
                                           ParseCase{"8,1-3,2", {1, 2, 3, 8}},  // sorted, unique
                                           ParseCase{" 1 - 3 , 7 ", {1, 2, 3, 7}}, ParseCase{"5-5", {5}},
                                           ParseCase{"10,9", {9, 10}}));

struct BadCase {
  std::string spec;
  std::string message_part;
};

class ParseFrameRangeBad : public ::testing::TestWithParam<BadCase> {};

TEST_P(ParseFrameRangeBad, RejectsWithClearMessage) {
  auto got = ParseFrameRange(GetParam().spec);
  ASSERT_FALSE(got) << "accepted '" << GetParam().spec << "'";
  EXPECT_EQ(got.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(got.error().message.find(GetParam().message_part), std::string::npos) << got.error().message;
}

INSTANTIATE_TEST_SUITE_P(Table, ParseFrameRangeBad,
                         ::testing::Values(BadCase{"", "empty"}, BadCase{"   ", "empty"},
                                           BadCase{"5-1", "start is after end"}, BadCase{"a", "not a frame number"},
                                           BadCase{"1-", "missing frame number"}, BadCase{"-3", "negative"},
                                           BadCase{"1--3", "negative"}, BadCase{"1,,2", "empty item"},
                                           BadCase{"1,", "empty item"}, BadCase{"1.5", "not a frame number"},
                                           BadCase{"1-2-3", "not a frame number"}, BadCase{"99999999999", "too large"},
                                           BadCase{"0-1000000", "more than 1000000 frames"},
                                           BadCase{"1-600000,700000-1300000", "more than 1000000 frames"}));

TEST(ParseFrameRange, AcceptsExactlyTheCap) {
  auto got = ParseFrameRange("1-1000000");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->size(), 1000000u);
}

TEST(ChunkFrames, SlicesWithShorterLastChunk) {
  auto chunks = ChunkFrames({1, 2, 3, 4, 5, 6, 7}, 3);
  ASSERT_TRUE(chunks);
  EXPECT_EQ(*chunks, (std::vector<std::vector<int>>{{1, 2, 3}, {4, 5, 6}, {7}}));
}

TEST(ChunkFrames, ChunkLargerThanFramesGivesOneChunk) {
  auto chunks = ChunkFrames({1, 5, 9}, 10);
  ASSERT_TRUE(chunks);
  EXPECT_EQ(*chunks, (std::vector<std::vector<int>>{{1, 5, 9}}));
}

TEST(ChunkFrames, ChunkSizeOneAndEmptyInput) {
  auto one = ChunkFrames({4, 5}, 1);
  ASSERT_TRUE(one);
  EXPECT_EQ(*one, (std::vector<std::vector<int>>{{4}, {5}}));
  auto none = ChunkFrames({}, 5);
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
}

TEST(ChunkFrames, RejectsChunkSizeBelowOne) {
  EXPECT_EQ(ChunkFrames({1}, 0).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(ChunkFrames({1}, -3).error().code, ErrorCode::kInvalidArgument);
}

struct FormatCase {
  std::vector<int> frames;
  std::string name_form;
  std::string blender_form;
};

class FormatFrames : public ::testing::TestWithParam<FormatCase> {};

TEST_P(FormatFrames, BothForms) {
  EXPECT_EQ(FrameRangeForName(GetParam().frames), GetParam().name_form);
  EXPECT_EQ(FrameRangeForBlender(GetParam().frames), GetParam().blender_form);
}

INSTANTIATE_TEST_SUITE_P(Table, FormatFrames,
                         ::testing::Values(FormatCase{{}, "", ""}, FormatCase{{7}, "7", "7"},
                                           FormatCase{{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, "1-10", "1..10"},
                                           FormatCase{{3, 4}, "3,4", "3,4"},
                                           FormatCase{{1, 2, 3, 7, 9, 10}, "1-3,7,9,10", "1..3,7,9,10"},
                                           FormatCase{{1, 3, 5}, "1,3,5", "1,3,5"},
                                           FormatCase{{0, 1, 2, 10, 11, 12, 13}, "0-2,10-13", "0..2,10..13"}));

TEST(FormatFrames, RoundTripsThroughParse) {
  const std::vector<int> frames = {1, 2, 3, 5, 6, 8, 10, 11, 12, 13};
  auto parsed = ParseFrameRange(FrameRangeForName(frames));
  ASSERT_TRUE(parsed);
  EXPECT_EQ(*parsed, frames);
}

}  // namespace
}  // namespace duende::jobs
