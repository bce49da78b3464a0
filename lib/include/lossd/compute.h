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
#include <functional>
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
  // For T = float, instead of `input`: the input in bfloat16 or float16.
  // The softmax and sigmoid cross-entropies read it directly, a row at a
  // time into cache, with the same answer as from its float32 values; the
  // other losses (and a class axis that is not last) get a float32 copy.
  std::optional<Float16TensorView> input_16bit;
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
  // Optional mask of the examples to include (non-zero) or leave out (0):
  // the per-example shape, or for element-wise losses also the input's
  // shape. A left-out example has zero loss and gradient and does not count
  // in any mean; unlike ignore_index it works with every kind of target.
  std::optional<TensorView<uint8_t>> mask;
  Reduction reduction = Reduction::kMean;
  // Replaces the denominator of kMean and kBatchMean, e.g. by the token
  // count of a whole batch split into micro-batches. Finite and positive.
  std::optional<double> normalizer;
  // The result of kMean or kBatchMean over nothing.
  EmptyMeanPolicy empty_mean = EmptyMeanPolicy::kNaN;
  // Multiplies every gradient (not the loss), as a loss scale would.
  double grad_scale = 1;
  InputKind input_kind = InputKind::kLogits;
  // Negative values count from the end. Default: the last axis.
  std::optional<int> class_axis;
  OptionValues options;
  // The most threads that compute the rows, the calling one included; 0
  // means one per core. Batches under kParallelElements elements stay on
  // the calling thread. The result is bitwise the same for any count: rows
  // are cut into blocks that do not depend on it, and the blocks' sums are
  // added in block order.
  int threads = 1;
  // Asked, if set, whether to stop: once before the rows are computed and,
  // for a batch of kParallelElements elements or more, before each block of
  // rows (about 256K elements), from whichever thread computes it.
  // When it returns an error (absl::CancelledError, DeadlineExceededError),
  // Compute stops within a block and returns that error; the outputs then
  // hold no answer and must not be used. It must be thread-safe and cheap:
  // a clock read or an atomic load, not a system call.
  std::function<absl::Status()> interrupt;
};

// The smallest batch (input elements) that LossRequest::threads may split.
inline constexpr int64_t kParallelElements = int64_t{1} << 20;

// Where Compute writes its outputs; each is optional (empty: not wanted).
template <typename T>
struct LossOutputs {
  // PerExampleSize entries: each example's (weighted) loss.
  absl::Span<T> per_example;
  // As many entries as the input: d loss / d input, in the input's layout.
  // It may be the input's own buffer (the same memory, not a partial
  // overlap): the gradient then replaces the input, with no extra buffer
  // for the softmax and sigmoid cross-entropies on logits; for the others
  // Compute copies the input first.
  absl::Span<T> grad_input;
  // As many entries as the input: d loss / d target, for losses with
  // `has_target_gradient` and a floating dense target (TensorFlow's v2
  // softmax_cross_entropy_with_logits back-propagates into labels too).
  absl::Span<T> grad_target;
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

// Validates `request` and computes its loss into the non-empty `outputs`.
// The gradients are of the returned loss (under kNone: of the sum of the
// per-example losses, each times its grad_output), times grad_scale. Errors are
// InvalidArgument naming the field and first offending index. Thread-safe;
// allocates only when the class axis is not last (and a little per call
// when it uses more than one thread).
template <typename T>
absl::StatusOr<LossResult> Compute(const LossRequest<T>& request,
                                   const LossOutputs<T>& outputs);

// The same, for callers that want no target gradient.
template <typename T>
absl::StatusOr<LossResult> Compute(const LossRequest<T>& request,
                                   absl::Span<T> per_example,
                                   absl::Span<T> grad_input) {
  return Compute<T>(request, LossOutputs<T>{per_example, grad_input, {}});
}

extern template absl::StatusOr<LossResult> Compute<float>(
    const LossRequest<float>&, const LossOutputs<float>&);
extern template absl::StatusOr<LossResult> Compute<double>(
    const LossRequest<double>&, const LossOutputs<double>&);

}  // namespace lossd

#endif  // LOSSD_COMPUTE_H_
