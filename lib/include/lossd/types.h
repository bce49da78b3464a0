// Vocabulary shared by the loss library's public headers.

#ifndef LOSSD_TYPES_H_
#define LOSSD_TYPES_H_

#include <cstdint>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace lossd {

// How per-example losses are reduced to one number.
enum class Reduction {
  kNone,  // No reduction; the reported loss is the sum.
  kSum,
  kMean,       // PyTorch's mean (weighted for hard targets with weights).
  kBatchMean,  // Sum divided by the input's first dimension.
};

// What the input values are.
enum class InputKind { kLogits, kProbabilities, kLogProbabilities };

// What the targets are.
enum class TargetKind {
  kClassIndex,     // Integer class indices, the input's shape less classes.
  kProbabilities,  // A distribution over the classes, the input's shape.
  kMultiLabel,     // Independent per-class values in [0, 1], input's shape.
  kValues,         // Real values, the input's shape.
};

absl::string_view ReductionName(Reduction reduction);
absl::string_view InputKindName(InputKind kind);
absl::string_view TargetKindName(TargetKind kind);

// A read-only view of a dense row-major tensor the caller owns.
template <typename T>
struct TensorView {
  absl::Span<const T> data;
  std::vector<int64_t> shape;
};

// The statistics behind a reduction, so that results over micro-batches or
// shards combine exactly: sum(loss_sum) / sum(denominator).
struct ReductionStatistics {
  double loss_sum = 0;      // Sum of the weighted per-example losses.
  double denominator = 1;   // What loss_sum was divided by.
  int64_t valid_count = 0;  // Examples (or elements) not ignored.
  double weight_sum = 0;    // Sum of the weights applied to valid examples.
};

}  // namespace lossd

#endif  // LOSSD_TYPES_H_
