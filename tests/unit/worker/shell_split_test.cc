#include "worker/shell_split.h"

#include <gtest/gtest.h>

namespace duende::worker {
namespace {

struct SplitCase {
  std::string input;
  std::vector<std::string> words;
};

class ShellSplitTable : public ::testing::TestWithParam<SplitCase> {};

TEST_P(ShellSplitTable, SplitsLikeAPosixShell) {
  auto words = ShellSplit(GetParam().input);
  ASSERT_TRUE(words.has_value()) << words.error().message;
  EXPECT_EQ(*words, GetParam().words) << "input: " << GetParam().input;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ShellSplitTable,
    ::testing::Values(SplitCase{"", {}}, SplitCase{"   \t\n ", {}}, SplitCase{"blender", {"blender"}},
                      SplitCase{"  a  b\tc\nd ", {"a", "b", "c", "d"}},
                      SplitCase{"blender --factory-startup -t 4", {"blender", "--factory-startup", "-t", "4"}},
                      SplitCase{"'/opt/my blender/blender' -b", {"/opt/my blender/blender", "-b"}},
                      SplitCase{R"("/opt/my blender/blender" -b)", {"/opt/my blender/blender", "-b"}},
                      SplitCase{R"(a\ b c)", {"a b", "c"}}, SplitCase{R"('it''s')", {"its"}},
                      SplitCase{R"('it'\''s')", {"it's"}}, SplitCase{R"("say \"hi\"")", {R"(say "hi")"}},
                      SplitCase{R"("a\b")", {R"(a\b)"}}, SplitCase{R"("\$HOME \\ \`")", {R"($HOME \ `)"}},
                      SplitCase{R"('a\b "c"')", {R"(a\b "c")"}}, SplitCase{R"("" '' x)", {"", "", "x"}},
                      SplitCase{R"(pre"mid dle"'post')", {"premid dlepost"}}, SplitCase{"a\\\nb", {"ab"}},
                      SplitCase{"$HOME *.png ~ #x", {"$HOME", "*.png", "~", "#x"}},
                      SplitCase{"--python-expr 'import bpy; print(1)'", {"--python-expr", "import bpy; print(1)"}}));

TEST(ShellSplit, RejectsUnterminatedQuotesAndTrailingBackslash) {
  for (std::string bad : {"'abc", "\"abc", "abc\\", R"("a\")", "a 'b c"}) {
    auto r = ShellSplit(bad);
    EXPECT_FALSE(r.has_value()) << bad;
    if (!r) {
      EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
    }
  }
}

TEST(ShellQuote, RoundTripsThroughShellSplit) {
  const std::vector<std::string> words = {"plain", "", "with space", "it's", R"(a"b)", "$x", "back\\slash", "ü"};
  auto back = ShellSplit(ShellJoin(words));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(*back, words);
  EXPECT_EQ(ShellQuote("simple-arg_1.0"), "simple-arg_1.0");
}

}  // namespace
}  // namespace duende::worker
