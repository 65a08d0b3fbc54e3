#include "http/http.h"

#include <nlohmann/json.hpp>

namespace duende::http {
namespace {

bool IEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  return true;
}

std::vector<std::string_view> SplitPath(std::string_view path) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < path.size()) {
    if (path[i] == '/') {
      ++i;
      continue;
    }
    const size_t j = path.find('/', i);
    const size_t end = j == std::string_view::npos ? path.size() : j;
    out.push_back(path.substr(i, end - i));
    i = end;
  }
  return out;
}

}  // namespace

void Request::SetTarget(std::string_view target) {
  const size_t q = target.find('?');
  path = PercentDecode(target.substr(0, q));
  query = q == std::string_view::npos ? std::string() : std::string(target.substr(q + 1));
}

std::string_view Request::Header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (IEquals(k, name)) return v;
  return {};
}

std::optional<std::string> Request::Query(std::string_view name) const {
  std::string_view q = query;
  while (!q.empty()) {
    const size_t amp = q.find('&');
    std::string_view part = q.substr(0, amp);
    const size_t eq = part.find('=');
    std::string key = PercentDecode(part.substr(0, eq), true);
    if (key == name) return eq == std::string_view::npos ? std::string() : PercentDecode(part.substr(eq + 1), true);
    if (amp == std::string_view::npos) break;
    q.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

std::string_view ClientResponse::Header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (IEquals(k, name)) return v;
  return {};
}

Response Response::Json(int status, const nlohmann::json& body) {
  return Response{status, "application/json", body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), {}};
}

Response Response::Text(int status, std::string body) {
  return Response{status, "text/plain; charset=utf-8", std::move(body), {}};
}

Response Response::Message(int status, std::string_view message) {
  return Json(status, nlohmann::json{{"message", message}});
}

int StatusForError(ErrorCode code) {
  switch (code) {
    case ErrorCode::kNotFound:
      return 404;
    case ErrorCode::kConflict:
      return 409;
    case ErrorCode::kInvalidArgument:
      return 400;
    case ErrorCode::kUnauthorized:
      return 401;
    case ErrorCode::kForbidden:
      return 403;
    case ErrorCode::kTooManyRequests:
      return 429;
    case ErrorCode::kBusy:
      return 503;
    case ErrorCode::kUnavailable:
      return 503;
    case ErrorCode::kInternal:
      return 500;
  }
  return 500;
}

Response Response::FromError(const Error& error) {
  Response r = Message(StatusForError(error.code), error.message);
  if (error.code == ErrorCode::kUnauthorized) r.headers.emplace_back("WWW-Authenticate", "Basic realm=\"Duende\"");
  if (error.code == ErrorCode::kBusy || error.code == ErrorCode::kUnavailable)
    r.headers.emplace_back("Retry-After", "1");
  return r;
}

void Router::Add(std::string_view method, std::string_view pattern, Handler handler) {
  Route r;
  r.method = std::string(method);
  for (auto seg : SplitPath(pattern)) r.segments.emplace_back(seg.starts_with('{') ? "{}" : std::string(seg));
  r.handler = std::move(handler);
  r.pattern = std::string(pattern);
  routes_.push_back(std::move(r));
}

std::vector<std::pair<std::string, std::string>> Router::Routes() const {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& r : routes_) out.emplace_back(r.method, r.pattern);
  return out;
}

Response Router::Dispatch(Request& request) const {
  const auto segs = SplitPath(request.path);
  bool path_matched = false;
  for (const auto& route : routes_) {
    if (route.segments.size() != segs.size()) continue;
    bool ok = true;
    for (size_t i = 0; i < segs.size() && ok; ++i)
      if (route.segments[i] != "{}" && route.segments[i] != segs[i]) ok = false;
    if (!ok) continue;
    path_matched = true;
    if (route.method != request.method && !(route.method == "GET" && request.method == "HEAD")) continue;
    request.params.clear();
    request.route = route.pattern;
    for (size_t i = 0; i < segs.size(); ++i)
      if (route.segments[i] == "{}") request.params.emplace_back(segs[i]);
    if (guard_) {
      if (auto refused = guard_(request)) return std::move(*refused);
    }
    return route.handler(request);
  }
  if (path_matched) return Response::Message(405, "method " + request.method + " not allowed on " + request.path);
  return Response::Message(404, "no such endpoint: " + request.path);
}

Result<std::pair<std::string, uint16_t>> ParseListen(std::string_view listen) {
  const size_t colon = listen.rfind(':');
  if (colon == std::string_view::npos)
    return InvalidArgument("invalid listen address '" + std::string(listen) + "' (expected HOST:PORT)");
  std::string host(listen.substr(0, colon));
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host.empty()) host = "0.0.0.0";
  const std::string port_s(listen.substr(colon + 1));
  if (port_s.empty() || port_s.size() > 5 || port_s.find_first_not_of("0123456789") != std::string::npos)
    return InvalidArgument("invalid port in listen address '" + std::string(listen) + "'");
  const int port = std::stoi(port_s);
  if (port > 65535) return InvalidArgument("invalid port in listen address '" + std::string(listen) + "'");
  return std::pair{host, static_cast<uint16_t>(port)};
}

std::string PercentDecode(std::string_view s, bool plus_as_space) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      const int hi = hex(s[i + 1]), lo = hex(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(plus_as_space && s[i] == '+' ? ' ' : s[i]);
  }
  return out;
}

std::string PercentEncode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

}  // namespace duende::http
