// Every registered loss declares the rule by which REDUCTION_MEAN counts its
// denominator (LossSpec::mean_denominator_rule; ListLosses publishes it and
// the clients split batches by it). These tests hold each declaration to
// what the library does on a batch with everything a rule reads: masked
// examples or elements, class indices equal to ignore_index, class (and
// other per-class) weights, and sample weights, which no rule reads.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <iterator>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "loss_test_util.h"
#include "lossd/compute.h"
#include "lossd/registry.h"
#include "lossd/types.h"

namespace lossd::testing {
namespace {

constexpr int64_t kRows = 8;
constexpr int64_t kClasses = 4;
constexpr int64_t kIgnored = -100;  // Every loss's default ignore_index.
constexpr absl::string_view kIgnoreIndex = "ignore_index";
constexpr absl::string_view kClassWeight = "class_weight";
// The value of every per-class option in these batches.
constexpr double kPerClassWeights[kClasses] = {0.5, 2.0, 1.25, 3.0};

bool Declares(const LossSpec& spec, absl::string_view option) {
  return spec.FindOption(option) != nullptr;
}

// One batch of kRows x kClasses for `spec`, as a request plus the facts the
// denominator rules read.
struct DenominatorCase {
  std::string description;
  TargetKind target_kind = TargetKind::kClassIndex;
  bool mask_per_element = false;
  Tensor<double> input;
  Tensor<int64_t> labels;  // Class indices, or empty.
  Tensor<double> dense;    // A dense target, or empty.
  Tensor<uint8_t> mask;
  Tensor<double> sample_weight;
  std::vector<double> class_weight;  // Empty: the loss has none.

  bool RowMasked(int64_t r) const { return mask.values[r] == 0; }
  bool ElementMasked(int64_t r, int64_t c) const {
    return mask.values[mask_per_element ? r * kClasses + c : r] == 0;
  }
  bool RowIgnored(int64_t r) const {
    return !labels.values.empty() && labels.values[r] == kIgnored;
  }

  LossRequest<double> Request(const LossSpec& spec, Reduction reduction,
                              bool with_sample_weight) const {
    LossRequest<double> request;
    request.loss = &spec;
    request.input = input.view();
    request.input_kind = spec.input_kinds.front();
    if (labels.values.empty()) {
      request.dense_target = dense.view();
    } else {
      request.class_index_target = labels.view();
    }
    request.mask = mask.view();
    if (with_sample_weight) request.sample_weight = sample_weight.view();
    request.reduction = reduction;
    // Every per-class option (class_weight, binary_cross_entropy's weight
    // and pos_weight): only class_weight may enter a denominator.
    for (const OptionSpec& option : spec.options) {
      if (option.type != OptionType::kPerClass) continue;
      if (option.logits_only && request.input_kind != InputKind::kLogits) {
        continue;
      }
      request.options.SetPerClass(option.name, {std::begin(kPerClassWeights),
                                                std::end(kPerClassWeights)});
    }
    return request;
  }
};

DenominatorCase MakeCase(const LossSpec& spec, TargetKind target_kind,
                         bool mask_per_element) {
  DenominatorCase batch;
  batch.description = absl::StrCat(
      spec.name, " with ", TargetKindName(target_kind),
      " targets and a mask per ", mask_per_element ? "element" : "example");
  batch.target_kind = target_kind;
  batch.mask_per_element = mask_per_element;
  std::mt19937 random(7);
  std::uniform_real_distribution<double> uniform(0.05, 0.95);
  // log(u) < 0: valid logits and log-probabilities alike.
  const bool probabilities =
      spec.input_kinds.front() == InputKind::kProbabilities;
  for (int64_t i = 0; i < kRows * kClasses; ++i) {
    const double u = uniform(random);
    batch.input.values.push_back(probabilities ? u : std::log(u));
  }
  batch.input.shape = {kRows, kClasses};
  if (target_kind == TargetKind::kClassIndex) {
    // Rows 2 and 6 ignored where the loss has an ignore_index.
    for (int64_t r = 0; r < kRows; ++r) {
      const bool ignore = Declares(spec, kIgnoreIndex) && (r == 2 || r == 6);
      batch.labels.values.push_back(ignore ? kIgnored : (r * 3 + 1) % kClasses);
    }
    batch.labels.shape = {kRows};
  } else {
    for (int64_t r = 0; r < kRows; ++r) {
      double sum = 0;
      for (int64_t k = 0; k < kClasses; ++k) {
        const double u = uniform(random);
        const double t = target_kind == TargetKind::kMultiLabel ? (u < 0.5)
                         : target_kind == TargetKind::kValues   ? 2 * u
                                                                : u;
        batch.dense.values.push_back(t);
        sum += t;
      }
      if (target_kind == TargetKind::kProbabilities) {
        for (int64_t k = 0; k < kClasses; ++k) {
          batch.dense.values[r * kClasses + k] /= sum;
        }
      }
    }
    batch.dense.shape = {kRows, kClasses};
  }
  // Rows 1 and 5 masked; or a scatter of elements and all of row 3.
  if (mask_per_element) {
    for (int64_t i = 0; i < kRows * kClasses; ++i) {
      batch.mask.values.push_back(i % 5 == 2 || i / kClasses == 3 ? 0 : 1);
    }
    batch.mask.shape = {kRows, kClasses};
  } else {
    for (int64_t r = 0; r < kRows; ++r) {
      batch.mask.values.push_back(r == 1 || r == 5 ? 0 : 1);
    }
    batch.mask.shape = {kRows};
  }
  const int64_t weights = mask_per_element ? kRows * kClasses : kRows;
  for (int64_t i = 0; i < weights; ++i) {
    batch.sample_weight.values.push_back(0.25 + 0.5 * (i % 4));
  }
  batch.sample_weight.shape = batch.mask.shape;
  if (Declares(spec, kClassWeight)) {
    batch.class_weight.assign(std::begin(kPerClassWeights),
                              std::end(kPerClassWeights));
  }
  return batch;
}

// What `rule` says the denominator of `c` is: written from the rule's
// contract (lossd/types.h), not from the library's code. `units` is how many
// examples or elements it counts (the kernel's valid_count).
struct RuleDenominator {
  double value = 0;
  int64_t units = 0;
};
RuleDenominator ByRule(MeanDenominatorRule rule, const DenominatorCase& c) {
  RuleDenominator d;
  if (rule == MeanDenominatorRule::kUnmaskedElements) {
    for (int64_t r = 0; r < kRows; ++r) {
      for (int64_t k = 0; k < kClasses; ++k) d.units += !c.ElementMasked(r, k);
    }
    d.value = static_cast<double>(d.units);
    return d;
  }
  for (int64_t r = 0; r < kRows; ++r) {
    if (c.RowMasked(r)) continue;
    if (rule != MeanDenominatorRule::kUnmaskedExamples && c.RowIgnored(r)) {
      continue;
    }
    d.units += 1;
    const bool weighted = rule == MeanDenominatorRule::kTargetWeightSum &&
                          !c.labels.values.empty() && !c.class_weight.empty();
    d.value += weighted ? c.class_weight[c.labels.values[r]] : 1.0;
  }
  return d;
}

std::vector<DenominatorCase> CasesFor(const LossSpec& spec) {
  std::vector<DenominatorCase> cases;
  for (TargetKind kind : spec.target_kinds) {
    cases.push_back(MakeCase(spec, kind, /*mask_per_element=*/false));
    if (spec.element_wise) {
      cases.push_back(MakeCase(spec, kind, /*mask_per_element=*/true));
    }
  }
  return cases;
}

TEST(MeanDenominatorRule, EveryLossDeclaresOneConsistentWithItsOptions) {
  for (const LossSpec& spec : AllLosses()) {
    SCOPED_TRACE(spec.name);
    ASSERT_TRUE(spec.mean_denominator_rule.has_value());
    const MeanDenominatorRule rule = *spec.mean_denominator_rule;
    // Element-wise losses average over elements, the others over examples.
    EXPECT_EQ(rule == MeanDenominatorRule::kUnmaskedElements,
              spec.element_wise);
    // A rule that leaves out ignored examples needs an ignore_index, and a
    // loss with one must leave them out of its mean.
    const bool skips_ignored = rule == MeanDenominatorRule::kTargetWeightSum ||
                               rule == MeanDenominatorRule::kNotIgnoredExamples;
    EXPECT_EQ(skips_ignored, Declares(spec, kIgnoreIndex));
    if (rule == MeanDenominatorRule::kTargetWeightSum) {
      EXPECT_TRUE(Declares(spec, kClassWeight));
      EXPECT_TRUE(spec.Accepts(TargetKind::kClassIndex));
    }
  }
}

TEST(MeanDenominatorRule, NamesAreDistinct) {
  std::set<std::string> names;
  for (MeanDenominatorRule rule : {MeanDenominatorRule::kUnmaskedElements,
                                   MeanDenominatorRule::kTargetWeightSum,
                                   MeanDenominatorRule::kNotIgnoredExamples,
                                   MeanDenominatorRule::kUnmaskedExamples}) {
    const std::string name(MeanDenominatorRuleName(rule));
    EXPECT_NE(name, "unknown");
    EXPECT_TRUE(names.insert(name).second) << name;
  }
}

// The mean is the sum over the rule's denominator, and the kernel leaves
// out (and counts) exactly the examples or elements the rule does.
TEST(MeanDenominatorRule, IsTheDenominatorOfTheMean) {
  for (const LossSpec& spec : AllLosses()) {
    ASSERT_TRUE(spec.mean_denominator_rule.has_value()) << spec.name;
    for (const DenominatorCase& c : CasesFor(spec)) {
      SCOPED_TRACE(c.description);
      const RuleDenominator expected = ByRule(*spec.mean_denominator_rule, c);
      ASSERT_GT(expected.value, 0);
      const Outcome<double> mean =
          RunLoss(c.Request(spec, Reduction::kMean, true));
      const Outcome<double> sum =
          RunLoss(c.Request(spec, Reduction::kSum, true));
      EXPECT_EQ(mean.result.statistics.denominator, expected.value);
      EXPECT_NEAR(mean.result.loss * expected.value, sum.result.loss,
                  1e-12 * std::max(1.0, std::abs(sum.result.loss)));
      // Without sample weights the kernel's own totals: how many it kept,
      // and for a target-weighted mean the class weights it applied.
      const Outcome<double> unweighted =
          RunLoss(c.Request(spec, Reduction::kSum, false));
      EXPECT_EQ(unweighted.result.statistics.valid_count, expected.units);
      if (*spec.mean_denominator_rule ==
          MeanDenominatorRule::kTargetWeightSum) {
        EXPECT_EQ(unweighted.result.statistics.weight_sum, expected.value);
      }
      const bool weighted = *spec.mean_denominator_rule ==
                                MeanDenominatorRule::kTargetWeightSum &&
                            !c.labels.values.empty() && !c.class_weight.empty();
      EXPECT_EQ(mean.result.statistics.denominator_kind,
                spec.element_wise ? DenominatorKind::kValidElements
                : weighted        ? DenominatorKind::kTargetWeightSum
                                  : DenominatorKind::kValidExamples);
    }
  }
}

// What a client does with the rule: the batch cut in two, each half sent
// with the whole batch's denominator as normalizer, gives bitwise the
// whole batch's gradient and loss sums that add up to its loss sum.
TEST(MeanDenominatorRule, SplitBatchesRecombineExactly) {
  for (const LossSpec& spec : AllLosses()) {
    ASSERT_TRUE(spec.mean_denominator_rule.has_value()) << spec.name;
    for (const DenominatorCase& c : CasesFor(spec)) {
      SCOPED_TRACE(c.description);
      const double denominator = ByRule(*spec.mean_denominator_rule, c).value;
      const Outcome<double> whole =
          RunLoss(c.Request(spec, Reduction::kMean, true));
      std::vector<double> grad;
      double loss_sum = 0;
      for (const auto& bounds : {std::pair<int64_t, int64_t>{0, 3},
                                 std::pair<int64_t, int64_t>{3, kRows}}) {
        // Plain names, not a structured binding: clang 14 cannot capture
        // one in the lambda below.
        const int64_t begin = bounds.first, end = bounds.second;
        const int64_t rows = end - begin;
        auto rows_of = [&](const auto& tensor) {
          auto part = tensor;
          if (part.values.empty()) return part;
          const int64_t width =
              static_cast<int64_t>(tensor.values.size()) / kRows;
          part.values.assign(tensor.values.begin() + begin * width,
                             tensor.values.begin() + end * width);
          part.shape[0] = rows;
          return part;
        };
        DenominatorCase half = c;
        half.input = rows_of(c.input);
        half.labels = rows_of(c.labels);
        half.dense = rows_of(c.dense);
        half.mask = rows_of(c.mask);
        half.sample_weight = rows_of(c.sample_weight);
        LossRequest<double> request =
            half.Request(spec, Reduction::kMean, true);
        request.normalizer = denominator;
        const Outcome<double> part = RunLoss(request);
        grad.insert(grad.end(), part.grad.begin(), part.grad.end());
        loss_sum += part.result.statistics.loss_sum;
      }
      EXPECT_EQ(grad, whole.grad);
      EXPECT_NEAR(loss_sum, whole.result.statistics.loss_sum,
                  1e-12 * std::max(1.0, std::abs(loss_sum)));
    }
  }
}

TEST(MeanDenominatorRule, ALossWithoutOneHasNoMean) {
  LossSpec spec = *FindLoss("cross_entropy");
  spec.mean_denominator_rule.reset();
  const DenominatorCase c =
      MakeCase(spec, TargetKind::kClassIndex, /*mask_per_element=*/false);
  EXPECT_EQ(StatusOf(c.Request(spec, Reduction::kMean, true)).code(),
            absl::StatusCode::kInternal);
  EXPECT_TRUE(StatusOf(c.Request(spec, Reduction::kSum, true)).ok());
  LossRequest<double> normalized = c.Request(spec, Reduction::kMean, true);
  normalized.normalizer = 4;
  EXPECT_TRUE(StatusOf(normalized).ok());
}

}  // namespace
}  // namespace lossd::testing
