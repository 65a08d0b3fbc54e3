#include "common/wakeup_batch.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace duende {
namespace {

TEST(WakeupBatchTest, WithoutABatchAWakeUpRunsAtOnce) {
  int woken = 0;
  DeferWakeup(&woken, [&] { ++woken; });
  EXPECT_EQ(woken, 1);
  DeferWakeup(&woken, [&] { ++woken; });
  EXPECT_EQ(woken, 2);
}

TEST(WakeupBatchTest, ABatchRunsEachKeysFirstWakeUpOnceAtItsEnd) {
  std::vector<std::string> woken;
  const int a = 0, b = 0;
  {
    WakeupBatch batch;
    DeferWakeup(&a, [&] { woken.push_back("a1"); });
    DeferWakeup(&b, [&] { woken.push_back("b1"); });
    DeferWakeup(&a, [&] { woken.push_back("a2"); });
    EXPECT_TRUE(woken.empty()) << "a wake-up ran before the batch ended";
  }
  EXPECT_EQ(woken, (std::vector<std::string>{"a1", "b1"}));
}

TEST(WakeupBatchTest, ANestedBatchEndsOnItsOwnAndOtherThreadsAreNotHeld) {
  std::vector<std::string> woken;
  const int a = 0, b = 0;
  {
    WakeupBatch outer;
    DeferWakeup(&a, [&] { woken.push_back("outer"); });
    {
      WakeupBatch inner;
      DeferWakeup(&b, [&] { woken.push_back("inner"); });
    }
    EXPECT_EQ(woken, (std::vector<std::string>{"inner"}));
    bool other_woken = false;
    std::thread([&] { DeferWakeup(&a, [&] { other_woken = true; }); }).join();
    EXPECT_TRUE(other_woken) << "another thread's wake-up waited for this thread's batch";
  }
  EXPECT_EQ(woken, (std::vector<std::string>{"inner", "outer"}));
}

}  // namespace
}  // namespace duende
