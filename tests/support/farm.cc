#include "support/farm.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace duende::testing {

Process::Process(std::vector<std::string> argv, std::string log_path, std::vector<std::string> env)
    : log_path_(std::move(log_path)) {
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  // Build the environment before fork: the child may only call
  // async-signal-safe functions.
  std::vector<std::string> environment;
  for (char** e = environ; *e; ++e) {
    const std::string entry(*e);
    const std::string name = entry.substr(0, entry.find('='));
    bool replaced = false;
    for (const auto& x : env) replaced = replaced || x.substr(0, x.find('=')) == name;
    if (!replaced) environment.push_back(entry);
  }
  for (const auto& x : env) environment.push_back(x);
  std::vector<char*> envp;
  for (auto& e : environment) envp.push_back(e.data());
  envp.push_back(nullptr);
  pid_ = fork();
  if (pid_ == 0) {
    const int fd = open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
      close(fd);
    }
    const int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, 0);
    execve(args[0], args.data(), envp.data());
    _exit(127);
  }
}

Process::~Process() { Kill(); }

bool Process::running() {
  if (status_ || pid_ <= 0) return false;
  int st = 0;
  const pid_t r = waitpid(pid_, &st, WNOHANG);
  if (r == pid_) {
    status_ = WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st);
    return false;
  }
  return true;
}

void Process::Signal(int sig) {
  if (running()) kill(pid_, sig);
}

std::optional<int> Process::Wait(std::chrono::milliseconds timeout) {
  WaitFor([&] { return !running(); }, timeout);
  return status_;
}

void Process::Kill() {
  if (running()) {
    kill(pid_, SIGKILL);
    int st = 0;
    waitpid(pid_, &st, 0);
    status_ = -SIGKILL;
  }
}

std::string Process::Log() const {
  std::ifstream in(log_path_);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string BinPath(const std::string& name) { return std::string(DUENDE_BIN_DIR) + "/" + name; }

int EnvInt(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::atoi(v) : fallback;
}

bool WaitFor(const std::function<bool()>& predicate, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (predicate()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return predicate();
}

std::string WaitForUrlFile(const std::string& path, std::chrono::milliseconds timeout) {
  std::string url;
  WaitFor(
      [&] {
        std::ifstream in(path);
        return static_cast<bool>(in >> url);
      },
      timeout);
  return url;
}

ManagerProcess::ManagerProcess(std::string data_dir, std::string config_yaml, uint16_t port)
    : data_dir_(std::move(data_dir)), client_(http::MakeCurlClient("duende-tests")) {
  std::filesystem::create_directories(data_dir_);
  std::filesystem::remove(data_dir_ + "/manager.url");
  std::vector<std::string> argv = {BinPath("duende-manager"), "--listen", "127.0.0.1:" + std::to_string(port),
                                   "--data-dir", data_dir_};
  if (!config_yaml.empty()) {
    std::ofstream(data_dir_ + "/manager.yaml") << config_yaml;
    argv.push_back("--config");
    argv.push_back(data_dir_ + "/manager.yaml");
  }
  process_ = std::make_unique<Process>(argv, data_dir_ + "/manager.log");
  WaitFor(
      [&] {
        std::ifstream in(data_dir_ + "/manager.url");
        return static_cast<bool>(in >> url_);
      },
      std::chrono::seconds(20));
  if (!url_.empty()) port_ = static_cast<uint16_t>(std::stoi(url_.substr(url_.rfind(':') + 1)));
  // Written before manager.url, so it is there once the URL is.
  std::ifstream token_in(data_dir_ + "/admin-token");
  std::getline(token_in, token_);
}

void ManagerProcess::TrustCa(const std::string& ca_path) {
  client_ = http::MakeCurlClient("duende-tests", http::ClientOptions{ca_path});
}

void ManagerProcess::Authorize(http::ClientRequest& request) const {
  request.headers.emplace_back("Authorization", "Bearer " + token_);
}

ManagerProcess::~ManagerProcess() {
  process_->Signal(SIGTERM);
  if (!process_->Wait(std::chrono::seconds(10))) process_->Kill();
}

nlohmann::json ManagerProcess::Get(const std::string& path) {
  http::ClientRequest r;
  r.url = url_ + path;
  Authorize(r);
  auto resp = client_->Send(r);
  if (!resp || resp->status != 200) return nullptr;
  return nlohmann::json::parse(resp->body, nullptr, false);
}

std::string ManagerProcess::TaskLog(const std::string& task_id, unsigned earlier) {
  http::ClientRequest r;
  r.url = url_ + "/api/tasks/" + task_id + "/log?length=1073741824&earlier=" + std::to_string(earlier);
  Authorize(r);
  auto resp = client_->Send(r);
  if (!resp || resp->status != 200) return "";
  return resp->body;
}

http::ClientResponse ManagerProcess::Post(const std::string& path, const nlohmann::json& body) {
  http::ClientRequest r;
  r.method = "POST";
  r.url = url_ + path;
  r.body = body.dump();
  Authorize(r);
  auto resp = client_->Send(r);
  return resp.value_or(http::ClientResponse{});
}

std::string ManagerProcess::SubmitJob(const nlohmann::json& body) {
  auto resp = Post("/api/jobs", body);
  if (resp.status != 201) return "";
  return nlohmann::json::parse(resp.body)["_id"];
}

bool ManagerProcess::WaitForJobStatus(const std::string& job_id, const std::string& status,
                                      std::chrono::milliseconds timeout) {
  return WaitFor(
      [&] {
        auto j = Get("/api/jobs/" + job_id);
        return j.is_object() && j.value("status", "") == status;
      },
      timeout);
}

WorkerProcess::WorkerProcess(const std::string& manager_url, std::string data_dir, const std::string& nickname,
                             std::vector<std::string> extra_args, std::vector<std::string> env) {
  std::filesystem::create_directories(data_dir);
  std::vector<std::string> argv = {
      BinPath("duende-worker"), "--manager", manager_url, "--data-dir", data_dir, "--nickname", nickname};
  for (auto& a : extra_args) argv.push_back(a);
  process_ = std::make_unique<Process>(argv, data_dir + "/worker.log", std::move(env));
}

}  // namespace duende::testing
