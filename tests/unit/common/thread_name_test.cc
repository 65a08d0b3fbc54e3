#include "common/thread_name.h"

#include <gtest/gtest.h>

#include <string>

namespace duende {
namespace {

TEST(ThreadNameTest, ANamedThreadCarriesItsNameAndLongNamesAreCut) {
  std::string seen;
  NamedThread("store-writer", [&](std::stop_token) { seen = ThisThreadName(); }).join();
  EXPECT_EQ(seen, "store-writer");
  std::jthread([&] {
    NameThisThread("a-name-longer-than-fifteen");
    seen = ThisThreadName();
  }).join();
  EXPECT_EQ(seen, "a-name-longer-t");
}

}  // namespace
}  // namespace duende
