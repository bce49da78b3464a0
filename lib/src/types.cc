#include "lossd/types.h"

namespace lossd {

absl::string_view ReductionName(Reduction reduction) {
  switch (reduction) {
    case Reduction::kNone:
      return "none";
    case Reduction::kSum:
      return "sum";
    case Reduction::kMean:
      return "mean";
    case Reduction::kBatchMean:
      return "batch_mean";
  }
  return "unknown";
}

absl::string_view DenominatorKindName(DenominatorKind kind) {
  switch (kind) {
    case DenominatorKind::kOne:
      return "one";
    case DenominatorKind::kValidExamples:
      return "valid_examples";
    case DenominatorKind::kTargetWeightSum:
      return "target_weight_sum";
    case DenominatorKind::kValidElements:
      return "valid_elements";
    case DenominatorKind::kBatchSize:
      return "batch_size";
    case DenominatorKind::kNormalizer:
      return "normalizer";
  }
  return "unknown";
}

absl::string_view MeanDenominatorRuleName(MeanDenominatorRule rule) {
  switch (rule) {
    case MeanDenominatorRule::kUnmaskedElements:
      return "unmasked_elements";
    case MeanDenominatorRule::kTargetWeightSum:
      return "target_weight_sum";
    case MeanDenominatorRule::kNotIgnoredExamples:
      return "not_ignored_examples";
    case MeanDenominatorRule::kUnmaskedExamples:
      return "unmasked_examples";
  }
  return "unknown";
}

absl::string_view InputKindName(InputKind kind) {
  switch (kind) {
    case InputKind::kLogits:
      return "logits";
    case InputKind::kProbabilities:
      return "probabilities";
    case InputKind::kLogProbabilities:
      return "log_probabilities";
  }
  return "unknown";
}

absl::string_view TargetKindName(TargetKind kind) {
  switch (kind) {
    case TargetKind::kClassIndex:
      return "class_index";
    case TargetKind::kProbabilities:
      return "probabilities";
    case TargetKind::kMultiLabel:
      return "multi_label";
    case TargetKind::kValues:
      return "values";
  }
  return "unknown";
}

}  // namespace lossd
