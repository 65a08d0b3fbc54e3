#include "manager/log_api.h"

#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "common/file_io.h"
#include "common/ids.h"
#include "common/timefmt.h"
#include "protocol/status.h"

namespace duende::manager {

using http::Request;
using http::Response;

namespace {

constexpr uint64_t kDefaultRangeBytes = 1024 * 1024;
// Compressed ranges are decompressed into memory: keep them bounded.
constexpr uint64_t kMaxCompressedRangeBytes = 16 * 1024 * 1024;

bool IsContinuation(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

// Byte index in `window` (which starts at file offset `window_start`,
// window_start > 0) where the first full line begins. `window[0]` is the
// byte before the part we want, so a line starting right at the boundary
// is recognised.
size_t FirstFullLine(std::string_view window) {
  if (window.empty()) return 0;
  if (window[0] == '\n') return 1;
  const size_t nl = window.find('\n');
  if (nl != std::string_view::npos && nl + 1 < window.size()) return nl + 1;
  // One line longer than the whole tail: start at a character boundary.
  size_t i = 1;
  while (i < window.size() && IsContinuation(window[i])) ++i;
  return i;
}

bool WantsWholeFile(std::string_view user_agent) {
  return user_agent.starts_with("curl/") || user_agent.starts_with("Wget/");
}

// Event text for whole lines `text` that start at file offset `offset`.
// The id of each event is the offset just past its line, so a client can
// resume with ?offset=<last id>.
std::string SseLines(std::string_view text, uint64_t offset) {
  std::string out;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    const size_t len = nl == std::string_view::npos ? text.size() : nl + 1;
    std::string_view line = text.substr(0, nl == std::string_view::npos ? text.size() : nl);
    offset += len;
    out += "id: " + std::to_string(offset) + "\ndata: ";
    for (char c : line)
      if (c != '\r') out.push_back(c);
    out += "\n\n";
    text.remove_prefix(len);
  }
  return out;
}

std::string SseEvent(std::string_view event, const nlohmann::json& data) {
  return "event: " + std::string(event) + "\ndata: " + data.dump() + "\n\n";
}

std::optional<int64_t> ParseInt(const std::optional<std::string>& s, bool* bad) {
  if (!s) return std::nullopt;
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s->data(), s->data() + s->size(), v);
  if (ec != std::errc() || p != s->data() + s->size() || s->empty()) {
    *bad = true;
    return std::nullopt;
  }
  return v;
}

Response NoLog(const std::string& task_id) { return Response::Message(404, "task " + task_id + " has no log file"); }

}  // namespace

Result<LogRangeRequest> ParseLogRange(const std::optional<std::string>& offset_text,
                                      const std::optional<std::string>& length_text) {
  bool bad = false;
  LogRangeRequest req{ParseInt(offset_text, &bad), ParseInt(length_text, &bad)};
  if (bad || (req.length && *req.length < 0))
    return InvalidArgument("offset and length must be integers (length >= 0)");
  return req;
}

Result<std::optional<int64_t>> ParseFollowOffset(const std::optional<std::string>& offset_text,
                                                 std::string_view last_event_id) {
  bool bad = false;
  auto offset = ParseInt(offset_text, &bad);
  if (!offset && !last_event_id.empty()) offset = ParseInt(std::string(last_event_id), &bad);
  if (bad) return InvalidArgument("offset must be an integer");
  return offset;
}

uint64_t LogRangeStart(std::optional<int64_t> offset, uint64_t size) {
  if (offset && *offset < 0) {
    // Negated as unsigned: -INT64_MIN does not fit an int64_t.
    const uint64_t back = uint64_t{0} - static_cast<uint64_t>(*offset);
    return back >= size ? 0 : size - back;
  }
  if (offset) return std::min<uint64_t>(static_cast<uint64_t>(*offset), size);
  return 0;
}

Result<std::string> HeadAndTail(int fd, uint64_t size, const LogServingOptions& options,
                                std::string_view whole_file_url) {
  return HeadAndTail([fd](uint64_t at, uint64_t n) { return ReadAt(fd, at, n); }, size, options, whole_file_url);
}

Result<std::string> HeadAndTail(const LogReader& read, uint64_t size, const LogServingOptions& o,
                                std::string_view whole_file_url) {
  // A few bytes past the head show whether the cut splits a character.
  auto head = read(0, std::min(size, o.head_bytes + 4));
  if (!head) return std::unexpected(head.error());
  size_t cut = static_cast<size_t>(std::min<uint64_t>(o.head_bytes, head->size()));
  while (cut > 0 && cut < head->size() && IsContinuation((*head)[cut])) --cut;
  head->resize(cut);

  const uint64_t tail_window_start = size - o.tail_bytes - 1;  // size > head + tail >= tail + 1
  auto window = read(tail_window_start, o.tail_bytes + 1);
  if (!window) return std::unexpected(window.error());
  const size_t skip = FirstFullLine(*window);
  const std::string_view tail = std::string_view(*window).substr(skip);
  const uint64_t skipped = size - head->size() - tail.size();

  std::string out;
  out.reserve(head->size() + tail.size() + 512);
  out += *head;
  if (!out.empty() && out.back() != '\n') out += '\n';
  out += "\n";
  out += "================================================================================\n";
  out += "  " + HumanBytes(skipped) + " skipped: showing the first " + HumanBytes(head->size()) + " and the last " +
         HumanBytes(tail.size()) + " of " + HumanBytes(size) + ".\n";
  out += "  curl and wget get the whole file: curl " + std::string(whole_file_url) + "\n";
  out += "================================================================================\n";
  out += "\n";
  out += tail;
  return out;
}

Response ServeLogFile(TaskLogs& logs, const std::string& job_id, const std::string& task_id,
                      std::string_view user_agent, std::string_view host, const LogServingOptions& options) {
  // A log file compressed between Locate and the open is located again.
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto src = logs.Locate(job_id, task_id);
    if (!src) return Response::FromError(src.error());
    Response r;
    r.content_type = "text/plain; charset=utf-8";
    const std::string url =
        "http://" + std::string(host.empty() ? "MANAGER" : host) + "/logfile/" + job_id + "/" + task_id;
    switch (src->kind) {
      case LogSource::Kind::kNone:
        return NoLog(task_id);
      case LogSource::Kind::kPacked:
      case LogSource::Kind::kFile: {
        // A run in its own file is sent from it; a packed one from its text.
        std::shared_ptr<http::FileSlice> plain;
        if (src->kind == LogSource::Kind::kFile) {
          auto opened = http::FileSlice::Open(src->path);
          if (!opened && opened.error().code == ErrorCode::kNotFound) continue;
          if (!opened) return Response::FromError(opened.error());
          plain = std::move(*opened);
        }
        const uint64_t size = plain ? plain->length() : src->text.size();
        if (WantsWholeFile(user_agent) || size <= options.head_bytes + options.tail_bytes) {
          if (plain) {
            r.file = std::move(plain);
          } else {
            r.body = std::move(src->text);
          }
          return r;
        }
        const std::string& text = src->text;
        auto body = HeadAndTail(
            [&](uint64_t at, uint64_t n) -> Result<std::string> {
              if (plain) return ReadAt(plain->fd(), at, n);
              return text.substr(static_cast<size_t>(std::min<uint64_t>(at, text.size())), static_cast<size_t>(n));
            },
            size, options, url);
        if (!body) return Response::FromError(body.error());
        r.body = std::move(*body);
        return r;
      }
      case LogSource::Kind::kCompressed: {
        auto gz = http::FileSlice::Open(src->path);
        if (!gz && gz.error().code == ErrorCode::kNotFound) continue;
        if (!gz) return Response::FromError(gz.error());
        // The browser saves it instead of inflating it all into one page.
        r.headers.emplace_back("Content-Encoding", "gzip");
        r.headers.emplace_back("Content-Disposition", "attachment; filename=\"task-" + task_id + ".txt.gz\"");
        r.file = std::move(*gz);
        return r;
      }
    }
  }
  return NoLog(task_id);
}

Result<TaskLogRef> FarmTaskLogLookup::FindTaskLog(const std::string& task_id) {
  return store_.Read([&](FarmTx& tx) -> Result<TaskLogRef> {
    auto t = tx.GetTask(task_id);
    if (!t) return NotFound("task " + task_id + " does not exist");
    TaskLogRef ref;
    ref.job = t->job;
    ref.status = std::string(protocol::ToString(t->status));
    ref.ended = protocol::IsFinal(t->status);
    return ref;
  });
}

// --- following ----------------------------------------------------------------

struct LogFollowers::Follower {
  std::string task_id;
  std::shared_ptr<http::Stream> stream;
  uint64_t subscription = 0;
  std::mutex mu;
  bool backlog_sent = false;
  std::string held;  // live events that arrived while the backlog was read
};

LogFollowers::~LogFollowers() { CloseAll(); }

Response LogFollowers::Follow(const std::string& task_id, const TaskLogRef& ref, std::optional<int64_t> offset) {
  auto f = std::make_shared<Follower>();
  f->task_id = task_id;
  f->stream = std::make_shared<http::Stream>();
  uint64_t size = 0;
  if (!ref.ended) {
    auto sub = logs_.Subscribe(ref.job, task_id, [f](const LogEvent& e) {
      std::string text = e.kind == LogEvent::Kind::kRotated ? SseEvent("rotated", nlohmann::json::object())
                                                            : SseLines(e.text, e.offset);
      std::lock_guard lock(f->mu);
      if (!f->backlog_sent) {
        f->held += text;
        return;
      }
      f->stream->Write(text);  // false when closed: Sweep() unsubscribes
    });
    f->subscription = sub.id;
    size = sub.size;
  }

  // The backlog: what the file held when the subscription started.
  std::string backlog;
  auto range = logs_.ReadRange(ref.job, task_id, 0, 0);
  if (range && !range->compressed) size = ref.ended ? range->total : size;
  uint64_t start;
  if (!offset) {
    start = size > options_.tail_bytes ? size - options_.tail_bytes : 0;
  } else if (*offset < 0) {
    start = LogRangeStart(offset, size);
  } else {
    start = static_cast<uint64_t>(*offset);
  }
  const bool compressed = range && range->compressed;
  if (!compressed) start = std::min(start, size);
  const uint64_t want_end = compressed ? start + kMaxBacklogBytes : size;
  if (want_end - start > kMaxBacklogBytes) {
    backlog += SseEvent("skipped", {{"bytes", want_end - kMaxBacklogBytes - start}});
    start = want_end - kMaxBacklogBytes;
  }
  const bool align = !offset || backlog.size() > 0;  // we chose the start: begin at a full line
  if (start < want_end) {
    const uint64_t from = align && start > 0 ? start - 1 : start;
    auto text = logs_.ReadRange(ref.job, task_id, from, want_end - from);
    if (text) {
      std::string_view t = text->text;
      uint64_t at = text->offset;
      if (align && start > 0 && !t.empty()) {
        const size_t skip = FirstFullLine(t);
        t.remove_prefix(skip);
        at += skip;
      }
      backlog += SseLines(t, at);
    }
  }
  if (ref.ended) backlog += SseEvent("end", {{"status", ref.status}});
  f->stream->Write(": following the log of task " + task_id + "\nretry: 3000\n\n");
  f->stream->Write(backlog);
  if (ref.ended) {
    f->stream->Close();
  } else {
    {
      std::lock_guard lock(f->mu);
      f->backlog_sent = true;
      if (!f->held.empty()) f->stream->Write(f->held);
      f->held.clear();
    }
    std::lock_guard lock(mu_);
    followers_.push_back(f);
  }

  Response r;
  r.content_type = "text/event-stream";
  r.headers.emplace_back("Cache-Control", "no-cache");
  r.headers.emplace_back("X-Accel-Buffering", "no");  // proxies: do not buffer the stream
  r.stream = f->stream;
  return r;
}

void LogFollowers::Sweep() {
  std::vector<std::shared_ptr<Follower>> all;
  {
    std::lock_guard lock(mu_);
    all = followers_;
  }
  std::vector<std::shared_ptr<Follower>> done;
  for (auto& f : all) {
    if (!f->stream->closed()) {
      auto ref = lookup_.FindTaskLog(f->task_id);
      if (ref && !ref->ended) continue;
      std::lock_guard lock(f->mu);
      f->stream->Write(SseEvent("end", {{"status", ref ? ref->status : std::string("unknown")}}));
      f->stream->Close();
    }
    done.push_back(f);
  }
  for (auto& f : done) logs_.Unsubscribe(f->subscription);
  std::lock_guard lock(mu_);
  std::erase_if(followers_, [&](const auto& f) { return std::find(done.begin(), done.end(), f) != done.end(); });
}

void LogFollowers::Run(std::stop_token stop) {
  while (clock_.WaitFor(kSweepInterval, stop)) Sweep();
}

void LogFollowers::CloseAll() {
  std::vector<std::shared_ptr<Follower>> all;
  {
    std::lock_guard lock(mu_);
    all.swap(followers_);
  }
  for (auto& f : all) {
    f->stream->Close();
    logs_.Unsubscribe(f->subscription);
  }
}

size_t LogFollowers::size() const {
  std::lock_guard lock(mu_);
  return followers_.size();
}

// --- routes ---------------------------------------------------------------------

void RegisterLogApi(http::Router& router, TaskLogs& logs, TaskLogLookup& lookup, LogFollowers& followers,
                    LogServingOptions options) {
  router.Add("GET", "/logfile/{job}/{task}", [&logs, options](Request& r) -> Response {
    // IDs are 24 hex characters: this also rejects "..", encoded slashes and
    // anything else that could leave the log directory.
    if (!IsObjectId(r.params[0])) return Response::Message(400, "invalid job ID '" + r.params[0] + "'");
    if (!IsObjectId(r.params[1])) return Response::Message(400, "invalid task ID '" + r.params[1] + "'");
    return ServeLogFile(logs, r.params[0], r.params[1], r.Header("user-agent"), r.Header("host"), options);
  });

  router.Add("GET", "/api/tasks/{id}/log", [&logs, &lookup](Request& r) -> Response {
    const std::string& id = r.params[0];
    if (!IsObjectId(id)) return Response::Message(400, "invalid task ID '" + id + "'");
    const auto request = ParseLogRange(r.Query("offset"), r.Query("length"));
    if (!request) return Response::FromError(request.error());
    const auto [offset, length] = *request;
    bool bad = false;
    const int64_t earlier_runs = ParseInt(r.Query("earlier"), &bad).value_or(0);
    if (bad || earlier_runs < 0 || earlier_runs > 1'000'000)
      return Response::Message(400, "earlier must be a number of runs back (0 to 1000000)");
    auto ref = lookup.FindTaskLog(id);
    if (!ref) return Response::FromError(ref.error());
    const uint64_t len = length ? static_cast<uint64_t>(*length) : kDefaultRangeBytes;
    Response resp;
    resp.content_type = "text/plain; charset=utf-8";
    Result<LogSource> src = LogSource{};
    if (earlier_runs > 0) {
      // An earlier run of the task: read whole, served like a packed log.
      auto text = logs.Text(ref->job, id, static_cast<unsigned>(earlier_runs));
      if (!text) return Response::FromError(text.error());
      src->kind = LogSource::Kind::kPacked;
      src->size = text->size();
      src->text = std::move(*text);
    } else {
      src = logs.Locate(ref->job, id);
      if (!src) return Response::FromError(src.error());
    }
    const uint64_t size = src->size;
    const uint64_t start = LogRangeStart(offset, size);
    const uint64_t n = std::min(len, size - start);
    if (src->kind == LogSource::Kind::kFile) {
      auto slice = http::FileSlice::Open(src->path, start, n);
      // Gone meanwhile (compressed): read below, from the .gz.
      if (!slice && slice.error().code != ErrorCode::kNotFound) return Response::FromError(slice.error());
      if (slice) resp.file = std::move(*slice);
    } else if (src->kind == LogSource::Kind::kPacked) {
      resp.body = src->text.substr(static_cast<size_t>(start), static_cast<size_t>(n));
    }
    if (resp.file || src->kind == LogSource::Kind::kPacked) {
      resp.headers.emplace_back("X-Log-Size", std::to_string(size));
      resp.headers.emplace_back("X-Log-Offset", std::to_string(start));
      resp.headers.emplace_back("X-Log-Next-Offset", std::to_string(start + n));
      resp.headers.emplace_back("X-Log-Compressed", "false");
      return resp;
    }
    if (offset && *offset < 0)
      return Response::Message(400, "the log is compressed: offsets from the end are not supported");
    auto range = logs.ReadRange(ref->job, id, offset ? static_cast<uint64_t>(*offset) : 0,
                                std::min(len, kMaxCompressedRangeBytes));
    if (!range) {
      if (range.error().code == ErrorCode::kNotFound) return NoLog(id);
      return Response::FromError(range.error());
    }
    resp.headers.emplace_back("X-Log-Offset", std::to_string(range->offset));
    resp.headers.emplace_back("X-Log-Next-Offset", std::to_string(range->offset + range->text.size()));
    resp.headers.emplace_back("X-Log-Compressed", "true");
    resp.body = std::move(range->text);
    return resp;
  });

  router.Add("GET", "/api/tasks/{id}/log/follow", [&lookup, &followers](Request& r) -> Response {
    const std::string& id = r.params[0];
    if (!IsObjectId(id)) return Response::Message(400, "invalid task ID '" + id + "'");
    auto offset = ParseFollowOffset(r.Query("offset"), r.Header("last-event-id"));
    if (!offset) return Response::FromError(offset.error());
    auto ref = lookup.FindTaskLog(id);
    if (!ref) return Response::FromError(ref.error());
    return followers.Follow(id, *ref, *offset);
  });
}

}  // namespace duende::manager
