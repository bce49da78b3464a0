// The classification error metric: 1 where the input's argmax differs from
// the target class (its index, or the argmax of a dense target), else 0.
// The mean is the error rate. Ties go to the lowest class, as torch.argmax.
// Argmax does not depend on the input kind. No gradient.

#include <cstdint>

#include "kernel.h"
#include "lossd/registry.h"

namespace lossd::internal {
namespace {

template <typename T>
int64_t ArgMax(const T* row, int64_t classes) {
  int64_t best = 0;
  for (int64_t c = 1; c < classes; ++c) {
    if (row[c] > row[best]) best = c;
  }
  return best;
}

struct ClassificationError {
  template <typename T>
  static double MeanDenominator(const KernelArgs<T>& args) {
    return static_cast<double>(args.rows);
  }

  template <typename T>
  static KernelTotals Run(const KernelArgs<T>& args) {
    KernelTotals totals;
    for (int64_t r = 0; r < args.rows; ++r) {
      const int64_t predicted =
          ArgMax(args.input + r * args.classes, args.classes);
      const int64_t label =
          args.class_index != nullptr
              ? args.class_index[r]
              : ArgMax(args.dense_target + r * args.classes, args.classes);
      const double w = static_cast<double>(args.RowWeight(r));
      const double error = predicted == label ? 0.0 : w;
      if (args.per_example != nullptr) args.per_example[r] = T(error);
      totals.loss_sum += error;
      totals.weight_sum += w;
    }
    totals.valid_count = args.rows;
    return totals;
  }
};

}  // namespace

LossSpec ClassificationErrorSpec() {
  LossSpec spec;
  spec.name = "classification_error";
  spec.description =
      "Share of examples whose argmax differs from the target class (a "
      "metric; no gradient).";
  spec.target_kinds = {TargetKind::kClassIndex, TargetKind::kProbabilities};
  spec.input_kinds = {InputKind::kLogits, InputKind::kProbabilities,
                      InputKind::kLogProbabilities};
  spec.has_gradient = false;
  spec.float_ops = MakeOps<ClassificationError, float>();
  spec.double_ops = MakeOps<ClassificationError, double>();
  return spec;
}

}  // namespace lossd::internal
