// The job log pack's file format: what is appended is scanned back, and a
// pack cut anywhere in its last record scans back to the records before it.
#include "manager/log_pack.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <vector>

#include "support/temp_dir.h"

namespace duende::manager::log_pack {
namespace {

namespace fs = std::filesystem;

struct Seen {
  Kind kind;
  std::string task;
  uint32_t run;
  std::string text;
  bool operator==(const Seen&) const = default;
};

std::vector<Seen> ScanAll(const std::string& path, uint64_t* end = nullptr) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  EXPECT_GE(fd, 0);
  std::vector<Seen> seen;
  auto scanned = Scan(fd, fs::file_size(path), [&](const Record& r) {
    std::string text(r.text_size, '\0');
    EXPECT_EQ(::pread(fd, text.data(), text.size(), static_cast<off_t>(r.text_at)), static_cast<ssize_t>(text.size()));
    seen.push_back({r.kind, std::string(r.task_id), r.run, text});
  });
  ::close(fd);
  EXPECT_TRUE(scanned.has_value());
  if (end && scanned) *end = scanned->end;
  return seen;
}

TEST(LogPackTest, RecordsAreScannedBackInOrder) {
  testing::TempDir dir;
  const std::string path = dir / "logs.pack";
  auto pack = Create(path);
  ASSERT_TRUE(pack.has_value()) << pack.error().message;
  EXPECT_EQ(pack->id.size(), kIdSize);
  EXPECT_FALSE(Create(path).has_value()) << "an existing pack is never overwritten";
  const std::vector<Seen> want = {
      {Kind::kText, "6a7b8c9d0e1f2a3b4c5d6e7f", 1, "first lines\n"},
      {Kind::kText, "6a7b8c9d0e1f2a3b4c5d6e80", 1, ""},
      {Kind::kText, "6a7b8c9d0e1f2a3b4c5d6e7f", 1, std::string(3 << 20, 'x')},  // past the scan's window
      {Kind::kSpilled, "6a7b8c9d0e1f2a3b4c5d6e7f", 1, ""},
      {Kind::kCompressed, "6a7b8c9d0e1f2a3b4c5d6e80", 7, ""},
  };
  uint64_t size = pack->size;
  for (const Seen& s : want) {
    auto text_at = Append(pack->fd, size, s.kind, s.task, s.run, s.text);
    ASSERT_TRUE(text_at.has_value());
    EXPECT_EQ(*text_at, size + RecordSize(s.task, 0));
    size += RecordSize(s.task, s.text.size());
  }
  ::close(pack->fd);
  EXPECT_EQ(fs::file_size(path), size);
  uint64_t end = 0;
  EXPECT_EQ(ScanAll(path, &end), want);
  EXPECT_EQ(end, size);
  EXPECT_FALSE(Append(-1, 0, Kind::kText, std::string(kMaxTaskIdSize + 1, 'a'), 1, "x").has_value());
}

TEST(LogPackTest, APackCutAnywhereInItsLastRecordScansToTheRecordsBefore) {
  testing::TempDir dir;
  const std::string path = dir / "logs.pack";
  auto pack = Create(path);
  ASSERT_TRUE(pack.has_value());
  const std::string task = "6a7b8c9d0e1f2a3b4c5d6e7f";
  ASSERT_TRUE(Append(pack->fd, pack->size, Kind::kText, task, 1, "kept\n").has_value());
  const uint64_t whole = pack->size + RecordSize(task, 5);
  ASSERT_TRUE(Append(pack->fd, whole, Kind::kText, task, 1, "cut\n").has_value());
  const uint64_t full = whole + RecordSize(task, 4);
  ::close(pack->fd);
  for (uint64_t cut = whole; cut < full; ++cut) {
    SCOPED_TRACE(cut);
    fs::resize_file(path, cut);
    uint64_t end = 0;
    const auto seen = ScanAll(path, &end);
    ASSERT_EQ(seen.size(), 1u);
    EXPECT_EQ(seen[0].text, "kept\n");
    EXPECT_EQ(end, whole);
  }
  // Cut inside the header: nothing, not an error.
  fs::resize_file(path, kHeaderSize - 1);
  uint64_t end = 1;
  EXPECT_TRUE(ScanAll(path, &end).empty());
  EXPECT_EQ(end, 0u);
}

TEST(LogPackTest, AFileThatIsNotAPackIsAnError) {
  testing::TempDir dir;
  const std::string path = dir / "logs.pack";
  std::ofstream(path) << std::string(100, 'n');
  const int fd = ::open(path.c_str(), O_RDONLY);
  auto scanned = Scan(fd, 100, [](const Record&) {});
  ::close(fd);
  ASSERT_FALSE(scanned.has_value());
  EXPECT_EQ(scanned.error().code, ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace duende::manager::log_pack
