// Logging setup shared by the executables (spdlog).
#pragma once

#include <string>

namespace duende {

// Sets the global log level ("debug", "info", "warn", "error") and a compact
// pattern with UTC timestamps. Unknown levels fall back to "info".
void SetupLogging(const std::string& level);

}  // namespace duende
