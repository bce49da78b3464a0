// Softmax focal loss with Keras's CategoricalFocalCrossentropy semantics:
//   y' = y (1 - e) + e / C                       (label smoothing)
//   q  = softmax(x), or x / sum(x) for probabilities
//   q~ = clip(q, epsilon, 1 - epsilon)           (Keras backend.epsilon())
//   loss = sum_c alpha (1 - q~_c)^gamma (-y'_c log q~_c)
// A clipped q has zero gradient, as in Keras. With h_c = q_c d loss / d q_c
// = alpha y'_c (1 - q)^gamma [gamma q log q / (1 - q) - 1] (0 when clipped):
//   from logits:        d loss / dx_k = h_k - q_k sum_c h_c
//   from probabilities: d loss / dx_k = (h_k / q_k - sum_c h_c) / sum(x)
// (1 - q)^gamma is exp(gamma log(1 - q)) with log(1 - q) = log(-expm1(log
// q)) from logits, so gamma < 1 stays finite as q -> 1. Class indices are
// taken as one-hot targets.

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernel.h"
#include "lossd/registry.h"
#include "numerics.h"

namespace lossd::internal {
namespace {

constexpr absl::string_view kAlpha = "alpha";
constexpr absl::string_view kGamma = "gamma";
constexpr absl::string_view kLabelSmoothing = "label_smoothing";
constexpr absl::string_view kEpsilon = "epsilon";
constexpr absl::string_view kIgnoreIndex = "ignore_index";

struct SoftmaxFocal {
  template <typename T>
  static KernelTotals Run(const KernelArgs<T>& args) {
    const double alpha = args.Number(kAlpha);
    const double gamma = args.Number(kGamma);
    const double smoothing = args.Number(kLabelSmoothing);
    const double epsilon = args.Number(kEpsilon);
    const int64_t ignore_index = args.Integer(kIgnoreIndex);
    const int64_t classes = args.classes;
    const bool logits = args.input_kind == InputKind::kLogits;
    std::vector<double> q(classes), log_q(classes), h(classes);
    KernelTotals totals;
    for (int64_t r = 0; r < args.rows; ++r) {
      const T* x = args.input + r * classes;
      T* grad =
          args.grad_input == nullptr ? nullptr : args.grad_input + r * classes;
      const bool hard = args.class_index != nullptr;
      if (!args.RowIncluded(r) ||
          (hard && args.class_index[r] == ignore_index)) {
        if (args.per_example != nullptr) args.per_example[r] = T(0);
        if (grad != nullptr) std::fill(grad, grad + classes, T(0));
        continue;
      }
      // q and log q, unclipped.
      double sum = 0;
      if (logits) {
        const LogSumExp lse = RowLogSumExp(
            classes, [&](int64_t c) { return static_cast<double>(x[c]); },
            q.data());
        for (int64_t c = 0; c < classes; ++c) {
          log_q[c] = lse.LogProbability(static_cast<double>(x[c]));
          q[c] = lse.Probability(q[c]);
        }
      } else {
        for (int64_t c = 0; c < classes; ++c) sum += static_cast<double>(x[c]);
        for (int64_t c = 0; c < classes; ++c) {
          q[c] = static_cast<double>(x[c]) / sum;
          log_q[c] = std::log(q[c]);
        }
      }
      const double s = static_cast<double>(args.RowWeight(r));
      const int64_t label = hard ? args.class_index[r] : -1;
      double loss = 0, sum_h = 0;
      for (int64_t c = 0; c < classes; ++c) {
        const double t =
            hard ? (c == label ? 1.0 : 0.0)
                 : static_cast<double>(args.dense_target[r * classes + c]);
        const double y =
            t * (1 - smoothing) + smoothing / static_cast<double>(classes);
        h[c] = 0;
        if (y == 0) continue;
        double clipped_q = q[c], clipped_log_q = log_q[c], log_one_minus_q;
        const bool clipped =
            epsilon > 0 && (q[c] < epsilon || q[c] > 1 - epsilon);
        if (clipped) {
          clipped_q = std::clamp(q[c], epsilon, 1 - epsilon);
          clipped_log_q = std::log(clipped_q);
          log_one_minus_q = std::log1p(-clipped_q);
        } else if (logits) {
          log_one_minus_q = std::log(-std::expm1(log_q[c]));
        } else {
          log_one_minus_q = std::log1p(-q[c]);
        }
        const double modulation =
            gamma == 0 ? 1.0 : std::exp(gamma * log_one_minus_q);
        loss += alpha * modulation * (-y * clipped_log_q);
        if (clipped || grad == nullptr) continue;
        // q log q / (1 - q): -> -1 as q -> 1 and -> 0 as q -> 0.
        const double one_minus_q = -std::expm1(log_q[c]);
        const double ratio = one_minus_q == 0 ? -1.0
                             : q[c] == 0      ? 0.0
                                              : q[c] * log_q[c] / one_minus_q;
        h[c] = alpha * y * modulation * (gamma * ratio - 1);
        sum_h += h[c];
      }
      loss *= s;
      if (args.per_example != nullptr) args.per_example[r] = T(loss);
      totals.loss_sum += loss;
      totals.valid_count += 1;
      totals.weight_sum += s;
      if (grad == nullptr) continue;
      const double scale = s * args.GradScale(r);
      for (int64_t c = 0; c < classes; ++c) {
        double g;
        if (logits) {
          g = h[c] - q[c] * sum_h;
        } else {
          // h_c / q_c, with h_c = 0 wherever the term is absent or clipped.
          g = ((h[c] == 0 ? 0.0 : h[c] / q[c]) - sum_h) / sum;
        }
        grad[c] = T(scale * g);
      }
    }
    return totals;
  }
};

}  // namespace

LossSpec SoftmaxFocalSpec() {
  LossSpec spec;
  spec.name = "softmax_focal";
  spec.description =
      "Softmax focal loss (Keras CategoricalFocalCrossentropy): probabilities "
      "clipped to [epsilon, 1 - epsilon], summed over classes.";
  spec.formula =
      "loss = sum_c alpha (1 - q_c)^gamma (-y'_c log q_c), q = "
      "clip(softmax(x), "
      "epsilon, 1 - epsilon), y' = y (1 - e) + e/C";
  spec.target_kinds = {TargetKind::kProbabilities, TargetKind::kClassIndex};
  spec.input_kinds = {InputKind::kLogits, InputKind::kProbabilities};
  spec.checks_probabilities = true;
  spec.options = {
      {.name = kAlpha,
       .type = OptionType::kNumber,
       .description = "Weight of every class's term (Keras default 0.25).",
       .default_value = 0.25,
       .minimum = 0.0},
      {.name = kGamma,
       .type = OptionType::kNumber,
       .description = "Focusing exponent.",
       .default_value = 2.0,
       .minimum = 0.0},
      {.name = kLabelSmoothing,
       .type = OptionType::kNumber,
       .description = "Label smoothing e: y (1 - e) + e/C (Keras).",
       .default_value = 0,
       .minimum = 0.0,
       .maximum = 1.0},
      {.name = kEpsilon,
       .type = OptionType::kNumber,
       .description = "Clip of the probabilities (Keras backend.epsilon()); "
                      "0 computes without clipping, in log space.",
       .default_value = 1e-7,
       .minimum = 0.0,
       .maximum = 0.5},
      {.name = kIgnoreIndex,
       .type = OptionType::kInteger,
       .description = "Class indices equal to this are ignored: zero loss "
                      "and gradient, excluded from the mean.",
       .default_value = -100,
       .class_index_only = true},
  };
  spec.mean_denominator_rule = MeanDenominatorRule::kNotIgnoredExamples;
  spec.float_ops = MakeOps<SoftmaxFocal, float>();
  spec.double_ops = MakeOps<SoftmaxFocal, double>();
  return spec;
}

}  // namespace lossd::internal
