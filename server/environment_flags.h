// Every server flag can also be set from the environment: --max_request_bytes
// from LOSSD_MAX_REQUEST_BYTES, and so on. The command line wins.

#ifndef LOSSD_SERVER_ENVIRONMENT_FLAGS_H_
#define LOSSD_SERVER_ENVIRONMENT_FLAGS_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace lossd::server {

// The environment variable for `flag_name`: "LOSSD_" + upper case.
std::string EnvironmentVariableFor(absl::string_view flag_name);

// Sets each flag defined in a file under server/ from its environment
// variable, if set. Call before absl::ParseCommandLine so that the command
// line overrides. Returns InvalidArgument naming the variable on a bad value.
absl::Status ApplyEnvironmentToFlags();

}  // namespace lossd::server

#endif  // LOSSD_SERVER_ENVIRONMENT_FLAGS_H_
