// Metrics without a gradient: `accuracy` (top-k) and `classification_error`.
// The target class is the class index, or the argmax of a dense target. The
// input's ranking does not depend on its kind. Ties rank the lower class
// first, as torch.argmax: the target's rank is the number of classes scored
// higher plus the number of lower-index classes scored the same, and it is
// in the top k when its rank is below k. So accuracy with top_k 1 is one
// minus the classification error.

#include <cstdint>

#include "kernel.h"
#include "lossd/registry.h"

namespace lossd::internal {
namespace {

constexpr absl::string_view kTopK = "top_k";
constexpr absl::string_view kIgnoreIndex = "ignore_index";

template <typename T>
int64_t ArgMax(const T* row, int64_t classes) {
  int64_t best = 0;
  for (int64_t c = 1; c < classes; ++c) {
    if (row[c] > row[best]) best = c;
  }
  return best;
}

template <typename T>
int64_t Rank(const T* row, int64_t classes, int64_t label) {
  int64_t rank = 0;
  for (int64_t c = 0; c < classes; ++c) {
    rank += row[c] > row[label] || (c < label && row[c] == row[label]);
  }
  return rank;
}

// Counts a row as a hit or an error; `error` selects which scores 1.
template <bool kError>
struct RankMetric {
  template <typename T>
  static bool Ignored(const KernelArgs<T>& args, int64_t r) {
    return !args.RowIncluded(r) ||
           (args.class_index != nullptr &&
            args.spec->FindOption(kIgnoreIndex) != nullptr &&
            args.class_index[r] == args.Integer(kIgnoreIndex));
  }

  template <typename T>
  static KernelTotals Run(const KernelArgs<T>& args) {
    const int64_t top_k = kError ? 1 : args.Integer(kTopK);
    KernelTotals totals;
    for (int64_t r = 0; r < args.rows; ++r) {
      if (Ignored(args, r)) {
        if (args.per_example != nullptr) args.per_example[r] = T(0);
        continue;
      }
      const T* row = args.input + r * args.classes;
      const int64_t label =
          args.class_index != nullptr
              ? args.class_index[r]
              : ArgMax(args.dense_target + r * args.classes, args.classes);
      const bool hit = Rank(row, args.classes, label) < top_k;
      const double w = static_cast<double>(args.RowWeight(r));
      const double value = hit != kError ? w : 0.0;
      if (args.per_example != nullptr) args.per_example[r] = T(value);
      totals.loss_sum += value;
      totals.valid_count += 1;
      totals.weight_sum += w;
    }
    return totals;
  }
};

LossSpec MetricSpec(absl::string_view name) {
  LossSpec spec;
  spec.name = name;
  spec.target_kinds = {TargetKind::kClassIndex, TargetKind::kProbabilities};
  spec.input_kinds = {InputKind::kLogits, InputKind::kProbabilities,
                      InputKind::kLogProbabilities};
  spec.has_gradient = false;
  return spec;
}

}  // namespace

LossSpec ClassificationErrorSpec() {
  LossSpec spec = MetricSpec("classification_error");
  spec.description =
      "Share of examples whose argmax differs from the target class (a "
      "metric; no gradient).";
  spec.formula = "value = [argmax_c x_c != y]";
  spec.mean_denominator_rule = MeanDenominatorRule::kUnmaskedExamples;
  spec.float_ops = MakeOps<RankMetric<true>, float>();
  spec.double_ops = MakeOps<RankMetric<true>, double>();
  return spec;
}

LossSpec AccuracySpec() {
  LossSpec spec = MetricSpec("accuracy");
  spec.description =
      "Share of examples whose target class is among the top_k scores (a "
      "metric; no gradient).";
  spec.formula =
      "value = [rank(y) < top_k], rank(y) = #{c: x_c > x_y} + #{c < y: x_c = "
      "x_y}";
  spec.options = {
      {.name = kTopK,
       .type = OptionType::kInteger,
       .description = "How many of the highest scores count as a hit.",
       .default_value = 1,
       .minimum = 1.0},
      {.name = kIgnoreIndex,
       .type = OptionType::kInteger,
       .description = "Class indices equal to this are ignored and excluded "
                      "from the mean.",
       .default_value = -100,
       .class_index_only = true},
  };
  spec.mean_denominator_rule = MeanDenominatorRule::kNotIgnoredExamples;
  spec.float_ops = MakeOps<RankMetric<false>, float>();
  spec.double_ops = MakeOps<RankMetric<false>, double>();
  return spec;
}

}  // namespace lossd::internal
