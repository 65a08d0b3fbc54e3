#include "worker/worker.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "common/ids.h"
#include "common/jwt.h"
#include "common/thread_name.h"
#include "protocol/status.h"
#include "worker/credentials.h"

namespace duende::worker {
namespace {

// Registration/sign-on back-off starts here and doubles.
constexpr auto kInitialStartupRetry = std::chrono::seconds(1);
// Length of the worker secret (v2: 64 characters of [A-Za-z0-9]).
constexpr size_t kSecretLength = 64;

std::string Hostname() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') return "duende-worker";
  return buf;
}

// The Manager's explanation of an error response, one line.
std::string Explain(const http::ClientResponse& r) {
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  std::string msg;
  if (j.is_object() && j.contains("message") && j["message"].is_string()) {
    msg = j["message"].get<std::string>();
  } else {
    msg = r.body;
  }
  if (const size_t nl = msg.find('\n'); nl != std::string::npos) msg.resize(nl);
  if (msg.size() > 200) msg = msg.substr(0, 200) + "...";
  return "HTTP " + std::to_string(r.status) + (msg.empty() ? "" : ": " + msg);
}

}  // namespace

std::vector<std::string> DefaultTaskTypes() {
  return {"sleep", "blender-render", "file-management", "exr-merge", "video-encoding", "debug"};
}

Worker::Worker(WorkerConfig config, http::Client& http, ProcessLauncher& launcher, Clock& clock)
    : config_(std::move(config)),
      http_(http),
      launcher_(launcher),
      clock_(clock),
      manager_(http_, config_.manager_url) {
  if (config_.nickname.empty()) config_.nickname = Hostname();
  if (config_.runner.worker_name == RunnerOptions{}.worker_name) config_.runner.worker_name = config_.nickname;
}

Worker::~Worker() = default;

int Worker::Fatal(std::string message) {
  fatal_error_ = std::move(message);
  return kExitFailure;
}

void Worker::RequestStatus(std::string status) {
  {
    std::lock_guard lock(local_mu_);
    local_request_ = std::move(status);
  }
  clock_.NotifyAll();
}

std::optional<std::string> Worker::TakeLocalRequest() {
  std::lock_guard lock(local_mu_);
  return std::exchange(local_request_, std::nullopt);
}

bool Worker::Wait(std::chrono::milliseconds d, std::stop_token stop) {
  const SteadyTime deadline = clock_.SteadyNow() + d;
  while (clock_.SteadyNow() < deadline) {
    {
      std::lock_guard lock(local_mu_);
      if (local_request_) return true;
    }
    if (!clock_.WaitUntil(deadline, stop)) return false;
  }
  return !stop.stop_requested();
}

bool Worker::BackoffWait(std::chrono::milliseconds& delay, std::stop_token stop) {
  const auto d = delay;
  delay = std::min<std::chrono::milliseconds>(delay * 2, config_.startup_retry_max);
  const SteadyTime deadline = clock_.SteadyNow() + d;
  while (clock_.SteadyNow() < deadline) {
    if (!clock_.WaitUntil(deadline, stop)) return false;
  }
  return !stop.stop_requested();
}

int Worker::Run(std::stop_token stop) {
  std::error_code ec;
  std::filesystem::create_directories(config_.data_dir, ec);
  if (ec) return Fatal("cannot create data directory " + config_.data_dir.string() + ": " + ec.message());
  auto outbox = Outbox::Open((config_.data_dir / "outbox.sqlite").string(), manager_, clock_, config_.outbox);
  if (!outbox) return Fatal(outbox.error().message);
  outbox_ = std::move(*outbox);
  runner_ = std::make_unique<TaskRunner>(manager_, *outbox_, launcher_, clock_, config_.runner);

  switch (Startup(stop)) {
    case Step::kOk:
      break;
    case Step::kStopped:
      return kExitOk;
    case Step::kFatal:
      return kExitFailure;
  }
  std::jthread flusher = NamedThread("outbox-flusher", [this](std::stop_token st) { outbox_->Run(st); });
  const int code = MainLoop(stop);
  flusher.request_stop();
  flusher.join();
  Shutdown();
  return code;
}

Worker::Step Worker::Startup(std::stop_token stop) {
  const auto file = config_.data_dir / "credentials.json";
  auto creds = LoadCredentials(file);
  if (!creds) spdlog::warn("ignoring unusable {}: {}; registering again", file.string(), creds.error().message);
  if (creds && *creds) {
    manager_.SetCredentials(**creds);
    spdlog::info("worker id {} (from {})", (*creds)->worker_id, file.string());
  } else {
    if (auto s = Register(stop); s != Step::kOk) return s;
  }
  return SignOn(stop);
}

Worker::Step Worker::Register(std::stop_token stop) {
  const std::string secret = RandomToken(kSecretLength);
  const nlohmann::json body = {{"secret", secret},
                               {"platform", "linux"},
                               {"supported_task_types", config_.task_types},
                               {"nickname", config_.nickname}};
  manager_.SetCredentials({});  // registration is not Basic-authenticated
  auto delay = std::chrono::milliseconds(kInitialStartupRetry);
  spdlog::info("registering at {} as {}", manager_.base_url(), config_.nickname);
  while (!stop.stop_requested()) {
    http::Headers headers;
    if (!config_.registration_secret.empty())
      headers.emplace_back("Authorization",
                           "Bearer " + MakeRegistrationToken(config_.registration_secret, clock_.Now()));
    auto resp = manager_.Send("POST", "/register-worker", body, std::move(headers));
    if (!resp) {
      spdlog::warn("cannot reach the Manager to register: {}", resp.error().message);
    } else if (resp->status == 401 || resp->status == 403) {
      Fatal("registration refused by the Manager (" + Explain(*resp) + "); check --registration-secret");
      return Step::kFatal;
    } else if (resp->status == 200) {
      auto doc = ParseJsonObject(resp->body);
      if (doc && doc->contains("_id") && (*doc)["_id"].is_string()) {
        Credentials creds{(*doc)["_id"].get<std::string>(), secret};
        const auto file = config_.data_dir / "credentials.json";
        if (auto st = SaveCredentials(file, creds); !st) {
          Fatal("cannot store credentials: " + st.error().message);
          return Step::kFatal;
        }
        manager_.SetCredentials(creds);
        spdlog::info("registered as worker {}", creds.worker_id);
        return Step::kOk;
      }
      spdlog::warn("registration answer has no _id; retrying");
    } else {
      // v2 retries any other answer (e.g. 404 from a wrong URL) forever.
      spdlog::warn("registration failed ({}); retrying", Explain(*resp));
    }
    if (!BackoffWait(delay, stop)) break;
  }
  return Step::kStopped;
}

Worker::Step Worker::SignOn(std::stop_token stop) {
  const nlohmann::json body = {{"supported_task_types", config_.task_types}, {"nickname", config_.nickname}};
  auto delay = std::chrono::milliseconds(kInitialStartupRetry);
  bool reregistered = false;
  while (!stop.stop_requested()) {
    auto resp = manager_.Send("POST", "/sign-on", body);
    if (!resp) {
      spdlog::warn("cannot reach the Manager to sign on: {}", resp.error().message);
    } else if (resp->status >= 200 && resp->status < 300) {
      signed_on_ = true;
      spdlog::info("signed on at {}", manager_.base_url());
      return Step::kOk;
    } else if (resp->status == 401 && !reregistered) {
      // Spec §10.3: unknown credentials → register again, once.
      spdlog::warn("Manager does not know this worker's credentials; registering again");
      reregistered = true;
      if (auto s = Register(stop); s != Step::kOk) return s;
      delay = kInitialStartupRetry;
      continue;
    } else if (resp->status >= 500) {
      spdlog::warn("sign-on failed ({}); retrying", Explain(*resp));
    } else {
      Fatal("sign-on refused by the Manager (" + Explain(*resp) + ")");
      return Step::kFatal;
    }
    if (!BackoffWait(delay, stop)) break;
  }
  return Step::kStopped;
}

void Worker::Ack(std::string_view status) {
  auto resp = manager_.Send("POST", "/ack-status-change/" + std::string(status));
  if (!resp) {
    spdlog::warn("cannot acknowledge status {}: {}", status, resp.error().message);
  } else if (resp->status >= 300) {
    spdlog::warn("acknowledging status {}: {}", status, Explain(*resp));
  }
}

Worker::Applied Worker::Apply(const std::string& requested) {
  namespace ws = protocol::worker_status;
  spdlog::info("status change requested: {}", requested);
  if (requested == ws::kAsleep) {
    state_ = State::kAsleep;
    Ack(ws::kAsleep);
  } else if (requested == ws::kAwake) {
    state_ = State::kAwake;
    Ack(ws::kAwake);
  } else if (requested == ws::kShutdown) {
    // Not acknowledged (spec §10.7): sign-off marks the worker offline.
    return {kExitOk};
  } else if (requested == ws::kRestart) {
    return {kExitRestart};
  } else {
    spdlog::error("unknown requested status '{}'; going to sleep", requested);
    state_ = State::kAsleep;
    Ack(ws::kAsleep);
  }
  return {};
}

int Worker::MainLoop(std::stop_token stop) {
  while (!stop.stop_requested()) {
    if (auto local = TakeLocalRequest()) {
      if (auto a = Apply(*local); a.exit_code) return *a.exit_code;
      continue;
    }
    if (state_ == State::kAsleep) {
      if (!Wait(config_.sleep_poll_interval, stop)) break;
      {
        std::lock_guard lock(local_mu_);
        if (local_request_) continue;
      }
      auto resp = manager_.Send("GET", "/status-change");
      if (!resp) {
        spdlog::debug("status-change: {}", resp.error().message);
      } else if (resp->status == 200) {
        auto doc = ParseJsonObject(resp->body);
        if (doc && doc->contains("status_requested") && (*doc)["status_requested"].is_string()) {
          if (auto a = Apply((*doc)["status_requested"].get<std::string>()); a.exit_code) return *a.exit_code;
        }
      }
      continue;
    }

    // Awake.
    // Deliver everything queued before asking for work: until the Manager
    // has the previous task's final status it still sees that task as active
    // here and would hand it out again (v2 hid this behind a 3 s pause).
    if (auto count = outbox_->Count(); count && *count > 0) {
      if (!outbox_->FlushUntil(clock_.SteadyNow() + config_.retry_interval, stop)) {
        if (stop.stop_requested()) break;
        auto left = outbox_->Count();
        spdlog::warn("{} task updates not yet delivered; waiting before fetching a task", left ? *left : *count);
        if (*count > config_.outbox_backlog_limit && !Wait(config_.retry_interval, stop)) break;
        continue;
      }
    }
    http::Headers fetch_headers;
    if (config_.long_poll_wait.count() > 0)
      fetch_headers.emplace_back("X-Duende-Wait", std::to_string(config_.long_poll_wait.count() / 1000.0));
    auto resp = manager_.Send("POST", "/task", fetch_headers);
    if (!resp) {
      spdlog::warn("cannot fetch a task: {}", resp.error().message);
      if (!Wait(config_.retry_interval, stop)) break;
      continue;
    }
    switch (resp->status) {
      case 200: {
        auto j = nlohmann::json::parse(resp->body, nullptr, false);
        auto task = protocol::TaskFromJson(j);
        if (!task) {
          spdlog::error("Manager sent a task I cannot read: {}", task.error().message);
          if (!Wait(config_.retry_interval, stop)) return kExitOk;
          continue;
        }
        TaskResult r = runner_->Run(*task, stop);
        if (!r.status_requested.empty()) {
          if (auto a = Apply(r.status_requested); a.exit_code) return *a.exit_code;
        }
        if (config_.single) {
          spdlog::info("--single: task done ({}); shutting down", ToString(r.outcome));
          return kExitOk;
        }
        continue;  // fetch the next task at once
      }
      case 204:
        // After a long poll the Manager already waited: ask again at once.
        if (!resp->Header("x-duende-waited").empty()) continue;
        if (!Wait(config_.poll_interval, stop)) return kExitOk;
        continue;
      case 423: {
        auto doc = ParseJsonObject(resp->body);
        std::string requested;
        if (doc && doc->contains("status_requested") && (*doc)["status_requested"].is_string())
          requested = (*doc)["status_requested"].get<std::string>();
        if (auto a = Apply(requested); a.exit_code) return *a.exit_code;
        continue;
      }
      case 406:
        spdlog::error("Manager refuses tasks: this worker has no task types it knows ({})", Explain(*resp));
        if (!Wait(config_.retry_interval, stop)) return kExitOk;
        continue;
      default:
        spdlog::warn("fetching a task: {}", Explain(*resp));
        if (!Wait(config_.retry_interval, stop)) return kExitOk;
        continue;
    }
  }
  return kExitOk;
}

void Worker::Shutdown() {
  spdlog::info("shutting down: flushing task updates");
  std::stop_source never;  // bounded by the deadline, not by the (already requested) stop
  if (!outbox_->FlushUntil(clock_.SteadyNow() + config_.shutdown_flush_timeout, never.get_token())) {
    auto n = outbox_->Count();
    spdlog::warn("{} task updates not delivered; they stay queued for the next start", n ? *n : -1);
  }
  if (signed_on_) {
    auto resp = manager_.Send("POST", "/sign-off");
    if (!resp) {
      spdlog::warn("cannot sign off: {}", resp.error().message);
    } else if (resp->status >= 300) {
      spdlog::warn("sign-off: {}", Explain(*resp));
    } else {
      spdlog::info("signed off");
    }
  }
}

}  // namespace duende::worker
