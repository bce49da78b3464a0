// Binary cross-entropy, element-wise: from logits (PyTorch's
// binary_cross_entropy_with_logits, with pos_weight) or on probabilities
// (PyTorch's binary_cross_entropy). Targets are multi-label 0/1 or soft
// values in [0, 1].
//
// From logits, with l = 1 + (pos_weight - 1) y and log sigmoid computed
// as -softplus(-x) so that no |x| overflows:
//   loss = w [(1 - y) x - l log sigmoid(x)]
//   d loss / dx = w [(pos_weight y + 1 - y) sigmoid(x) - pos_weight y]
// On probabilities (PyTorch clamps each log at -100 and the gradient's
// denominator at 1e-12; so do we):
//   loss = -w [y log p + (1 - y) log(1 - p)]
//   d loss / dp = w (p - y) / max(p (1 - p), 1e-12)

#include <algorithm>
#include <cmath>

#include "kernel.h"
#include "lossd/registry.h"

namespace lossd::internal {
namespace {

constexpr absl::string_view kPosWeight = "pos_weight";
constexpr absl::string_view kWeight = "weight";
constexpr double kMinLog = -100;
constexpr double kMinDenominator = 1e-12;

// log(1 + exp(x)) without overflow.
double Softplus(double x) {
  return std::max(x, 0.0) + std::log1p(std::exp(-std::abs(x)));
}

double Sigmoid(double x) {
  if (x >= 0) return 1 / (1 + std::exp(-x));
  const double e = std::exp(x);
  return e / (1 + e);
}

struct BinaryCrossEntropy {
  template <typename T>
  static double MeanDenominator(const KernelArgs<T>& args) {
    return static_cast<double>(args.rows * args.classes);
  }

  template <typename T>
  static KernelTotals Run(const KernelArgs<T>& args) {
    const absl::Span<const double> pos_weight =
        args.options->PerClass(kPosWeight);
    const absl::Span<const double> class_weight =
        args.options->PerClass(kWeight);
    const bool logits = args.input_kind == InputKind::kLogits;
    KernelTotals totals;
    for (int64_t r = 0; r < args.rows; ++r) {
      for (int64_t c = 0; c < args.classes; ++c) {
        const int64_t i = r * args.classes + c;
        const double x = static_cast<double>(args.input[i]);
        const double y = static_cast<double>(args.dense_target[i]);
        const double w = static_cast<double>(args.ElementWeight(i, r)) *
                         (class_weight.empty() ? 1.0 : class_weight[c]);
        double loss;
        double grad;
        if (logits) {
          const double pw = pos_weight.empty() ? 1.0 : pos_weight[c];
          const double log_weight = 1 + (pw - 1) * y;
          loss = w * ((1 - y) * x + log_weight * Softplus(-x));
          grad = w * ((pw * y + 1 - y) * Sigmoid(x) - pw * y);
        } else {
          const double log_p = std::max(std::log(x), kMinLog);
          const double log_not_p = std::max(std::log1p(-x), kMinLog);
          loss = -w * (y * log_p + (1 - y) * log_not_p);
          grad = w * (x - y) / std::max(x * (1 - x), kMinDenominator);
        }
        if (args.per_example != nullptr) args.per_example[i] = T(loss);
        if (args.grad_input != nullptr) {
          args.grad_input[i] = T(grad * args.GradScale(i));
        }
        totals.loss_sum += loss;
        totals.weight_sum += w;
      }
    }
    totals.valid_count = args.rows * args.classes;
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
  spec.target_kinds = {TargetKind::kMultiLabel, TargetKind::kProbabilities};
  spec.input_kinds = {InputKind::kLogits, InputKind::kProbabilities};
  spec.element_wise = true;
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
  };
  spec.float_ops = MakeOps<BinaryCrossEntropy, float>();
  spec.double_ops = MakeOps<BinaryCrossEntropy, double>();
  return spec;
}

}  // namespace lossd::internal
