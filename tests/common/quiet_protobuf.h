// Included by tests that send malformed requests: protobuf logs invalid UTF-8
// in string fields at length, which buries the tests' own output.

#ifndef LOSSD_TESTS_COMMON_QUIET_PROTOBUF_H_
#define LOSSD_TESTS_COMMON_QUIET_PROTOBUF_H_

#include <string>

#include "google/protobuf/stubs/logging.h"

namespace lossd_tests {

// Silences protobuf's log when the test binary starts.
inline const bool kQuietProtobuf = [] {
  google::protobuf::SetLogHandler(
      [](google::protobuf::LogLevel, const char*, int, const std::string&) {});
  return true;
}();

}  // namespace lossd_tests

#endif  // LOSSD_TESTS_COMMON_QUIET_PROTOBUF_H_
