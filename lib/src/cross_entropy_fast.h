// The float32 fast path of the softmax cross-entropy, on the vector
// kernels. Internal.
//
// It computes exactly what cross_entropy.cc's scalar kernel defines (class
// weights, ignore_index, both label-smoothing rules, z-loss, sample weights,
// masks, upstream gradients; hard or soft targets) for logits without soft
// capping, Poly-1 term or target gradient, to float32 precision: exp once
// per element (stored in the gradient row and rescaled in place), three
// passes over a row that stays in cache. Rows whose logits are not all
// finite are handed back to the scalar kernel.

#ifndef LOSSD_SRC_CROSS_ENTROPY_FAST_H_
#define LOSSD_SRC_CROSS_ENTROPY_FAST_H_

#include <cstdint>

#include "absl/functional/function_ref.h"
#include "absl/types/span.h"
#include "kernel.h"
#include "vector_kernels.h"

namespace lossd::internal {

struct CrossEntropyFastSettings {
  absl::Span<const double> class_weight;  // Empty: all ones.
  int64_t ignore_index = -100;
  double smoothing = 0;
  bool other_classes_rule = false;  // Else the uniform rule.
  double z_loss = 0;
};

// Computes every row of `args` (logits, float32 or 16-bit, no grad_target);
// 16-bit rows are converted a row (or block) at a time into cache.
// `scalar_row(r, s, x)` must compute row r, whose logits as float32 are at
// x, with sample weight s the scalar way, writing its gradient, and return
// its loss; it is called for the rows with a NaN or infinite logit.
KernelTotals RunCrossEntropyFast(
    const KernelArgs<float>& args, const VectorKernels& kernels,
    const CrossEntropyFastSettings& settings,
    absl::FunctionRef<double(int64_t row, double sample_weight, const float* x)>
        scalar_row);

}  // namespace lossd::internal

#endif  // LOSSD_SRC_CROSS_ENTROPY_FAST_H_
