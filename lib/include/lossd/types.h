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

// What a mean does when there is nothing to average (every example ignored
// or masked, or an empty batch).
enum class EmptyMeanPolicy {
  kNaN,   // 0 / 0 = NaN, as PyTorch (the default).
  kZero,  // 0, as Keras (divide_no_nan), Liger-Kernel and TF v1 losses.
};

// Which denominator a reduction divided the loss sum by.
enum class DenominatorKind {
  kOne,              // REDUCTION_NONE and REDUCTION_SUM.
  kValidExamples,    // The count of examples neither ignored nor masked.
  kTargetWeightSum,  // Sum of the target classes' weights over valid
                     // examples (PyTorch's weighted mean, hard targets).
  kValidElements,    // The count of unmasked elements (element-wise losses).
  kBatchSize,        // The input's first dimension (REDUCTION_BATCH_MEAN).
  kNormalizer,       // The caller's `normalizer`.
};

// How a loss counts the denominator of Reduction::kMean (without a
// normalizer): each registered loss declares one rule
// (LossSpec::mean_denominator_rule) and Compute() counts by it. The count
// depends only on the targets, the mask and the class weights, never on the
// input or the sample weights, so a caller that splits a batch can work out
// the whole batch's denominator and send it to every part as the normalizer.
// DenominatorKind, by contrast, reports which denominator one result used.
enum class MeanDenominatorRule {
  // The unmasked elements (element-wise losses).
  kUnmaskedElements,
  // Class-index targets: the sum of class_weight[target] (1 without class
  // weights) over unmasked examples whose target is not ignore_index,
  // PyTorch's weighted mean. Dense targets: the unmasked examples.
  kTargetWeightSum,
  // The unmasked examples whose class-index target is not ignore_index
  // (dense targets: the unmasked examples).
  kNotIgnoredExamples,
  // The unmasked examples (the loss has no ignore_index).
  kUnmaskedExamples,
};

absl::string_view ReductionName(Reduction reduction);
absl::string_view DenominatorKindName(DenominatorKind kind);
absl::string_view MeanDenominatorRuleName(MeanDenominatorRule rule);
absl::string_view InputKindName(InputKind kind);
absl::string_view TargetKindName(TargetKind kind);

// A read-only view of a dense row-major tensor the caller owns.
template <typename T>
struct TensorView {
  absl::Span<const T> data;
  std::vector<int64_t> shape;
};

// The 16-bit floating formats the library reads.
enum class Float16Format {
  kBFloat16,  // 8 exponent bits, 7 mantissa bits (bfloat16).
  kFloat16,   // IEEE 754 binary16.
};

// A read-only view of a dense row-major tensor of 16-bit floats (their bit
// patterns, native byte order) the caller owns.
struct Float16TensorView {
  absl::Span<const uint16_t> data;
  std::vector<int64_t> shape;
  Float16Format format = Float16Format::kBFloat16;
};

// The statistics behind a reduction, so that results over micro-batches or
// shards combine exactly: sum(loss_sum) / sum(denominator).
struct ReductionStatistics {
  double loss_sum = 0;      // Sum of the weighted per-example losses.
  double denominator = 1;   // What loss_sum was divided by.
  int64_t valid_count = 0;  // Examples (or elements) not ignored.
  double weight_sum = 0;    // Sum of the weights applied to valid examples.
  DenominatorKind denominator_kind = DenominatorKind::kOne;
};

}  // namespace lossd

#endif  // LOSSD_TYPES_H_
