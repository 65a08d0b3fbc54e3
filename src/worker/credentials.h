// The worker's identity at the Manager, persisted in <data-dir>/credentials.json
// as {"worker_id": "...", "worker_secret": "..."} with mode 0600.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "common/result.h"

namespace duende::worker {

struct Credentials {
  std::string worker_id;
  std::string worker_secret;
};

// Returns nullopt when the file does not exist or lacks a non-empty id or
// secret (both mean "register first"). Errors: kInvalidArgument for a file
// that is not a JSON object, kUnavailable when it cannot be read.
Result<std::optional<Credentials>> LoadCredentials(const std::filesystem::path& file);

// Writes atomically: a 0600 temp file next to `file` is written, fsynced and
// renamed over `file`, so a crash leaves either the old or the new content,
// never a torn file (spec §15.8: losing credentials creates duplicate worker
// records at the Manager). Errors: kUnavailable on I/O failure.
Status SaveCredentials(const std::filesystem::path& file, const Credentials& credentials);

}  // namespace duende::worker
