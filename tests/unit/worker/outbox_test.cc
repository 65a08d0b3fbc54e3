#include "worker/outbox.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <deque>
#include <thread>

#include "unit/worker/worker_test_util.h"
#include "worker/manager_client.h"

namespace duende::worker {
namespace {

using ::testing::ElementsAre;
using testing::FakeManager;
using testing::TempDir;

// A poster that answers from a script (then 204) and records deliveries.
class ScriptedPoster final : public UpdatePoster {
 public:
  Result<int> PostJson(std::string_view path, std::string_view body) override {
    std::lock_guard lock(mu_);
    attempts.emplace_back(std::string(path) + " " + std::string(body));
    int status = 204;
    if (!script.empty()) {
      status = script.front();
      script.pop_front();
    }
    if (status == 0) return Unavailable("connection refused");
    return status;
  }
  std::mutex mu_;
  std::deque<int> script;  // 0 = network error
  std::vector<std::string> attempts;
};

class OutboxTest : public ::testing::Test {
 protected:
  std::unique_ptr<Outbox> Open(UpdatePoster& poster) {
    auto o = Outbox::Open(dir_ / "outbox.sqlite", poster, clock_, {.backoff = std::chrono::seconds(5)});
    EXPECT_TRUE(o.has_value());
    return std::move(*o);
  }
  TempDir dir_;
  duende::testing::FakeClock clock_;
};

TEST_F(OutboxTest, DeliversInOrderAndDeletesOn2xx) {
  ScriptedPoster poster;
  auto outbox = Open(poster);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(outbox->Enqueue("/tasks/t/update", std::to_string(i)).has_value());
  EXPECT_EQ(*outbox->Count(), 3);
  EXPECT_EQ(outbox->FlushRound(), Outbox::Round::kDelivered);
  EXPECT_EQ(outbox->FlushRound(), Outbox::Round::kEmpty);
  EXPECT_THAT(poster.attempts, ElementsAre("/tasks/t/update 0", "/tasks/t/update 1", "/tasks/t/update 2"));
  EXPECT_EQ(*outbox->Count(), 0);
}

TEST_F(OutboxTest, Drops404And409ButKeepsOtherErrorsInOrder) {
  ScriptedPoster poster;
  poster.script = {404, 409, 500};
  auto outbox = Open(poster);
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(outbox->Enqueue("/p", std::to_string(i)).has_value());
  // 0 → 404 dropped, 1 → 409 dropped, 2 → 500 kept; the round stops there.
  EXPECT_EQ(outbox->FlushRound(), Outbox::Round::kFailed);
  EXPECT_EQ(*outbox->Count(), 2);
  auto left = outbox->Peek(10);
  ASSERT_EQ(left->size(), 2u);
  EXPECT_EQ((*left)[0].payload, "2");
  EXPECT_EQ((*left)[1].payload, "3");
  EXPECT_EQ(outbox->FlushRound(), Outbox::Round::kDelivered);
  EXPECT_THAT(poster.attempts, ElementsAre("/p 0", "/p 1", "/p 2", "/p 2", "/p 3"));
}

// An update larger than the Manager's body limit would get 413 for ever and
// hold up everything queued behind it.
TEST_F(OutboxTest, TooLargeUpdateIsDroppedSoTheOutboxDoesNotWedge) {
  ScriptedPoster poster;
  poster.script = {413};
  auto outbox = Open(poster);
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(outbox->Enqueue("/p", std::to_string(i)).has_value());
  EXPECT_EQ(outbox->FlushRound(), Outbox::Round::kDelivered);
  EXPECT_EQ(*outbox->Count(), 0);
  EXPECT_THAT(poster.attempts, ElementsAre("/p 0", "/p 1"));
}

TEST_F(OutboxTest, NetworkErrorKeepsEverything) {
  ScriptedPoster poster;
  poster.script = {0};
  auto outbox = Open(poster);
  ASSERT_TRUE(outbox->Enqueue("/p", "a").has_value());
  EXPECT_EQ(outbox->FlushRound(), Outbox::Round::kFailed);
  EXPECT_EQ(*outbox->Count(), 1);
}

TEST_F(OutboxTest, FlusherBacksOffOnTheClockAndRetries) {
  ScriptedPoster poster;
  poster.script = {503};
  auto outbox = Open(poster);
  std::jthread flusher([&](std::stop_token st) { outbox->Run(st); });
  ASSERT_TRUE(outbox->Enqueue("/p", "x").has_value());
  clock_.AwaitWaiters(1);  // backing off after the 503
  EXPECT_EQ(*outbox->Count(), 1);
  clock_.Advance(std::chrono::seconds(5));
  for (int i = 0; i < 2000 && *outbox->Count() != 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  EXPECT_EQ(*outbox->Count(), 0);
  EXPECT_EQ(poster.attempts.size(), 2u);
}

TEST_F(OutboxTest, FlushUntilGivesUpAtTheDeadline) {
  ScriptedPoster poster;
  poster.script = {0, 0, 0, 0, 0, 0, 0, 0};
  auto outbox = Open(poster);
  ASSERT_TRUE(outbox->Enqueue("/p", "x").has_value());
  testing::TimePump pump(clock_);
  EXPECT_FALSE(outbox->FlushUntil(clock_.SteadyNow() + std::chrono::seconds(12), {}));
  EXPECT_EQ(*outbox->Count(), 1);
}

// A poster that queues another update while it delivers one (the task
// reporter keeps queuing while the flusher sends).
class EnqueuingPoster final : public UpdatePoster {
 public:
  Result<int> PostJson(std::string_view, std::string_view body) override {
    delivered.emplace_back(body);
    if (outbox != nullptr && more > 0) {
      --more;
      EXPECT_TRUE(outbox->Enqueue("/p", "late" + std::to_string(more)).has_value());
    }
    return 204;
  }
  Outbox* outbox = nullptr;
  int more = 0;
  std::vector<std::string> delivered;
};

TEST_F(OutboxTest, UpdatesQueuedDuringARoundFollowInOrder) {
  EnqueuingPoster poster;
  auto outbox = Open(poster);
  poster.outbox = outbox.get();
  poster.more = 2;
  ASSERT_TRUE(outbox->Enqueue("/p", "first").has_value());
  while (outbox->FlushRound() == Outbox::Round::kDelivered) {
  }
  EXPECT_THAT(poster.delivered, ElementsAre("first", "late1", "late0"));
  EXPECT_EQ(*outbox->Count(), 0);
  EXPECT_EQ(outbox->FlushRound(), Outbox::Round::kEmpty);
}

TEST_F(OutboxTest, AQueueLargerThanItsMemoryCopyIsDeliveredInOrderFromTheTable) {
  ScriptedPoster poster;
  poster.script = {0};  // the first round fails: everything stays queued
  auto outbox = Open(poster);
  // Three items of 3 MiB pass the in-memory copy's limit; small ones around them.
  const std::string big(3 << 20, 'x');
  std::vector<std::string> sent;
  for (int i = 0; i < 7; ++i) {
    const std::string payload = i % 2 == 1 ? std::to_string(i) + big : std::to_string(i);
    ASSERT_TRUE(outbox->Enqueue("/p", payload).has_value());
    sent.push_back("/p " + payload);
  }
  EXPECT_EQ(outbox->FlushRound(), Outbox::Round::kFailed);
  EXPECT_EQ(outbox->FlushRound(), Outbox::Round::kDelivered);
  // Drained: new items go through the in-memory copy again.
  ASSERT_TRUE(outbox->Enqueue("/p", "after").has_value());
  sent.push_back("/p after");
  EXPECT_EQ(outbox->FlushRound(), Outbox::Round::kDelivered);
  EXPECT_EQ(outbox->FlushRound(), Outbox::Round::kEmpty);
  ASSERT_EQ(poster.attempts.size(), sent.size() + 1);  // + the failed first attempt
  EXPECT_EQ(poster.attempts.front(), sent.front());
  EXPECT_TRUE(std::equal(sent.begin(), sent.end(), poster.attempts.begin() + 1)) << "not delivered in order";
  EXPECT_EQ(*outbox->Count(), 0);
}

TEST_F(OutboxTest, ItemsLeftByAnEarlierRunAreDeliveredBeforeNewOnes) {
  {
    ScriptedPoster down;
    down.script = {0};
    auto outbox = Open(down);
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(outbox->Enqueue("/p", "old" + std::to_string(i)).has_value());
    EXPECT_EQ(outbox->FlushRound(), Outbox::Round::kFailed);
  }
  ScriptedPoster poster;
  auto outbox = Open(poster);
  ASSERT_TRUE(outbox->Enqueue("/p", "new").has_value());
  EXPECT_EQ(outbox->FlushRound(), Outbox::Round::kDelivered);
  EXPECT_EQ(outbox->FlushRound(), Outbox::Round::kEmpty);
  EXPECT_THAT(poster.attempts, ElementsAre("/p old0", "/p old1", "/p old2", "/p new"));
}

TEST_F(OutboxTest, SurvivesRestartAndDeliversInOrderToTheManager) {
  {
    ScriptedPoster down;  // the Manager is unreachable
    down.script = std::deque<int>(10, 0);
    auto outbox = Open(down);
    for (int i = 0; i < 5; ++i)
      ASSERT_TRUE(
          outbox->Enqueue("/tasks/aaaaaaaaaaaaaaaaaaaaaaaa/update", R"({"n":)" + std::to_string(i) + "}").has_value());
    EXPECT_EQ(outbox->FlushRound(), Outbox::Round::kFailed);
  }  // worker "restarts"
  FakeManager manager;
  auto http = http::MakeCurlClient("test");
  ManagerClient client(*http, manager.url());
  auto outbox = Open(client);
  EXPECT_EQ(*outbox->Count(), 5);
  EXPECT_TRUE(outbox->FlushUntil(clock_.SteadyNow() + std::chrono::seconds(10), {}));
  auto updates = manager.Updates();
  ASSERT_EQ(updates.size(), 5u);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(updates[i]["n"], i);
}

}  // namespace
}  // namespace duende::worker
