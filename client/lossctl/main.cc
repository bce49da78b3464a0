// lossctl: the command-line client of lossd.
//
//   lossctl list                        the losses the server offers
//   lossctl health                      exit 0 when the server is SERVING
//   lossctl compute [REQUEST] [flags]   one loss computation
//   lossctl bench [flags]               load test
//
// Flags may come before or after the command; `lossctl --help` lists them.

#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "command_line.h"
#include "commands.h"
#include "rpc_status.h"

namespace {

constexpr char kUsage[] =
    "lossctl: the command-line client of lossd.\n"
    "\n"
    "  lossctl list      [--target HOST:PORT] [--format text|json]\n"
    "  lossctl health    [--target HOST:PORT] [--timeout 1s]\n"
    "  lossctl compute   [REQUEST.json | @FILE] --loss NAME --input T "
    "--labels T\n"
    "                    [--options JSON] [--reduction mean] [--per_example]\n"
    "                    [--grad_out grad.npy|grad.csv|grad.json|-]\n"
    "                    [--save_request FILE]\n"
    "  lossctl bench     [--concurrency 1,4,16 | --rate 100,200] "
    "[--duration 10s]\n"
    "                    [--loss NAME --shape 256x1000 | --request FILE] ...\n"
    "                    [--verify] [--retries N]\n"
    "\n"
    "--target takes a comma list of replicas (round-robin); --retries N "
    "retries\n"
    "Compute calls that failed with UNAVAILABLE on the next replica (default "
    "2\n"
    "for compute and list, 0 for bench).\n"
    "Tensors T are inline JSON ([[0.9, 0.1], [0.1, 0.9]]), @FILE.json or "
    "FILE.npy.\n"
    "Exit codes: 0 success, 1 the server refused or could not be reached, "
    "2 bad usage.\n"
    "See docs/BENCHMARKING.md for bench.";

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(kUsage);
  absl::FlagsUsageConfig usage_config;
  // --help lists lossctl's own flags, not those of gRPC or Abseil.
  usage_config.contains_help_flags = [](absl::string_view path) {
    return absl::StrContains(path, "lossctl");
  };
  usage_config.contains_helpshort_flags = usage_config.contains_help_flags;
  absl::SetFlagsUsageConfig(usage_config);
  lossctl::RememberCommandLine(argc, argv);
  std::vector<char*> positional = absl::ParseCommandLine(argc, argv);
  if (positional.size() < 2) {
    std::fprintf(stderr, "%s\n", kUsage);
    return lossctl::kExitUsage;
  }
  const std::string command = positional[1];
  const std::vector<std::string> arguments(positional.begin() + 2,
                                           positional.end());
  if (command == "list") return lossctl::RunList(arguments);
  if (command == "health") return lossctl::RunHealth(arguments);
  if (command == "compute") return lossctl::RunCompute(arguments);
  if (command == "bench") return lossctl::RunBench(arguments);
  if (command == "help") {
    std::printf("%s\n", kUsage);
    return lossctl::kExitOk;
  }
  std::fprintf(stderr, "lossctl: unknown command \"%s\"\n\n%s\n",
               command.c_str(), kUsage);
  return lossctl::kExitUsage;
}
