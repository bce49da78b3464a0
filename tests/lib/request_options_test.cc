// Request-level options that apply to every loss: mask, normalizer, the
// empty-mean policy, grad_scale, grad_target, and the statistics' record of
// the denominator used; and option validation for choices and exclusive
// minimums.

#include <cmath>
#include <limits>
#include <vector>

#include "absl/strings/match.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "loss_test_util.h"

namespace lossd::testing {
namespace {

using ::testing::DoubleNear;
using ::testing::ElementsAre;
using ::testing::Pointwise;

MATCHER_P(InvalidArgumentWith, text, "") {
  return arg.code() == absl::StatusCode::kInvalidArgument &&
         absl::StrContains(arg.message(), text);
}

Tensor<uint8_t> Mask(std::initializer_list<uint8_t> values,
                     std::vector<int64_t> shape) {
  return {std::vector<uint8_t>(values), std::move(shape)};
}

class RequestOptions : public ::testing::Test {
 protected:
  Tensor<double> logits_ =
      Matrix<double>({{2.0, 1.0, 0.1}, {0.5, 2.5, 0.3}, {1.0, -1.0, 0.0}});
  Tensor<int64_t> labels_ = Vector<int64_t>({0, 2, 1});
  Tensor<double> soft_ =
      Matrix<double>({{0.3, 0.5, 0.2}, {0.1, 0.1, 0.8}, {1.0, 0.0, 0.0}});
  LossRequest<double> Hard(Reduction reduction) {
    LossRequest<double> request;
    request.loss = FindLoss("cross_entropy");
    request.input = logits_.view();
    request.class_index_target = labels_.view();
    request.reduction = reduction;
    return request;
  }
  LossRequest<double> Soft(Reduction reduction) {
    LossRequest<double> request = Hard(reduction);
    request.class_index_target.reset();
    request.dense_target = soft_.view();
    return request;
  }
};

TEST_F(RequestOptions, MaskLeavesRowsOutOfLossGradientAndMean) {
  const auto none = RunLoss(Soft(Reduction::kNone));
  const auto mask = Mask({1, 0, 1}, {3});
  LossRequest<double> request = Soft(Reduction::kMean);
  request.mask = mask.view();
  const auto masked = RunLoss(request);
  EXPECT_NEAR(masked.result.loss,
              (none.per_example[0] + none.per_example[2]) / 2, 1e-15);
  EXPECT_EQ(masked.result.statistics.denominator, 2);
  EXPECT_EQ(masked.result.statistics.valid_count, 2);
  EXPECT_EQ(masked.result.statistics.denominator_kind,
            DenominatorKind::kValidExamples);
  EXPECT_EQ(masked.per_example[1], 0);
  for (int c = 3; c < 6; ++c) EXPECT_EQ(masked.grad[c], 0);
  ExpectGradientMatchesFiniteDifferences(request);
}

TEST_F(RequestOptions, MaskWithClassWeightsExcludesTheirWeights) {
  const auto mask = Mask({0, 1, 1}, {3});
  LossRequest<double> request = Hard(Reduction::kMean);
  request.options.SetPerClass("class_weight", {1.0, 2.0, 0.5});
  request.mask = mask.view();
  const auto outcome = RunLoss(request);
  // Valid rows 1 and 2 have targets 2 and 1: weights 0.5 + 2.
  EXPECT_DOUBLE_EQ(outcome.result.statistics.denominator, 2.5);
  EXPECT_EQ(outcome.result.statistics.denominator_kind,
            DenominatorKind::kTargetWeightSum);
  ExpectGradientMatchesFiniteDifferences(request);
}

TEST_F(RequestOptions, PerElementMaskForElementwiseLosses) {
  const auto x = Matrix<double>({{0.5, -1.0}, {2.0, 0.0}});
  const auto y = Matrix<double>({{1.0, 0.0}, {0.0, 1.0}});
  const auto mask = Mask({1, 0, 0, 1}, {2, 2});
  LossRequest<double> request;
  request.loss = FindLoss("mse");
  request.input = x.view();
  request.dense_target = y.view();
  request.mask = mask.view();
  const auto outcome = RunLoss(request);
  EXPECT_DOUBLE_EQ(outcome.result.loss, (0.25 + 1.0) / 2);
  EXPECT_EQ(outcome.result.statistics.denominator_kind,
            DenominatorKind::kValidElements);
  EXPECT_THAT(outcome.grad, ElementsAre(-0.5, 0, 0, -1.0));
  const auto row_mask = Mask({0, 1}, {2});
  request.mask = row_mask.view();
  EXPECT_DOUBLE_EQ(RunLoss(request).result.loss, (4.0 + 1.0) / 2);
}

TEST_F(RequestOptions, MaskShapeIsChecked) {
  const auto mask = Mask({1, 0}, {2});
  LossRequest<double> request = Hard(Reduction::kMean);
  request.mask = mask.view();
  EXPECT_THAT(StatusOf(request), InvalidArgumentWith("mask shape [2]"));
}

TEST_F(RequestOptions, NormalizerReplacesTheDenominator) {
  LossRequest<double> request = Hard(Reduction::kMean);
  const auto sum = RunLoss(Hard(Reduction::kSum));
  request.normalizer = 10;
  const auto normalized = RunLoss(request);
  EXPECT_NEAR(normalized.result.loss, sum.result.loss / 10, 1e-15);
  EXPECT_EQ(normalized.result.statistics.denominator, 10);
  EXPECT_EQ(normalized.result.statistics.denominator_kind,
            DenominatorKind::kNormalizer);
  for (size_t i = 0; i < sum.grad.size(); ++i) {
    EXPECT_NEAR(normalized.grad[i], sum.grad[i] / 10, 1e-16);
  }
  request.normalizer = 0;
  EXPECT_THAT(StatusOf(request), InvalidArgumentWith("normalizer = 0"));
  request = Hard(Reduction::kSum);
  request.normalizer = 4;
  EXPECT_THAT(StatusOf(request), InvalidArgumentWith("normalizer applies"));
}

TEST_F(RequestOptions, MicroBatchesWithAGlobalNormalizerAddUp) {
  // Rows split 2 + 1 with normalizer = 3 give the full batch's mean.
  const auto whole = RunLoss(Hard(Reduction::kMean));
  const auto first_logits = Matrix<double>({{2.0, 1.0, 0.1}, {0.5, 2.5, 0.3}});
  const auto second_logits = Matrix<double>({{1.0, -1.0, 0.0}});
  const auto first_labels = Vector<int64_t>({0, 2});
  const auto second_labels = Vector<int64_t>({1});
  double total = 0;
  for (auto [logits, labels] : {std::pair{&first_logits, &first_labels},
                                std::pair{&second_logits, &second_labels}}) {
    LossRequest<double> part = Hard(Reduction::kMean);
    part.input = logits->view();
    part.class_index_target = labels->view();
    part.normalizer = 3;
    total += RunLoss(part).result.loss;
  }
  EXPECT_NEAR(total, whole.result.loss, 1e-15);
}

TEST_F(RequestOptions, EmptyMeanPolicy) {
  labels_ = Vector<int64_t>({-100, -100, -100});
  LossRequest<double> request = Hard(Reduction::kMean);
  EXPECT_TRUE(std::isnan(RunLoss(request).result.loss));
  request.empty_mean = EmptyMeanPolicy::kZero;
  const auto zero = RunLoss(request);
  EXPECT_EQ(zero.result.loss, 0);
  EXPECT_EQ(zero.result.statistics.denominator, 0);
  for (double g : zero.grad) EXPECT_EQ(g, 0);
}

TEST_F(RequestOptions, GradScaleScalesGradientsOnly) {
  const auto plain = RunLoss(Soft(Reduction::kMean));
  LossRequest<double> request = Soft(Reduction::kMean);
  request.grad_scale = 1024;
  const auto scaled = RunLoss(request);
  EXPECT_EQ(scaled.result.loss, plain.result.loss);
  for (size_t i = 0; i < plain.grad.size(); ++i) {
    EXPECT_DOUBLE_EQ(scaled.grad[i], 1024 * plain.grad[i]);
  }
  request.grad_scale = std::numeric_limits<double>::infinity();
  EXPECT_THAT(StatusOf(request), InvalidArgumentWith("grad_scale"));
}

TEST_F(RequestOptions, GradTargetNeedsADenseTargetAndALossThatHasIt) {
  std::vector<double> grad_target(9);
  LossOutputs<double> outputs{{}, {}, absl::MakeSpan(grad_target)};
  EXPECT_THAT(Compute(Hard(Reduction::kSum), outputs).status(),
              InvalidArgumentWith("grad_target needs a dense"));
  LossRequest<double> request = Soft(Reduction::kSum);
  request.loss = FindLoss("classification_error");
  EXPECT_THAT(Compute(request, outputs).status(),
              InvalidArgumentWith("no gradient with respect to targets"));
}

TEST_F(RequestOptions, ChoiceOptionsAreValidated) {
  LossRequest<double> request = Hard(Reduction::kMean);
  request.options.SetChoice("label_smoothing_rule", "fairseq");
  EXPECT_THAT(StatusOf(request),
              InvalidArgumentWith("label_smoothing_rule = fairseq is not one "
                                  "of uniform, other_classes"));
  request = Hard(Reduction::kMean);
  request.options.SetNumber("label_smoothing_rule", 1);
  EXPECT_THAT(StatusOf(request), InvalidArgumentWith("must be a choice"));
}

TEST_F(RequestOptions, ExclusiveMinimum) {
  const auto x = Matrix<double>({{0.5}});
  LossRequest<double> request;
  request.loss = FindLoss("huber");
  request.input = x.view();
  request.dense_target = x.view();
  request.options.SetNumber("delta", 0);
  EXPECT_THAT(StatusOf(request),
              InvalidArgumentWith("delta = 0 is outside (0, inf]"));
}

TEST_F(RequestOptions, ClassIndexOnlyOptionsRejectDenseTargets) {
  LossRequest<double> request = Soft(Reduction::kMean);
  request.options.SetInteger("ignore_index", 1);
  EXPECT_THAT(StatusOf(request),
              InvalidArgumentWith("ignore_index applies to class-index"));
}

TEST_F(RequestOptions, ProbabilityInputsMustBeInTheUnitInterval) {
  const auto p = Matrix<double>({{0.5, 1.5}});
  LossRequest<double> request;
  request.loss = FindLoss("binary_cross_entropy");
  request.input = p.view();
  request.dense_target = p.view();
  request.input_kind = InputKind::kProbabilities;
  EXPECT_THAT(StatusOf(request),
              InvalidArgumentWith("input[1] = 1.5 is not a probability"));
}

TEST_F(RequestOptions, ClassAxisOneWithMaskAndGradTarget) {
  // [N=1, C=3, d=2] with class_axis 1 equals the transposed [2, 3] rows.
  const auto chw = Tensor<double>{{0.3, 1.0, -0.5, 2.0, 0.1, 0.4}, {1, 3, 2}};
  const auto target = Tensor<double>{{0.2, 0.6, 0.5, 0.1, 0.3, 0.3}, {1, 3, 2}};
  const auto rows = Matrix<double>({{0.3, -0.5, 0.1}, {1.0, 2.0, 0.4}});
  const auto row_target = Matrix<double>({{0.2, 0.5, 0.3}, {0.6, 0.1, 0.3}});
  const auto mask = Mask({0, 1}, {1, 2});
  const auto row_mask = Mask({0, 1}, {2});
  auto run = [](LossRequest<double> request) {
    std::vector<double> per_example(2), grad(6), grad_target(6);
    EXPECT_TRUE(
        Compute(request, LossOutputs<double>{absl::MakeSpan(per_example),
                                             absl::MakeSpan(grad),
                                             absl::MakeSpan(grad_target)})
            .ok());
    return std::vector<std::vector<double>>{per_example, grad, grad_target};
  };
  LossRequest<double> request;
  request.loss = FindLoss("cross_entropy");
  request.input = chw.view();
  request.dense_target = target.view();
  request.class_axis = 1;
  request.mask = mask.view();
  request.options.SetNumber("label_smoothing", 0.1);
  const auto strided = run(request);
  request.input = rows.view();
  request.dense_target = row_target.view();
  request.class_axis.reset();
  request.mask = row_mask.view();
  const auto plain = run(request);
  EXPECT_EQ(strided[0], plain[0]);
  for (int k : {1, 2}) {
    // Strided [c][j] is row-major [j][c].
    for (int c = 0; c < 3; ++c) {
      for (int j = 0; j < 2; ++j) {
        EXPECT_EQ(strided[k][c * 2 + j], plain[k][j * 3 + c]);
      }
    }
  }
}

}  // namespace
}  // namespace lossd::testing
