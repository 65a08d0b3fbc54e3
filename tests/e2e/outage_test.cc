// The CI-sized sibling of tests/long/outage_test.cc: a Manager outage of
// 12 s, over two of the workers' 5 s outbox back-offs.
#include "support/outage_scenario.h"

namespace duende::testing {
namespace {

TEST(OutageTest, ManagerDownForSecondsLosesNothing) { RunManagerOutage(std::chrono::seconds(12)); }

}  // namespace
}  // namespace duende::testing
