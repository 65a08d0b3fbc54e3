// The Server's HTTP API for Managers (spec §2.6, Flamenco v2 shapes) and for
// administering them (Duende's own, under /api/managers). Handlers only
// translate HTTP <-> JobService / ManagerRegistry calls.
//
// Manager-facing, authenticated with the Manager's token: HTTP Basic with
// the token as user name and an empty password (v2), or user = Manager ID
// and password = token, or "Bearer <token>". Wrong or revoked: 401.
//
//   GET  /api/flamenco/managers/{id}             -> 200 {_id, name, url, ...}
//   GET  /api/flamenco/managers/{id}/depsgraph   X-Flamenco-If-Updated-Since
//        -> 200 {"depsgraph":[Task,...]} + X-Flamenco-Last-Updated (ISO-8601;
//        an opaque revision token encoded as a timestamp) and
//        X-Flamenco-Last-Updated-Format: ISO-8601; 204 nothing runnable;
//        304 nothing changed since. Queued tasks handed out become
//        claimed-by-manager; up to nr_of_workers * tasks_per_worker
//        unassigned tasks are claimed per download.
//   GET  /api/flamenco/tasks/{id}                If-None-Match: etag
//        -> 304 unchanged; 200 task JSON + ETag; 404 unknown or another
//        Manager's task
//   POST /api/flamenco/managers/{id}/task-update-batch  [TaskUpdate,...]
//        -> 200 {modified_count, handled_update_ids, cancel_task_ids,
//        upload_task_file_queue:[{job, task}]}; 400 and nothing applied when
//        any update is malformed
//   POST /api/flamenco/managers/{id}/attach-task-log/{task}  multipart part
//        "logfile", filename *.gz, gzip data -> 201 new / 200 replaced
//        {"_message":"ok"} + Location; 400 no part, not .gz, not gzip; 404
//   POST /api/flamenco/managers/{id}/startup | /update  UpstreamNotification
//        -> 204; 400 missing key
//
// Administration (no Manager token; protect the Server's /api like the
// Manager's):
//   POST /api/managers {"name"}          -> 201 {id, name, token, ...} (the
//                                           token is shown only here)
//   GET  /api/managers                   -> {"managers":[...]}
//   GET  /api/managers/{id}              -> manager JSON
//   POST /api/managers/{id}/revoke       -> 200 manager JSON (revoked: true)
//   GET  /api/tasks/{id}/uploaded-log    -> the gzipped log a Manager
//                                           uploaded (application/gzip); 404
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "protocol/types.h"

namespace duende::http {
class Router;
}
namespace duende::jobs {
class JobService;
}

namespace duende::server {

class ManagerRegistry;

struct ManagerApiOptions {
  // Unassigned tasks a Manager may claim per depsgraph download, per worker
  // it reported: small, so every site gets a share of a job, and a site with
  // idle workers simply asks again.
  int tasks_per_worker = 2;
};

// `jobs` and `registry` must outlive the router.
void RegisterManagerApi(http::Router& router, jobs::JobService& jobs, ManagerRegistry& registry,
                        ManagerApiOptions options);

// Parsers of what a Manager sends, pure functions of the text (unit-tested
// and fuzzed in fuzz/).
//
// The body of task-update-batch: a JSON array of Manager-form task updates
// (protocol::TaskUpdateFromJson). InvalidArgument naming the first bad
// update ("task update 3: ...") otherwise.
Result<std::vector<protocol::TaskUpdate>> ParseTaskUpdateBatch(std::string_view body);
// The token in an Authorization header, in the forms listed above:
// "Bearer TOKEN", Basic "TOKEN:" or Basic "MANAGER_ID:TOKEN" (the user name
// must then be `manager_id`). nullopt for anything else.
std::optional<std::string> ManagerToken(std::string_view authorization, const std::string& manager_id);

// One part of a multipart/form-data body.
struct FormPart {
  std::string name;
  std::string filename;
  std::string content_type;
  std::string data;
};
// Finds the part called `name` in a multipart/form-data `body` whose
// Content-Type header is `content_type` (carrying the boundary). nullopt when
// the body is not multipart or has no such part.
std::optional<FormPart> FindFormPart(std::string_view content_type, std::string_view body, std::string_view name);

}  // namespace duende::server
