#include "bench/machine_info.h"

#include <sys/utsname.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace lossctl::bench {

MachineInfo DescribeMachine() {
  MachineInfo info;
  char hostname[256] = {};
  if (gethostname(hostname, sizeof hostname - 1) == 0) info.hostname = hostname;
  info.logical_cpus = static_cast<int>(std::thread::hardware_concurrency());
  utsname names;
  if (uname(&names) == 0) {
    info.kernel = absl::StrCat(names.sysname, " ", names.release);
  }
  std::ifstream cpuinfo("/proc/cpuinfo");
  for (std::string line; std::getline(cpuinfo, line);) {
    if (absl::StartsWith(line, "model name")) {
      info.cpu_model = std::string(
          absl::StripAsciiWhitespace(line.substr(line.find(':') + 1)));
      break;
    }
  }
  std::ifstream meminfo("/proc/meminfo");
  for (std::string line; std::getline(meminfo, line);) {
    absl::string_view view = line;
    if (absl::ConsumePrefix(&view, "MemTotal:")) {
      double kib;
      view = absl::StripAsciiWhitespace(view);
      absl::ConsumeSuffix(&view, "kB");
      if (absl::SimpleAtod(absl::StripAsciiWhitespace(view), &kib)) {
        info.memory_gib = kib / (1024.0 * 1024.0);
      }
      break;
    }
  }
  std::ifstream loadavg("/proc/loadavg");
  std::string one, five, fifteen;
  if (loadavg >> one >> five >> fifteen) {
    info.load_average = absl::StrCat(one, " ", five, " ", fifteen);
  }
  return info;
}

}  // namespace lossctl::bench
