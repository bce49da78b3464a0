// The loss registry: every loss the library computes, declared once with
// its name, the targets and inputs it accepts, and its options. Listings,
// validation and documentation all read it.

#ifndef LOSSD_REGISTRY_H_
#define LOSSD_REGISTRY_H_

#include <optional>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "lossd/options.h"
#include "lossd/types.h"

namespace lossd {

namespace internal {
template <typename T>
struct KernelArgs;
struct KernelTotals;

// The computation behind one loss for one compute type.
template <typename T>
struct LossOps {
  // Writes per-example losses and gradients as requested; returns totals.
  KernelTotals (*run)(const KernelArgs<T>& args) = nullptr;
  // run() takes KernelArgs::input_16bit (float only).
  bool reads_16bit_input = false;
  // Whether run() on these args may write grad_input over input (the same
  // buffer): it reads every input value it needs before overwriting it.
  // Null: never.
  bool (*in_place_safe)(const KernelArgs<T>& args) = nullptr;
};
}  // namespace internal

struct LossSpec {
  absl::string_view name;
  absl::string_view description;
  std::vector<TargetKind> target_kinds;
  std::vector<InputKind> input_kinds;  // The first is the default.
  // The loss and its gradient as formulas, for the documentation.
  absl::string_view formula;
  bool has_gradient = true;
  // d loss / d target is available for floating dense targets.
  bool has_target_gradient = false;
  // With INPUT_KIND_PROBABILITIES every input value must lie in [0, 1] (the
  // loss takes logs of them); losses that only compare values accept any.
  bool checks_probabilities = false;
  // Element-wise losses have one loss per input element; the others one per
  // example (the class axis is reduced).
  bool element_wise = false;
  // What Reduction::kMean divides by. Every registered loss declares it (a
  // unit test checks that its kernel leaves out the same examples or
  // elements); Compute() refuses kMean without a normalizer for a loss
  // without one.
  std::optional<MeanDenominatorRule> mean_denominator_rule;
  std::vector<OptionSpec> options;

  internal::LossOps<float> float_ops;
  internal::LossOps<double> double_ops;

  bool Accepts(TargetKind kind) const;
  bool Accepts(InputKind kind) const;
  const OptionSpec* FindOption(absl::string_view option_name) const;
};

// All registered losses, in a stable order. Thread-safe.
absl::Span<const LossSpec> AllLosses();

// The loss called `name`, or nullptr. Thread-safe.
const LossSpec* FindLoss(absl::string_view name);

}  // namespace lossd

#endif  // LOSSD_REGISTRY_H_
