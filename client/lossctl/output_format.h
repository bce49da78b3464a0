// The --format flag of list and compute: human-readable text or JSON.

#ifndef LOSSCTL_OUTPUT_FORMAT_H_
#define LOSSCTL_OUTPUT_FORMAT_H_

#include "absl/status/statusor.h"

namespace lossctl {

enum class OutputFormat { kText, kJson };

absl::StatusOr<OutputFormat> OutputFormatFlag();

}  // namespace lossctl

#endif  // LOSSCTL_OUTPUT_FORMAT_H_
