#include "manager/config.h"

#include <yaml-cpp/yaml.h>

#include <cctype>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "common/timefmt.h"
#include "http/server_limits.h"

namespace duende::manager {
namespace {

using nlohmann::json;

// A mapping key as text. YAML allows lists and mappings as keys ("? [a, b]"),
// which yaml-cpp's as<std::string>() answers with an exception.
Result<std::string> KeyOf(const YAML::Node& key) {
  if (!key.IsScalar()) return InvalidArgument("config keys must be plain strings, not lists or mappings");
  return key.Scalar();
}

// Names and values of variables end up in JSON text (task commands, the
// start-up description), whose writer throws on invalid UTF-8.
bool IsUtf8(const std::string& text) {
  try {
    (void)json(text).dump();
  } catch (const json::type_error&) {
    return false;
  }
  return true;
}

// Bounds on what YamlToJson builds. YAML aliases may refer to their own
// anchor ("a: &x {b: *x}", an endless structure) or repeat one another
// (exponentially many nodes); a variables block needs neither.
constexpr int kMaxYamlDepth = 32;
constexpr int kMaxYamlNodes = 100'000;

Result<json> YamlToJson(const YAML::Node& node, int depth, int& nodes) {
  if (depth > kMaxYamlDepth || ++nodes > kMaxYamlNodes)
    return InvalidArgument("nested too deeply or too large (does an alias refer to itself?)");
  switch (node.Type()) {
    case YAML::NodeType::Map: {
      json j = json::object();
      for (const auto& kv : node) {
        auto key = KeyOf(kv.first);
        if (!key) return std::unexpected(key.error());
        if (!IsUtf8(*key)) return InvalidArgument("a name is not valid UTF-8");
        auto value = YamlToJson(kv.second, depth + 1, nodes);
        if (!value) return value;
        j[*key] = std::move(*value);
      }
      return j;
    }
    case YAML::NodeType::Sequence: {
      json j = json::array();
      for (const auto& e : node) {
        auto value = YamlToJson(e, depth + 1, nodes);
        if (!value) return value;
        j.push_back(std::move(*value));
      }
      return j;
    }
    case YAML::NodeType::Scalar:
      if (!IsUtf8(node.Scalar())) return InvalidArgument("a value is not valid UTF-8");
      return node.Scalar();
    default:
      return nullptr;
  }
}

// v2 keys of features Duende does not implement: accepted, reported, ignored.
const std::set<std::string> kIgnoredV2Keys = {
    "database_url",           "database_path",    "listen_https", "acme_domain_name", "watch_for_latest_image",
    "ssdp_discovery",         "ssdp_device_uuid", "test_tasks",   "shaman",           "user_authentication",
    "dynamic_pool_platforms", "websetup",
};

Result<std::string> AsString(const YAML::Node& n, const std::string& key) {
  if (!n.IsScalar()) return InvalidArgument("config key '" + key + "' must be a string");
  return n.Scalar();
}

Result<int64_t> AsInt(const YAML::Node& n, const std::string& key, int64_t min, int64_t max) {
  const std::string s = n.IsScalar() ? n.Scalar() : "";
  size_t pos = 0;
  int64_t v = 0;
  try {
    v = std::stoll(s, &pos);
  } catch (...) {
    pos = 0;
  }
  if (s.empty() || pos != s.size())
    return InvalidArgument("config key '" + key + "' must be an integer, got '" + s + "'");
  if (v < min || v > max)
    return InvalidArgument("config key '" + key + "' must be between " + std::to_string(min) + " and " +
                           std::to_string(max));
  return v;
}

Result<std::chrono::milliseconds> AsDuration(const YAML::Node& n, const std::string& key) {
  if (!n.IsScalar()) return InvalidArgument("config key '" + key + "' must be a duration like 30s or 10m");
  auto d = ParseDuration(n.Scalar());
  if (!d) return std::unexpected(d.error().WithContext("config key '" + key + "'"));
  return *d;
}

}  // namespace

Result<Config> ParseConfig(const std::string& yaml_text, const std::string& data_dir) {
  Config c;
  c.data_dir = data_dir;
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    return InvalidArgument(std::string("config is not valid YAML: ") + e.what());
  }
  if (root.IsDefined() && !root.IsNull() && !root.IsMap()) return InvalidArgument("config must be a YAML mapping");

  using Setter = std::function<Status(const YAML::Node&, const std::string&)>;
  auto str = [&](std::string& field) -> Setter {
    return [&field](const YAML::Node& n, const std::string& k) -> Status {
      auto v = AsString(n, k);
      if (!v) return std::unexpected(v.error());
      field = *v;
      return Ok();
    };
  };
  auto dur = [&](std::chrono::milliseconds& field) -> Setter {
    return [&field](const YAML::Node& n, const std::string& k) -> Status {
      auto v = AsDuration(n, k);
      if (!v) return std::unexpected(v.error());
      field = *v;
      return Ok();
    };
  };
  auto integer = [&]<class T>(T& field, int64_t min, int64_t max) -> Setter {
    return [&field, min, max](const YAML::Node& n, const std::string& k) -> Status {
      auto v = AsInt(n, k, min, max);
      if (!v) return std::unexpected(v.error());
      field = static_cast<T>(*v);
      return Ok();
    };
  };
  std::map<std::string, Setter> setters = {
      {"manager_name", str(c.manager_name)},
      {"listen", str(c.listen)},
      {"own_url", str(c.own_url)},
      {"task_logs_path", str(c.task_logs_path)},
      {"task_log_compress_after", dur(c.task_log_compress_after)},
      {"task_log_head_kib", integer(c.task_log_head_kib, 1, 1 << 20)},
      {"task_log_tail_kib", integer(c.task_log_tail_kib, 1, 1 << 20)},
      {"worker_registration_secret", str(c.worker_registration_secret)},
      {"log_level", str(c.log_level)},
      {"timezone", str(c.timezone)},
      {"job_types_dir", str(c.job_types_dir)},
      {"sleep_schedule_check_interval", dur(c.sleep_schedule_check_interval)},
      {"download_task_sleep", dur(c.download_task_sleep)},
      {"download_task_recheck_throttle", dur(c.download_task_recheck_throttle)},
      // Linked mode (v2 key names): the Server's URL, this Manager's ID and token.
      {"flamenco", str(c.upstream_url)},
      {"manager_id", str(c.manager_id)},
      {"manager_secret", str(c.manager_secret)},
      {"task_update_push_max_interval", dur(c.task_update_push_max_interval)},
      {"cancel_task_fetch_max_interval", dur(c.cancel_task_fetch_max_interval)},
      {"active_task_timeout_interval", dur(c.active_task_timeout_interval)},
      {"active_worker_timeout_interval", dur(c.active_worker_timeout_interval)},
      {"timeout_startup_grace", dur(c.timeout_startup_grace)},
      {"worker_cleanup_initial_delay", dur(c.worker_cleanup_initial_delay)},
      {"worker_cleanup_interval", dur(c.worker_cleanup_interval)},
      {"blacklist_expiry", dur(c.blacklist_expiry)},
      {"worker_gone_grace", dur(c.worker_gone_grace)},
      {"starvation_check_interval", dur(c.starvation_check_interval)},
      {"starvation_fail_after", dur(c.starvation_fail_after)},
      {"timeout_check_interval", dur(c.timeout_check_interval)},
      {"task_cleanup_max_age", dur(c.task_cleanup_max_age)},
      {"worker_cleanup_max_age", dur(c.worker_cleanup_max_age)},
      {"task_update_push_max_count", integer(c.task_update_push_max_count, 1, 100000)},
      {"blacklist_threshold", integer(c.blacklist_threshold, 1, 1000)},
      {"task_fail_after_softfail_count", integer(c.task_fail_after_softfail_count, 1, 1000)},
      {"task_fail_job_percentage", integer(c.task_fail_job_percentage, 1, 100)},
      {"http_threads", integer(c.http_threads, 1, 64)},
      {"database_busy_timeout", dur(c.database_busy_timeout)},
      {"database_synchronous",
       [&](const YAML::Node& n, const std::string& k) -> Status {
         auto v = AsString(n, k);
         if (!v) return std::unexpected(v.error());
         std::string upper;
         for (char ch : *v) upper.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(ch))));
         if (upper != "NORMAL" && upper != "FULL")
           return InvalidArgument("config key 'database_synchronous' must be 'normal' or 'full'");
         c.database_synchronous = upper;
         return Ok();
       }},
      {"mode",
       [&](const YAML::Node& n, const std::string& k) -> Status {
         auto v = AsString(n, k);
         if (!v) return std::unexpected(v.error());
         if (*v != "production" && *v != "develop")
           return InvalidArgument("config key 'mode' must be 'production' or 'develop'");
         c.mode = *v;
         return Ok();
       }},
      {"tlscert", str(c.tls_cert)},
      {"tlskey", str(c.tls_key)},
      {"upstream_ca_path", str(c.upstream_ca_path)},
      // 0 = no cap (checked below: otherwise at least 4096).
      {"task_log_max_bytes", integer(c.task_log_max_bytes, 0, int64_t{1} << 50)},
      {"task_logs_max_total_bytes", integer(c.task_logs_max_total_bytes, 0, int64_t{1} << 60)},
      {"worker_cleanup_status",
       [&](const YAML::Node& n, const std::string& k) -> Status {
         if (!n.IsSequence()) return InvalidArgument("config key '" + k + "' must be a list of statuses");
         c.worker_cleanup_status.clear();
         for (const auto& e : n) {
           if (!e.IsScalar()) return InvalidArgument("config key '" + k + "' must be a list of statuses");
           c.worker_cleanup_status.push_back(e.Scalar());
         }
         return Ok();
       }},
      {"users",
       [&](const YAML::Node& n, const std::string& k) -> Status {
         if (!n.IsSequence()) return InvalidArgument("config key '" + k + "' must be a list of users");
         std::set<std::string> names;
         for (const auto& e : n) {
           if (!e.IsMap()) return InvalidArgument("config key 'users': each user must be a mapping");
           UserConfig u;
           for (const auto& kv : e) {
             auto key_text = KeyOf(kv.first);
             if (!key_text) return std::unexpected(key_text.error().WithContext("config key 'users'"));
             const std::string& key = *key_text;
             if (!kv.second.IsScalar()) return InvalidArgument("config key 'users': '" + key + "' must be a string");
             const std::string v = kv.second.Scalar();
             if (key == "name") {
               u.name = v;
             } else if (key == "role") {
               auto role = RoleFromString(v);
               if (!role) return std::unexpected(role.error().WithContext("config key 'users'"));
               u.role = *role;
             } else if (key == "password_hash" || key == "token_hash") {
               // Only hashes: a plain password in the file would be readable
               // by anyone who can read the config.
               if (!v.starts_with("$argon2id$"))
                 return InvalidArgument("config key 'users': '" + key +
                                        "' must be an argon2id hash (make one with `duende-manager --hash-password`)");
               (key == "password_hash" ? u.password_hash : u.token_hash) = v;
             } else {
               return InvalidArgument("config key 'users': unknown key '" + key +
                                      "' (expected name, role, password_hash, token_hash)");
             }
           }
           if (u.name.empty()) return InvalidArgument("config key 'users': every user needs a 'name'");
           if (!names.insert(u.name).second)
             return InvalidArgument("config key 'users': user '" + u.name + "' is listed twice");
           if (u.password_hash.empty() && u.token_hash.empty())
             return InvalidArgument("config key 'users': user '" + u.name + "' needs a password_hash or token_hash");
           c.users.push_back(std::move(u));
         }
         return Ok();
       }},
      {"variables",
       [&](const YAML::Node& n, const std::string&) -> Status {
         int nodes = 0;
         auto vars_json = YamlToJson(n, 0, nodes);
         if (!vars_json) return std::unexpected(vars_json.error().WithContext("config key 'variables'"));
         auto vars = VariablesFromJson(*vars_json);
         if (!vars) return std::unexpected(vars.error().WithContext("config key 'variables'"));
         // Configured variables replace the defaults of the same name only.
         for (auto& [name, var] : *vars) c.variables[name] = std::move(var);
         return Ok();
       }},
      {"webhooks",
       [&](const YAML::Node& n, const std::string&) -> Status {
         int nodes = 0;
         auto hooks_json = YamlToJson(n, 0, nodes);
         if (!hooks_json) return std::unexpected(hooks_json.error().WithContext("config key 'webhooks'"));
         auto hooks = webhooks::WebhooksFromJson(*hooks_json);
         if (!hooks) return std::unexpected(hooks.error().WithContext("config key 'webhooks'"));
         c.webhooks = std::move(*hooks);
         return Ok();
       }},
      {"_meta",
       [&](const YAML::Node& n, const std::string&) -> Status {
         if (n.IsMap() && n["version"] && n["version"].IsScalar() && n["version"].Scalar() != "2")
           return InvalidArgument("config _meta.version " + n["version"].Scalar() +
                                  " is not supported (only version 2)");
         return Ok();
       }},
  };

  // Connection limits: parsed and bounded by the HTTP layer, the same code
  // as duende-server's flags of the same names.
  http::ServerOptions limits;
  limits.body_limit_bytes = c.request_body_limit_bytes;
  limits.header_limit_bytes = c.request_header_limit_bytes;
  limits.idle_timeout = c.http_idle_timeout;
  limits.header_timeout = c.http_header_timeout;
  limits.body_timeout = c.http_body_timeout;
  for (const auto& limit : http::ServerLimits()) {
    setters[std::string(limit.key)] = [&limits](const YAML::Node& n, const std::string& k) -> Status {
      if (!n.IsScalar()) return InvalidArgument("config key '" + k + "' must be a single value");
      if (auto st = http::SetServerLimit(limits, k, n.Scalar()); !st)
        return InvalidArgument("config key '" + k + "' " + st.error().message);
      return Ok();
    };
  }

  if (root.IsMap()) {
    for (const auto& kv : root) {
      auto key_text = KeyOf(kv.first);
      if (!key_text) return std::unexpected(key_text.error());
      const std::string& key = *key_text;
      if (auto it = setters.find(key); it != setters.end()) {
        if (auto st = it->second(kv.second, key); !st) return std::unexpected(st.error());
      } else if (kIgnoredV2Keys.count(key)) {
        c.ignored_keys.push_back(key);
      } else {
        return InvalidArgument("unknown config key '" + key + "'");
      }
    }
  }
  c.request_body_limit_bytes = limits.body_limit_bytes;
  c.request_header_limit_bytes = limits.header_limit_bytes;
  c.http_idle_timeout = limits.idle_timeout;
  c.http_header_timeout = limits.header_timeout;
  c.http_body_timeout = limits.body_timeout;
  if (c.task_logs_path.empty()) c.task_logs_path = data_dir + "/task-logs";
  if (c.job_types_dir.empty()) c.job_types_dir = data_dir + "/job-types";
  // A vanished worker's task is finished elsewhere only if the worker times
  // out (and its task is returned) before the task itself times out (§6).
  if (c.active_task_timeout_interval <= c.active_worker_timeout_interval)
    return InvalidArgument("active_task_timeout_interval (" + FormatDuration(c.active_task_timeout_interval) +
                           ") must be longer than active_worker_timeout_interval (" +
                           FormatDuration(c.active_worker_timeout_interval) +
                           "): otherwise a vanished worker's task fails instead of being finished by another worker");
  // Room for some text and the notice that ends a cut log.
  if (c.task_log_max_bytes != 0 && c.task_log_max_bytes < 4096)
    return InvalidArgument("config key 'task_log_max_bytes' must be 0 (no cap) or at least 4096");
  if (c.task_logs_max_total_bytes != 0 && c.task_logs_max_total_bytes < 4096)
    return InvalidArgument("config key 'task_logs_max_total_bytes' must be 0 (no cap) or at least 4096");
  if (c.tls_cert.empty() != c.tls_key.empty())
    return InvalidArgument("HTTPS needs both 'tlscert' and 'tlskey' (certificate and key files)");
  for (auto [name, d] : {std::pair{"timeout_check_interval", c.timeout_check_interval},
                         std::pair{"worker_cleanup_interval", c.worker_cleanup_interval},
                         std::pair{"starvation_check_interval", c.starvation_check_interval}})
    if (d.count() <= 0) return InvalidArgument(std::string("config key '") + name + "' must be longer than 0");
  return c;
}

Result<Config> LoadConfigFile(const std::string& path, const std::string& data_dir) {
  std::ifstream in(path);
  if (!in) return NotFound("cannot read config file " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  auto c = ParseConfig(ss.str(), data_dir);
  if (!c) return std::unexpected(c.error().WithContext(path));
  return c;
}

std::string DescribeConfig(const Config& c) {
  auto fmt_list = [](const std::vector<std::string>& v) {
    std::string out = "[";
    for (size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + v[i];
    return out + "]";
  };
  std::ostringstream o;
  o << "manager_name: " << c.manager_name << "\n"
    << "mode: " << c.mode << "\n"
    << "listen: " << c.listen << "\n"
    << "data_dir: " << c.data_dir << "\n"
    << "task_logs_path: " << c.task_logs_path << "\n"
    << "job_types_dir: " << c.job_types_dir << "\n"
    << "task_log_compress_after: " << FormatDuration(c.task_log_compress_after) << "\n"
    << "task_log_head_kib: " << c.task_log_head_kib << "\n"
    << "task_log_tail_kib: " << c.task_log_tail_kib << "\n"
    << "worker_registration_secret: " << (c.worker_registration_secret.empty() ? "(none: open registration)" : "****")
    << "\n"
    << "upstream (flamenco): " << (c.upstream_url.empty() ? "(none: standalone)" : c.upstream_url) << "\n"
    << "manager_id: " << c.manager_id << "\n"
    << "manager_secret: " << (c.manager_secret.empty() ? "(none)" : "****") << "\n"
    << "download_task_sleep: " << FormatDuration(c.download_task_sleep) << "\n"
    << "download_task_recheck_throttle: " << FormatDuration(c.download_task_recheck_throttle) << "\n"
    << "task_update_push_max_interval: " << FormatDuration(c.task_update_push_max_interval) << "\n"
    << "task_update_push_max_count: " << c.task_update_push_max_count << "\n"
    << "active_task_timeout_interval: " << FormatDuration(c.active_task_timeout_interval) << "\n"
    << "active_worker_timeout_interval: " << FormatDuration(c.active_worker_timeout_interval) << "\n"
    << "timeout_startup_grace: " << FormatDuration(c.timeout_startup_grace) << "\n"
    << "timeout_check_interval: " << FormatDuration(c.timeout_check_interval) << "\n"
    << "worker_cleanup_max_age: " << FormatDuration(c.worker_cleanup_max_age) << "\n"
    << "worker_cleanup_status: " << fmt_list(c.worker_cleanup_status) << "\n"
    << "blacklist_expiry: " << FormatDuration(c.blacklist_expiry) << "\n"
    << "worker_gone_grace: " << FormatDuration(c.worker_gone_grace) << "\n"
    << "starvation_fail_after: " << FormatDuration(c.starvation_fail_after) << "\n"
    << "blacklist_threshold: " << c.blacklist_threshold << "\n"
    << "task_fail_after_softfail_count: " << c.task_fail_after_softfail_count << "\n"
    << "task_fail_job_percentage: " << c.task_fail_job_percentage << "\n"
    << "request_body_limit: " << c.request_body_limit_bytes << "\n"
    << "request_header_limit: " << c.request_header_limit_bytes << "\n"
    << "http_idle_timeout: " << FormatDuration(c.http_idle_timeout) << "\n"
    << "http_header_timeout: " << FormatDuration(c.http_header_timeout) << "\n"
    << "http_body_timeout: " << FormatDuration(c.http_body_timeout) << "\n"
    << "tls: " << (c.tls_cert.empty() ? "(none: plain HTTP)" : "certificate " + c.tls_cert + ", key " + c.tls_key)
    << "\n"
    << "upstream_ca_path: " << (c.upstream_ca_path.empty() ? "(system CA store)" : c.upstream_ca_path) << "\n"
    << "task_log_max_bytes: " << (c.task_log_max_bytes == 0 ? "(no cap)" : std::to_string(c.task_log_max_bytes)) << "\n"
    << "task_logs_max_total_bytes: "
    << (c.task_logs_max_total_bytes == 0 ? "(no cap)" : std::to_string(c.task_logs_max_total_bytes)) << "\n"
    << "timezone: " << (c.timezone.empty() ? "(system)" : c.timezone) << "\n"
    << "sleep_schedule_check_interval: " << FormatDuration(c.sleep_schedule_check_interval) << "\n"
    << "variables: " << ToJson(c.variables).dump() << "\n"
    << "users: ";
  if (c.users.empty()) o << "(none: admin token in DATA_DIR/admin-token)";
  for (size_t i = 0; i < c.users.size(); ++i)
    o << (i ? ", " : "") << c.users[i].name << " (" << ToString(c.users[i].role) << ")";
  o << "\nwebhooks: ";
  if (c.webhooks.empty()) o << "(none)";
  for (size_t i = 0; i < c.webhooks.size(); ++i) {
    const auto& h = c.webhooks[i];
    o << (i ? ", " : "") << h.url
      << " (events: " << (h.events.empty() ? std::string("all") : fmt_list({h.events.begin(), h.events.end()})) << ", "
      << h.max_attempts << " attempts, secret ****)";
  }
  for (const auto& k : c.ignored_keys) o << "\n(ignored v2 key: " << k << ")";
  return o.str();
}

}  // namespace duende::manager
