#include "request_flags.h"

#include <string>

#include "absl/flags/flag.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

ABSL_FLAG(std::string, loss, "",
          "compute, bench: the loss, a name from `lossctl list` (bench "
          "default: cross_entropy).");
ABSL_FLAG(
    std::string, options, "",
    "compute, bench: the loss's options as a JSON object (inline or "
    "@FILE), e.g. '{\"label_smoothing\": 0.1, \"class_weight\": [1, 2]}'.");
ABSL_FLAG(std::string, reduction, "",
          "compute, bench: none, sum, mean (the default) or batch_mean.");
ABSL_FLAG(std::string, input_kind, "",
          "compute, bench: logits, probabilities or log_probabilities "
          "(default: the loss's first, usually logits).");
ABSL_FLAG(std::string, class_axis, "",
          "compute, bench: the class axis of the input (default: last; "
          "negative counts from the end).");
ABSL_FLAG(std::string, dtype, "",
          "compute: the floating dtype JSON tensors are sent as (default "
          "float32). bench: the input's dtype.");
ABSL_FLAG(bool, per_example, false,
          "compute: also ask for and print each example's loss (always on "
          "with --reduction none). bench: ask for them in every request.");
ABSL_FLAG(std::string, grad_dtype, "",
          "compute, bench: dtype of the returned gradient (default: the "
          "input's).");

namespace lossctl {

absl::Status ApplyRequestFlags(ComputeSpec* spec) {
  if (const std::string loss = absl::GetFlag(FLAGS_loss); !loss.empty()) {
    spec->loss = loss;
  }
  if (const std::string options = absl::GetFlag(FLAGS_options);
      !options.empty()) {
    absl::StatusOr<nlohmann::json> parsed =
        ReadJsonArgument(options, "--options");
    if (!parsed.ok()) return parsed.status();
    spec->options = *std::move(parsed);
  }
  if (const std::string text = absl::GetFlag(FLAGS_reduction); !text.empty()) {
    absl::StatusOr<v1::Reduction> reduction = ParseReduction(text);
    if (!reduction.ok()) return reduction.status();
    spec->reduction = *reduction;
  }
  if (const std::string text = absl::GetFlag(FLAGS_input_kind); !text.empty()) {
    absl::StatusOr<v1::InputKind> kind = ParseInputKind(text);
    if (!kind.ok()) return kind.status();
    spec->input_kind = *kind;
  }
  if (const std::string text = absl::GetFlag(FLAGS_class_axis); !text.empty()) {
    int axis;
    if (!absl::SimpleAtoi(text, &axis)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--class_axis \"", text, "\" is not an integer"));
    }
    spec->class_axis = axis;
  }
  if (const std::string text = absl::GetFlag(FLAGS_dtype); !text.empty()) {
    absl::StatusOr<v1::DType> dtype = ParseDTypeName(text);
    if (!dtype.ok()) return dtype.status();
    if (!IsFloatingDType(*dtype)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--dtype ", text, " is not a floating dtype"));
    }
    spec->float_dtype = *dtype;
  }
  if (const std::string text = absl::GetFlag(FLAGS_grad_dtype); !text.empty()) {
    absl::StatusOr<v1::DType> dtype = ParseDTypeName(text);
    if (!dtype.ok()) return dtype.status();
    spec->grad_dtype = *dtype;
  }
  if (absl::GetFlag(FLAGS_per_example)) spec->per_example = true;
  return absl::OkStatus();
}

}  // namespace lossctl
