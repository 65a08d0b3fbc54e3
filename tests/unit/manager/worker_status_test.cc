// Scenario tests of worker status requests and sleep schedules (spec §4.3,
// §5.2, §9) on the farm state machine with a fake clock.
#include "manager/worker_status.h"

#include <gtest/gtest.h>

#include <atomic>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/ids.h"
#include "common/timefmt.h"
#include "manager/sleep_scheduler.h"
#include "support/fake_clock.h"
#include "support/temp_dir.h"

namespace duende::manager {
namespace {

using namespace std::chrono_literals;
using protocol::Task;
using protocol::TaskStatus;

SystemTime Utc(int y, unsigned m, unsigned d, int hh, int mm) {
  return std::chrono::sys_days{std::chrono::year{y} / m / d} + std::chrono::hours(hh) + std::chrono::minutes(mm);
}

class WorkerStatusTest : public ::testing::Test {
 protected:
  // Wednesday 2026-01-14 20:00 UTC = 21:00 in Amsterdam.
  WorkerStatusTest() : clock_(Utc(2026, 1, 14, 20, 0)) {}

  void SetUp() override {
    db_ = std::move(*store::Database::Open(":memory:"));
    store_ = std::move(*FarmStore::Open(*db_, clock_));
    logs_ = std::make_unique<TaskLogs>(dir_.path() + "/logs");
    farm_ = std::make_unique<Farm>(*store_, *logs_, clock_, FarmOptions{});
    auto service = WorkerStatusService::Open(*store_, *farm_, *TimeZone::Load("Europe/Amsterdam"),
                                             [this](const std::string& id) { forgotten_.push_back(id); });
    ASSERT_TRUE(service.has_value()) << service.error().message;
    service_ = std::move(*service);
  }

  std::string Register(const std::string& nick) {
    auto w = farm_->RegisterWorker({"secret-" + nick, "linux", {"sleep"}, nick}, "10.0.0.1:5000", "test");
    EXPECT_TRUE(w.has_value());
    EXPECT_TRUE(farm_->SignOn(w->id, std::nullopt, std::nullopt, seen_).has_value());
    return w->id;
  }

  void AddTask() {
    Task t;
    t.id = NewObjectId();
    t.job = "aaaabbbbccccddddeeeeffff";
    t.name = "t";
    t.status = TaskStatus::kQueued;
    t.task_type = "sleep";
    ASSERT_TRUE(farm_->ApplyDepsgraph({t}).has_value());
  }

  TaskOffer Fetch(const std::string& w) { return farm_->RequestTask(w, seen_).value_or(TaskOffer{}); }

  WorkerView View(const std::string& id) { return service_->Get(id).value(); }

  // What a worker does with a pending request: learn it from /task, ack it.
  void Obey(const std::string& w) {
    auto offer = Fetch(w);
    ASSERT_EQ(offer.kind, TaskOffer::Kind::kStatusRequested);
    ASSERT_TRUE(farm_->AckStatusChange(w, offer.status_requested, seen_).has_value());
  }

  testing::TempDir dir_;
  testing::FakeClock clock_;
  std::unique_ptr<store::Database> db_;
  std::unique_ptr<FarmStore> store_;
  std::unique_ptr<TaskLogs> logs_;
  std::unique_ptr<Farm> farm_;
  std::unique_ptr<WorkerStatusService> service_;
  std::vector<std::string> forgotten_;
  Seen seen_{"10.0.0.1", "Flamenco-Worker/2.5"};
};

TEST_F(WorkerStatusTest, LazySleepLetsTheTaskRunButRefusesTheNext) {
  AddTask();
  const std::string w = Register("w1");
  auto offer = Fetch(w);
  ASSERT_EQ(offer.kind, TaskOffer::Kind::kTask);
  ASSERT_TRUE(service_->RequestStatus({w}, "asleep", /*lazy=*/true).has_value());
  auto may = farm_->MayIRun(w, offer.task.id, seen_);
  EXPECT_TRUE(may->may_keep_running);
  EXPECT_EQ(may->status_requested, "asleep") << "echoed even when lazy";
  ASSERT_TRUE(farm_->UpdateTask(w, offer.task.id, {.task_status = TaskStatus::kCompleted}, seen_).has_value());
  auto next = Fetch(w);
  EXPECT_EQ(next.kind, TaskOffer::Kind::kStatusRequested);
  EXPECT_EQ(next.status_requested, "asleep");
}

TEST_F(WorkerStatusTest, ImmediateSleepRevokesTheRightToRun) {
  AddTask();
  const std::string w = Register("w1");
  auto offer = Fetch(w);
  ASSERT_EQ(offer.kind, TaskOffer::Kind::kTask);
  ASSERT_TRUE(service_->RequestStatus({w}, "asleep", /*lazy=*/false).has_value());
  auto may = farm_->MayIRun(w, offer.task.id, seen_);
  EXPECT_FALSE(may->may_keep_running);
  EXPECT_EQ(may->reason, "worker status change to asleep requested");
  EXPECT_EQ(may->status_requested, "asleep");
}

TEST_F(WorkerStatusTest, ImmediateWakeDoesNotStopARunningTask) {
  AddTask();
  const std::string w = Register("w1");
  auto offer = Fetch(w);
  ASSERT_TRUE(service_->RequestStatus({w}, "awake", false).has_value());
  EXPECT_TRUE(farm_->MayIRun(w, offer.task.id, seen_)->may_keep_running);
}

TEST_F(WorkerStatusTest, ShutdownAndRestartAreImmediateToo) {
  AddTask();
  const std::string w = Register("w1");
  auto offer = Fetch(w);
  for (const char* status : {"shutdown", "restart"}) {
    ASSERT_TRUE(service_->RequestStatus({w}, status, false).has_value());
    auto may = farm_->MayIRun(w, offer.task.id, seen_);
    EXPECT_FALSE(may->may_keep_running) << status;
    EXPECT_EQ(may->status_requested, status);
  }
}

TEST_F(WorkerStatusTest, SeveralWorkersAllOrNothing) {
  const std::string a = Register("a");
  const std::string b = Register("b");
  auto both = service_->RequestStatus({a, b}, "shutdown", true);
  ASSERT_TRUE(both.has_value());
  ASSERT_EQ(both->size(), 2u);
  EXPECT_EQ(View(a).worker.status_requested, "shutdown");
  EXPECT_TRUE(View(b).worker.lazy_status_request);

  auto bad = service_->RequestStatus({a, NewObjectId(), b}, "asleep", false);
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(View(a).worker.status_requested, "shutdown") << "nothing changed";
  EXPECT_TRUE(View(a).worker.lazy_status_request);
}

TEST_F(WorkerStatusTest, BadStatusIsRejected) {
  const std::string w = Register("w1");
  for (const char* status : {"offline", "timeout", "testing", "", "ASLEEP"}) {
    auto r = service_->RequestStatus({w}, status, false);
    ASSERT_FALSE(r.has_value()) << status;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  }
  EXPECT_EQ(View(w).worker.status_requested, "");
  EXPECT_FALSE(service_->RequestStatus({}, "asleep", false).has_value());
}

TEST_F(WorkerStatusTest, RequestingTheCurrentStatusChangesNothing) {
  const std::string w = Register("w1");
  ASSERT_TRUE(service_->RequestStatus({w}, "asleep", false).has_value());
  Obey(w);
  ASSERT_EQ(View(w).worker.status, "asleep");
  ASSERT_TRUE(service_->RequestStatus({w}, "asleep", false).has_value());
  EXPECT_EQ(View(w).worker.status_requested, "");
}

// v2 left the pre-timeout status in status_requested (spec §15.10).
TEST_F(WorkerStatusTest, AckTimeoutMakesOfflineAndClearsTheRequest) {
  const std::string w = Register("w1");
  Fetch(w);  // awake
  clock_.Advance(10min);
  ASSERT_EQ(farm_->TimeoutWorkers(clock_.Now() - 1min).value(), 1);
  ASSERT_EQ(View(w).worker.status, "timeout");
  ASSERT_EQ(View(w).worker.status_requested, "awake");
  auto acked = service_->AckTimeout(w);
  ASSERT_TRUE(acked.has_value());
  EXPECT_EQ(acked->worker.status, "offline");
  EXPECT_EQ(View(w).worker.status, "offline");
  EXPECT_EQ(View(w).worker.status_requested, "");
  auto again = service_->AckTimeout(w);
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().code, ErrorCode::kConflict);
}

TEST_F(WorkerStatusTest, ForgetReturnsTheTaskAndDeletesTheWorker) {
  AddTask();
  const std::string w = Register("w1");
  const std::string other = Register("w2");
  auto offer = Fetch(w);
  ASSERT_EQ(offer.kind, TaskOffer::Kind::kTask);
  ASSERT_TRUE(service_->Forget(w).has_value());
  EXPECT_EQ(service_->Get(w).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(forgotten_, std::vector<std::string>{w});
  auto retry = Fetch(other);
  ASSERT_EQ(retry.kind, TaskOffer::Kind::kTask) << "the forgotten worker's task goes to another";
  EXPECT_EQ(retry.task.id, offer.task.id);
  EXPECT_EQ(service_->Forget(w).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(service_->List()->size(), 1u);
}

TEST_F(WorkerStatusTest, SavingAScheduleNormalisesAndAppliesAtOnce) {
  const std::string w = Register("w1");
  Fetch(w);  // awake
  // 21:00 local: inside 20:00-07:00.
  auto saved = service_->SetSchedule(w, {true, "Wednesday THU", "20:00", "07:00"});
  ASSERT_TRUE(saved.has_value()) << saved.error().message;
  EXPECT_EQ(saved->schedule.days_of_week, "we th");
  EXPECT_EQ(saved->schedule.next_check, Utc(2026, 1, 14, 23, 0)) << "midnight";
  EXPECT_EQ(saved->worker.status_requested, "asleep");
  EXPECT_FALSE(saved->worker.lazy_status_request);
  const auto j = ToJson(*saved);
  EXPECT_EQ(j["sleep_schedule"]["time_start"], "20:00");
  EXPECT_EQ(j["sleep_schedule"]["time_end"], "07:00");
  EXPECT_EQ(j["sleep_schedule"]["days_of_week"], "we th");
  EXPECT_EQ(j["sleep_schedule"]["schedule_active"], true);
  EXPECT_TRUE(j["sleep_schedule"]["next_check"].is_string());

  auto cleared = service_->ClearSchedule(w);
  ASSERT_TRUE(cleared.has_value());
  EXPECT_FALSE(cleared->schedule.active);
  EXPECT_EQ(ToJson(*cleared)["sleep_schedule"]["time_start"], nullptr);
}

TEST_F(WorkerStatusTest, BadScheduleChangesNothing) {
  const std::string w = Register("w1");
  ASSERT_TRUE(service_->SetSchedule(w, {true, "mo", "22:00", "07:00"}).has_value());
  for (ScheduleInput bad : {ScheduleInput{true, "m", "", ""}, ScheduleInput{true, "", "25:00", ""},
                            ScheduleInput{true, "", "", "7"}, ScheduleInput{true, "", "24:00", ""}}) {
    auto r = service_->SetSchedule(w, bad);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  }
  EXPECT_EQ(View(w).schedule.days_of_week, "mo");
  EXPECT_EQ(View(w).schedule.start_minute, 22 * 60);
  EXPECT_EQ(service_->SetSchedule(NewObjectId(), {}).error().code, ErrorCode::kNotFound);
}

// The scenario: 22:00-07:00, asleep at 22:00, woken by hand at 23:00,
// stays awake until the next edge, sleeps again the next 22:00.
TEST_F(WorkerStatusTest, ScheduleSleepsAtStartAndRespectsAManualWakeUntilTheNextEdge) {
  const std::string w = Register("w1");
  Fetch(w);
  ASSERT_TRUE(service_->SetSchedule(w, {true, "", "22:00", "07:00"}).has_value());
  EXPECT_EQ(View(w).worker.status_requested, "") << "21:00: awake, as it is";
  EXPECT_EQ(View(w).schedule.next_check, Utc(2026, 1, 14, 21, 0));

  clock_.Advance(59min);  // 21:59
  EXPECT_EQ(service_->CheckSchedules().value(), 0) << "not due yet";
  clock_.Advance(1min);  // 22:00
  EXPECT_EQ(service_->CheckSchedules().value(), 1);
  EXPECT_EQ(View(w).worker.status_requested, "asleep");
  EXPECT_FALSE(View(w).worker.lazy_status_request);
  Obey(w);
  EXPECT_EQ(View(w).worker.status, "asleep");

  clock_.Advance(1h);  // 23:00: manual wake
  ASSERT_TRUE(service_->RequestStatus({w}, "awake", false).has_value());
  Obey(w);
  EXPECT_EQ(View(w).worker.status, "awake");

  for (auto step : {1h, 7h, 1h, 6h, 7h}) {  // midnight, 07:00, 08:00, 14:00, 21:00
    clock_.Advance(step);
    EXPECT_EQ(service_->CheckSchedules().value(), 0);
    EXPECT_EQ(View(w).worker.status_requested, "") << FormatIso8601(clock_.Now());
    EXPECT_NE(Fetch(w).kind, TaskOffer::Kind::kStatusRequested);
  }
  clock_.Advance(1h);  // 22:00 the next day
  EXPECT_EQ(service_->CheckSchedules().value(), 1);
  EXPECT_EQ(View(w).worker.status_requested, "asleep");
  Obey(w);
  clock_.Advance(9h);  // 07:00: woken by the schedule
  EXPECT_EQ(service_->CheckSchedules().value(), 1);
  EXPECT_EQ(View(w).worker.status_requested, "awake");
}

TEST_F(WorkerStatusTest, SchedulerServiceWaitsItsInitialDelayOnTheClock) {
  const std::string w = Register("w1");
  Fetch(w);
  ASSERT_TRUE(service_->SetSchedule(w, {true, "", "22:00", "07:00"}).has_value());
  clock_.Advance(1h);  // 22:00, due; the service is not running yet
  std::atomic<int> announced{0};
  SleepSchedulerOptions options;
  options.on_requests = [&] { ++announced; };
  SleepScheduler scheduler(*service_, clock_, options);
  std::jthread thread([&](std::stop_token st) { scheduler.Run(st); });
  clock_.AwaitWaiters(1);
  EXPECT_EQ(View(w).worker.status_requested, "") << "still within the initial delay";
  clock_.Advance(10s);
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while ((View(w).worker.status_requested.empty() || announced.load() == 0) &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(5ms);  // the service thread runs the check
  EXPECT_EQ(View(w).worker.status_requested, "asleep");
  EXPECT_EQ(announced.load(), 1) << "the dashboard and long-polling workers are told";
  thread.request_stop();
  clock_.NotifyAll();
}

TEST_F(WorkerStatusTest, ScheduleColumnsSurviveReopening) {
  const std::string w = Register("w1");
  ASSERT_TRUE(service_->SetSchedule(w, {false, "sa su", "", "09:30"}).has_value());
  auto again = WorkerStatusService::Open(*store_, *farm_, TimeZone::Utc());
  ASSERT_TRUE(again.has_value()) << "migrations are idempotent";
  auto view = (*again)->Get(w).value();
  EXPECT_FALSE(view.schedule.active);
  EXPECT_EQ(view.schedule.days_of_week, "sa su");
  EXPECT_EQ(view.schedule.start_minute, std::nullopt);
  EXPECT_EQ(view.schedule.end_minute, 9 * 60 + 30);
}

}  // namespace
}  // namespace duende::manager
