// The lossctl commands. Each takes the positional arguments after its name
// (flags are already parsed) and returns the process exit code (see
// rpc_status.h).

#ifndef LOSSCTL_COMMANDS_H_
#define LOSSCTL_COMMANDS_H_

#include <string>
#include <vector>

namespace lossctl {

// Prints the loss registry (ListLosses).
int RunList(const std::vector<std::string>& arguments);
// grpc.health.v1.Health/Check; exits 0 only when SERVING.
int RunHealth(const std::vector<std::string>& arguments);
// One Compute call built from JSON or .npy inputs.
int RunCompute(const std::vector<std::string>& arguments);
// Load test (see bench/).
int RunBench(const std::vector<std::string>& arguments);

}  // namespace lossctl

#endif  // LOSSCTL_COMMANDS_H_
