#include "reliability_support.h"

#include <unistd.h>

#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "bench/request_generator.h"
#include "gtest/gtest.h"

namespace lossd::reliability {

absl::StatusOr<Server> StartServer(std::vector<std::string> arguments) {
  return lossd::testing::ServerProcess::Start(LOSSD_SERVER_PATH,
                                              std::move(arguments));
}

BackgroundCommand::BackgroundCommand(std::vector<std::string> argv,
                                     double timeout_seconds)
    : thread_([this, argv = std::move(argv), timeout_seconds] {
        result_ = lossctl::testing::RunCommand(argv, timeout_seconds);
        done_.store(true);
      }) {}

BackgroundCommand::~BackgroundCommand() {
  if (thread_.joinable()) thread_.join();
}

const lossctl::testing::CommandResult& BackgroundCommand::Wait() {
  if (thread_.joinable()) thread_.join();
  return result_;
}

std::string LossctlPath() { return LOSSCTL_PATH; }

std::string TempPath(const std::string& name) {
  return absl::StrCat(::testing::TempDir(), "/lossd_reliability_", getpid(),
                      "_", name);
}

absl::Status WriteRequest(const lossd::v1::ComputeRequest& request,
                          const std::string& path) {
  std::ofstream out(path, std::ios::binary);
  if (!request.SerializeToOstream(&out) || !out.flush()) {
    return absl::InternalError(absl::StrCat("cannot write ", path));
  }
  return absl::OkStatus();
}

lossd::v1::ComputeRequest Generated(const std::string& loss,
                                    std::vector<int64_t> shape,
                                    const std::string& target_kind,
                                    uint64_t seed, lossd::v1::DType dtype) {
  lossctl::bench::GeneratorSpec spec;
  spec.request.loss = loss;
  spec.request.grad_input = true;
  spec.shape = std::move(shape);
  spec.dtype = dtype;
  spec.seed = seed;
  if (!target_kind.empty()) {
    absl::StatusOr<lossd::v1::TargetKind> kind =
        lossctl::bench::ParseTargetKind(target_kind);
    EXPECT_TRUE(kind.ok()) << kind.status();
    if (kind.ok()) spec.target_kind = *kind;
  }
  absl::StatusOr<lossd::v1::ComputeRequest> request =
      lossctl::bench::GenerateRequest(spec);
  EXPECT_TRUE(request.ok()) << request.status();
  return request.ok() ? *std::move(request) : lossd::v1::ComputeRequest();
}

int64_t ResidentKib(pid_t pid) {
  std::ifstream status(absl::StrCat("/proc/", pid, "/status"));
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmRSS:", 0) != 0) continue;
    std::istringstream fields(line.substr(6));
    int64_t kib = -1;
    fields >> kib;
    return kib;
  }
  return -1;
}

int64_t CountOccurrences(const std::string& text, const std::string& needle) {
  int64_t count = 0;
  for (size_t at = text.find(needle); at != std::string::npos;
       at = text.find(needle, at + needle.size())) {
    ++count;
  }
  return count;
}

}  // namespace lossd::reliability
