#include "output_format.h"

#include <string>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"

ABSL_FLAG(std::string, format, "text",
          "list, compute: output as text (for people) or json (for scripts).");

namespace lossctl {

absl::StatusOr<OutputFormat> OutputFormatFlag() {
  const std::string format = absl::GetFlag(FLAGS_format);
  if (format == "text") return OutputFormat::kText;
  if (format == "json") return OutputFormat::kJson;
  return absl::InvalidArgumentError(
      absl::StrCat("--format must be text or json, not \"", format, "\""));
}

}  // namespace lossctl
