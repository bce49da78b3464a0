// The command line lossctl was started with, for reports that must say how
// they were produced.

#ifndef LOSSCTL_COMMAND_LINE_H_
#define LOSSCTL_COMMAND_LINE_H_

#include <string>

namespace lossctl {

// Call once from main, before any command runs.
void RememberCommandLine(int argc, char** argv);
// The arguments joined by spaces (quoted when they hold blanks or quotes).
const std::string& CommandLine();

}  // namespace lossctl

#endif  // LOSSCTL_COMMAND_LINE_H_
