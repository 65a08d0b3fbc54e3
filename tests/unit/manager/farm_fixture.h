// Shared fixture for Farm scenario tests: a real SQLite store in memory, a
// fake clock, task logs in a temp directory.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "common/ids.h"
#include "manager/farm.h"
#include "support/fake_clock.h"
#include "support/temp_dir.h"

namespace duende::manager {

using protocol::Task;
using protocol::TaskStatus;
using protocol::TaskUpdate;

class FarmTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = std::move(*store::Database::Open(":memory:"));
    store_ = std::move(*FarmStore::Open(*db_, clock_));
    logs_ = std::make_unique<TaskLogs>(dir_.path() + "/logs");
    options_.variables["render"] = Variable{"twoway", {{"all", {"linux"}, "/render"}, {"all", {"windows"}, "R:"}}};
    farm_ = std::make_unique<Farm>(*store_, *logs_, clock_, options_);
  }

  // Rebuilds the Farm with changed options (same store).
  void Reconfigure() { farm_ = std::make_unique<Farm>(*store_, *logs_, clock_, options_); }

  WorkerRecord WorkerById(const std::string& id) {
    return *store_->Read([&](FarmTx& tx) -> Result<WorkerRecord> { return *tx.GetWorker(id); });
  }

  std::string Register(const std::string& nick, std::vector<std::string> types = {"sleep", "blender-render"},
                       const std::string& platform = "linux") {
    auto w = farm_->RegisterWorker({"secret-" + nick, platform, types, nick}, "10.0.0.1:5000", "test");
    EXPECT_TRUE(w.has_value());
    EXPECT_TRUE(farm_->SignOn(w->id, std::nullopt, std::nullopt, seen_).has_value());
    return w->id;
  }

  Task MakeTask(const std::string& name, int job_priority = 50, int priority = 50, std::string type = "sleep",
                std::vector<std::string> parents = {}) {
    Task t;
    t.id = NewObjectId();
    t.job = "aaaabbbbccccddddeeeeffff";
    t.name = name;
    t.status = TaskStatus::kClaimedByManager;
    t.job_priority = job_priority;
    t.priority = priority;
    t.task_type = std::move(type);
    t.parents = std::move(parents);
    t.commands.push_back({"echo", {{"message", "hi {render}/x"}}});
    return t;
  }

  void Add(const std::vector<Task>& tasks) { ASSERT_TRUE(farm_->ApplyDepsgraph(tasks).has_value()); }

  TaskOffer Fetch(const std::string& worker) {
    auto offer = farm_->RequestTask(worker, seen_);
    EXPECT_TRUE(offer.has_value());
    return offer.value_or(TaskOffer{});
  }

  Task Get(const std::string& id) {
    return *store_->Read([&](FarmTx& tx) -> Result<Task> { return *tx.GetTask(id); });
  }

  std::vector<TaskUpdate> Queue() {
    return *store_->Read([](FarmTx& tx) -> Result<std::vector<TaskUpdate>> { return tx.PeekUpdates(10000); });
  }

  TaskUpdate StatusUpdate(TaskStatus s, std::string log = "") {
    TaskUpdate u;
    u.task_status = s;
    u.log = std::move(log);
    return u;
  }

  FarmOptions options_;
  testing::TempDir dir_;
  testing::FakeClock clock_;
  std::unique_ptr<store::Database> db_;
  std::unique_ptr<FarmStore> store_;
  std::unique_ptr<TaskLogs> logs_;
  std::unique_ptr<Farm> farm_;
  Seen seen_{"10.0.0.1", "Flamenco-Worker/2.5"};
};

}  // namespace duende::manager
