#include "command_line.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"

namespace lossctl {
namespace {

std::string& Stored() {
  static std::string* const command_line = new std::string();
  return *command_line;
}

}  // namespace

void RememberCommandLine(int argc, char** argv) {
  std::string& out = Stored();
  out.clear();
  for (int i = 0; i < argc; ++i) {
    const std::string argument = argv[i];
    if (i > 0) out += ' ';
    if (argument.find_first_of(" \t'\"{}[]*?$") == std::string::npos) {
      out += argument;
    } else {
      out += absl::StrCat("'", absl::StrReplaceAll(argument, {{"'", "'\\''"}}),
                          "'");
    }
  }
}

const std::string& CommandLine() { return Stored(); }

}  // namespace lossctl
