// Binary cross-entropy, element-wise: from logits (PyTorch's
// binary_cross_entropy_with_logits, with pos_weight) or on probabilities
// (PyTorch's binary_cross_entropy). Targets are multi-label 0/1 or soft
// values in [0, 1], optionally smoothed: y' = y (1 - e) + e/2 (Keras
// BinaryCrossentropy) or y (1 - e) + e (1 - y).
//
// From logits, with w the class weight and q the pos_weight, written with
// softplus(x) = log(1 + exp(x)) = -log(1 - sigmoid(x)) so that no term
// overflows and saturated logits give their finite limits:
//   loss = w [q y' softplus(-x) + (1 - y') softplus(x)]
//   d loss / dx  = w [(q y' + 1 - y') sigmoid(x) - q y']
//   d loss / dy' = w [q softplus(-x) - softplus(x)]
// This equals PyTorch's (1 - y) x + (1 + (q - 1) y) softplus(-x), which is NaN
// at infinite logits. Terms whose coefficient is 0 are skipped.
// On probabilities (PyTorch clamps each log at -100 and the gradient's
// denominator at 1e-12f; so do we):
//   loss = -w [y' log p + (1 - y') log(1 - p)]
//   d loss / dp  = w (p - y') / max(p (1 - p), 1e-12)
//   d loss / dy' = -w [log p - log(1 - p)]   (with the clamped logs)

#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "kernel.h"
#include "lossd/registry.h"
#include "numerics.h"
#include "vector_kernels.h"

namespace lossd::internal {
namespace {

constexpr absl::string_view kPosWeight = "pos_weight";
constexpr absl::string_view kWeight = "weight";
constexpr absl::string_view kLabelSmoothing = "label_smoothing";
constexpr absl::string_view kLabelSmoothingRule = "label_smoothing_rule";
constexpr double kMinLog = -100;
// PyTorch's EPSILON is the float literal 1e-12f, also in double.
constexpr double kMinDenominator = static_cast<double>(1e-12f);

struct BinaryCrossEntropy {
  static constexpr bool kReads16BitInput = true;

  // The vector path (RunFast) reads each chunk before writing it.
  template <typename T>
  static bool InPlaceSafe(const KernelArgs<T>& args) {
    return std::is_same_v<T, float> && SelectVectorKernels() != nullptr &&
           args.input_kind == InputKind::kLogits &&
           args.grad_target == nullptr && !args.sample_weight_per_element &&
           !args.mask_per_element;
  }

  template <typename T>
  static KernelTotals Run(const KernelArgs<T>& args) {
    const absl::Span<const double> pos_weight = args.PerClass(kPosWeight);
    const absl::Span<const double> class_weight = args.PerClass(kWeight);
    const double e = args.Number(kLabelSmoothing);
    const bool other = args.Choice(kLabelSmoothingRule) == "other_classes";
    // y' = keep y + spread, or keep y + e (1 - y) for the other-class rule.
    const double keep = 1 - e;
    const double spread = other ? e : e / 2;
    const double slope = other ? 1 - 2 * e : 1 - e;
    const bool logits = args.input_kind == InputKind::kLogits;
    auto evaluate = [&](double x, double y, int64_t c) {
      const double smoothed =
          other ? keep * y + spread * (1 - y) : keep * y + spread;
      const double w = class_weight.empty() ? 1.0 : class_weight[c];
      ElementTerms terms;
      terms.weight = w;
      if (logits) {
        const double q = pos_weight.empty() ? 1.0 : pos_weight[c];
        const double positive = q * smoothed, negative = 1 - smoothed;
        double loss = 0;
        if (positive != 0) loss += positive * Softplus(-x);
        if (negative != 0) loss += negative * Softplus(x);
        terms.loss = w * loss;
        terms.d_input = w * ((positive + negative) * Sigmoid(x) - positive);
        terms.d_target = w * slope * (q * Softplus(-x) - Softplus(x));
      } else {
        const double log_p = std::max(std::log(x), kMinLog);
        const double log_not_p = std::max(std::log1p(-x), kMinLog);
        terms.loss = -w * (smoothed * log_p + (1 - smoothed) * log_not_p);
        terms.d_input =
            w * (x - smoothed) / std::max(x * (1 - x), kMinDenominator);
        terms.d_target = -w * slope * (log_p - log_not_p);
      }
      return terms;
    };
    if constexpr (std::is_same_v<T, float>) {
      // The common case on the vector kernels, row by row; rows with a NaN
      // or infinite logit go through the scalar loop.
      const VectorKernels* kernels = SelectVectorKernels();
      if (kernels != nullptr && logits && args.grad_target == nullptr &&
          !args.sample_weight_per_element && !args.mask_per_element) {
        return RunFast(args, *kernels, pos_weight, class_weight,
                       other ? 1 - 2 * e : keep, spread, evaluate);
      }
      if (args.input_16bit != nullptr) {
        return WithFloatInput(args, [](const KernelArgs<float>& copy) {
          return Run<float>(copy);
        });
      }
    }
    return RunElementwise(args, evaluate);
  }

 private:
  template <typename Evaluate>
  static KernelTotals RunFast(const KernelArgs<float>& args,
                              const VectorKernels& kernels,
                              absl::Span<const double> pos_weight,
                              absl::Span<const double> class_weight,
                              double target_scale, double target_shift,
                              Evaluate& evaluate) {
    const int64_t classes = args.classes;
    const std::vector<float> pos_weight_floats(pos_weight.begin(),
                                               pos_weight.end());
    const std::vector<float> weight_floats(class_weight.begin(),
                                           class_weight.end());
    double weight_total = static_cast<double>(classes);
    if (!class_weight.empty()) {
      weight_total = 0;
      for (double w : class_weight) weight_total += w;
    }
    // Chunks of whole rows. 16-bit input is converted a chunk at a time
    // into cache; in place (the gradient over the input) a chunk is read
    // from a copy, because a chunk with a NaN or infinite logit is
    // recomputed row by row after the pass over it has written it.
    const bool bfloat16 = args.input_format == Float16Format::kBFloat16;
    const bool in_place =
        args.grad_input != nullptr && args.grad_input == args.input;
    const int64_t total = args.rows * classes;
    std::vector<float> converted;
    auto float_input = [&](int64_t begin, int64_t count) -> const float* {
      if (args.input_16bit == nullptr && !in_place) return args.input + begin;
      converted.resize(count);
      if (in_place) {
        std::copy_n(args.input + begin, count, converted.data());
      } else {
        kernels.float16_to_float(
            args.input_16bit + begin, count, bfloat16, converted.data(),
            begin + count < total ? args.input_16bit + begin + count : nullptr);
      }
      return converted.data();
    };
    // Nothing differs from row to row: one pass over a chunk's elements,
    // however few classes a row has.
    const bool flat = class_weight.empty() && pos_weight.empty() &&
                      args.sample_weight == nullptr && args.mask == nullptr;
    const int64_t rows_per_chunk = std::max<int64_t>(1, 8192 / classes);
    KernelTotals totals;
    for (int64_t first = 0; first < args.rows; first += rows_per_chunk) {
      const int64_t last = std::min(args.rows, first + rows_per_chunk);
      const float* x = float_input(first * classes, (last - first) * classes);
      if (flat) {
        const int64_t begin = first * classes;
        auto at = [&](auto* pointer) {
          return pointer == nullptr ? nullptr : pointer + begin;
        };
        BinaryRowArgs all;
        all.x = x;
        all.target = args.dense_target + begin;
        all.classes = (last - first) * classes;
        all.target_scale = static_cast<float>(target_scale);
        all.target_shift = static_cast<float>(target_shift);
        all.grad_scale = static_cast<float>(args.grad_scale);
        all.grad_output = at(args.grad_output);
        all.loss = at(args.per_example);
        all.grad = at(args.grad_input);
        const BinaryRowSums sums = kernels.binary_row(all);
        if (sums.ok) {
          totals.Add({.loss_sum = sums.loss_sum,
                      .valid_count = all.classes,
                      .weight_sum = static_cast<double>(all.classes)});
          continue;
        }
        // A NaN or infinite logit in the chunk: again, row by row.
      }
      for (int64_t r = first; r < last; ++r) {
        float* per_example = args.per_example == nullptr
                                 ? nullptr
                                 : args.per_example + r * classes;
        float* grad = args.grad_input == nullptr
                          ? nullptr
                          : args.grad_input + r * classes;
        if (!args.RowIncluded(r)) {
          if (per_example != nullptr) std::fill_n(per_example, classes, 0.0f);
          if (grad != nullptr) std::fill_n(grad, classes, 0.0f);
          continue;
        }
        const double s = static_cast<double>(args.RowWeight(r));
        BinaryRowArgs row;
        row.x = x + (r - first) * classes;
        row.target = args.dense_target + r * classes;
        row.classes = classes;
        row.weight = weight_floats.empty() ? nullptr : weight_floats.data();
        row.pos_weight =
            pos_weight_floats.empty() ? nullptr : pos_weight_floats.data();
        row.target_scale = static_cast<float>(target_scale);
        row.target_shift = static_cast<float>(target_shift);
        row.sample_weight = static_cast<float>(s);
        row.grad_scale = static_cast<float>(args.grad_scale);
        row.grad_output = args.grad_output == nullptr
                              ? nullptr
                              : args.grad_output + r * classes;
        row.loss = per_example;
        row.grad = grad;
        const BinaryRowSums sums = kernels.binary_row(row);
        if (sums.ok) {
          totals.Add({.loss_sum = sums.loss_sum,
                      .valid_count = classes,
                      .weight_sum = s * weight_total});
        } else {
          KernelArgs<float> alone = RowSlice(args, r, r + 1);
          alone.input = row.x;
          alone.input_16bit = nullptr;
          totals.Add(RunElementwise(alone, evaluate));
        }
      }
    }
    return totals;
  }
};

}  // namespace

LossSpec BinaryCrossEntropySpec() {
  LossSpec spec;
  spec.name = "binary_cross_entropy";
  spec.description =
      "Binary cross-entropy per element: sigmoid from logits (PyTorch "
      "binary_cross_entropy_with_logits) or on probabilities (PyTorch "
      "binary_cross_entropy); multi-label 0/1 or soft targets in [0, 1].";
  spec.formula =
      "loss = w [q y' softplus(-x) + (1 - y') softplus(x)]; d loss/dx = w [(q "
      "y' + 1 - y') sigmoid(x) - q y']";
  spec.target_kinds = {TargetKind::kMultiLabel, TargetKind::kProbabilities};
  spec.input_kinds = {InputKind::kLogits, InputKind::kProbabilities};
  spec.element_wise = true;
  spec.mean_denominator_rule = MeanDenominatorRule::kUnmaskedElements;
  spec.has_target_gradient = true;
  spec.checks_probabilities = true;
  spec.options = {
      {.name = kPosWeight,
       .type = OptionType::kPerClass,
       .description = "Weight of the positive term of each class (PyTorch "
                      "`pos_weight`); logits only.",
       .logits_only = true},
      {.name = kWeight,
       .type = OptionType::kPerClass,
       .description = "Weight of each class's element loss (PyTorch `weight` "
                      "broadcast over the class axis)."},
      {.name = kLabelSmoothing,
       .type = OptionType::kNumber,
       .description = "Label smoothing e of each binary target (Keras "
                      "BinaryCrossentropy): see label_smoothing_rule.",
       .default_value = 0,
       .minimum = 0.0,
       .maximum = 1.0},
      {.name = kLabelSmoothingRule,
       .type = OptionType::kChoice,
       .description = "uniform: y (1 - e) + e/2 (Keras, TF v1); "
                      "other_classes: y (1 - e) + e (1 - y).",
       .choices = {"uniform", "other_classes"}},
  };
  spec.float_ops = MakeOps<BinaryCrossEntropy, float>();
  spec.double_ops = MakeOps<BinaryCrossEntropy, double>();
  return spec;
}

}  // namespace lossd::internal
