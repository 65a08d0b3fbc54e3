#include "cli/log_command.h"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/manager_api.h"

namespace duende::cli {
namespace {

// Each request asks for at most this much, so a huge log never sits whole
// in the CLI's memory.
constexpr uint64_t kChunkBytes = 8 * 1024 * 1024;

std::string TrimUrl(std::string url) {
  while (!url.empty() && url.back() == '/') url.pop_back();
  return url;
}

int Fail(std::ostream& err, int code, const std::string& message) {
  err << "duende: error: " << OneLine(message) << '\n';
  return code;
}

std::string ServerMessage(const http::ClientResponse& r) {
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  std::string msg =
      j.is_object() && j.contains("message") && j["message"].is_string() ? j["message"].get<std::string>() : r.body;
  return msg + " (HTTP " + std::to_string(r.status) + ")";
}

// Turns a Server-Sent Events byte stream into callbacks per event.
class SseParser {
 public:
  // Returns false to stop.
  using OnEvent = std::function<bool(const std::string& event, const std::string& data)>;
  explicit SseParser(OnEvent on_event) : on_event_(std::move(on_event)) {}

  bool Feed(std::string_view bytes) {
    buf_.append(bytes);
    size_t nl;
    while ((nl = buf_.find('\n')) != std::string::npos) {
      std::string line = buf_.substr(0, nl);
      buf_.erase(0, nl + 1);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.empty()) {
        if (has_data_ && !on_event_(event_.empty() ? "message" : event_, data_)) return false;
        event_.clear();
        data_.clear();
        has_data_ = false;
      } else if (line.starts_with("data:")) {
        std::string_view v = std::string_view(line).substr(5);
        if (v.starts_with(' ')) v.remove_prefix(1);
        if (has_data_) data_ += '\n';
        data_ += v;
        has_data_ = true;
      } else if (line.starts_with("event:")) {
        std::string_view v = std::string_view(line).substr(6);
        if (v.starts_with(' ')) v.remove_prefix(1);
        event_ = v;
      }
    }
    return true;
  }

 private:
  OnEvent on_event_;
  std::string buf_, event_, data_;
  bool has_data_ = false;
};

}  // namespace

LogCommand::LogCommand(CLI::App& app) {
  sub_ = app.add_subcommand("log", "Print a task's log (--follow: keep printing new lines until the task ends)");
  sub_->add_option("task_id", task_id_, "Task ID")->required();
  auto* follow = sub_->add_flag("-f,--follow", follow_, "Print new lines as the task writes them, until it ends");
  sub_->add_option("--earlier", earlier_,
                   "Print the log of an earlier run of the task instead: 1 is the run before the current one")
      ->check(CLI::Range(0, 1'000'000))
      ->excludes(follow);
}

bool LogCommand::parsed() const { return sub_->parsed(); }

int LogCommand::Run(http::Client& client, const std::string& manager_url, const CliOptions& options, std::ostream& out,
                    std::ostream& err) const {
  const std::string base = TrimUrl(manager_url) + "/api/tasks/" + http::PercentEncode(task_id_) + "/log";
  if (!follow_) {
    uint64_t offset = 0;
    for (;;) {
      http::ClientRequest req;
      req.url = base + "?offset=" + std::to_string(offset) + "&length=" + std::to_string(kChunkBytes);
      if (earlier_ > 0) req.url += "&earlier=" + std::to_string(earlier_);
      req.timeout_ms = 60000;
      auto r = client.Send(req);
      if (!r) return Fail(err, kExitUnreachable, "cannot reach manager at " + manager_url + ": " + r.error().message);
      if (r->status != 200) return Fail(err, kExitFailed, ServerMessage(*r));
      out << r->body;
      const std::string next = std::string(r->Header("x-log-next-offset"));
      if (r->body.empty() || next.empty()) break;
      offset = std::stoull(next);
      const std::string size = std::string(r->Header("x-log-size"));
      if (!size.empty() && offset >= std::stoull(size)) break;
    }
    out.flush();
    return kExitOk;
  }

  int result = kExitOk;
  bool ended = false;
  SseParser parser([&](const std::string& event, const std::string& data) {
    if (event == "message") {
      out << data << '\n';
      out.flush();
    } else if (event == "end") {
      ended = true;
      auto j = nlohmann::json::parse(data, nullptr, false);
      if (j.is_object() && j.contains("status"))
        err << "duende: task ended: " << j["status"].get<std::string>() << '\n';
      return false;
    } else if (event == "skipped") {
      auto j = nlohmann::json::parse(data, nullptr, false);
      err << "duende: (" << (j.is_object() ? j.value("bytes", 0) : 0)
          << " earlier bytes not shown; run without --follow for the whole log)\n";
    } else if (event == "rotated") {
      err << "duende: (the task started again; new log)\n";
    }
    return true;
  });
  http::ClientRequest req;
  req.method = "GET";
  req.url = base + "/follow?offset=0";
  req.timeout_ms = 0;
  req.headers.emplace_back("Accept", "text/event-stream");
  if (!options.token.empty()) req.headers.emplace_back("Authorization", "Bearer " + options.token);
  req.ca_path = options.ca_path;
  auto r = http::StreamRequest(
      req, "duende-cli", [&](std::string_view d) { return parser.Feed(d); }, options.stop);
  if (!r) return Fail(err, kExitUnreachable, "cannot reach manager at " + manager_url + ": " + r.error().message);
  if (r->status != 200) return Fail(err, kExitFailed, ServerMessage(*r));
  if (!ended && options.stop.stop_requested()) result = kExitInterrupted;
  return result;
}

}  // namespace duende::cli
