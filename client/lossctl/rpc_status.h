// How lossctl reports outcomes: gRPC status code names and exit codes.

#ifndef LOSSCTL_RPC_STATUS_H_
#define LOSSCTL_RPC_STATUS_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "grpcpp/grpcpp.h"

namespace lossctl {

// Process exit codes.
inline constexpr int kExitOk = 0;
// The server answered with an error, or could not be reached.
inline constexpr int kExitRpcFailed = 1;
// The command line or an input file is wrong; nothing was sent.
inline constexpr int kExitUsage = 2;

// "INVALID_ARGUMENT" for grpc::StatusCode::INVALID_ARGUMENT, and so on.
std::string StatusCodeName(grpc::StatusCode code);

// "INVALID_ARGUMENT: target[2] = 7 is outside [0, 2)".
std::string DescribeStatus(const grpc::Status& status);

// Prints "lossctl <command>: <description>" to stderr; returns kExitRpcFailed.
int ReportRpcError(absl::string_view command, const grpc::Status& status);
// Prints "lossctl <command>: <message>" to stderr; returns kExitUsage.
int ReportUsageError(absl::string_view command, const absl::Status& status);

// A deadline `timeout` from now.
std::chrono::system_clock::time_point DeadlineAfter(absl::Duration timeout);

}  // namespace lossctl

#endif  // LOSSCTL_RPC_STATUS_H_
