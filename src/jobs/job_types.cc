#include "jobs/job_types.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>

namespace duende::jobs {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

SettingSpec Setting(std::string key, std::string type, bool required, std::string description) {
  SettingSpec s;
  s.key = std::move(key);
  s.type = std::move(type);
  s.required = required;
  s.description = std::move(description);
  return s;
}

SettingSpec WithMin(SettingSpec s, double min) {
  s.min = min;
  return s;
}

std::vector<JobTypeSchema> MakeBuiltinSchemas() {
  SettingSpec blender_cmd = Setting("blender_cmd", "string", false, "Command that runs Blender on the worker.");
  blender_cmd.default_value = "{blender}";
  SettingSpec images_or_video =
      Setting("images_or_video", "choice", false, "Render images (and a preview video from them) or a video.");
  images_or_video.choices = {"images", "video"};
  images_or_video.default_value = "images";
  SettingSpec filepath = Setting("filepath", "path", true, "The .blend file to render.");
  filepath.pattern = R"(.+\.blend)";
  SettingSpec chunk_size = WithMin(Setting("chunk_size", "integer", true, "Frames per task."), 1);
  SettingSpec frames = Setting("frames", "frames", true, "Frames to render, e.g. \"1-250\" or \"1-10,15\".");
  return {
      {"blender-render",
       "Blender Render",
       "Renders frames of a .blend file in chunks, then makes a video of them when it can and moves the result to the "
       "output directory. Also takes rna_overrides, a JSON list of Python lines run before rendering.",
       "builtin",
       {filepath,
        Setting("render_output", "path", true,
                "Output path of the frames, inside the output directory, e.g. /renders/shot1/frame-######."),
        frames, chunk_size, blender_cmd, Setting("format", "string", false, "Blender's output file format, e.g. PNG."),
        Setting("fps", "number", false, "Frames per second of the preview video."), images_or_video,
        Setting("output_file_extension", "string", false,
                "Extension of the rendered images, e.g. .png (needed for the video).")}},
      {"exec-command",
       "Run a command",
       "Runs one command on one worker (task type debug).",
       "builtin",
       {Setting("cmd", "string", true, "The command line; split like a shell does, without a shell.")}},
      {"sleep",
       "Sleep",
       "A test job: each chunk of frames sleeps for a while.",
       "builtin",
       {frames, chunk_size,
        WithMin(Setting("time_in_seconds", "number", true, "How long each task sleeps, in seconds."), 0)}},
  };
}

std::string ReadFile(const fs::path& path, std::string& error) {
  std::error_code ec;
  const auto size = fs::file_size(path, ec);
  if (ec) {
    error = "cannot read: " + ec.message();
    return {};
  }
  if (size > kMaxJobTypeFileBytes) {
    error = "file is larger than " + std::to_string(kMaxJobTypeFileBytes / 1024) + " KiB";
    return {};
  }
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  if (!in) {
    error = "cannot read the file";
    return {};
  }
  return ss.str();
}

bool IsDefinitionFile(const fs::path& p) {
  const auto ext = p.extension().string();
  return ext == ".yaml" || ext == ".yml" || ext == ".json";
}

}  // namespace

json ToJson(const JobTypeLoadReport& report) {
  json errors = json::array();
  for (const auto& e : report.errors) errors.push_back({{"path", e.path}, {"message", e.message}});
  return {{"dir", report.dir}, {"loaded", report.loaded}, {"errors", std::move(errors)}};
}

const std::vector<JobTypeSchema>& BuiltinJobTypeSchemas() {
  static const auto* schemas = new std::vector<JobTypeSchema>(MakeBuiltinSchemas());
  return *schemas;
}

JobTypeLoadReport JobTypeRegistry::LoadDirectory(const std::string& dir) {
  JobTypeLoadReport report;
  report.dir = dir;
  std::vector<fs::path> files;
  std::error_code ec;
  if (fs::is_directory(dir, ec)) {
    report.dir_exists = true;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
      if (IsDefinitionFile(it->path()) && it->is_regular_file(ec)) files.push_back(it->path());
    }
    if (ec) report.errors.push_back({dir, "cannot list the directory: " + ec.message()});
  } else if (fs::exists(dir, ec)) {
    report.errors.push_back({dir, "not a directory"});
  }
  std::sort(files.begin(), files.end());

  std::vector<std::shared_ptr<const JobTypeDefinition>> loaded;
  for (const auto& path : files) {
    std::string error;
    const std::string text = ReadFile(path, error);
    std::optional<JobTypeDefinition> def;
    if (error.empty()) {
      auto parsed = ParseJobTypeText(text);
      if (parsed) {
        def = std::move(*parsed);
      } else {
        error = parsed.error().message;
      }
    }
    if (def) {
      const std::string& name = def->schema.name;
      auto same = [&name](const auto& d) { return d->schema.name == name; };
      if (FindCompiler(name)) {
        error = "job type '" + name + "' is built in; a file cannot replace it";
      } else if (std::any_of(loaded.begin(), loaded.end(), same)) {
        error = "job type '" + name + "' is already defined by an earlier file";
      }
    }
    if (!error.empty()) {
      spdlog::error("job type file {} skipped: {}", path.string(), error);
      report.errors.push_back({path.string(), std::move(error)});
      continue;
    }
    spdlog::info("job type '{}' loaded from {}", def->schema.name, path.string());
    report.loaded.push_back(def->schema.name);
    loaded.push_back(std::make_shared<const JobTypeDefinition>(std::move(*def)));
  }
  std::sort(loaded.begin(), loaded.end(), [](const auto& a, const auto& b) { return a->schema.name < b->schema.name; });
  std::unique_lock lock(mu_);
  defined_ = std::move(loaded);
  return report;
}

std::vector<JobTypeSchema> JobTypeRegistry::List() const {
  std::vector<JobTypeSchema> out = BuiltinJobTypeSchemas();
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  std::shared_lock lock(mu_);
  for (const auto& d : defined_) out.push_back(d->schema);
  return out;
}

std::optional<JobTypeSchema> JobTypeRegistry::Find(std::string_view name) const {
  for (const auto& s : List())
    if (s.name == name) return s;
  return std::nullopt;
}

Result<CompiledJob> JobTypeRegistry::Compile(const json& settings, const CompileContext& ctx) const {
  std::shared_ptr<const JobTypeDefinition> def;
  {
    std::shared_lock lock(mu_);
    for (const auto& d : defined_)
      if (d->schema.name == ctx.job_type) def = d;
  }
  if (!def) {
    if (!FindCompiler(ctx.job_type)) {
      std::string known;
      for (const auto& s : List()) known += (known.empty() ? "" : ", ") + s.name;
      return InvalidArgument("unknown job type '" + ctx.job_type + "' (known: " + known + ")");
    }
    auto tasks = CompileJob(settings, ctx);
    if (!tasks) return std::unexpected(tasks.error());
    return CompiledJob{settings, std::move(*tasks)};
  }
  auto checked = ValidateSettings(def->schema, settings);
  if (!checked) return std::unexpected(checked.error());
  auto tasks = CompileDefinedJob(*def, *checked, ctx);
  if (!tasks) return std::unexpected(tasks.error());
  return CompiledJob{std::move(*checked), std::move(*tasks)};
}

}  // namespace duende::jobs
