// What the reliability tests share: lossd replicas started from this build,
// `lossctl bench` run in the background, request files, the server's
// resident memory, and the one-line figures each test prints.

#ifndef LOSSD_TESTS_RELIABILITY_RELIABILITY_SUPPORT_H_
#define LOSSD_TESTS_RELIABILITY_RELIABILITY_SUPPORT_H_

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "command_runner.h"
#include "lossd/v1/loss_service.pb.h"
#include "server_process.h"

namespace lossd::reliability {

using Server = std::unique_ptr<lossd::testing::ServerProcess>;

// A lossd from this build on 127.0.0.1:0 (port from --port_file, metrics
// off), with `arguments` after the defaults (later flags win).
absl::StatusOr<Server> StartServer(std::vector<std::string> arguments = {});

// Runs a command (lossctl) on a thread of its own, so that the test can act
// on the servers meanwhile.
class BackgroundCommand {
 public:
  BackgroundCommand(std::vector<std::string> argv, double timeout_seconds);
  ~BackgroundCommand();  // Waits for the command.

  bool done() const { return done_.load(); }
  // Waits for the command and returns what it printed.
  const lossctl::testing::CommandResult& Wait();

 private:
  lossctl::testing::CommandResult result_;
  std::atomic<bool> done_{false};
  std::thread thread_;
};

// The lossctl binary of this build.
std::string LossctlPath();

// A fresh path in the test's temporary directory.
std::string TempPath(const std::string& name);

// Writes `request` (protobuf binary) for `lossctl bench --request`.
absl::Status WriteRequest(const lossd::v1::ComputeRequest& request,
                          const std::string& path);

// A generated request (lossctl bench's generator): `loss` over `shape`,
// `target_kind` ("" for the loss's first), `dtype`, `seed`, with grad_input.
lossd::v1::ComputeRequest Generated(
    const std::string& loss, std::vector<int64_t> shape,
    const std::string& target_kind, uint64_t seed,
    lossd::v1::DType dtype = lossd::v1::DTYPE_FLOAT32);

// VmRSS of `pid` in KiB (from /proc/PID/status), or -1.
int64_t ResidentKib(pid_t pid);

// How many times `needle` occurs in `text`.
int64_t CountOccurrences(const std::string& text, const std::string& needle);

}  // namespace lossd::reliability

#endif  // LOSSD_TESTS_RELIABILITY_RELIABILITY_SUPPORT_H_
