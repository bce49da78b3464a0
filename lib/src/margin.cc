// Margin losses on raw scores.
//
// multi_margin, PyTorch's MultiMarginLoss as its kernel computes it (the
// class weight multiplies after the power, unlike the docstring):
//   loss = (1/C) sum_{i != y} w_y max(0, margin - x_y + x_i)^p
//   d loss / dx_i = w_y p z_i^(p-1) / C for z_i > 0, d loss / dx_y = -sum
// REDUCTION_MEAN is the plain mean over examples, as PyTorch's.
//
// hinge, element-wise binary hinge (optax hinge_loss, Keras Hinge and
// SquaredHinge), for targets in {-1, 1} or, with target_encoding zero_one,
// {0, 1} mapped to 2y - 1 (Keras maps 0/1 labels so, when all are 0/1):
//   loss = max(0, margin - y x)        (squared: max(0, margin - y x)^2)
// Both take the gradient 0 at the kink z = 0, as PyTorch's multi_margin.

#include <algorithm>
#include <cmath>

#include "kernel.h"
#include "lossd/registry.h"

namespace lossd::internal {
namespace {

constexpr absl::string_view kPower = "power";
constexpr absl::string_view kMargin = "margin";
constexpr absl::string_view kClassWeight = "class_weight";
constexpr absl::string_view kSquared = "squared";
constexpr absl::string_view kTargetEncoding = "target_encoding";

struct MultiMargin {
  template <typename T>
  static KernelTotals Run(const KernelArgs<T>& args) {
    const int64_t power = args.Integer(kPower);
    const double margin = args.Number(kMargin);
    const absl::Span<const double> class_weight = args.PerClass(kClassWeight);
    const int64_t classes = args.classes;
    KernelTotals totals;
    for (int64_t r = 0; r < args.rows; ++r) {
      const T* x = args.input + r * classes;
      T* grad =
          args.grad_input == nullptr ? nullptr : args.grad_input + r * classes;
      if (grad != nullptr) std::fill(grad, grad + classes, T(0));
      if (!args.RowIncluded(r)) {
        if (args.per_example != nullptr) args.per_example[r] = T(0);
        continue;
      }
      const int64_t y = args.class_index[r];
      const double s = static_cast<double>(args.RowWeight(r));
      const double w = class_weight.empty() ? 1.0 : class_weight[y];
      const double x_y = static_cast<double>(x[y]);
      const double scale = args.GradScale(r);
      double loss = 0, grad_y = 0;
      for (int64_t c = 0; c < classes; ++c) {
        if (c == y) continue;
        const double z = margin - x_y + static_cast<double>(x[c]);
        if (!(z > 0)) continue;
        loss += power == 1 ? z : z * z;
        if (grad != nullptr) {
          const double g = s * w * (power == 1 ? 1.0 : 2 * z) /
                           static_cast<double>(classes) * scale;
          grad[c] = T(g);
          grad_y -= g;
        }
      }
      if (grad != nullptr) grad[y] = T(grad_y);
      loss *= s * w / static_cast<double>(classes);
      if (args.per_example != nullptr) args.per_example[r] = T(loss);
      totals.loss_sum += loss;
      totals.valid_count += 1;
      totals.weight_sum += s * w;
    }
    return totals;
  }
};

struct Hinge {
  template <typename T>
  static KernelTotals Run(const KernelArgs<T>& args) {
    const double margin = args.Number(kMargin);
    const bool squared = args.Boolean(kSquared);
    const bool zero_one = args.Choice(kTargetEncoding) == "zero_one";
    return RunElementwise(args, [&](double x, double y, int64_t) {
      const double sign = zero_one ? 2 * y - 1 : y;
      const double z = margin - sign * x;
      ElementTerms terms;
      if (z > 0) {
        terms.loss = squared ? z * z : z;
        terms.d_input = squared ? -2 * z * sign : -sign;
      }
      return terms;
    });
  }
};

}  // namespace

LossSpec MultiMarginSpec() {
  LossSpec spec;
  spec.name = "multi_margin";
  spec.description =
      "Multi-class margin loss on scores (PyTorch multi_margin_loss, as its "
      "kernel computes it).";
  spec.formula =
      "loss = (1/C) sum_{i != y} w_y max(0, margin - x_y + x_i)^p; d loss/dx_i "
      "= w_y p z_i^(p-1) / C where z_i > 0, d loss/dx_y = -sum_i";
  spec.target_kinds = {TargetKind::kClassIndex};
  spec.input_kinds = {InputKind::kLogits};
  spec.options = {
      {.name = kPower,
       .type = OptionType::kInteger,
       .description = "The exponent p, 1 or 2 (PyTorch p).",
       .default_value = 1,
       .minimum = 1.0,
       .maximum = 2.0},
      {.name = kMargin,
       .type = OptionType::kNumber,
       .description = "The margin.",
       .default_value = 1.0},
      {.name = kClassWeight,
       .type = OptionType::kPerClass,
       .description = "Weight of each target class (PyTorch `weight`); it "
                      "does not enter the mean's denominator."},
  };
  spec.mean_denominator_rule = MeanDenominatorRule::kUnmaskedExamples;
  spec.float_ops = MakeOps<MultiMargin, float>();
  spec.double_ops = MakeOps<MultiMargin, double>();
  return spec;
}

LossSpec HingeSpec() {
  LossSpec spec;
  spec.name = "hinge";
  spec.description =
      "Binary hinge loss per element (optax hinge_loss, Keras Hinge; "
      "squared: Keras SquaredHinge) for targets in {-1, 1}.";
  spec.formula =
      "loss = max(0, margin - y x) (or its square); d loss/dx = -y (or -2 z y) "
      "where z = margin - y x > 0";
  spec.target_kinds = {TargetKind::kValues, TargetKind::kMultiLabel};
  spec.input_kinds = {InputKind::kLogits};
  spec.element_wise = true;
  spec.mean_denominator_rule = MeanDenominatorRule::kUnmaskedElements;
  spec.options = {
      {.name = kMargin,
       .type = OptionType::kNumber,
       .description = "The margin.",
       .default_value = 1.0},
      {.name = kSquared,
       .type = OptionType::kBoolean,
       .description = "Square the hinge (Keras SquaredHinge).",
       .default_value = 0},
      {.name = kTargetEncoding,
       .type = OptionType::kChoice,
       .description = "signed: targets are -1 or 1 (optax); zero_one: targets "
                      "are 0 or 1, used as 2y - 1 (Keras's mapping).",
       .choices = {"signed", "zero_one"}},
  };
  spec.float_ops = MakeOps<Hinge, float>();
  spec.double_ops = MakeOps<Hinge, double>();
  return spec;
}

}  // namespace lossd::internal
