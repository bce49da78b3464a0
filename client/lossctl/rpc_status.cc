#include "rpc_status.h"

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace lossctl {

std::string StatusCodeName(grpc::StatusCode code) {
  // absl and gRPC number their codes alike (both follow google.rpc.Code).
  const int number = static_cast<int>(code);
  if (number < 0 || number > 16) return absl::StrCat("CODE_", number);
  return absl::StatusCodeToString(static_cast<absl::StatusCode>(number));
}

std::string DescribeStatus(const grpc::Status& status) {
  if (status.error_message().empty()) {
    return StatusCodeName(status.error_code());
  }
  return absl::StrCat(StatusCodeName(status.error_code()), ": ",
                      status.error_message());
}

int ReportRpcError(absl::string_view command, const grpc::Status& status) {
  std::fprintf(stderr, "lossctl %s: %s\n", std::string(command).c_str(),
               DescribeStatus(status).c_str());
  return kExitRpcFailed;
}

int ReportUsageError(absl::string_view command, const absl::Status& status) {
  std::fprintf(stderr, "lossctl %s: %s\n", std::string(command).c_str(),
               std::string(status.message()).c_str());
  return kExitUsage;
}

std::chrono::system_clock::time_point DeadlineAfter(absl::Duration timeout) {
  return absl::ToChronoTime(absl::Now() + timeout);
}

}  // namespace lossctl
