// Runs a program (lossctl) as a child process and captures what it printed.

#ifndef LOSSD_TESTS_LOSSCTL_COMMAND_RUNNER_H_
#define LOSSD_TESTS_LOSSCTL_COMMAND_RUNNER_H_

#include <string>
#include <vector>

namespace lossctl::testing {

struct CommandResult {
  // The exit code, or 128 + the signal number when killed (e.g. on timeout).
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs `argv` (argv[0] is the program's path, no shell involved), waiting
// at most `timeout_seconds` before killing it.
CommandResult RunCommand(const std::vector<std::string>& argv,
                         double timeout_seconds = 30);

// A loopback port that refuses connections for as long as this lives: a
// socket bound to it that never listens, so no other process can take it.
class RefusingPort {
 public:
  RefusingPort();
  ~RefusingPort();
  RefusingPort(const RefusingPort&) = delete;
  RefusingPort& operator=(const RefusingPort&) = delete;

  int port() const { return port_; }
  std::string target() const;  // "127.0.0.1:<port>"

 private:
  int socket_ = -1;
  int port_ = 0;
};

}  // namespace lossctl::testing

#endif  // LOSSD_TESTS_LOSSCTL_COMMAND_RUNNER_H_
