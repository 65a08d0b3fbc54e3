// UpstreamLink in linked mode against a scripted upstream: batched pushes,
// exact removal of handled IDs, cancellations, the queue surviving a down
// upstream, notifications, throttled downloads and etag re-validation.
#include "manager/upstream_link.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <set>
#include <thread>
#include <utility>

#include "farm_fixture.h"

namespace duende::manager {
namespace {

class ScriptedUpstream final : public protocol::Upstream {
 public:
  Result<protocol::Depsgraph> FetchDepsgraph(const std::string& since) override {
    ++downloads;
    tokens.push_back(since);
    if (down) return Unavailable("server down");
    protocol::Depsgraph g;
    g.kind = graph.empty() ? protocol::Depsgraph::Kind::kNotModified : protocol::Depsgraph::Kind::kTasks;
    g.tasks = std::exchange(graph, {});
    g.last_updated = "token-" + std::to_string(downloads.load());
    return g;
  }
  Result<protocol::BatchResponse> PushTaskUpdates(const std::vector<protocol::TaskUpdate>& updates) override {
    if (down) return Unavailable("server down");
    pushes.push_back(updates);
    protocol::BatchResponse r;
    for (const auto& u : updates)
      if (!drop_ids.contains(u.id)) r.handled_update_ids.push_back(u.id);
    r.cancel_task_ids = cancel;
    return r;
  }
  Status AttachTaskLog(const std::string&, const std::string&, const std::string&) override { return Ok(); }
  Status Notify(const protocol::UpstreamNotification& n) override {
    if (down) return Unavailable("server down");
    notifications.push_back(n);
    return Ok();
  }
  protocol::TaskCheck RefetchTask(const std::string& id, const std::string& etag) override {
    refetched.push_back(id + "@" + etag);
    return check;
  }

  bool down = false;
  std::atomic<int> downloads = 0;
  std::vector<std::string> tokens;
  std::vector<protocol::Task> graph;
  std::vector<std::vector<protocol::TaskUpdate>> pushes;
  std::set<std::string> drop_ids;
  std::vector<std::string> cancel;
  std::vector<protocol::UpstreamNotification> notifications;
  std::vector<std::string> refetched;
  protocol::TaskCheck check;
};

// Polls `pred` (real time, for the one test with a running link thread).
bool Eventually(const std::function<bool()>& pred) {
  for (int i = 0; i < 500; ++i) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return pred();
}

class UpstreamLinkTest : public FarmTest {
 protected:
  void SetUp() override {
    FarmTest::SetUp();
    link_options_.push_max_count = 2;
    link_options_.download_recheck_throttle = std::chrono::seconds(10);
    link_ = std::make_unique<UpstreamLink>(upstream_, *farm_, *store_, clock_, link_options_);
    farm_->SetListener(link_.get());
  }
  ScriptedUpstream upstream_;
  UpstreamLinkOptions link_options_;
  std::unique_ptr<UpstreamLink> link_;
};

TEST_F(UpstreamLinkTest, PushesInBatchesOfMaxCountAndRemovesExactlyTheHandledIds) {
  const std::string w = Register("w1");
  Task t = MakeTask("t");
  upstream_.graph = {t};
  ASSERT_TRUE(link_->SyncOnce());  // downloads t
  Fetch(w);                        // assigns: 1 queued update
  ASSERT_TRUE(farm_->UpdateTask(w, t.id, StatusUpdate(TaskStatus::kActive, "a"), seen_));
  ASSERT_TRUE(farm_->UpdateTask(w, t.id, StatusUpdate(TaskStatus::kCompleted, "b"), seen_));
  const auto queued = Queue();
  ASSERT_GE(queued.size(), 3u);
  upstream_.drop_ids = {queued[1].id};  // the Server handles all but one
  upstream_.pushes.clear();
  ASSERT_TRUE(link_->SyncOnce());
  ASSERT_EQ(upstream_.pushes.size(), 1u);
  EXPECT_EQ(upstream_.pushes[0].size(), 2u);  // push_max_count
  const auto left = Queue();
  ASSERT_EQ(left.size(), queued.size() - 1);
  EXPECT_EQ(left[0].id, queued[1].id);  // the unhandled one stays, in order
}

TEST_F(UpstreamLinkTest, QueueSurvivesADownUpstreamAndIsDeliveredAfter) {
  const std::string w = Register("w1");
  Task t = MakeTask("t");
  upstream_.graph = {t};
  ASSERT_TRUE(link_->SyncOnce());
  upstream_.down = true;
  Fetch(w);
  ASSERT_TRUE(farm_->UpdateTask(w, t.id, StatusUpdate(TaskStatus::kCompleted), seen_));
  const size_t n = Queue().size();
  EXPECT_FALSE(link_->SyncOnce());
  EXPECT_EQ(Queue().size(), n);  // nothing lost, nothing removed
  upstream_.graph = {};
  upstream_.down = false;
  upstream_.pushes.clear();
  link_options_.push_max_count = 100;
  link_ = std::make_unique<UpstreamLink>(upstream_, *farm_, *store_, clock_, link_options_);
  farm_->SetListener(link_.get());
  ASSERT_TRUE(link_->SyncOnce());
  ASSERT_EQ(upstream_.pushes.size(), 1u);
  EXPECT_EQ(upstream_.pushes[0].size(), n);
  EXPECT_TRUE(Queue().empty());
}

TEST_F(UpstreamLinkTest, CancelTaskIdsMakeAnActiveTaskCancelRequestedThenCanceled) {
  const std::string w = Register("w1");
  Task t = MakeTask("t");
  upstream_.graph = {t};
  ASSERT_TRUE(link_->SyncOnce());
  Fetch(w);
  upstream_.cancel = {t.id};
  ASSERT_TRUE(link_->SyncOnce());  // empty-or-not push learns about it
  EXPECT_EQ(Get(t.id).status, TaskStatus::kCancelRequested);
  auto may = farm_->MayIRun(w, t.id, seen_);
  ASSERT_TRUE(may.has_value());
  EXPECT_FALSE(may->may_keep_running);
  ASSERT_TRUE(farm_->ReturnTask(w, t.id, "told to stop", seen_));
  ASSERT_TRUE(link_->SyncOnce());
  EXPECT_EQ(Get(t.id).status, TaskStatus::kCanceled);
  bool reported = false;
  for (const auto& batch : upstream_.pushes)
    for (const auto& u : batch) reported |= u.task_id == t.id && u.task_status == TaskStatus::kCanceled;
  ASSERT_TRUE(link_->SyncOnce());
  for (const auto& u : upstream_.pushes.back()) reported |= u.task_id == t.id && u.task_status == TaskStatus::kCanceled;
  EXPECT_TRUE(reported);
}

TEST_F(UpstreamLinkTest, NotifiesOnlyWhenTheFarmChangedAndKeepsTheDepsgraphToken) {
  int workers = 1;
  link_->SetNotificationSource([&] {
    protocol::UpstreamNotification n;
    n.nr_of_workers = workers;
    n.worker_task_types = {"sleep"};
    return n;
  });
  ASSERT_TRUE(link_->SyncOnce());
  upstream_.graph = {MakeTask("t")};
  ASSERT_TRUE(link_->SyncOnce());
  ASSERT_TRUE(link_->SyncOnce());
  EXPECT_EQ(upstream_.notifications.size(), 1u);
  workers = 2;
  ASSERT_TRUE(link_->SyncOnce());
  ASSERT_EQ(upstream_.notifications.size(), 2u);
  EXPECT_EQ(upstream_.notifications[1].nr_of_workers, 2);
  // The token of the last 200 is sent back; 304 keeps it.
  ASSERT_EQ(upstream_.tokens.size(), 4u);
  EXPECT_EQ(upstream_.tokens[0], "");
  EXPECT_EQ(upstream_.tokens[1], "");
  EXPECT_EQ(upstream_.tokens[2], "token-2");
  EXPECT_EQ(upstream_.tokens[3], "token-2");
}

TEST_F(UpstreamLinkTest, RevalidationBeforeAssignment) {
  const std::string w = Register("w1");
  Task t = MakeTask("t", 50);
  t.etag = "e1";
  Task u = MakeTask("u", 40);
  u.etag = "e2";
  Add({t, u});
  // t was canceled on the Server: gone. u is unchanged and assigned.
  upstream_.check.kind = protocol::TaskCheck::Kind::kGone;
  int calls = 0;
  farm_->SetTaskValidator([&](const Task& c) {
    ++calls;
    if (c.id == u.id) upstream_.check.kind = protocol::TaskCheck::Kind::kUnchanged;
    return link_->Revalidate(c);
  });
  auto offer = Fetch(w);
  ASSERT_EQ(offer.kind, TaskOffer::Kind::kTask);
  EXPECT_EQ(offer.task.id, u.id);
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(Get(t.id).status, TaskStatus::kCanceled);
  ASSERT_EQ(upstream_.refetched.size(), 2u);
  EXPECT_EQ(upstream_.refetched[0], t.id + "@e1");
}

TEST_F(UpstreamLinkTest, ChangedTaskIsStoredBeforeItIsAssigned) {
  const std::string w = Register("w1");
  Task t = MakeTask("t", 50);
  t.etag = "e1";
  Add({t});
  Task newer = t;
  newer.etag = "e2";
  newer.job_priority = 99;
  int calls = 0;
  farm_->SetTaskValidator([&](const Task& c) {
    upstream_.check =
        calls++ == 0 ? protocol::TaskCheck{protocol::TaskCheck::Kind::kChanged, newer} : protocol::TaskCheck{};
    return link_->Revalidate(c);
  });
  auto offer = Fetch(w);
  ASSERT_EQ(offer.kind, TaskOffer::Kind::kTask);
  EXPECT_EQ(offer.task.job_priority, 99);
  EXPECT_EQ(upstream_.refetched.back(), t.id + "@e2");
}

TEST_F(UpstreamLinkTest, DownloadKickIsThrottled) {
  ASSERT_TRUE(link_->SyncOnce());
  std::jthread run([&](std::stop_token st) { link_->Run(st); });
  ASSERT_TRUE(Eventually([&] { return upstream_.downloads >= 2; }));  // Run() downloads at start
  const int before = upstream_.downloads;
  link_->KickDownloadThrottled();
  ASSERT_TRUE(Eventually([&] { return upstream_.downloads == before + 1; }));
  link_->KickDownloadThrottled();  // within the throttle: ignored
  link_->KickDownloadThrottled();
  clock_.Advance(std::chrono::seconds(11));
  link_->KickDownloadThrottled();
  ASSERT_TRUE(Eventually([&] { return upstream_.downloads >= before + 2; }));
  run.request_stop();
  clock_.NotifyAll();
  run.join();
  EXPECT_EQ(upstream_.downloads, before + 2);
}

// Standalone mode queues nothing: a job side that changed a job's status in
// the farm's transaction asks for the cancellations at once, with a push of
// no updates, instead of at the next cancel_fetch_max_interval.
TEST_F(UpstreamLinkTest, CancelFetchKickPushesAtOnceWithNothingQueued) {
  const std::string w = Register("w1");
  Task t = MakeTask("t");
  upstream_.graph = {t};
  ASSERT_TRUE(link_->SyncOnce());
  Fetch(w);
  ASSERT_TRUE(link_->SyncOnce());  // the assignment's update delivered
  ASSERT_TRUE(Queue().empty());
  std::jthread run([&](std::stop_token st) { link_->Run(st); });
  ASSERT_TRUE(Eventually([&] { return upstream_.downloads >= 3; }));  // Run() downloads at start
  const size_t pushes = upstream_.pushes.size();
  upstream_.cancel = {t.id};
  link_->KickCancelFetch();
  ASSERT_TRUE(Eventually([&] { return Get(t.id).status == TaskStatus::kCancelRequested; }));
  run.request_stop();
  clock_.NotifyAll();
  run.join();
  ASSERT_EQ(upstream_.pushes.size(), pushes + 1);  // the fake clock never reached the interval
  EXPECT_TRUE(upstream_.pushes.back().empty());
}

// Regression (issue 9, found while writing the Manager crash test): the
// tasks of a download and its token were saved in two transactions. A crash
// between them left the tasks under the old token, and the next download
// brought the same copies back over what workers had done since. Here the
// transaction after the one that stores the tasks fails, as a crash would
// end it: the tasks and the token are stored together or not at all.
TEST_F(UpstreamLinkTest, DepsgraphTokenCommitsWithItsTasks) {
  const Task t = MakeTask("t");
  upstream_.graph = {t};
  int transactions = 0;
  db_->SetFaultInjector([&]() -> Status {
    // 1: read the token, 2: store the tasks, 3: the next one.
    if (++transactions == 3) return Unavailable("killed (injected)");
    return Ok();
  });
  (void)link_->SyncOnce();
  db_->SetFaultInjector(nullptr);
  const auto [task, token] = *store_->Read([&](FarmTx& tx) -> Result<std::pair<bool, std::optional<std::string>>> {
    return std::pair{tx.GetTask(t.id).has_value(), tx.GetSetting("depsgraph_last_modified")};
  });
  EXPECT_TRUE(task);
  EXPECT_EQ(token, std::optional<std::string>("token-1"));
}

// The in-process job side's chunked answers (JobService::FetchDepsgraph):
// chunk k answers the token of chunk k-1 ("" for the first), with `more`
// until the last. `before_chunk` runs when chunk k >= 1 is asked for, i.e.
// after the earlier ones were stored.
class ChunkedUpstream final : public protocol::Upstream {
 public:
  Result<protocol::Depsgraph> FetchDepsgraph(const std::string& since) override {
    tokens.push_back(since);
    const size_t k = since.empty() ? 0 : std::stoul(since.substr(6));
    protocol::Depsgraph g;
    g.last_updated = "chunk-" + std::to_string(std::min(k + 1, chunks.size()));
    if (k >= chunks.size()) {
      g.kind = protocol::Depsgraph::Kind::kNotModified;
      return g;
    }
    if (k > 0 && before_chunk) before_chunk(k);
    g.kind = protocol::Depsgraph::Kind::kTasks;
    g.tasks = chunks[k];
    g.more = k + 1 < chunks.size();
    return g;
  }
  Result<protocol::BatchResponse> PushTaskUpdates(const std::vector<protocol::TaskUpdate>& updates) override {
    protocol::BatchResponse r;
    for (const auto& u : updates) r.handled_update_ids.push_back(u.id);
    return r;
  }
  Status AttachTaskLog(const std::string&, const std::string&, const std::string&) override { return Ok(); }
  Status Notify(const protocol::UpstreamNotification&) override { return Ok(); }

  std::vector<std::vector<protocol::Task>> chunks;
  std::vector<std::string> tokens;
  std::function<void(size_t)> before_chunk;
};

class ChunkedDownloadTest : public FarmTest {
 protected:
  std::unique_ptr<UpstreamLink> NewLink() {
    auto link = std::make_unique<UpstreamLink>(upstream_, *farm_, *store_, clock_, UpstreamLinkOptions{});
    farm_->SetListener(link.get());
    return link;
  }
  bool Cached(const std::string& id) {
    return *store_->Read([&](FarmTx& tx) -> Result<bool> { return tx.GetTask(id).has_value(); });
  }
  // How many times the task was inserted into the cache (its status
  // history's first entries).
  int Insertions(const std::string& id) {
    return *store_->Read([&](FarmTx& tx) -> Result<int> {
      int n = 0;
      for (const auto& c : tx.StatusHistory(id)) n += c.from_status.empty() ? 1 : 0;
      return n;
    });
  }
  ChunkedUpstream upstream_;
};

TEST_F(ChunkedDownloadTest, FirstChunkIsHandedOutBeforeTheRestIsCopiedAndParentsStillGate) {
  const Task a = MakeTask("a", 50, 10), b = MakeTask("b", 50, 10);
  const Task c = MakeTask("c", 50, 90, "sleep", {a.id});  // higher priority, waits for a
  const Task d = MakeTask("d", 50, 5);
  upstream_.chunks = {{a, b}, {c, d}};
  const std::string w = Register("w1");
  std::string during;
  bool rest_absent = false;
  upstream_.before_chunk = [&](size_t) {
    during = Fetch(w).task.id;
    rest_absent = !Cached(c.id) && !Cached(d.id);
  };
  auto link = NewLink();
  ASSERT_TRUE(link->SyncOnce());
  EXPECT_TRUE(rest_absent);
  EXPECT_TRUE(during == a.id || during == b.id) << during;
  EXPECT_EQ(upstream_.tokens, (std::vector<std::string>{"", "chunk-1"}));
  for (const auto& t : {a, b, c, d}) EXPECT_TRUE(Cached(t.id)) << t.name;
  // c outranks everything but its parent a is not completed: not handed out.
  const std::string w2 = Register("w2");
  const std::string next = Fetch(w2).task.id;
  EXPECT_NE(next, c.id);
  if (during != a.id) {
    EXPECT_EQ(next, a.id);
  }
}

TEST_F(ChunkedDownloadTest, CrashMidDownloadResumesAfterTheLastStoredChunkEachTaskCopiedOnce) {
  std::vector<Task> all;
  for (int k = 0; k < 3; ++k) {
    std::vector<Task> chunk;
    for (int i = 0; i < 3; ++i) chunk.push_back(MakeTask("t" + std::to_string(k) + std::to_string(i)));
    all.insert(all.end(), chunk.begin(), chunk.end());
    upstream_.chunks.push_back(chunk);
  }
  int transactions = 0;
  db_->SetFaultInjector([&]() -> Status {
    // 1: read the token, 2: store chunk 0, 3: read the token, 4: store
    // chunk 1 -- the process dies there.
    if (++transactions == 4) return Unavailable("killed (injected)");
    return Ok();
  });
  EXPECT_FALSE(NewLink()->SyncOnce());
  db_->SetFaultInjector(nullptr);
  for (size_t i = 0; i < all.size(); ++i) EXPECT_EQ(Cached(all[i].id), i < 3) << all[i].name;
  // The restarted link goes on from chunk 0's token.
  ASSERT_TRUE(NewLink()->SyncOnce());
  EXPECT_EQ(upstream_.tokens, (std::vector<std::string>{"", "chunk-1", "chunk-1", "chunk-2"}));
  for (const auto& t : all) EXPECT_EQ(Insertions(t.id), 1) << t.name;
}

}  // namespace
}  // namespace duende::manager
