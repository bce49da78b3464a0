// A description of the machine a benchmark ran on, for its report.

#ifndef LOSSCTL_BENCH_MACHINE_INFO_H_
#define LOSSCTL_BENCH_MACHINE_INFO_H_

#include <string>

namespace lossctl::bench {

struct MachineInfo {
  std::string hostname;
  std::string cpu_model;  // From /proc/cpuinfo; empty if unknown.
  int logical_cpus = 0;
  std::string kernel;        // uname -sr.
  double memory_gib = 0;     // MemTotal.
  std::string load_average;  // /proc/loadavg's first three fields.
};

// Reads what Linux tells; fields it cannot read stay empty.
MachineInfo DescribeMachine();

}  // namespace lossctl::bench

#endif  // LOSSCTL_BENCH_MACHINE_INFO_H_
