// Kullback-Leibler divergence, element-wise, PyTorch's F.kl_div: the input
// is log q (log-probabilities; or logits, turned into log_softmax here), the
// target t a distribution (or log t with log_target):
//   loss_c = t_c (log t_c - log q_c)      d loss_c / d log q_c = -t_c
//   loss_c = e^t_c (t_c - log q_c)        d loss_c / d log q_c = -e^t_c
// Terms with t_c = 0 (e^t_c = 0) are 0 even where log q_c = -inf, where
// PyTorch gives NaN. From logits, d loss / dx_k = G_k - p_k sum_c G_c with
// G_c the (weighted, scaled) d loss / d log q_c. REDUCTION_MEAN divides by
// the elements, as PyTorch's "mean"; REDUCTION_BATCH_MEAN by the batch size,
// PyTorch's "batchmean" (the true KL per example).

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernel.h"
#include "lossd/registry.h"
#include "numerics.h"

namespace lossd::internal {
namespace {

constexpr absl::string_view kLogTarget = "log_target";

struct KlDiv {
  template <typename T>
  static KernelTotals Run(const KernelArgs<T>& args) {
    const bool log_target = args.Boolean(kLogTarget);
    const bool logits = args.input_kind == InputKind::kLogits;
    const int64_t classes = args.classes;
    std::vector<double> log_q(classes), slope(classes);
    KernelTotals totals;
    for (int64_t r = 0; r < args.rows; ++r) {
      const T* x = args.input + r * classes;
      const T* t = args.dense_target + r * classes;
      if (logits) {
        const LogSumExp lse = RowLogSumExp(
            classes, [&](int64_t c) { return static_cast<double>(x[c]); },
            nullptr);
        for (int64_t c = 0; c < classes; ++c) {
          log_q[c] = lse.LogProbability(static_cast<double>(x[c]));
        }
      } else {
        for (int64_t c = 0; c < classes; ++c) {
          log_q[c] = static_cast<double>(x[c]);
        }
      }
      double sum_slope = 0;
      for (int64_t c = 0; c < classes; ++c) {
        const int64_t i = r * classes + c;
        slope[c] = 0;
        double loss = 0;
        if (args.ElementIncluded(i, r)) {
          const double target = static_cast<double>(t[c]);
          const double mass = log_target ? std::exp(target) : target;
          if (mass != 0) {
            const double log_t = log_target ? target : std::log(target);
            loss = mass * (log_t - log_q[c]);
          }
          const double w = static_cast<double>(args.ElementWeight(i, r));
          loss *= w;
          slope[c] = -mass * w * args.GradScale(i);
          sum_slope += slope[c];
          totals.loss_sum += loss;
          totals.valid_count += 1;
          totals.weight_sum += w;
        }
        if (args.per_example != nullptr) args.per_example[i] = T(loss);
      }
      if (args.grad_input == nullptr) continue;
      T* grad = args.grad_input + r * classes;
      for (int64_t c = 0; c < classes; ++c) {
        grad[c] =
            T(logits ? slope[c] - std::exp(log_q[c]) * sum_slope : slope[c]);
      }
    }
    return totals;
  }
};

}  // namespace

LossSpec KlDivSpec() {
  LossSpec spec;
  spec.name = "kl_div";
  spec.description =
      "Kullback-Leibler divergence per element (PyTorch F.kl_div): input "
      "log-probabilities (or logits), target probabilities (or their logs).";
  spec.formula =
      "loss = t (log t - x), or e^t (t - x) with log_target; d loss/dx = -t "
      "(-e^t)";
  spec.target_kinds = {TargetKind::kProbabilities};
  spec.input_kinds = {InputKind::kLogProbabilities, InputKind::kLogits};
  spec.element_wise = true;
  spec.mean_denominator_rule = MeanDenominatorRule::kUnmaskedElements;
  spec.options = {{.name = kLogTarget,
                   .type = OptionType::kBoolean,
                   .description = "The target holds log-probabilities.",
                   .default_value = 0}};
  spec.float_ops = MakeOps<KlDiv, float>();
  spec.double_ops = MakeOps<KlDiv, double>();
  return spec;
}

}  // namespace lossd::internal
