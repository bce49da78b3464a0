// Mean squared error, element-wise: loss = w (x - y)^2, d loss/dx = 2 w (x - y)
// (PyTorch's mse_loss). REDUCTION_MEAN divides by the number of elements as
// PyTorch does; REDUCTION_BATCH_MEAN by the number of rows, which gives the
// per-row sum of squares averaged over rows.

#include "kernel.h"
#include "lossd/registry.h"

namespace lossd::internal {
namespace {

struct MeanSquaredError {
  template <typename T>
  static double MeanDenominator(const KernelArgs<T>& args) {
    return static_cast<double>(args.rows * args.classes);
  }

  template <typename T>
  static KernelTotals Run(const KernelArgs<T>& args) {
    KernelTotals totals;
    for (int64_t r = 0; r < args.rows; ++r) {
      for (int64_t c = 0; c < args.classes; ++c) {
        const int64_t i = r * args.classes + c;
        const double d = static_cast<double>(args.input[i]) -
                         static_cast<double>(args.dense_target[i]);
        const double w = static_cast<double>(args.ElementWeight(i, r));
        const double loss = w * d * d;
        if (args.per_example != nullptr) args.per_example[i] = T(loss);
        if (args.grad_input != nullptr) {
          args.grad_input[i] = T(2 * w * d * args.GradScale(i));
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

LossSpec MseSpec() {
  LossSpec spec;
  spec.name = "mse";
  spec.description =
      "Squared error per element (PyTorch mse_loss). REDUCTION_MEAN averages "
      "over elements; REDUCTION_BATCH_MEAN averages the per-row sums over "
      "rows.";
  spec.target_kinds = {TargetKind::kValues, TargetKind::kProbabilities,
                       TargetKind::kMultiLabel};
  spec.input_kinds = {InputKind::kLogits, InputKind::kProbabilities,
                      InputKind::kLogProbabilities};
  spec.element_wise = true;
  spec.float_ops = MakeOps<MeanSquaredError, float>();
  spec.double_ops = MakeOps<MeanSquaredError, double>();
  return spec;
}

}  // namespace lossd::internal
