// The Manager's YAML configuration file (spec §12.1, with Duende's keys):
// ParseConfig, then the start-up description of what it accepted.
#include "fuzz_util.h"
#include "manager/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace duende;
  auto config = manager::ParseConfig(std::string(fuzz::AsText(data, size)), "/var/lib/duende");
  if (!config) {
    FUZZ_CHECK(fuzz::IsClearError(config.error()));
    return 0;
  }
  FUZZ_CHECK(config->active_task_timeout_interval > config->active_worker_timeout_interval);
  FUZZ_CHECK(config->task_log_head_kib >= 1 && config->task_log_tail_kib >= 1);
  FUZZ_CHECK(!config->task_logs_path.empty());
  // The description is logged at start-up; the secrets stay masked.
  const std::string described = manager::DescribeConfig(*config);
  if (config->worker_registration_secret.size() > 8)
    FUZZ_CHECK(described.find(config->worker_registration_secret) == std::string::npos);
  return 0;
}
