// `lossctl bench`: placeholder until the load tester lands.

#include <cstdio>

#include "commands.h"
#include "rpc_status.h"

namespace lossctl {

int RunBench(const std::vector<std::string>& arguments) {
  std::fprintf(stderr, "lossctl bench: not built yet\n");
  return kExitUsage;
}

}  // namespace lossctl
