// A Manager outage of minutes (issue 9 §2): the workers keep their outboxes
// and deliver everything once it is back. Label long (`make test-long`);
// DUENDE_OUTAGE_SECONDS sets the outage (default 180). The CI-sized sibling
// is OutageTest.ManagerDownForSecondsLosesNothing (tests/e2e/); figures in
// docs/reliability.md.
#include <cstdlib>

#include "support/outage_scenario.h"

namespace duende::testing {
namespace {

TEST(LongOutageTest, ManagerDownForMinutesLosesNothing) {
  const char* env = std::getenv("DUENDE_OUTAGE_SECONDS");
  RunManagerOutage(std::chrono::seconds(env && *env ? std::atoi(env) : 180));
}

}  // namespace
}  // namespace duende::testing
