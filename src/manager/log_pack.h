// The log pack of a job (see TaskLogs): one append-only file of records,
// each holding some text of one run of one task's log, or a mark about a
// run. This is the file's format and nothing else; what the records mean
// for a task's logs is TaskLogs' business.
//
//   header  kMagic ("duende-logpack1\n"), then a random ID of kIdSize
//           characters (it tells packs apart: the header of a .gz made from
//           a pack's runs names the pack by it)
//   record  [0] 0xD7  [1] kind  [2] task ID length  [3] 0
//           [4..8) run number  [8..12) text length    (little-endian)
//           then the task ID, then the text
//
// A record is written with one writev(2), so a crash can cut only the last
// one; Scan stops at it and the pack is cut back there before the next
// append.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "common/result.h"

namespace duende::manager::log_pack {

enum class Kind : char {
  kText = 'T',        // text appended to a run; a run's first record starts it, even without text
  kSpilled = 'S',     // the run moved to a file of its own (its text so far was copied there first)
  kCompressed = 'G',  // every run of the task up to this number is inside the task's .gz
};

struct Record {
  Kind kind = Kind::kText;
  std::string_view task_id;
  uint32_t run = 0;
  uint64_t text_at = 0;  // pack offset of the text
  uint64_t text_size = 0;
  uint64_t end = 0;  // pack offset just after the record
};

constexpr std::string_view kMagic = "duende-logpack1\n";
constexpr size_t kIdSize = 16;
constexpr uint64_t kHeaderSize = kMagic.size() + kIdSize;
constexpr size_t kMaxTaskIdSize = 255;

// A pack open for appending.
struct Opened {
  int fd = -1;
  std::string id;
  uint64_t size = 0;
};

// Creates the pack at `path`, which must not exist, with its header.
Result<Opened> Create(const std::string& path);

// Bytes a record of `task_id` with `text_size` bytes of text takes.
uint64_t RecordSize(std::string_view task_id, uint64_t text_size);

// Appends one record to the pack open as `fd`, now `size` bytes; returns
// the pack offset of its text. A failed write is cut off again (a cut record
// would hide every later one from the next scan).
Result<uint64_t> Append(int fd, uint64_t size, Kind kind, std::string_view task_id, uint32_t run,
                        std::string_view text);

// Reads the pack open as `fd` (of `size` bytes): its ID, then each whole
// record in order. `end` is the offset after the last whole record: less
// than `size` when the last record was cut, 0 when even the header was.
// InvalidArgument when the file is not a log pack.
struct Scanned {
  std::string id;
  uint64_t end = 0;
};
Result<Scanned> Scan(int fd, uint64_t size, const std::function<void(const Record&)>& each);

}  // namespace duende::manager::log_pack
