// The interface between Compute() and the loss kernels. Internal.
//
// Compute() validates a request, moves the class axis last and works out the
// reduction's denominator; a kernel then makes one pass over the rows,
// writing per-example losses and gradients already scaled for the reduction.

#ifndef LOSSD_SRC_KERNEL_H_
#define LOSSD_SRC_KERNEL_H_

#include <cstdint>

#include "Eigen/Core"
#include "lossd/options.h"
#include "lossd/registry.h"
#include "lossd/types.h"

namespace lossd::internal {

template <typename T>
using RowMatrix =
    Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// A batch laid out as rows of classes, with everything a kernel needs.
template <typename T>
struct KernelArgs {
  int64_t rows = 0;
  int64_t classes = 0;
  const T* input = nullptr;              // [rows, classes]
  const int64_t* class_index = nullptr;  // [rows], or null
  const T* dense_target = nullptr;       // [rows, classes], or null
  const T* sample_weight = nullptr;      // null, [rows] or [rows, classes]
  bool sample_weight_per_element = false;
  InputKind input_kind = InputKind::kLogits;
  const OptionValues* options = nullptr;
  // Each example's gradient is multiplied by grad_scale, and by
  // grad_output[i] when grad_output is set (one per example or element).
  double grad_scale = 1;
  const T* grad_output = nullptr;
  T* per_example = nullptr;  // null, [rows] or [rows, classes]
  T* grad_input = nullptr;   // null or [rows, classes]

  Eigen::Map<const RowMatrix<T>> InputRows() const {
    return Eigen::Map<const RowMatrix<T>>(input, rows, classes);
  }
  // The weight of row `row` (row losses) or of element `index`.
  T RowWeight(int64_t row) const {
    return sample_weight == nullptr ? T(1) : sample_weight[row];
  }
  T ElementWeight(int64_t index, int64_t row) const {
    if (sample_weight == nullptr) return T(1);
    return sample_weight_per_element ? sample_weight[index]
                                     : sample_weight[row];
  }
  double GradScale(int64_t example) const {
    return grad_output == nullptr ? grad_scale
                                  : grad_scale * grad_output[example];
  }
};

struct KernelTotals {
  double loss_sum = 0;
  int64_t valid_count = 0;
  double weight_sum = 0;
};

// Fills a LossOps from a class with static template members
// MeanDenominator<T>(args) and Run<T>(args).
template <typename Kernel, typename T>
LossOps<T> MakeOps() {
  return {&Kernel::template MeanDenominator<T>, &Kernel::template Run<T>};
}

// Each loss's spec, defined beside its kernel; registry.cc lists them.
LossSpec CrossEntropySpec();
LossSpec BinaryCrossEntropySpec();
LossSpec MseSpec();
LossSpec ClassificationErrorSpec();

}  // namespace lossd::internal

#endif  // LOSSD_SRC_KERNEL_H_
