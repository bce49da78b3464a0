// One log line per request, as text (key=value) or JSON, through spdlog.
// Lines are written to stderr by a background thread (BatchedLogSink), so
// logging costs a request no system call; FlushLogging() before exit.

#ifndef LOSSD_SERVER_REQUEST_LOG_H_
#define LOSSD_SERVER_REQUEST_LOG_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"

namespace lossd::server {

enum class LogFormat { kText, kJson };

// Configures the default spdlog logger (stderr) for `format` and `level`
// ("debug", "info", "warn", "error"). Returns false for an unknown level.
// A line reaches stderr within about 10 ms of being logged, in order; if
// stderr does not keep up, lines past a bounded backlog are dropped and a
// warn line says how many.
bool ConfigureLogging(LogFormat format, absl::string_view level);

// Writes every line logged so far to stderr before it returns. lossd calls
// it before exiting, on every path; lines still pending when the process is
// killed (SIGKILL, a crash) are lost. Thread-safe.
void FlushLogging();

// Lines dropped so far because stderr did not keep up (0 before
// ConfigureLogging). Thread-safe; lossd_log_lines_dropped_total reports it.
int64_t DroppedLogLines();

enum class LogLevel { kInfo, kWarning, kError };

using LogFields = std::vector<std::pair<std::string, std::string>>;

// Logs `message` with `fields` to stderr, e.g.
//   text: request method=Compute loss=cross_entropy code=0 seconds=0.0012
//   json: {"time":...,"level":"info","msg":"request","method":"Compute",...}
// Every line goes through here so that JSON lines are always valid JSON.
void LogEvent(LogLevel level, absl::string_view message,
              const LogFields& fields);
inline void LogEvent(absl::string_view message, const LogFields& fields) {
  LogEvent(LogLevel::kInfo, message, fields);
}

}  // namespace lossd::server

#endif  // LOSSD_SERVER_REQUEST_LOG_H_
