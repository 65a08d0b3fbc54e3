// File-management commands: move_out_of_way, move_to_final, copy_file,
// remove_tree, remove_file, create_python_file.
#include <sys/stat.h>

#include <ctime>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "worker/commands/commands_impl.h"

namespace duende::worker {
namespace fs = std::filesystem;
namespace {

// True for anything at `p`, including a dangling symlink.
bool Exists(const fs::path& p) {
  std::error_code ec;
  return fs::exists(fs::symlink_status(p, ec));
}

std::string Strip(std::string p) {
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  return p;
}

Status FsError(std::string_view what, const std::error_code& ec) {
  return Internal(std::string(what) + ": " + ec.message());
}

Status MoveOutOfWay(CommandEnv& env, std::string_view cmd, const std::string& path) {
  const std::string target = OutOfWayName(path);
  env.Log(std::string(cmd) + ": moving " + path + " out of the way to " + target);
  std::error_code ec;
  fs::rename(path, target, ec);
  if (ec) return FsError("cannot move " + path + " to " + target, ec);
  return Ok();
}

class MoveOutOfWayCommand final : public Command {
 public:
  std::string_view name() const override { return "move_out_of_way"; }
  Status Validate(const nlohmann::json& settings) override {
    auto src = GetStringSetting(settings, "src", true);
    if (!src) return std::unexpected(src.error());
    src_ = Strip(*src);
    return Ok();
  }
  Status Execute(CommandEnv& env) override {
    if (!Exists(src_)) {
      env.Log("move_out_of_way: " + src_ + " does not exist, nothing to do");
      return Ok();
    }
    return MoveOutOfWay(env, name(), src_);
  }

 private:
  std::string src_;
};

class MoveToFinalCommand final : public Command {
 public:
  std::string_view name() const override { return "move_to_final"; }
  Status Validate(const nlohmann::json& settings) override {
    auto src = GetStringSetting(settings, "src", true);
    if (!src) return std::unexpected(src.error());
    auto dest = GetStringSetting(settings, "dest", true);
    if (!dest) return std::unexpected(dest.error());
    src_ = Strip(*src);
    dest_ = Strip(*dest);
    return Ok();
  }
  Status Execute(CommandEnv& env) override {
    if (!Exists(src_)) {
      env.Log("move_to_final: " + src_ + " does not exist, not moving anything");
      return Ok();
    }
    if (Exists(dest_)) {
      if (auto st = MoveOutOfWay(env, name(), dest_); !st) return st;
    }
    std::error_code ec;
    if (fs::path(dest_).has_parent_path()) fs::create_directories(fs::path(dest_).parent_path(), ec);
    env.Log("move_to_final: moving " + src_ + " to " + dest_);
    fs::rename(src_, dest_, ec);
    if (ec) return FsError("cannot move " + src_ + " to " + dest_, ec);
    return Ok();
  }

 private:
  std::string src_, dest_;
};

class CopyFileCommand final : public Command {
 public:
  std::string_view name() const override { return "copy_file"; }
  Status Validate(const nlohmann::json& settings) override {
    auto src = GetStringSetting(settings, "src", true);
    if (!src) return std::unexpected(src.error());
    auto dest = GetStringSetting(settings, "dest", true);
    if (!dest) return std::unexpected(dest.error());
    src_ = *src;
    dest_ = *dest;
    return Ok();
  }
  Status Execute(CommandEnv& env) override {
    std::error_code ec;
    if (!fs::exists(src_, ec)) return NotFound("copy_file: source " + src_ + " does not exist");
    if (fs::is_directory(src_, ec)) return InvalidArgument("copy_file: source " + src_ + " is a directory");
    const fs::path dest(dest_);
    if (dest.has_parent_path()) {
      fs::create_directories(dest.parent_path(), ec);
      if (ec) return FsError("cannot create " + dest.parent_path().string(), ec);
    }
    if (Exists(dest)) {
      env.Log("copy_file: removing existing " + dest_);
      fs::remove(dest, ec);
      if (ec) return FsError("cannot remove " + dest_, ec);
    }
    env.Log("copy_file: copying " + src_ + " to " + dest_);
    // copy_file copies the data and the permission bits.
    fs::copy_file(src_, dest, ec);
    if (ec) return FsError("cannot copy " + src_ + " to " + dest_, ec);
    env.OutputProduced(dest_);
    return Ok();
  }

 private:
  std::string src_, dest_;
};

class RemoveTreeCommand final : public Command {
 public:
  std::string_view name() const override { return "remove_tree"; }
  Status Validate(const nlohmann::json& settings) override {
    auto p = GetStringSetting(settings, "path", true);
    if (!p) return std::unexpected(p.error());
    path_ = *p;
    return Ok();
  }
  Status Execute(CommandEnv& env) override {
    if (!Exists(path_)) {
      env.Log("remove_tree: " + path_ + " does not exist, nothing to do");
      return Ok();
    }
    env.Log("remove_tree: removing " + path_);
    std::error_code ec;
    fs::remove_all(path_, ec);
    if (ec) return FsError("cannot remove " + path_, ec);
    return Ok();
  }

 private:
  std::string path_;
};

class RemoveFileCommand final : public Command {
 public:
  std::string_view name() const override { return "remove_file"; }
  Status Validate(const nlohmann::json& settings) override {
    auto p = GetStringSetting(settings, "path", true);
    if (!p) return std::unexpected(p.error());
    path_ = *p;
    return Ok();
  }
  Status Execute(CommandEnv& env) override {
    if (!Exists(path_)) {
      env.Log("remove_file: " + path_ + " does not exist, nothing to do");
      return Ok();
    }
    std::error_code ec;
    if (fs::is_directory(fs::symlink_status(path_, ec)))
      return InvalidArgument("remove_file: " + path_ + " is a directory");
    env.Log("remove_file: removing " + path_);
    fs::remove(path_, ec);
    if (ec) return FsError("cannot remove " + path_, ec);
    return Ok();
  }

 private:
  std::string path_;
};

class CreatePythonFileCommand final : public Command {
 public:
  std::string_view name() const override { return "create_python_file"; }
  Status Validate(const nlohmann::json& settings) override {
    auto p = GetStringSetting(settings, "filepath", true);
    if (!p) return std::unexpected(p.error());
    if (!p->ends_with(".py")) return InvalidArgument("'filepath' must end in .py");
    auto c = GetStringSetting(settings, "contents", true, /*non_empty=*/false);
    if (!c) return std::unexpected(c.error());
    path_ = *p;
    contents_ = *c;
    return Ok();
  }
  Status Execute(CommandEnv& env) override {
    const fs::path p(path_);
    std::error_code ec;
    if (p.has_parent_path()) {
      fs::create_directories(p.parent_path(), ec);
      if (ec) return FsError("cannot create " + p.parent_path().string(), ec);
    }
    env.Log("create_python_file: writing " + path_ + ":");
    env.Log(contents_);
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out << contents_;
    out.close();
    if (!out) return Internal("cannot write " + path_);
    return Ok();
  }

 private:
  std::string path_, contents_;
};

}  // namespace

std::string OutOfWayName(const std::string& path_in) {
  const std::string path = Strip(path_in);
  struct stat st {};
  std::time_t mtime = 0;
  if (::lstat(path.c_str(), &st) == 0) mtime = st.st_mtime;
  std::tm tm{};
  localtime_r(&mtime, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%d_%H%M%S", &tm);
  const std::string base = path + "-" + stamp;
  std::string candidate = base;
  for (int n = 1; Exists(candidate); ++n) candidate = base + "~" + std::to_string(n);
  return candidate;
}

std::unique_ptr<Command> MakeMoveOutOfWayCommand() { return std::make_unique<MoveOutOfWayCommand>(); }
std::unique_ptr<Command> MakeMoveToFinalCommand() { return std::make_unique<MoveToFinalCommand>(); }
std::unique_ptr<Command> MakeCopyFileCommand() { return std::make_unique<CopyFileCommand>(); }
std::unique_ptr<Command> MakeRemoveTreeCommand() { return std::make_unique<RemoveTreeCommand>(); }
std::unique_ptr<Command> MakeRemoveFileCommand() { return std::make_unique<RemoveFileCommand>(); }
std::unique_ptr<Command> MakeCreatePythonFileCommand() { return std::make_unique<CreatePythonFileCommand>(); }

}  // namespace duende::worker
