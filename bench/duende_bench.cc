// duende-bench: a load generator for duende-manager (issue 6).
//
// Starts a real duende-manager (next to this binary in bin/) on a temp dir
// and 127.0.0.1:0, simulates workers speaking the Flamenco v2 worker protocol
// over real HTTP/1.1 keep-alive connections, and prints one JSON line of
// figures per scenario:
//
//   duende-bench throughput --workers N --tasks M
//   duende-bench idle --workers N [--seconds S]
//   duende-bench pickup [--workers N] [--repeat R]
//   duende-bench bigjob --tasks M
//   duende-bench realfarm --workers K --tasks M
//
// Client choice: Boost.Asio C++20 coroutines with Beast, all simulated
// workers on ONE thread. A simulated worker is a sequential conversation
// (register, sign-on, fetch, update, update, ...) that reads as straight-line
// code in a coroutine, and each costs a few KiB instead of a thread, so
// 10,000 idle keep-alive connections fit on one core and leave the other core
// to the Manager. Beast is already a dependency (the server); curl multi
// would need a hand-written state machine per worker for the same result.
// The client keeps its own cost per request low (one prepared write, Beast's
// parser without stored header fields): on a two-core machine the load
// generator's CPU is CPU the Manager under test does not get.
// Latencies are measured around one request/response on the client side, so
// they include the load generator's own queueing (an honest upper bound).
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

// clang-format off
// Before Asio: Boost 1.74's awaitable.hpp uses std::exchange without it.
#include <utility>
// clang-format on

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using asio::awaitable;
using asio::use_awaitable;
using nlohmann::json;
using tcp = asio::ip::tcp;
using SteadyClock = std::chrono::steady_clock;
using namespace std::chrono_literals;

double MsSince(SteadyClock::time_point t) {
  return std::chrono::duration<double, std::milli>(SteadyClock::now() - t).count();
}

std::string SelfDir() { return std::filesystem::read_symlink("/proc/self/exe").parent_path().string(); }

[[noreturn]] void Die(const std::string& msg) {
  std::cerr << "duende-bench: error: " << msg << "\n";
  std::exit(1);
}

// --- processes and /proc -------------------------------------------------------

pid_t Spawn(const std::vector<std::string>& argv, const std::string& log_path) {
  pid_t pid = fork();
  if (pid < 0) Die("fork failed");
  if (pid == 0) {
    FILE* f = std::fopen(log_path.c_str(), "w");
    if (f) {
      dup2(fileno(f), 1);
      dup2(fileno(f), 2);
    }
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  return pid;
}

void StopProcess(pid_t pid) {
  if (pid <= 0) return;
  kill(pid, SIGTERM);
  for (int i = 0; i < 100; ++i) {
    int status;
    if (waitpid(pid, &status, WNOHANG) == pid) return;
    std::this_thread::sleep_for(50ms);
  }
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
}

// utime + stime of `pid` in seconds.
double CpuSeconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto close = s.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream rest(s.substr(close + 2));
  std::string field;
  std::vector<std::string> f;
  while (rest >> field) f.push_back(field);
  // Fields after the command start at field 3 (state); utime is 14, stime 15.
  if (f.size() < 13) return 0;
  const double ticks = std::stod(f[11]) + std::stod(f[12]);
  return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// VmHWM (peak RSS) of `pid` in MiB.
double PeakRssMiB(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  return 0;
}

uint64_t FileSize(const std::string& path) {
  std::error_code ec;
  auto n = std::filesystem::file_size(path, ec);
  return ec ? 0 : n;
}

// "Bearer <admin token>" of the Manager under test, sent on /api requests.
std::string g_api_authorization;

class Manager {
 public:
  Manager(const std::string& dir, const std::string& config_yaml) : dir_(dir) {
    std::vector<std::string> argv = {
        SelfDir() + "/duende-manager", "--listen", "127.0.0.1:0", "--data-dir", dir, "--log-level", "warn"};
    if (!config_yaml.empty()) {
      std::ofstream(dir + "/manager.yaml") << config_yaml;
      argv.push_back("--config");
      argv.push_back(dir + "/manager.yaml");
    }
    pid_ = Spawn(argv, dir + "/manager.log");
    for (int i = 0; i < 400; ++i) {
      std::ifstream in(dir + "/manager.url");
      std::string url;
      if (in >> url) {
        port_ = static_cast<uint16_t>(std::stoi(url.substr(url.rfind(':') + 1)));
        url_ = url;
        std::ifstream token_in(dir + "/admin-token");
        std::string token;
        if (std::getline(token_in, token)) g_api_authorization = "Bearer " + token;
        return;
      }
      if (waitpid(pid_, nullptr, WNOHANG) == pid_) Die("duende-manager exited; see " + dir + "/manager.log");
      std::this_thread::sleep_for(25ms);
    }
    Die("duende-manager did not start; see " + dir + "/manager.log");
  }
  ~Manager() { StopProcess(pid_); }
  pid_t pid() const { return pid_; }
  uint16_t port() const { return port_; }
  const std::string& url() const { return url_; }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  std::string url_;
  pid_t pid_ = -1;
  uint16_t port_ = 0;
};

// --- HTTP client -----------------------------------------------------------------

struct Reply {
  int status = 0;
  std::string body;
};

// Reads one HTTP/1.1 response with Beast's parser and keeps only the status
// and the body. beast::http::response would store each header field in a
// heap node of its own; the load generator shares the machine with the
// Manager it measures, so what it spends per request is taken from the
// Manager.
class ReplyParser : public bhttp::basic_parser<false> {
 public:
  // No practical limit. (boost::none would be the documented way, but
  // Boost 1.74 compares a Content-Length against it as if it were 0.)
  ReplyParser() { body_limit(std::uint64_t{1} << 40); }
  Reply reply;

 private:
  void on_request_impl(bhttp::verb, beast::string_view, beast::string_view, int, beast::error_code&) override {}
  void on_response_impl(int code, beast::string_view, int, beast::error_code&) override { reply.status = code; }
  void on_field_impl(bhttp::field, beast::string_view, beast::string_view, beast::error_code&) override {}
  void on_header_impl(beast::error_code&) override {}
  void on_body_init_impl(const boost::optional<std::uint64_t>& length, beast::error_code&) override {
    if (length) reply.body.reserve(static_cast<size_t>(*length));
  }
  size_t on_body_impl(beast::string_view s, beast::error_code&) override {
    reply.body.append(s.data(), s.size());
    return s.size();
  }
  void on_chunk_header_impl(std::uint64_t, beast::string_view, beast::error_code&) override {}
  size_t on_chunk_body_impl(std::uint64_t, beast::string_view s, beast::error_code&) override {
    reply.body.append(s.data(), s.size());
    return s.size();
  }
  void on_finish_impl(beast::error_code&) override {}
};

std::string_view VerbText(bhttp::verb verb) {
  const auto s = bhttp::to_string(verb);
  return {s.data(), s.size()};
}

// One keep-alive connection; reconnects when the server closed it. The
// request is written as one buffer (the same bytes Beast's serializer
// writes for these few fields) on a socket typed on the io_context's
// executor: no type-erased executor copies per operation.
class Conn {
 public:
  Conn(asio::io_context& ioc, uint16_t port) : socket_(ioc.get_executor()), port_(port) {}

  // By value: g++ 12 coroutines and references to temporaries do not mix.
  awaitable<Reply> Send(bhttp::verb verb, std::string target, std::string body = {}, std::string auth = {},
                        std::vector<std::pair<std::string, std::string>> extra = {}) {
    out_.clear();
    out_.append(VerbText(verb)).append(" ").append(target).append(" HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    out_.append("User-Agent: duende-bench\r\n");
    const bool api = target.starts_with("/api/") || target == "/metrics";
    const std::string& authorization = auth.empty() && api ? g_api_authorization : auth;
    if (!authorization.empty()) out_.append("Authorization: ").append(authorization).append("\r\n");
    for (auto& [k, v] : extra) out_.append(k).append(": ").append(v).append("\r\n");
    if (!body.empty()) out_.append("Content-Type: application/json\r\n");
    if (!body.empty() || verb == bhttp::verb::post || verb == bhttp::verb::put || verb == bhttp::verb::patch)
      out_.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n");
    out_.append("\r\n").append(body);
    for (int attempt = 0;; ++attempt) {
      try {
        if (!connected_) {
          co_await socket_.async_connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_), use_awaitable);
          socket_.set_option(tcp::no_delay(true));
          connected_ = true;
        }
        co_await asio::async_write(socket_, asio::buffer(out_), use_awaitable);
        ReplyParser parser;
        co_await bhttp::async_read(socket_, buffer_, parser, use_awaitable);
        if (!parser.keep_alive()) Close();
        co_return std::move(parser.reply);
      } catch (const boost::system::system_error& e) {
        Close();
        if (attempt >= 2) throw;
      }
    }
  }

 private:
  void Close() {
    beast::error_code ec;
    socket_.close(ec);
    buffer_.clear();
    connected_ = false;
  }
  asio::basic_stream_socket<tcp, asio::io_context::executor_type> socket_;
  beast::flat_buffer buffer_;
  std::string out_;
  uint16_t port_;
  bool connected_ = false;
};

std::string BasicAuth(const std::string& user, const std::string& pass) {
  static const char* k = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const std::string in = user + ":" + pass;
  std::string out;
  int val = 0, valb = -6;
  for (unsigned char c : in) {
    val = (val << 8) + c;
    valb += 8;
    while (valb >= 0) {
      out.push_back(k[(val >> valb) & 0x3F]);
      valb -= 6;
    }
  }
  if (valb > -6) out.push_back(k[((val << 8) >> (valb + 8)) & 0x3F]);
  while (out.size() % 4) out.push_back('=');
  return "Basic " + out;
}

// Completion of a spawned coroutine: an exception ends the run loudly
// (asio::detached would swallow it).
constexpr auto kRethrow = [](std::exception_ptr e) {
  if (e) std::rethrow_exception(e);
};

awaitable<void> Sleep(asio::io_context& ioc, std::chrono::steady_clock::duration d) {
  asio::steady_timer t(ioc, d);
  co_await t.async_wait(use_awaitable);
}

// --- statistics ------------------------------------------------------------------

struct Latencies {
  std::map<std::string, std::vector<double>> ms;
  void Add(const std::string& kind, double v) { ms[kind].push_back(v); }
  static double Pct(std::vector<double>& v, double p) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    const size_t i = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())));
    return v[i];
  }
  json ToJson() {
    json out = json::object();
    for (auto& [k, v] : ms) {
      out[k] = {{"count", v.size()},
                {"p50_ms", Round(Pct(v, 0.5))},
                {"p99_ms", Round(Pct(v, 0.99))},
                {"max_ms", Round(v.empty() ? 0 : *std::max_element(v.begin(), v.end()))}};
    }
    return out;
  }
  static double Round(double v) { return std::round(v * 1000) / 1000; }
};

double Median(std::vector<double> v) { return Latencies::Pct(v, 0.5); }

// --- simulated workers ---------------------------------------------------------------

struct SimWorker {
  std::string id;
  std::string auth;
};

// Request bodies are built outside the coroutines: g++ 12 miscompiles
// braced initializer lists inside coroutine bodies ("array used as
// initializer").
std::string SecretOf(int n) { return "bench-secret-" + std::to_string(n); }
std::string RegisterBody(int n) {
  return json{{"secret", SecretOf(n)},
              {"platform", "linux"},
              {"supported_task_types", {"sleep"}},
              {"nickname", "sim-" + std::to_string(n)}}
      .dump();
}
std::string SignOnBody(int n) { return json{{"nickname", "sim-" + std::to_string(n)}}.dump(); }
std::string ActiveBody() { return json{{"task_status", "active"}, {"activity", "starting"}}.dump(); }
std::string CompletedBody(const std::string& log) {
  return json{{"task_status", "completed"}, {"activity", "done"}, {"log", log}}.dump();
}
// The "_id" of an answer. The Manager writes compact JSON whose only "_id"
// key is the top-level one (a task's commands have none), so the simulated
// worker finds it without parsing the whole task; anything else is parsed.
std::string TaskIdOf(const std::string& body) {
  static constexpr std::string_view kKey = "\"_id\":\"";
  const auto at = body.find(kKey);
  if (at != std::string::npos && body.find(kKey, at + 1) == std::string::npos) {
    const auto start = at + kKey.size();
    const auto end = body.find('"', start);
    if (end != std::string::npos && body.find('\\', start) > end) return body.substr(start, end - start);
  }
  return json::parse(body).at("_id").get<std::string>();
}
std::vector<std::pair<std::string, std::string>> WaitHeader(bool on) {
  std::vector<std::pair<std::string, std::string>> h;
  if (on) h.emplace_back("X-Duende-Wait", "5");
  return h;
}

awaitable<SimWorker> RegisterAndSignOn(Conn& c, int n) {
  const std::string secret = SecretOf(n);
  auto r = co_await c.Send(bhttp::verb::post, "/register-worker", RegisterBody(n));
  if (r.status != 200) Die("register-worker answered " + std::to_string(r.status) + ": " + r.body);
  SimWorker w;
  w.id = TaskIdOf(r.body);
  w.auth = BasicAuth(w.id, secret);
  auto s = co_await c.Send(bhttp::verb::post, "/sign-on", SignOnBody(n), w.auth);
  if (s.status != 204) Die("sign-on answered " + std::to_string(s.status) + ": " + s.body);
  co_return w;
}

json SleepJob(int tasks) {
  return {{"name", "bench-" + std::to_string(tasks)},
          {"job_type", "sleep"},
          {"settings",
           {{"frames", tasks == 1 ? std::string("1") : "1-" + std::to_string(tasks)},
            {"chunk_size", 1},
            {"time_in_seconds", 0}}}};
}

std::string SubmitJobBlocking(asio::io_context& ioc, uint16_t port, int tasks, double* submit_ms = nullptr) {
  std::string id;
  Conn c(ioc, port);
  const std::string job_body = SleepJob(tasks).dump();
  asio::co_spawn(
      ioc,
      [&]() -> awaitable<void> {
        auto t0 = SteadyClock::now();
        auto r = co_await c.Send(bhttp::verb::post, "/api/jobs", job_body);
        if (submit_ms) *submit_ms = MsSince(t0);
        if (r.status != 201) Die("job submission answered " + std::to_string(r.status) + ": " + r.body);
        id = TaskIdOf(r.body);
      },
      kRethrow);
  ioc.run();
  ioc.restart();
  return id;
}

std::string TempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "duende-bench-XXXXXX").string();
  if (!mkdtemp(tmpl.data())) Die("mkdtemp failed");
  return tmpl;
}

struct Options {
  std::string scenario;
  int workers = -1;
  int tasks = -1;
  int repeat = 20;
  double seconds = 30;
  double warmup_s = 5;  // idle/pickup: time for every worker to poll once
  double poll_s = 5;    // v2 POST /task interval after a 204
  // throughput: how long each simulated task runs (between its active and
  // completed updates). 0 (the default) measures the Manager's capacity;
  // with a duration the load stays under it and the latencies are those of
  // a farm that is busy but not saturated.
  double task_ms = 0;
  bool keep = false;
  bool long_poll = true;
  std::string config;  // extra manager YAML
};

void Print(json j) { std::cout << j.dump() << std::endl; }

// Runs register + sign-on for `n` workers, at most `parallel` at a time.
std::vector<SimWorker> RegisterMany(asio::io_context& ioc, uint16_t port, int n,
                                    std::vector<std::unique_ptr<Conn>>& conns) {
  std::vector<SimWorker> out(n);
  for (int i = 0; i < n; ++i) conns.push_back(std::make_unique<Conn>(ioc, port));
  const int parallel = 64;
  int next = 0;
  for (int lane = 0; lane < std::min(parallel, n); ++lane) {
    asio::co_spawn(
        ioc,
        [&]() -> awaitable<void> {
          while (next < n) {
            const int i = next++;
            out[i] = co_await RegisterAndSignOn(*conns[i], i);
          }
        },
        kRethrow);
  }
  ioc.run();
  ioc.restart();
  return out;
}

// --- scenarios ---------------------------------------------------------------------

json Throughput(const Options& o) {
  const int n = o.workers > 0 ? o.workers : 1000;
  const int m = o.tasks > 0 ? o.tasks : 100000;
  const std::string dir = TempDir();
  Manager mgr(dir, o.config);
  asio::io_context ioc;
  std::vector<std::unique_ptr<Conn>> conns;
  auto t_reg = SteadyClock::now();
  auto workers = RegisterMany(ioc, mgr.port(), n, conns);
  const double register_s = MsSince(t_reg) / 1000;
  double submit_ms = 0;
  const auto t_submit = SteadyClock::now();
  SubmitJobBlocking(ioc, mgr.port(), m, &submit_ms);

  Latencies lat;
  int completed = 0;
  std::optional<SteadyClock::time_point> first_assign;
  SteadyClock::time_point last_done;
  const double cpu0 = CpuSeconds(mgr.pid());
  const std::string log_lines = "line one of the task log\nline two of the task log\nline three of the task log";
  const std::string active_body = ActiveBody();
  const std::string completed_body = CompletedBody(log_lines);
  // Task durations spread evenly over [task_ms / 2, task_ms * 3 / 2] (a
  // fixed seed: every run draws the same ones), so the workers do not stay
  // in step and ask for work all at the same moment.
  std::mt19937 rng(42);
  std::uniform_int_distribution<int64_t> task_us(static_cast<int64_t>(o.task_ms * 500),
                                                 static_cast<int64_t>(o.task_ms * 1500));
  for (int i = 0; i < n; ++i) {
    asio::co_spawn(
        ioc,
        [&, i]() -> awaitable<void> {
          Conn& c = *conns[i];
          const auto& w = workers[i];
          // Every worker asks at the same instant at the start: with task
          // durations, that burst would be most of the top percentile, so a
          // worker's first task (its three requests) is not counted. Without
          // durations it is one task in a hundred or more, and counted.
          bool first = o.task_ms > 0;
          auto record = [&](const char* kind, SteadyClock::time_point since) {
            if (!first) lat.Add(kind, MsSince(since));
          };
          while (completed < m) {
            auto t = SteadyClock::now();
            auto r = co_await c.Send(bhttp::verb::post, "/task", "", w.auth);
            // Answers without a task (the job's last tasks still running)
            // are quick and would dilute the percentiles: kept apart.
            record(r.status == 204 ? "task_none" : "task", t);
            if (r.status == 204) {
              co_await Sleep(ioc, 20ms);  // tasks not queued yet, or all taken
              continue;
            }
            if (r.status != 200) Die("POST /task answered " + std::to_string(r.status) + ": " + r.body);
            if (!first_assign) first_assign = SteadyClock::now();
            const std::string task_id = TaskIdOf(r.body);
            const std::string path = "/tasks/" + task_id + "/update";
            t = SteadyClock::now();
            auto a = co_await c.Send(bhttp::verb::post, path, active_body, w.auth);
            record("update_active", t);
            if (a.status != 204) Die("active update answered " + std::to_string(a.status) + ": " + a.body);
            if (o.task_ms > 0) co_await Sleep(ioc, std::chrono::microseconds(task_us(rng)));
            t = SteadyClock::now();
            auto d = co_await c.Send(bhttp::verb::post, path, completed_body, w.auth);
            record("update_completed", t);
            first = false;
            if (d.status != 204) Die("completed update answered " + std::to_string(d.status) + ": " + d.body);
            ++completed;
            last_done = SteadyClock::now();
          }
        },
        kRethrow);
  }
  ioc.run();
  const double cpu = CpuSeconds(mgr.pid()) - cpu0;
  const double run_s = std::chrono::duration<double>(last_done - *first_assign).count();
  const double wall_s = std::chrono::duration<double>(last_done - t_submit).count();
  json j = {{"scenario", "throughput"},
            {"workers", n},
            {"tasks", m},
            {"task_ms", o.task_ms},
            {"tasks_per_s", std::round(m / run_s)},
            {"tasks_per_s_incl_submit", std::round(m / wall_s)},
            {"run_s", Latencies::Round(run_s)},
            {"submit_ms", Latencies::Round(submit_ms)},
            {"register_s", Latencies::Round(register_s)},
            {"manager_cpu_cores", Latencies::Round(cpu / wall_s)},
            {"manager_peak_rss_mib", Latencies::Round(PeakRssMiB(mgr.pid()))},
            {"latency", lat.ToJson()}};
  if (!o.keep) std::filesystem::remove_all(dir);
  return j;
}

json Idle(const Options& o) {
  const int n = o.workers > 0 ? o.workers : 10000;
  const std::string dir = TempDir();
  Manager mgr(dir, o.config);
  asio::io_context ioc;
  std::vector<std::unique_ptr<Conn>> conns;
  auto workers = RegisterMany(ioc, mgr.port(), n, conns);
  Latencies lat;
  const auto measure_for = std::chrono::milliseconds(static_cast<int64_t>(o.seconds * 1000));
  // Warm-up: one poll round (every worker's first /task authenticates once
  // and wakes the worker) before measuring.
  const auto start = SteadyClock::now();
  const auto warm_until = start + std::chrono::milliseconds(static_cast<int64_t>(o.warmup_s * 1000));
  const auto poll = std::chrono::milliseconds(static_cast<int64_t>(o.poll_s * 1000));
  const auto end = warm_until + measure_for;
  double cpu0 = -1;
  std::mt19937 rng(42);
  int errors = 0;
  for (int i = 0; i < n; ++i) {
    const auto offset = std::chrono::milliseconds(
        std::uniform_int_distribution<int64_t>(0, static_cast<int64_t>(o.poll_s * 1000) - 1)(rng));
    asio::co_spawn(
        ioc,
        [&, i, offset]() -> awaitable<void> {
          co_await Sleep(ioc, offset);
          while (SteadyClock::now() < end) {
            auto t = SteadyClock::now();
            auto r = co_await conns[i]->Send(bhttp::verb::post, "/task", "", workers[i].auth);
            if (t >= warm_until) lat.Add("task", MsSince(t));
            if (r.status != 204) ++errors;
            co_await Sleep(ioc, poll);
          }
        },
        kRethrow);
  }
  asio::steady_timer mark(ioc, warm_until);
  mark.async_wait([&](auto) { cpu0 = CpuSeconds(mgr.pid()); });
  ioc.run();
  const double cpu = CpuSeconds(mgr.pid()) - cpu0;
  json j = {{"scenario", "idle"},
            {"workers", n},
            {"poll_interval_s", o.poll_s},
            {"measured_s", o.seconds},
            {"manager_cpu_cores", Latencies::Round(cpu / o.seconds)},
            {"manager_peak_rss_mib", Latencies::Round(PeakRssMiB(mgr.pid()))},
            {"non_204_answers", errors},
            {"latency", lat.ToJson()}};
  if (!o.keep) std::filesystem::remove_all(dir);
  return j;
}

// Pickup: one-task jobs into an idle farm; time from submission until a
// worker holds the task (its POST /task answered 200; the task is `active`
// in the Manager from that commit on). With `long_poll`, workers ask
// POST /task to wait (X-Duende-Wait); without it they poll every 5 s as v2.
json Pickup(const Options& o, bool long_poll) {
  const int n = o.workers > 0 ? o.workers : 10;
  const std::string dir = TempDir();
  Manager mgr(dir, o.config);
  asio::io_context ioc;
  std::vector<std::unique_ptr<Conn>> conns;
  auto workers = RegisterMany(ioc, mgr.port(), n, conns);
  Conn submitter(ioc, mgr.port());
  const std::string one_task_job = SleepJob(1).dump();
  std::vector<double> pickups;
  bool done = false;
  SteadyClock::time_point submitted;
  bool waiting = false;
  const auto poll = std::chrono::milliseconds(static_cast<int64_t>(o.poll_s * 1000));
  for (int i = 0; i < n; ++i) {
    asio::co_spawn(
        ioc,
        [&, i]() -> awaitable<void> {
          Conn& c = *conns[i];
          co_await Sleep(ioc, poll * i / n);  // spread the v2 polls
          while (!done) {
            auto r = co_await c.Send(bhttp::verb::post, "/task", "", workers[i].auth, WaitHeader(long_poll));
            if (r.status == 200) {
              if (waiting) {
                pickups.push_back(MsSince(submitted));
                waiting = false;
              }
              const std::string task_id = TaskIdOf(r.body);
              co_await c.Send(bhttp::verb::post, "/tasks/" + task_id + "/update", CompletedBody("done"),
                              workers[i].auth);
              continue;
            }
            if (!long_poll || r.status != 204) co_await Sleep(ioc, poll);
          }
        },
        kRethrow);
  }
  asio::co_spawn(
      ioc,
      [&]() -> awaitable<void> {
        // Every worker has polled once and is idle.
        co_await Sleep(ioc, std::chrono::milliseconds(static_cast<int64_t>(o.warmup_s * 1000)));
        for (int k = 0; k < o.repeat; ++k) {
          waiting = true;
          submitted = SteadyClock::now();
          auto r = co_await submitter.Send(bhttp::verb::post, "/api/jobs", one_task_job);
          if (r.status != 201) Die("job submission answered " + std::to_string(r.status));
          while (waiting) co_await Sleep(ioc, 1ms);
          // Let the farm go idle again at a random phase of the poll cycle.
          co_await Sleep(ioc, std::chrono::milliseconds(200 + (k * 1237) % static_cast<int>(o.poll_s * 1000)));
        }
        done = true;
      },
      kRethrow);
  ioc.run();
  json j = {{"scenario", "pickup"},
            {"workers", n},
            {"long_poll", long_poll},
            {"repeat", o.repeat},
            {"median_ms", Latencies::Round(Median(pickups))},
            {"max_ms", Latencies::Round(pickups.empty() ? 0 : *std::max_element(pickups.begin(), pickups.end()))}};
  if (!o.keep) std::filesystem::remove_all(dir);
  return j;
}

// Tasks in the Manager's task cache: the sum of /metrics' duende_tasks.
int64_t CachedTasks(const std::string& metrics) {
  int64_t n = 0;
  std::istringstream in(metrics);
  for (std::string line; std::getline(in, line);)
    if (line.starts_with("duende_tasks{")) n += std::stoll(line.substr(line.rfind(' ') + 1));
  return n;
}

json BigJob(const Options& o) {
  const int m = o.tasks > 0 ? o.tasks : 100000;
  const std::string dir = TempDir();
  Manager mgr(dir, o.config);
  asio::io_context ioc;
  std::vector<std::unique_ptr<Conn>> conns;
  auto workers = RegisterMany(ioc, mgr.port(), 1, conns);
  double submit_ms = 0, first_task_ms = 0, copied_ms = 0;
  const auto t0 = SteadyClock::now();
  SubmitJobBlocking(ioc, mgr.port(), m, &submit_ms);
  // Queued = schedulable in the farm: a worker gets one of its tasks.
  asio::co_spawn(
      ioc,
      [&]() -> awaitable<void> {
        for (;;) {
          auto r = co_await conns[0]->Send(bhttp::verb::post, "/task", "", workers[0].auth);
          if (r.status == 200) break;
          co_await Sleep(ioc, 5ms);
        }
        first_task_ms = MsSince(t0);
        // Then until every task is in the farm's cache (a chunked download
        // goes on after the first tasks are schedulable), so the database
        // size is that of the whole job.
        for (;;) {
          auto r = co_await conns[0]->Send(bhttp::verb::get, "/metrics");
          if (r.status != 200) Die("/metrics answered " + std::to_string(r.status));
          if (CachedTasks(r.body) >= m) break;
          co_await Sleep(ioc, 20ms);
        }
        copied_ms = MsSince(t0);
      },
      kRethrow);
  ioc.run();
  const uint64_t db = FileSize(dir + "/duende.sqlite") + FileSize(dir + "/duende.sqlite-wal");
  json j = {{"scenario", "bigjob"},
            {"tasks", m},
            {"submit_ms", Latencies::Round(submit_ms)},
            {"queued_ms", Latencies::Round(first_task_ms)},
            {"copied_ms", Latencies::Round(copied_ms)},
            {"db_mib", Latencies::Round(static_cast<double>(db) / (1024.0 * 1024.0))},
            {"manager_peak_rss_mib", Latencies::Round(PeakRssMiB(mgr.pid()))}};
  if (!o.keep) std::filesystem::remove_all(dir);
  return j;
}

json RealFarm(const Options& o) {
  const int k = o.workers > 0 ? o.workers : 100;
  const int m = o.tasks > 0 ? o.tasks : 2000;
  const std::string dir = TempDir();
  Manager mgr(dir, o.config);
  asio::io_context ioc;
  std::vector<pid_t> pids;
  for (int i = 0; i < k; ++i) {
    const std::string wdir = dir + "/worker-" + std::to_string(i);
    std::filesystem::create_directories(wdir);
    std::vector<std::string> argv = {
        SelfDir() + "/duende-worker", "--manager",    mgr.url(), "--data-dir",  wdir,  "--nickname",
        "real-" + std::to_string(i),  "--task-types", "sleep",   "--log-level", "warn"};
    if (!o.long_poll) {
      argv.push_back("--poll-interval");
      argv.push_back("100ms");
    }
    pids.push_back(Spawn(argv, wdir + "/worker.log"));
  }
  // Wait until every worker signed on and asked for work once.
  Conn api(ioc, mgr.port());
  int awake = 0;
  asio::co_spawn(
      ioc,
      [&]() -> awaitable<void> {
        for (int i = 0; i < 600; ++i) {
          auto r = co_await api.Send(bhttp::verb::get, "/api/workers");
          awake = 0;
          auto j = json::parse(r.body, nullptr, false);
          const json& list = j.is_object() && j.contains("workers") ? j["workers"] : j;
          if (list.is_array())
            for (const auto& w : list)
              if (w.value("status", "") == "awake") ++awake;
          if (awake >= k) break;
          co_await Sleep(ioc, 100ms);
        }
      },
      kRethrow);
  ioc.run();
  ioc.restart();
  if (awake < k) Die("only " + std::to_string(awake) + " of " + std::to_string(k) + " workers came up");
  double workers_cpu0 = 0;
  for (pid_t p : pids) workers_cpu0 += CpuSeconds(p);
  const double cpu0 = CpuSeconds(mgr.pid());
  const auto t0 = SteadyClock::now();
  const std::string job = SubmitJobBlocking(ioc, mgr.port(), m);
  asio::co_spawn(
      ioc,
      [&]() -> awaitable<void> {
        for (;;) {
          auto r = co_await api.Send(bhttp::verb::get, "/api/jobs/" + job);
          auto j = json::parse(r.body, nullptr, false);
          if (j.is_object() && j.value("status", "") == "completed") break;
          if (j.is_object() && j.value("status", "") == "failed") Die("job failed");
          co_await Sleep(ioc, 20ms);
        }
      },
      kRethrow);
  ioc.run();
  const double s = std::chrono::duration<double>(SteadyClock::now() - t0).count();
  const double cpu = CpuSeconds(mgr.pid()) - cpu0;
  double workers_cpu = -workers_cpu0;
  for (pid_t p : pids) workers_cpu += CpuSeconds(p);
  for (pid_t p : pids) kill(p, SIGTERM);
  for (pid_t p : pids) waitpid(p, nullptr, 0);
  json j = {{"scenario", "realfarm"},
            {"workers", k},
            {"tasks", m},
            {"long_poll", o.long_poll},
            {"tasks_per_s", std::round(m / s)},
            {"elapsed_s", Latencies::Round(s)},
            {"manager_cpu_cores", Latencies::Round(cpu / s)},
            {"workers_cpu_cores", Latencies::Round(workers_cpu / s)},
            {"manager_peak_rss_mib", Latencies::Round(PeakRssMiB(mgr.pid()))}};
  if (!o.keep) std::filesystem::remove_all(dir);
  return j;
}

int Usage() {
  std::cerr << "usage: duende-bench SCENARIO [--workers N] [--tasks M] [--repeat R] [--seconds S]\n"
               "                    [--warmup S] [--poll-interval S] [--task-ms MS]\n"
               "                    [--no-long-poll] [--config-yaml TEXT] [--keep]\n"
               "scenarios: throughput, idle, pickup, bigjob, realfarm\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);
  if (argc < 2) return Usage();
  Options o;
  o.scenario = argv[1];
  if (o.scenario == "--help" || o.scenario == "-h") return Usage();
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) Die(a + " needs a value");
      return argv[++i];
    };
    if (a == "--workers")
      o.workers = std::stoi(value());
    else if (a == "--tasks")
      o.tasks = std::stoi(value());
    else if (a == "--repeat")
      o.repeat = std::stoi(value());
    else if (a == "--seconds")
      o.seconds = std::stod(value());
    else if (a == "--warmup")
      o.warmup_s = std::stod(value());
    else if (a == "--poll-interval")
      o.poll_s = std::stod(value());
    else if (a == "--task-ms")
      o.task_ms = std::stod(value());
    else if (a == "--config-yaml")
      o.config = value();
    else if (a == "--no-long-poll")
      o.long_poll = false;
    else if (a == "--keep")
      o.keep = true;
    else
      return Usage();
  }
  if (o.task_ms < 0) Die("--task-ms must be 0 or more");
  try {
    if (o.scenario == "throughput")
      Print(Throughput(o));
    else if (o.scenario == "idle")
      Print(Idle(o));
    else if (o.scenario == "pickup") {
      if (o.long_poll) Print(Pickup(o, true));
      Print(Pickup(o, false));
    } else if (o.scenario == "bigjob")
      Print(BigJob(o));
    else if (o.scenario == "realfarm")
      Print(RealFarm(o));
    else
      return Usage();
  } catch (const std::exception& e) {
    Die(e.what());
  }
  return 0;
}
