// Computing a loss over a batch: the library's entry point.
//
// Example:
//   lossd::LossRequest<float> request;
//   request.loss = lossd::FindLoss("cross_entropy");
//   request.input = {logits, {batch, classes}};
//   request.class_index_target = {labels, {batch}};
//   std::vector<float> grad(logits.size());
//   absl::StatusOr<lossd::LossResult> result =
//       lossd::Compute(request, /*per_example=*/{}, absl::MakeSpan(grad));

#ifndef LOSSD_COMPUTE_H_
#define LOSSD_COMPUTE_H_

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "lossd/options.h"
#include "lossd/registry.h"
#include "lossd/types.h"

namespace lossd {

// One loss computation. T is the compute type, float or double. Views only:
// the caller owns every buffer and keeps it alive during Compute.
template <typename T>
struct LossRequest {
  const LossSpec* loss = nullptr;
  // Any shape with at least one dimension; the class axis is `class_axis`.
  TensorView<T> input;
  // Exactly one target: class indices (the input's shape less the class
  // axis) or a dense target of the input's shape.
  std::optional<TensorView<int64_t>> class_index_target;
  std::optional<TensorView<T>> dense_target;
  // Optional weight multiplying each example's loss: the per-example shape,
  // or for element-wise losses also the input's shape.
  std::optional<TensorView<T>> sample_weight;
  // Optional upstream gradient of each example's loss (the per-example
  // shape), used under Reduction::kNone as in `loss.backward(grad_output)`.
  std::optional<TensorView<T>> grad_output;
  Reduction reduction = Reduction::kMean;
  InputKind input_kind = InputKind::kLogits;
  // Negative values count from the end. Default: the last axis.
  std::optional<int> class_axis;
  OptionValues options;
};

struct LossResult {
  // The reduced loss; the sum of per-example losses under kNone.
  double loss = 0;
  ReductionStatistics statistics;
};

// How a request's input decomposes into rows of classes. The class axis
// splits the input shape into [outer..., classes, inner...]; examples are the
// outer x inner positions, in row-major order of the remaining axes.
struct ProblemShape {
  int64_t outer = 0;
  int64_t classes = 0;
  int64_t inner = 0;
  int64_t examples() const { return outer * inner; }
  int64_t elements() const { return outer * classes * inner; }
  int class_axis = 0;                  // Non-negative.
  std::vector<int64_t> example_shape;  // The input shape less the class axis.
  int64_t batch_size = 0;              // The input's first dimension.
};

// Resolves `class_axis` against `input_shape`, with overflow-checked sizes.
absl::StatusOr<ProblemShape> ResolveShape(absl::Span<const int64_t> input_shape,
                                          std::optional<int> class_axis);

// The number of per-example outputs of `loss` for an input of `shape`: the
// examples, or the elements for element-wise losses.
int64_t PerExampleSize(const LossSpec& loss, const ProblemShape& shape);

// Validates `request` and computes its loss. When non-empty, `per_example`
// (PerExampleSize entries) receives each example's loss and `grad_input`
// (as many entries as the input) d loss / d input, both in the input's
// layout. Errors are InvalidArgument naming the field and first offending
// index. Thread-safe; allocates only when the class axis is not last.
template <typename T>
absl::StatusOr<LossResult> Compute(const LossRequest<T>& request,
                                   absl::Span<T> per_example,
                                   absl::Span<T> grad_input);

extern template absl::StatusOr<LossResult> Compute<float>(
    const LossRequest<float>&, absl::Span<float>, absl::Span<float>);
extern template absl::StatusOr<LossResult> Compute<double>(
    const LossRequest<double>&, absl::Span<double>, absl::Span<double>);

}  // namespace lossd

#endif  // LOSSD_COMPUTE_H_
