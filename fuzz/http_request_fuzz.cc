// Raw HTTP requests as the server reads them: Boost.Beast parses the bytes
// (with the server's limits), then Duende's own part takes over: the target
// split into a percent-decoded path and query (Request::SetTarget), query
// parameters (Request::Query), headers and the Router's path matching with
// the Manager's route shapes.
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include "fuzz_util.h"
#include "http/http.h"

namespace {

using namespace duende;
namespace bhttp = boost::beast::http;

const http::Router& Routes() {
  static const http::Router* router = [] {
    auto* r = new http::Router();
    auto echo = [](http::Request& req) {
      // The route's parameters are the path's own segments.
      for (const auto& p : req.params) FUZZ_CHECK(!p.empty() && p.find('/') == std::string::npos);
      return http::Response::NoContent();
    };
    for (const char* pattern :
         {"/register-worker", "/sign-on", "/task", "/tasks/{id}/update", "/tasks/{id}/return", "/may-i-run/{id}",
          "/ack-status-change/{status}", "/logfile/{job}/{task}", "/api/jobs", "/api/jobs/{id}", "/api/jobs/{id}/tasks",
          "/api/tasks/{id}/log", "/api/tasks/{id}/log/follow", "/api/workers/{id}/sleep-schedule",
          "/api/flamenco/managers/{id}/attach-task-log/{task}", "/assets/{file}", "/"}) {
      r->Add("GET", pattern, echo);
      r->Add("POST", pattern, echo);
    }
    return r;
  }();
  return *router;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  bhttp::request_parser<bhttp::string_body> parser;
  parser.eager(true);
  parser.header_limit(64 * 1024);
  parser.body_limit(1024 * 1024);
  boost::beast::error_code ec;
  parser.put(boost::asio::buffer(data, size), ec);
  if (ec || !parser.is_header_done()) return 0;
  auto& msg = parser.get();

  http::Request req;
  req.method = std::string(msg.method_string());
  req.SetTarget(msg.target());
  FUZZ_CHECK(req.path.size() <= msg.target().size());
  for (const auto& field : msg) req.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  req.body = msg.body();
  for (const char* name : {"offset", "length", "limit", "status", "wait", "worker", "job"}) {
    if (auto v = req.Query(name)) FUZZ_CHECK(v->size() <= req.query.size());
  }
  (void)req.Header("authorization");
  const http::Response resp = Routes().Dispatch(req);
  FUZZ_CHECK(resp.status == 204 || resp.status == 404 || resp.status == 405);
  return 0;
}
