#include "worker/process.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>

#include <thread>

#include "common/clock.h"
#include "unit/worker/worker_test_util.h"

namespace duende::worker {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

struct Collected {
  std::mutex mu;
  std::vector<std::string> lines;
  std::vector<int> pids;
  LineSink Sink() {
    return [this](int pid, std::string_view line) {
      std::lock_guard lock(mu);
      pids.push_back(pid);
      lines.emplace_back(line);
    };
  }
  size_t size() {
    std::lock_guard lock(mu);
    return lines.size();
  }
};

// Processes of group `pgid` that are alive (zombies waiting for a reaper
// do not count: the container's init may never reap them).
int LiveMembers(int pgid) {
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator("/proc")) {
    const std::string name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    const std::string stat = testing::ReadFile(e.path() / "stat");
    const size_t paren = stat.rfind(')');
    if (paren == std::string::npos) continue;
    // After ") ": state ppid pgrp ...
    char state = 0;
    int ppid = 0, pgrp = 0;
    if (std::sscanf(stat.c_str() + paren + 2, "%c %d %d", &state, &ppid, &pgrp) != 3) continue;
    if (pgrp == pgid && state != 'Z') ++n;
  }
  return n;
}

// Waits (bounded) for signal delivery to finish off the group.
bool GroupGone(int pgid) {
  for (int i = 0; i < 400; ++i) {
    if (LiveMembers(pgid) == 0) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return false;
}

class ProcessTest : public ::testing::Test {
 protected:
  Result<ProcessExit> Run(std::vector<std::string> argv, std::stop_token abort = {}) {
    return launcher_->Run(ProcessSpec{std::move(argv), ""}, out_.Sink(), abort);
  }
  SystemClock clock_;
  std::unique_ptr<ProcessLauncher> launcher_ = MakePosixProcessLauncher(clock_);
  Collected out_;
};

TEST_F(ProcessTest, DeliversMergedOutputLineByLineWithThePid) {
  auto r = Run({"sh", "-c", "echo one; echo two >&2; printf 'three\\r\\nfour'"});
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->exit_code, 0);
  EXPECT_EQ(r->signal, 0);
  EXPECT_FALSE(r->aborted);
  EXPECT_THAT(out_.lines, ElementsAre("one", "two", "three", "four"));
  for (int pid : out_.pids) EXPECT_EQ(pid, r->pid);
  EXPECT_TRUE(CheckExit(*r, "sh").has_value());
}

TEST_F(ProcessTest, ReportsExitStatusAndSignal) {
  auto r = Run({"sh", "-c", "exit 3"});
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->exit_code, 3);
  auto st = CheckExit(*r, "sh");
  ASSERT_FALSE(st.has_value());
  EXPECT_EQ(st.error().message, "sh exited with status 3");

  r = Run({"sh", "-c", "kill -9 $$"});
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->signal, 9);
  EXPECT_EQ(CheckExit(*r, "sh").error().message, "sh terminated by signal 9");
}

TEST_F(ProcessTest, MissingProgramIsNotFound) {
  auto r = Run({"/nonexistent/program"});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kNotFound);
  r = Run({"duende-no-such-program-anywhere"});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kNotFound);
}

TEST_F(ProcessTest, StdinIsDevNullAndLdLibraryPathIsRemoved) {
  ::setenv("LD_LIBRARY_PATH", "/should/not/leak", 1);
  ::setenv("DUENDE_TEST_MARKER", "kept", 1);
  auto r = Run({"sh", "-c", "cat; echo \"ld=[${LD_LIBRARY_PATH-unset}] marker=$DUENDE_TEST_MARKER\""});
  ::unsetenv("LD_LIBRARY_PATH");
  ASSERT_TRUE(r.has_value());
  EXPECT_THAT(out_.lines, ElementsAre("ld=[unset] marker=kept"));
}

TEST_F(ProcessTest, RunsInItsOwnProcessGroup) {
  auto r = Run({"sh", "-c", "ps -o pgid= -p $$; echo $$"});
  ASSERT_TRUE(r.has_value());
  ASSERT_EQ(out_.lines.size(), 2u);
  EXPECT_EQ(std::stoi(out_.lines[0]), std::stoi(out_.lines[1]));  // pgid == pid
  EXPECT_NE(std::stoi(out_.lines[0]), static_cast<int>(::getpgrp()));
}

TEST_F(ProcessTest, AbortKillsTheWholeProcessGroup) {
  std::stop_source abort;
  std::atomic<int> group{0};
  std::jthread runner([&] {
    auto r = launcher_->Run(
        ProcessSpec{{"sh", "-c", "sleep 100 & echo started; sleep 100"}, ""},
        [&](int pid, std::string_view) { group.store(pid); }, abort.get_token());
    ASSERT_TRUE(r.has_value());
    EXPECT_TRUE(r->aborted);
    EXPECT_EQ(r->signal, SIGTERM);
  });
  while (group.load() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  // sh and both sleeps (the background one may still be forking).
  for (int i = 0; i < 400 && LiveMembers(group.load()) < 3; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_EQ(LiveMembers(group.load()), 3);
  abort.request_stop();
  runner.join();
  EXPECT_TRUE(GroupGone(group.load()));
}

TEST_F(ProcessTest, AbortEscalatesToSigkillAfterTheGracePeriodOnTheInjectedClock) {
  duende::testing::FakeClock fake;
  auto launcher = MakePosixProcessLauncher(fake, std::chrono::seconds(5));
  std::stop_source abort;
  std::atomic<int> group{0};
  std::atomic<bool> done{false};
  ProcessExit exit;
  std::jthread runner([&] {
    auto r = launcher->Run(
        ProcessSpec{{"sh", "-c", "trap '' TERM; echo ready; sleep 100"}, ""},
        [&](int pid, std::string_view) { group.store(pid); }, abort.get_token());
    ASSERT_TRUE(r.has_value());
    exit = *r;
    done.store(true);
  });
  while (group.load() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  abort.request_stop();
  fake.AwaitWaiters(1);       // the grace timer is waiting on the fake clock
  EXPECT_FALSE(done.load());  // SIGTERM is ignored
  fake.Advance(std::chrono::seconds(5));
  runner.join();
  EXPECT_TRUE(exit.aborted);
  EXPECT_EQ(exit.signal, SIGKILL);
  EXPECT_TRUE(GroupGone(group.load()));
}

TEST_F(ProcessTest, MembersLeftBehindByTheLeaderAreKilled) {
  int pid = 0;
  auto r = launcher_->Run(ProcessSpec{{"sh", "-c", "sleep 100 & echo bye"}, ""},
                          [&](int p, std::string_view) { pid = p; }, {});
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->exit_code, 0);
  ASSERT_NE(pid, 0);
  EXPECT_TRUE(GroupGone(pid));
}

TEST_F(ProcessTest, WorkingDirectoryIsHonoured) {
  testing::TempDir dir;
  auto r = launcher_->Run(ProcessSpec{{"pwd"}, dir.path().string()}, out_.Sink(), {});
  ASSERT_TRUE(r.has_value());
  ASSERT_EQ(out_.lines.size(), 1u);
  EXPECT_EQ(std::filesystem::canonical(out_.lines[0]), std::filesystem::canonical(dir.path()));
}

TEST(FindExecutable, SearchesPath) {
  auto sh = FindExecutable("sh");
  ASSERT_TRUE(sh.has_value());
  EXPECT_THAT(*sh, HasSubstr("/sh"));
  EXPECT_FALSE(FindExecutable("duende-no-such-program").has_value());
  EXPECT_FALSE(FindExecutable("/etc/passwd").has_value());  // not executable
  EXPECT_TRUE(FindExecutable("/bin/sh").has_value());
}

}  // namespace
}  // namespace duende::worker
