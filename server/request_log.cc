#include "request_log.h"

#include <atomic>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "spdlog/sinks/stdout_sinks.h"
#include "spdlog/spdlog.h"

namespace lossd::server {
namespace {

std::atomic<LogFormat> log_format{LogFormat::kText};

// JSON text of `text`; invalid UTF-8 from a client is replaced, not thrown.
std::string Quote(absl::string_view text) {
  return nlohmann::json(text).dump(-1, ' ', false,
                                   nlohmann::json::error_handler_t::replace);
}

}  // namespace

bool ConfigureLogging(LogFormat format, absl::string_view level) {
  const spdlog::level::level_enum parsed =
      spdlog::level::from_str(std::string(level));
  if (parsed == spdlog::level::off && level != "off") return false;
  // Logs go to stderr (spdlog's default is stdout), as a server's should.
  spdlog::set_default_logger(std::make_shared<spdlog::logger>(
      "lossd", std::make_shared<spdlog::sinks::stderr_sink_mt>()));
  spdlog::set_level(parsed);
  log_format = format;
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

void LogEvent(LogLevel level, absl::string_view message,
              const LogFields& fields) {
  const spdlog::level::level_enum spdlog_level =
      level == LogLevel::kError     ? spdlog::level::err
      : level == LogLevel::kWarning ? spdlog::level::warn
                                    : spdlog::level::info;
  if (!spdlog::should_log(spdlog_level)) return;
  if (log_format == LogFormat::kJson) {
    std::string line = absl::StrCat(R"("msg":)", Quote(message));
    for (const auto& [key, value] : fields) {
      absl::StrAppend(&line, ",", Quote(key), ":", Quote(value));
    }
    spdlog::log(spdlog_level, line);
    return;
  }
  std::string line(message);
  for (const auto& [key, value] : fields) {
    const bool quote = value.empty() || value.find(' ') != std::string::npos;
    absl::StrAppend(&line, " ", key, "=", quote ? "\"" : "", value,
                    quote ? "\"" : "");
  }
  spdlog::log(spdlog_level, line);
}

}  // namespace lossd::server
