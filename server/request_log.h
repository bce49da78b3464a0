// One log line per request, as text (key=value) or JSON, through spdlog.

#ifndef LOSSD_SERVER_REQUEST_LOG_H_
#define LOSSD_SERVER_REQUEST_LOG_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"

namespace lossd::server {

enum class LogFormat { kText, kJson };

// Configures the default spdlog logger (stderr) for `format` and `level`
// ("debug", "info", "warn", "error"). Returns false for an unknown level.
bool ConfigureLogging(LogFormat format, absl::string_view level);

// Logs `message` at info level with `fields`, e.g.
//   text: request method=Compute loss=cross_entropy code=OK seconds=0.0012
//   json: {"time":...,"level":"info","msg":"request","method":"Compute",...}
void LogEvent(absl::string_view message,
              const std::vector<std::pair<std::string, std::string>>& fields);

}  // namespace lossd::server

#endif  // LOSSD_SERVER_REQUEST_LOG_H_
