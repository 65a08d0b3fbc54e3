// What duende-server answers a linked Manager (spec §2.6), read by the
// Manager's HttpUpstream: the depsgraph, the task-update-batch answer, a
// re-fetched task and error messages. A fake HTTP client returns the fuzzed
// body; the first byte picks the request ('0'..'3').
#include <nlohmann/json.hpp>

#include "fuzz_util.h"
#include "manager/http_upstream.h"

namespace {

using namespace duende;

class CannedClient final : public http::Client {
 public:
  http::ClientResponse response;
  Result<http::ClientResponse> Send(const http::ClientRequest&) override { return response; }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::Reader in(fuzz::AsText(data, size));
  const unsigned kind = in.Kind(4);
  CannedClient client;
  client.response.status = 200;
  client.response.body = std::string(in.Rest());
  manager::HttpUpstream upstream(client, {"http://server", "0123456789abcdef01234567", "token"});
  switch (kind) {
    case 0: {
      auto graph = upstream.FetchDepsgraph("");
      if (!graph) {
        FUZZ_CHECK(!graph.error().message.empty());
        return 0;
      }
      // The Manager stores the tasks it received as JSON text.
      for (const auto& t : graph->tasks) (void)protocol::ToJson(t).dump();
      break;
    }
    case 1: {
      auto resp = upstream.PushTaskUpdates({});
      if (!resp) FUZZ_CHECK(!resp.error().message.empty());
      break;
    }
    case 2: {
      auto check = upstream.RefetchTask("0123456789abcdef01234567", "etag");
      if (check.kind == protocol::TaskCheck::Kind::kChanged) (void)protocol::ToJson(check.task).dump();
      break;
    }
    default: {
      client.response.status = 400;  // a refusal: its {"message"} is quoted
      auto st = upstream.Notify({});
      FUZZ_CHECK(!st && st.error().code == ErrorCode::kInvalidArgument);
      break;
    }
  }
  return 0;
}
