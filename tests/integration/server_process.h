// Starts a real lossd for a test on a free loopback port and stops it.

#ifndef LOSSD_TESTS_INTEGRATION_SERVER_PROCESS_H_
#define LOSSD_TESTS_INTEGRATION_SERVER_PROCESS_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "grpcpp/grpcpp.h"

namespace lossd::testing {

class ServerProcess {
 public:
  // Starts `binary` with `--address=127.0.0.1:0 --port_file=...
  // --metrics_address=` (no metrics endpoint; later flags win) plus
  // `extra_args` and `environment` (NAME=value entries added to ours), and
  // waits until it is serving.
  static absl::StatusOr<std::unique_ptr<ServerProcess>> Start(
      const std::string& binary, std::vector<std::string> extra_args = {},
      std::vector<std::string> environment = {});

  // Kills the server (SIGKILL) if it still runs.
  ~ServerProcess();

  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  std::string target() const;
  std::shared_ptr<grpc::Channel> NewChannel() const;

  // Sends `signal` and waits up to `timeout_seconds` for the exit; returns
  // the exit status (as from waitpid) or an error on timeout.
  absl::StatusOr<int> SignalAndWait(int signal, double timeout_seconds);

  // Whether the process is still running.
  bool Running();

  // The server's log so far (stderr), for failure messages.
  std::string Log() const;

 private:
  ServerProcess() = default;
  pid_t pid_ = -1;
  int port_ = 0;
  bool exited_ = false;
  std::string directory_;
};

// Calls grpc.health.v1.Health/Check for `service` through a generic stub
// (no health proto is shipped). Returns 1 SERVING, 2 NOT_SERVING, 0 UNKNOWN,
// or the RPC's error.
absl::StatusOr<int> CheckHealth(const std::shared_ptr<grpc::Channel>& channel,
                                const std::string& service);

}  // namespace lossd::testing

#endif  // LOSSD_TESTS_INTEGRATION_SERVER_PROCESS_H_
