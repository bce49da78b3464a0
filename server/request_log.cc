#include "request_log.h"

#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "batched_log_sink.h"
#include "nlohmann/json.hpp"
#include "spdlog/spdlog.h"

namespace lossd::server {
namespace {

std::atomic<LogFormat> log_format{LogFormat::kText};

// How long the log writer lets lines gather before one write(2): the most a
// line lags behind its event, and (under load) one write per this long.
constexpr absl::Duration kLogWriteDelay = absl::Milliseconds(10);
// Lines waiting to be written past which new ones are dropped (and counted):
// about 15,000 request lines, most of a second at the highest request rate
// measured. Bounds the log's memory (twice this: a batch being written and
// the next) when stderr does not keep up.
constexpr size_t kMaxPendingLogBytes = 4 << 20;

// JSON text of `text`; invalid UTF-8 from a client is replaced, not thrown.
std::string Quote(absl::string_view text) {
  return nlohmann::json(text).dump(-1, ' ', false,
                                   nlohmann::json::error_handler_t::replace);
}

// What spdlog's %v holds: `message` and `fields` as text (key=value) or as
// the fields of a JSON object.
std::string Payload(LogFormat format, absl::string_view message,
                    const LogFields& fields) {
  if (format == LogFormat::kJson) {
    std::string line = absl::StrCat(R"("msg":)", Quote(message));
    for (const auto& [key, value] : fields) {
      absl::StrAppend(&line, ",", Quote(key), ":", Quote(value));
    }
    return line;
  }
  std::string line(message);
  for (const auto& [key, value] : fields) {
    const bool quote = value.empty() || value.find(' ') != std::string::npos;
    absl::StrAppend(&line, " ", key, "=", quote ? "\"" : "", value,
                    quote ? "\"" : "");
  }
  return line;
}

}  // namespace

bool ConfigureLogging(LogFormat format, absl::string_view level) {
  const spdlog::level::level_enum parsed =
      spdlog::level::from_str(std::string(level));
  if (parsed == spdlog::level::off && level != "off") return false;
  log_format = format;
  // Logs go to stderr (spdlog's default is stdout), as a server's should,
  // written by a background thread: a request's line costs it no system
  // call (it was a write(2) each, about 5 microseconds of a small request's
  // 34; docs/PERFORMANCE.md).
  spdlog::set_default_logger(std::make_shared<spdlog::logger>(
      "lossd", std::make_shared<BatchedLogSink>(
                   STDERR_FILENO, kLogWriteDelay, kMaxPendingLogBytes,
                   [format](int64_t count) {
                     return Payload(format, "log lines dropped",
                                    {{"count", std::to_string(count)},
                                     {"reason", "stderr did not keep up"}});
                   })));
  spdlog::set_level(parsed);
  if (format == LogFormat::kJson) {
    // The message (%v) is itself a JSON fragment of further fields.
    spdlog::set_pattern(R"({"time":"%Y-%m-%dT%H:%M:%S.%fZ","level":"%l",%v})",
                        spdlog::pattern_time_type::utc);
  } else {
    spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%fZ %L %v",
                        spdlog::pattern_time_type::utc);
  }
  return true;
}

void FlushLogging() { spdlog::default_logger()->flush(); }

int64_t DroppedLogLines() {
  // The logger's sinks are fixed when it is made; the default logger is
  // swapped whole, under spdlog's lock.
  for (const spdlog::sink_ptr& sink : spdlog::default_logger()->sinks()) {
    if (const auto* batched = dynamic_cast<const BatchedLogSink*>(sink.get())) {
      return batched->dropped_lines();
    }
  }
  return 0;
}

void LogEvent(LogLevel level, absl::string_view message,
              const LogFields& fields) {
  const spdlog::level::level_enum spdlog_level =
      level == LogLevel::kError     ? spdlog::level::err
      : level == LogLevel::kWarning ? spdlog::level::warn
                                    : spdlog::level::info;
  if (!spdlog::should_log(spdlog_level)) return;
  spdlog::log(spdlog_level, Payload(log_format, message, fields));
}

}  // namespace lossd::server
