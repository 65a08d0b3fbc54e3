#include "worker/credentials.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace duende::worker {
namespace {

std::string Errno(std::string_view what, const std::filesystem::path& p) {
  return std::string(what) + " " + p.string() + ": " + std::strerror(errno);
}

}  // namespace

Result<std::optional<Credentials>> LoadCredentials(const std::filesystem::path& file) {
  std::error_code ec;
  if (!std::filesystem::exists(file, ec)) return std::optional<Credentials>();
  std::ifstream in(file);
  if (!in) return Unavailable("cannot read " + file.string());
  std::stringstream text;
  text << in.rdbuf();
  const auto j = nlohmann::json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return InvalidArgument(file.string() + " is not a JSON object");
  Credentials c;
  if (auto it = j.find("worker_id"); it != j.end() && it->is_string()) c.worker_id = it->get<std::string>();
  if (auto it = j.find("worker_secret"); it != j.end() && it->is_string()) c.worker_secret = it->get<std::string>();
  if (c.worker_id.empty() || c.worker_secret.empty()) return std::optional<Credentials>();
  return std::optional<Credentials>(std::move(c));
}

Status SaveCredentials(const std::filesystem::path& file, const Credentials& credentials) {
  const std::string text =
      nlohmann::json{{"worker_id", credentials.worker_id}, {"worker_secret", credentials.worker_secret}}.dump(2) + "\n";
  const std::filesystem::path tmp = file.string() + ".tmp";
  ::unlink(tmp.c_str());  // a leftover from a crash mid-write
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return Unavailable(Errno("cannot create", tmp));
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      auto err = Unavailable(Errno("cannot write", tmp));
      ::close(fd);
      ::unlink(tmp.c_str());
      return err;
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    auto err = Unavailable(Errno("cannot flush", tmp));
    ::unlink(tmp.c_str());
    return err;
  }
  if (::rename(tmp.c_str(), file.c_str()) != 0) {
    auto err = Unavailable(Errno("cannot rename into", file));
    ::unlink(tmp.c_str());
    return err;
  }
  // Make the rename itself durable.
  const auto dir = file.has_parent_path() ? file.parent_path() : std::filesystem::path(".");
  if (const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return Ok();
}

}  // namespace duende::worker
