// Sigmoid focal loss, element-wise, with torchvision's semantics
// (torchvision.ops.sigmoid_focal_loss):
//   p = sigmoid(x), u = 1 - p_t = y (1 - p) + (1 - y) p,
//   CE = binary cross-entropy with logits,
//   alpha_t = alpha y + (1 - alpha)(1 - y)  (1 when alpha < 0),
//   loss = alpha_t u^gamma CE
//   d loss / dx = alpha_t [u^gamma (p - y) + gamma u^gamma (1 - 2y)
//                          p (1 - p) / u CE]
// computed in log space as optax does: log u = logaddexp(log y + log
// sigmoid(-x), log(1 - y) + log sigmoid(x)) and u^gamma = exp(gamma log u),
// so that p (1 - p) / u <= 1 is never formed as 0/0 and gamma < 1 gives
// finite gradients at saturated logits (torchvision's direct form gives NaN
// there).

#include <cmath>

#include "kernel.h"
#include "lossd/registry.h"
#include "numerics.h"

namespace lossd::internal {
namespace {

constexpr absl::string_view kAlpha = "alpha";
constexpr absl::string_view kGamma = "gamma";

struct Focal {
  template <typename T>
  static KernelTotals Run(const KernelArgs<T>& args) {
    const double alpha = args.Number(kAlpha);
    const double gamma = args.Number(kGamma);
    return RunElementwise(args, [&](double x, double y, int64_t) {
      const double log_p = LogSigmoid(x), log_not_p = LogSigmoid(-x);
      double cross_entropy = 0, log_u = -kInfinity;
      if (y != 0) {
        cross_entropy -= y * log_p;
        log_u = LogAddExp(log_u, std::log(y) + log_not_p);
      }
      if (y != 1) {
        cross_entropy -= (1 - y) * log_not_p;
        log_u = LogAddExp(log_u, std::log1p(-y) + log_p);
      }
      const double alpha_t = alpha >= 0 ? alpha * y + (1 - alpha) * (1 - y) : 1;
      ElementTerms terms;
      if (log_u == -kInfinity) return terms;  // p_t = 1: loss and slope 0.
      const double modulation = gamma == 0 ? 1 : std::exp(gamma * log_u);
      terms.loss = alpha_t * modulation * cross_entropy;
      double slope = modulation * (Sigmoid(x) - y);
      // p (1 - p) / u <= 1; when it underflows to 0 the product is 0 even if
      // CE is infinite (p (-log p) -> 0).
      const double shrink = std::exp(log_p + log_not_p - log_u);
      if (gamma != 0 && shrink != 0) {
        slope += gamma * modulation * (1 - 2 * y) * shrink * cross_entropy;
      }
      terms.d_input = alpha_t * slope;
      return terms;
    });
  }
};

}  // namespace

LossSpec FocalSpec() {
  LossSpec spec;
  spec.name = "focal";
  spec.description =
      "Sigmoid focal loss per element (torchvision sigmoid_focal_loss; "
      "Lin et al. 2017), computed in log space.";
  spec.formula =
      "loss = alpha_t (1 - p_t)^gamma BCE(x, y), p = sigmoid(x), p_t = p y + "
      "(1 - p)(1 - y), alpha_t = alpha y + (1 - alpha)(1 - y)";
  spec.target_kinds = {TargetKind::kMultiLabel, TargetKind::kProbabilities};
  spec.input_kinds = {InputKind::kLogits};
  spec.element_wise = true;
  spec.mean_denominator_rule = MeanDenominatorRule::kUnmaskedElements;
  spec.options = {
      {.name = kAlpha,
       .type = OptionType::kNumber,
       .description = "Weight of the positive class in [0, 1]; negative "
                      "turns the weighting off (torchvision alpha = -1).",
       .default_value = 0.25,
       .minimum = -1.0,
       .maximum = 1.0},
      {.name = kGamma,
       .type = OptionType::kNumber,
       .description = "Focusing exponent.",
       .default_value = 2.0,
       .minimum = 0.0},
  };
  spec.float_ops = MakeOps<Focal, float>();
  spec.double_ops = MakeOps<Focal, double>();
  return spec;
}

}  // namespace lossd::internal
