// A CommandEnv that records what a command did, for table tests.
#pragma once

#include <mutex>
#include <string>
#include <vector>

#include "common/clock.h"
#include "worker/commands/command.h"

namespace duende::worker::testing {

class FakeCommandEnv final : public CommandEnv {
 public:
  FakeCommandEnv(Clock& clock, ProcessLauncher& launcher) : clock_(clock), launcher_(launcher) {}

  void Log(std::string_view line) override {
    std::lock_guard lock(mu_);
    logs.emplace_back(line);
  }
  void SetActivity(std::string activity) override {
    std::lock_guard lock(mu_);
    activities.push_back(std::move(activity));
  }
  void SetProgress(int pct) override {
    std::lock_guard lock(mu_);
    progress.push_back(pct);
  }
  void OutputProduced(std::string path) override {
    std::lock_guard lock(mu_);
    outputs.push_back(std::move(path));
  }
  Clock& clock() override { return clock_; }
  ProcessLauncher& launcher() override { return launcher_; }
  std::stop_token abort_token() override { return abort.get_token(); }

  std::string AllLogs() {
    std::lock_guard lock(mu_);
    std::string out;
    for (const auto& l : logs) out += l + "\n";
    return out;
  }

  std::stop_source abort;
  std::vector<std::string> logs, activities, outputs;
  std::vector<int> progress;

 private:
  std::mutex mu_;
  Clock& clock_;
  ProcessLauncher& launcher_;
};

}  // namespace duende::worker::testing
