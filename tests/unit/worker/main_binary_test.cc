// The real duende-worker executable against the fake Manager: flag parsing,
// signal wiring (SIGUSR1 sleep, SIGUSR2 wake, SIGTERM clean shutdown) and
// exit codes. Skipped when the binary has not been built.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <thread>

#include "common/clock.h"
#include "unit/worker/worker_test_util.h"
#include "worker/process.h"
#include "worker/worker.h"

namespace duende::worker {
namespace {

using testing::FakeManager;
using ::testing::HasSubstr;
using testing::TempDir;

const std::string kBinary = std::string(DUENDE_BIN_DIR) + "/duende-worker";

class WorkerBinaryTest : public ::testing::Test {
 protected:
  // Aborting the launcher SIGTERMs a binary left running by a failed test.
  ~WorkerBinaryTest() override { stop_.request_stop(); }
  void SetUp() override {
    if (!std::filesystem::exists(kBinary)) GTEST_SKIP() << kBinary << " not built";
  }
  // Starts the binary in the background; output lines are collected.
  void Start(std::vector<std::string> args) {
    args.insert(args.begin(), kBinary);
    runner_ = std::jthread([this, args] {
      auto r = launcher_->Run(
          ProcessSpec{args, ""},
          [this](int pid, std::string_view line) {
            std::lock_guard lock(mu_);
            pid_ = pid;
            output_ += std::string(line) + "\n";
          },
          stop_.get_token());
      std::lock_guard lock(mu_);
      exit_ = r ? r->exit_code : -1;
      finished_ = true;
    });
  }
  int Wait() {
    EXPECT_TRUE(fm_.WaitFor([&] {
      std::lock_guard lock(mu_);
      return finished_;
    }));
    runner_.join();
    return exit_;
  }
  void Signal(int sig) {
    ASSERT_TRUE(fm_.WaitFor([&] {
      std::lock_guard lock(mu_);
      return pid_ != 0;
    }));
    ::kill(pid_, sig);
  }
  std::string Output() {
    std::lock_guard lock(mu_);
    return output_;
  }

  FakeManager fm_;
  TempDir dir_;
  SystemClock clock_;
  std::unique_ptr<ProcessLauncher> launcher_ = MakePosixProcessLauncher(clock_);
  std::stop_source stop_;
  std::jthread runner_;
  std::mutex mu_;
  int pid_ = 0;
  int exit_ = -1;
  bool finished_ = false;
  std::string output_;
};

TEST_F(WorkerBinaryTest, SignalsSleepWakeAndShutDownCleanly) {
  Start({"--manager", fm_.url(), "--data-dir", dir_ / "data", "--nickname", "bin-node", "--poll-interval", "50ms",
         "--task-types", "sleep debug"});
  ASSERT_TRUE(fm_.WaitForRequest("POST", "/task"));
  const auto reg = fm_.Requests("POST", "/register-worker");
  ASSERT_EQ(reg.size(), 1u);
  EXPECT_EQ(reg[0].Json()["supported_task_types"], nlohmann::json({"sleep", "debug"}));
  EXPECT_EQ(reg[0].Header("user-agent"), "Duende-Worker/" + std::string(kVersion));
  Signal(SIGUSR1);
  ASSERT_TRUE(fm_.WaitForRequest("POST", "/ack-status-change/asleep"));
  Signal(SIGUSR2);
  ASSERT_TRUE(fm_.WaitForRequest("POST", "/ack-status-change/awake"));
  Signal(SIGTERM);
  EXPECT_EQ(Wait(), kExitOk) << Output();
  ASSERT_FALSE(fm_.Requests().empty());
  EXPECT_EQ(fm_.Requests().back().path, "/sign-off");
}

TEST_F(WorkerBinaryTest, RestartRequestExitsWith75) {
  fm_.On("POST", "/task", [](const http::Request&) {
    return http::Response::Json(423, {{"status_requested", "restart"}});
  });
  Start({"--manager", fm_.url(), "--data-dir", dir_ / "data"});
  EXPECT_EQ(Wait(), kExitRestart) << Output();
}

TEST_F(WorkerBinaryTest, RefusedRegistrationExitsNonZeroWithOneLine) {
  fm_.On("POST", "/register-worker",
         [](const http::Request&) { return http::Response::Message(403, "bad registration token"); });
  Start({"--manager", fm_.url(), "--data-dir", dir_ / "data", "--registration-secret", "wrong"});
  EXPECT_EQ(Wait(), kExitFailure);
  EXPECT_THAT(Output(), HasSubstr("duende-worker: registration refused by the Manager (HTTP 403: bad registration "
                                  "token); check --registration-secret"));
}

TEST_F(WorkerBinaryTest, BadFlagsExitWithUsageCode) {
  Start({"--manager", fm_.url(), "--data-dir", dir_ / "data", "--poll-interval", "5"});
  EXPECT_EQ(Wait(), kExitUsage);
  EXPECT_THAT(Output(), HasSubstr("--poll-interval"));
}

}  // namespace
}  // namespace duende::worker
