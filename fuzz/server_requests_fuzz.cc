// What a Manager sends duende-server (spec §2.6): task-update-batch bodies,
// startup/update notifications, the multipart body of attach-task-log and the
// Authorization header with the Manager's token. The first byte picks which
// ('0'..'3'); the multipart case reads the Content-Type from the first line.
#include <nlohmann/json.hpp>

#include "fuzz_util.h"
#include "protocol/upstream.h"
#include "server/manager_api.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace duende;
  fuzz::Reader in(fuzz::AsText(data, size));
  switch (in.Kind(4)) {
    case 0: {
      auto updates = server::ParseTaskUpdateBatch(in.Rest());
      if (!updates) {
        FUZZ_CHECK(fuzz::IsClearError(updates.error()));
        return 0;
      }
      for (const auto& u : *updates) {
        FUZZ_CHECK(!u.id.empty() && !u.task_id.empty());
        // The job side stores what it accepted as JSON text.
        (void)protocol::ToJson(u).dump();
      }
      break;
    }
    case 1: {
      const auto j = nlohmann::json::parse(in.Rest(), nullptr, false);
      auto n = protocol::UpstreamNotificationFromJson(j);
      if (!n) {
        FUZZ_CHECK(fuzz::IsClearError(n.error()));
        return 0;
      }
      FUZZ_CHECK(n->nr_of_workers >= 0);
      (void)protocol::ToJson(*n).dump();
      break;
    }
    case 2: {
      const std::string_view content_type = in.Line();
      const std::string_view body = in.Rest();
      auto part = server::FindFormPart(content_type, body, "logfile");
      if (part) {
        FUZZ_CHECK(part->name == "logfile");
        FUZZ_CHECK(part->data.size() <= body.size());
      }
      break;
    }
    default: {
      const std::string manager_id = "0123456789abcdef01234567";
      auto token = server::ManagerToken(in.Rest(), manager_id);
      if (token) FUZZ_CHECK(token->size() <= size);
      break;
    }
  }
  return 0;
}
