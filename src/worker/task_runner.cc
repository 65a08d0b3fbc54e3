#include "worker/task_runner.h"

#include <spdlog/spdlog.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "worker/commands/command.h"

namespace duende::worker {
namespace {

// The CommandEnv of one task: forwards to the reporter, tracks the current
// command for progress, and collects produced outputs for the monitor.
class RunnerEnv final : public CommandEnv {
 public:
  RunnerEnv(TaskReporter& reporter, Clock& clock, ProcessLauncher& launcher, std::stop_token abort, int n_commands)
      : reporter_(reporter), clock_(clock), launcher_(launcher), abort_(std::move(abort)), n_(n_commands) {}

  void Log(std::string_view line) override { reporter_.Log(line); }
  void SetActivity(std::string activity) override { reporter_.Update({.activity = std::move(activity)}); }
  void SetProgress(int pct) override {
    pct = std::clamp(pct, 0, 100);
    const int idx = index_.load();
    reporter_.Update({.command_progress_percentage = pct, .task_progress_percentage = (idx * 100 + pct) / n_});
  }
  void OutputProduced(std::string path) override {
    {
      std::lock_guard lock(mu_);
      pending_output_ = std::move(path);
    }
    clock_.NotifyAll();  // let the monitor send it now if the throttle allows
  }
  Clock& clock() override { return clock_; }
  ProcessLauncher& launcher() override { return launcher_; }
  std::stop_token abort_token() override { return abort_; }

  void set_index(int i) { index_.store(i); }
  std::optional<std::string> TakeOutput() {
    std::lock_guard lock(mu_);
    return std::exchange(pending_output_, std::nullopt);
  }
  bool HasOutput() {
    std::lock_guard lock(mu_);
    return pending_output_.has_value();
  }

 private:
  TaskReporter& reporter_;
  Clock& clock_;
  ProcessLauncher& launcher_;
  std::stop_token abort_;
  const int n_;
  std::atomic<int> index_{0};
  std::mutex mu_;
  std::optional<std::string> pending_output_;
};

}  // namespace

std::string_view ToString(TaskOutcome o) {
  switch (o) {
    case TaskOutcome::kCompleted:
      return "completed";
    case TaskOutcome::kFailed:
      return "failed";
    case TaskOutcome::kStoppedByManager:
      return "stopped by Manager";
    case TaskOutcome::kShutdown:
      return "aborted for shutdown";
  }
  return "?";
}

TaskRunner::TaskRunner(ManagerClient& manager, Outbox& outbox, ProcessLauncher& launcher, Clock& clock,
                       RunnerOptions options)
    : manager_(manager), outbox_(outbox), launcher_(launcher), clock_(clock), options_(std::move(options)) {}

TaskResult TaskRunner::Run(const protocol::Task& task, std::stop_token shutdown) {
  using protocol::TaskStatus;
  spdlog::info("running task {} ({}, {} commands)", task.id, task.name, task.commands.size());
  TaskReporter reporter(task.id, outbox_, clock_, options_.reporter);
  std::stop_source abort;
  std::stop_callback on_shutdown(shutdown, [&abort] { abort.request_stop(); });
  const int n = std::max<int>(1, static_cast<int>(task.commands.size()));
  RunnerEnv env(reporter, clock_, launcher_, abort.get_token(), n);

  std::atomic<bool> revoked{false};
  std::mutex result_mu;
  TaskResult result;
  std::optional<SteadyTime> last_output_post;

  auto post_output = [&] {
    if (!env.HasOutput()) return;
    const SteadyTime now = clock_.SteadyNow();
    if (last_output_post && now - *last_output_post < options_.output_produced_interval) return;
    auto path = env.TakeOutput();
    last_output_post = now;
    auto resp = manager_.Send("POST", "/output-produced", nlohmann::json{{"paths", {*path}}});
    if (!resp || resp->status >= 300)
      spdlog::debug("output-produced for {} not accepted", *path);  // best effort, like v2
  };

  // The monitor: may-i-run, delayed pushes, output-produced.
  std::jthread monitor([&](std::stop_token st) {
    SteadyTime next_may_i_run = clock_.SteadyNow() + options_.may_i_run_interval;
    while (!st.stop_requested()) {
      SteadyTime deadline = std::min(next_may_i_run, reporter.NextDeadline());
      if (env.HasOutput()) {
        deadline = last_output_post ? std::min(deadline, *last_output_post + options_.output_produced_interval)
                                    : clock_.SteadyNow();
      }
      if (clock_.SteadyNow() < deadline && !clock_.WaitUntil(deadline, st)) return;
      reporter.Tick();
      post_output();
      if (clock_.SteadyNow() < next_may_i_run || revoked.load()) continue;
      next_may_i_run = clock_.SteadyNow() + options_.may_i_run_interval;
      auto resp = manager_.Send("GET", "/may-i-run/" + task.id);
      if (!resp || resp->status != 200) continue;  // unreachable: keep running
      auto body = ParseJsonObject(resp->body);
      if (!body) continue;
      if (body->value("may_keep_running", true)) continue;
      const std::string reason = body->value("reason", "");
      {
        std::lock_guard lock(result_mu);
        result.status_requested = body->value("status_requested", "");
      }
      spdlog::warn("task {}: Manager revoked it ({})", task.id, reason);
      reporter.SetSilent();
      revoked.store(true);
      reporter.Log("Worker " + options_.worker_name +
                   " stopped running this task, no longer allowed to run by Manager" +
                   (reason.empty() ? "" : " (" + reason + ")"));
      abort.request_stop();
    }
  });

  reporter.SetStatus(TaskStatus::kActive, {.activity = "starting task",
                                           .current_command_idx = 0,
                                           .command_progress_percentage = 0,
                                           .task_progress_percentage = 0});

  // Validate everything before doing anything.
  std::vector<std::unique_ptr<Command>> commands;
  std::string failure;
  for (const auto& c : task.commands) {
    auto cmd = MakeCommand(c.name);
    if (!cmd) {
      failure = "Error in settings: " + cmd.error().message;
      break;
    }
    if (auto st = (*cmd)->Validate(c.settings); !st) {
      failure = "Error in settings: " + c.name + ": " + st.error().message;
      break;
    }
    commands.push_back(std::move(*cmd));
  }
  if (!failure.empty()) reporter.Log(failure);

  nlohmann::json timing = nlohmann::json::object();
  for (size_t i = 0; failure.empty() && i < commands.size(); ++i) {
    if (abort.stop_requested()) break;
    Command& cmd = *commands[i];
    const std::string name(cmd.name());
    const int idx = static_cast<int>(i);
    env.set_index(idx);
    reporter.Log(name + ": Starting");
    reporter.Update({.activity = "starting " + name,
                     .current_command_idx = idx,
                     .command_progress_percentage = 0,
                     .task_progress_percentage = idx * 100 / n});
    const SteadyTime start = clock_.SteadyNow();
    Status st = cmd.Execute(env);
    const double secs = std::chrono::duration<double>(clock_.SteadyNow() - start).count();
    timing[name] = timing.value(name, 0.0) + secs;
    if (abort.stop_requested()) break;
    if (!st) {
      failure = st.error().message;
      reporter.Log(name + ": Error: " + failure);
      break;
    }
    reporter.Log(name + ": Finished");
    reporter.Update({.activity = "finished " + name,
                     .command_progress_percentage = 100,
                     .task_progress_percentage = (idx + 1) * 100 / n,
                     .timing = timing});
  }
  monitor.request_stop();
  monitor.join();

  if (revoked.load()) {
    reporter.Flush();  // silent: logs only
    outbox_.FlushRound();
    auto resp = manager_.Send("POST", "/tasks/" + task.id + "/return");
    if (!resp) spdlog::warn("task {}: cannot return it to the Manager: {}", task.id, resp.error().message);
    result.outcome = TaskOutcome::kStoppedByManager;
    return result;
  }
  if (shutdown.stop_requested()) {
    reporter.SetSilent();
    reporter.Log("task aborted: worker is shutting down");
    reporter.Flush();
    result.outcome = TaskOutcome::kShutdown;
    return result;
  }
  post_output();
  if (!failure.empty()) {
    reporter.SetStatus(TaskStatus::kFailed, {.activity = failure, .timing = timing});
    result.outcome = TaskOutcome::kFailed;
    result.error = failure;
    spdlog::warn("task {} failed: {}", task.id, failure);
    return result;
  }
  reporter.SetStatus(TaskStatus::kCompleted, {.activity = "Task completed",
                                              .command_progress_percentage = 100,
                                              .task_progress_percentage = 100,
                                              .timing = timing});
  result.outcome = TaskOutcome::kCompleted;
  spdlog::info("task {} completed", task.id);
  return result;
}

}  // namespace duende::worker
