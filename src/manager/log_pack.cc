#include "manager/log_pack.h"

#include <fcntl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>

#include "common/file_io.h"
#include "common/ids.h"

namespace duende::manager::log_pack {
namespace {

constexpr unsigned char kRecordMagic = 0xD7;
constexpr size_t kRecordHeaderSize = 12;

void PutU32(char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}

uint32_t GetU32(const char* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

bool IsKind(char c) {
  return c == static_cast<char>(Kind::kText) || c == static_cast<char>(Kind::kSpilled) ||
         c == static_cast<char>(Kind::kCompressed);
}

// One writev of all `parts`; false unless all of it was written (a regular
// file takes it whole unless the disk is full or failing).
bool WriteAll(int fd, std::initializer_list<std::string_view> parts) {
  iovec iov[3];
  int n = 0;
  size_t total = 0;
  for (std::string_view p : parts) {
    if (p.empty()) continue;
    iov[n].iov_base = const_cast<char*>(p.data());
    iov[n].iov_len = p.size();
    total += p.size();
    ++n;
  }
  for (;;) {
    const ssize_t w = ::writev(fd, iov, n);
    if (w < 0 && errno == EINTR) continue;
    return w == static_cast<ssize_t>(total);
  }
}

// Reads a file sequentially through a 1 MiB window: a scan reads each
// record's header and ID, and skips texts larger than the window.
class Reader {
 public:
  Reader(int fd, uint64_t size) : fd_(fd), size_(size) {}
  // Bytes [at, at+n), or nullopt past the end or on a read error.
  std::optional<std::string_view> At(uint64_t at, size_t n) {
    if (at + n > size_) return std::nullopt;
    if (at < begin_ || at + n > begin_ + window_.size()) {
      auto read = ReadAt(fd_, at, std::min<uint64_t>(size_ - at, std::max<uint64_t>(n, 1 << 20)));
      if (!read) failed_ = true;
      window_ = read ? std::move(*read) : std::string();
      begin_ = at;
      if (window_.size() < n) return std::nullopt;
    }
    return std::string_view(window_).substr(static_cast<size_t>(at - begin_), n);
  }
  // A read failed (not the same as reaching a cut record: the pack must not
  // be cut back because of it).
  bool failed() const { return failed_; }

 private:
  int fd_;
  uint64_t size_;
  uint64_t begin_ = 0;
  std::string window_;
  bool failed_ = false;
};

}  // namespace

Result<Opened> Create(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return Unavailable("cannot create " + path + ": " + std::strerror(errno));
  Opened pack{fd, RandomToken(kIdSize), kHeaderSize};
  if (!WriteAll(fd, {kMagic, pack.id})) {
    const std::string msg = "cannot write " + path + ": " + std::strerror(errno);
    ::close(fd);
    ::unlink(path.c_str());
    return Unavailable(msg);
  }
  return pack;
}

uint64_t RecordSize(std::string_view task_id, uint64_t text_size) {
  return kRecordHeaderSize + task_id.size() + text_size;
}

Result<uint64_t> Append(int fd, uint64_t size, Kind kind, std::string_view task_id, uint32_t run,
                        std::string_view text) {
  if (task_id.size() > kMaxTaskIdSize) return InvalidArgument("task ID '" + std::string(task_id) + "' is too long");
  if (text.size() > UINT32_MAX) return InvalidArgument("a log pack record holds at most 4 GiB of text");
  char header[kRecordHeaderSize] = {};
  header[0] = static_cast<char>(kRecordMagic);
  header[1] = static_cast<char>(kind);
  header[2] = static_cast<char>(task_id.size());
  PutU32(header + 4, run);
  PutU32(header + 8, static_cast<uint32_t>(text.size()));
  if (!WriteAll(fd, {std::string_view(header, sizeof header), task_id, text})) {
    const std::string msg = std::string("cannot write to a task log pack: ") + std::strerror(errno);
    if (::ftruncate(fd, static_cast<off_t>(size)) != 0)
      return Unavailable(msg + "; nor cut the failed record off: " + std::strerror(errno));
    return Unavailable(msg);
  }
  return size + kRecordHeaderSize + task_id.size();
}

Result<Scanned> Scan(int fd, uint64_t size, const std::function<void(const Record&)>& each) {
  Reader in(fd, size);
  Scanned scanned;
  auto header = in.At(0, kHeaderSize);
  if (in.failed()) return Unavailable("cannot read a task log pack");
  if (!header) return scanned;  // cut before its header was whole
  if (!header->starts_with(kMagic)) return InvalidArgument("not a Duende task log pack");
  scanned.id = std::string(header->substr(kMagic.size()));
  uint64_t at = kHeaderSize;
  for (;;) {
    auto h = in.At(at, kRecordHeaderSize);
    if (!h || static_cast<unsigned char>((*h)[0]) != kRecordMagic || !IsKind((*h)[1])) break;
    Record r;
    r.kind = static_cast<Kind>((*h)[1]);
    const size_t id_size = static_cast<unsigned char>((*h)[2]);
    r.run = GetU32(h->data() + 4);
    r.text_size = GetU32(h->data() + 8);
    auto id = in.At(at + kRecordHeaderSize, id_size);
    r.text_at = at + kRecordHeaderSize + id_size;
    r.end = r.text_at + r.text_size;
    if (!id || r.end > size) break;
    r.task_id = *id;
    each(r);
    at = r.end;
  }
  if (in.failed()) return Unavailable("cannot read a task log pack");
  scanned.end = at;
  return scanned;
}

}  // namespace duende::manager::log_pack
