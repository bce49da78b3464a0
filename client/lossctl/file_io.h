// Whole-file reads and writes with errors as values.

#ifndef LOSSCTL_FILE_IO_H_
#define LOSSCTL_FILE_IO_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace lossctl {

// The file's bytes; NotFound or a similar error naming the path and errno.
absl::StatusOr<std::string> ReadFile(const std::string& path);

// Replaces the file's contents; "-" writes to standard output.
absl::Status WriteFile(const std::string& path, absl::string_view bytes);

}  // namespace lossctl

#endif  // LOSSCTL_FILE_IO_H_
