// Element-wise losses on a difference d = x - y or on counts, with
// PyTorch's formulas and its (sub)gradients at the kinks:
//   mse          d^2                                    2d
//   l1           |d|                                    sign(d), 0 at 0
//   huber        0.5 d^2 if |d| < delta,                d clamped to
//                else delta (|d| - 0.5 delta)           [-delta, delta]
//   smooth_l1    0.5 d^2 / beta if |d| < beta,          -1 if d <= -beta,
//                else |d| - 0.5 beta                    1 if d >= beta,
//                                                       else d / beta
//   poisson_nll  exp(x) - y x (log_input)               exp(x) - y
//                x - y log(x + eps)                     1 - y / (x + eps)
//                + y log y - y + 0.5 log(2 pi y) for y > 1 when `full`
// The target gradient is minus the input gradient for the difference
// losses. smooth_l1 with beta = 0 is L1, except that its gradient at d = 0
// is -1, as PyTorch's (d <= -beta is tested first).
// poisson_nll skips y x when y = 0, so a -inf log-rate with a zero count
// gives 0 rather than PyTorch's NaN.

#include <cmath>
#include <numbers>

#include "kernel.h"
#include "lossd/registry.h"

namespace lossd::internal {
namespace {

constexpr absl::string_view kDelta = "delta";
constexpr absl::string_view kBeta = "beta";
constexpr absl::string_view kLogInput = "log_input";
constexpr absl::string_view kFull = "full";
constexpr absl::string_view kEpsilon = "epsilon";

// The kernels differ only in the element terms; Evaluate returns a
// callable for the element-wise driver.
template <typename Loss>
struct Elementwise {
  template <typename T>
  static KernelTotals Run(const KernelArgs<T>& args) {
    return RunElementwise(args, Loss::Evaluate(args));
  }
};

double Sign(double v) { return v > 0 ? 1.0 : (v < 0 ? -1.0 : 0.0); }

struct SquaredError {
  template <typename T>
  static auto Evaluate(const KernelArgs<T>&) {
    return [](double x, double y, int64_t) {
      const double d = x - y;
      return ElementTerms{.loss = d * d, .d_input = 2 * d, .d_target = -2 * d};
    };
  }
};

struct AbsoluteError {
  template <typename T>
  static auto Evaluate(const KernelArgs<T>&) {
    return [](double x, double y, int64_t) {
      const double d = x - y;
      return ElementTerms{
          .loss = std::abs(d), .d_input = Sign(d), .d_target = -Sign(d)};
    };
  }
};

struct Huber {
  template <typename T>
  static auto Evaluate(const KernelArgs<T>& args) {
    return [delta = args.Number(kDelta)](double x, double y, int64_t) {
      const double d = x - y, z = std::abs(d);
      const double loss = z < delta ? 0.5 * d * d : delta * (z - 0.5 * delta);
      const double g = d <= -delta ? -delta : (d >= delta ? delta : d);
      return ElementTerms{.loss = loss, .d_input = g, .d_target = -g};
    };
  }
};

struct SmoothL1 {
  template <typename T>
  static auto Evaluate(const KernelArgs<T>& args) {
    return [beta = args.Number(kBeta)](double x, double y, int64_t) {
      const double d = x - y, z = std::abs(d);
      const double loss = z < beta ? 0.5 * d * d / beta : z - 0.5 * beta;
      const double g = d <= -beta ? -1.0 : (d >= beta ? 1.0 : d / beta);
      return ElementTerms{.loss = loss, .d_input = g, .d_target = -g};
    };
  }
};

struct PoissonNll {
  template <typename T>
  static auto Evaluate(const KernelArgs<T>& args) {
    return [log_input = args.Boolean(kLogInput), full = args.Boolean(kFull),
            epsilon = args.Number(kEpsilon)](double x, double y, int64_t) {
      ElementTerms terms;
      if (log_input) {
        const double rate = std::exp(x);
        terms.loss = y != 0 ? rate - y * x : rate;
        terms.d_input = rate - y;
        terms.d_target = -x;
      } else {
        const double log_rate = std::log(x + epsilon);
        terms.loss = y != 0 ? x - y * log_rate : x;
        terms.d_input = y != 0 ? 1 - y / (x + epsilon) : 1;
        terms.d_target = -log_rate;
      }
      if (full && y > 1) {
        // Stirling's approximation of log(y!).
        terms.loss +=
            y * std::log(y) - y + 0.5 * std::log(2 * std::numbers::pi * y);
        terms.d_target += std::log(y) + 0.5 / y;
      }
      return terms;
    };
  }
};

LossSpec DifferenceSpec(absl::string_view name) {
  LossSpec spec;
  spec.name = name;
  spec.target_kinds = {TargetKind::kValues, TargetKind::kProbabilities,
                       TargetKind::kMultiLabel};
  spec.input_kinds = {InputKind::kLogits, InputKind::kProbabilities,
                      InputKind::kLogProbabilities};
  spec.element_wise = true;
  spec.mean_denominator_rule = MeanDenominatorRule::kUnmaskedElements;
  spec.has_target_gradient = true;
  return spec;
}

}  // namespace

LossSpec MseSpec() {
  LossSpec spec = DifferenceSpec("mse");
  spec.description =
      "Squared error per element (PyTorch mse_loss). REDUCTION_MEAN averages "
      "over elements; REDUCTION_BATCH_MEAN averages the per-row sums over "
      "rows.";
  spec.formula = "loss = (x - y)^2; d loss/dx = 2 (x - y)";
  spec.float_ops = MakeOps<Elementwise<SquaredError>, float>();
  spec.double_ops = MakeOps<Elementwise<SquaredError>, double>();
  return spec;
}

LossSpec L1Spec() {
  LossSpec spec = DifferenceSpec("l1");
  spec.description = "Absolute error per element (PyTorch l1_loss).";
  spec.formula = "loss = |x - y|; d loss/dx = sign(x - y), 0 at 0";
  spec.float_ops = MakeOps<Elementwise<AbsoluteError>, float>();
  spec.double_ops = MakeOps<Elementwise<AbsoluteError>, double>();
  return spec;
}

LossSpec HuberSpec() {
  LossSpec spec = DifferenceSpec("huber");
  spec.description = "Huber loss per element (PyTorch huber_loss).";
  spec.formula =
      "loss = 0.5 d^2 if |d| < delta else delta (|d| - 0.5 delta), d = x - y; "
      "d loss/dx = clamp(d, -delta, delta)";
  spec.options = {{.name = kDelta,
                   .type = OptionType::kNumber,
                   .description = "Where the loss turns from quadratic to "
                                  "linear.",
                   .default_value = 1.0,
                   .minimum = 0.0,
                   .minimum_exclusive = true}};
  spec.float_ops = MakeOps<Elementwise<Huber>, float>();
  spec.double_ops = MakeOps<Elementwise<Huber>, double>();
  return spec;
}

LossSpec SmoothL1Spec() {
  LossSpec spec = DifferenceSpec("smooth_l1");
  spec.description =
      "Smooth L1 loss per element (PyTorch smooth_l1_loss); huber = beta * "
      "smooth_l1 with delta = beta.";
  spec.formula =
      "loss = 0.5 d^2 / beta if |d| < beta else |d| - 0.5 beta, d = x - y; "
      "d loss/dx = clamp(d / beta, -1, 1)";
  spec.options = {{.name = kBeta,
                   .type = OptionType::kNumber,
                   .description = "Where the loss turns from quadratic to "
                                  "linear; 0 gives L1.",
                   .default_value = 1.0,
                   .minimum = 0.0}};
  spec.float_ops = MakeOps<Elementwise<SmoothL1>, float>();
  spec.double_ops = MakeOps<Elementwise<SmoothL1>, double>();
  return spec;
}

LossSpec PoissonNllSpec() {
  LossSpec spec;
  spec.name = "poisson_nll";
  spec.description =
      "Poisson negative log-likelihood per element (PyTorch "
      "poisson_nll_loss); the input is a log-rate (log_input) or a rate.";
  spec.formula =
      "loss = exp(x) - y x (log_input) or x - y log(x + epsilon), plus "
      "Stirling's y log y - y + 0.5 log(2 pi y) for y > 1 when full; d "
      "loss/dx = exp(x) - y or 1 - y / (x + epsilon)";
  spec.target_kinds = {TargetKind::kValues};
  spec.input_kinds = {InputKind::kLogits};
  spec.element_wise = true;
  spec.mean_denominator_rule = MeanDenominatorRule::kUnmaskedElements;
  spec.has_target_gradient = true;
  spec.options = {
      {.name = kLogInput,
       .type = OptionType::kBoolean,
       .description = "The input is the log of the rate (PyTorch default).",
       .default_value = 1},
      {.name = kFull,
       .type = OptionType::kBoolean,
       .description = "Add Stirling's approximation of log(y!) for y > 1.",
       .default_value = 0},
      {.name = kEpsilon,
       .type = OptionType::kNumber,
       .description = "Added to the rate inside the log when log_input is "
                      "false (PyTorch eps).",
       .default_value = 1e-8,
       .minimum = 0.0},
  };
  spec.float_ops = MakeOps<Elementwise<PoissonNll>, float>();
  spec.double_ops = MakeOps<Elementwise<PoissonNll>, double>();
  return spec;
}

}  // namespace lossd::internal
