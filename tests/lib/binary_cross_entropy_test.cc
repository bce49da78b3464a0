// binary_cross_entropy against PyTorch values and finite differences.

#include <cmath>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "loss_test_util.h"

namespace lossd::testing {
namespace {

using ::testing::DoubleNear;
using ::testing::Pointwise;

LossRequest<double> Request(const Tensor<double>& input,
                            const Tensor<double>& target, Reduction reduction,
                            InputKind kind = InputKind::kLogits) {
  return DenseTargetRequest("binary_cross_entropy", input, target, reduction,
                            kind);
}

TEST(BinaryCrossEntropy, PyTorchDocumentationExample) {
  // -log(sigmoid(1.5)) = 0.2014.
  const auto x = Matrix<double>({{1.5}});
  const auto y = Matrix<double>({{1}});
  EXPECT_NEAR(RunLoss(Request(x, y, Reduction::kMean)).result.loss, 0.2014,
              1e-4);
}

TEST(BinaryCrossEntropy, OnProbabilityOfSoftmax) {
  // softmax([3, 4])[0] = 0.26894142 against target 0: 0.313.
  const auto p = Matrix<double>({{0.26894142}});
  const auto y = Matrix<double>({{0}});
  const auto outcome =
      RunLoss(Request(p, y, Reduction::kMean, InputKind::kProbabilities));
  EXPECT_NEAR(outcome.result.loss, -std::log(1 - 0.26894142), 1e-12);
  EXPECT_NEAR(outcome.result.loss, 0.313, 5e-4);
}

TEST(BinaryCrossEntropy, PosWeightMatchesPyTorch) {
  // F.binary_cross_entropy_with_logits(x, y, pos_weight=3, reduction='none').
  const auto x = Matrix<double>({{-2, 0.5, 3}});
  const auto y = Matrix<double>({{0, 1, 1}});
  LossRequest<double> request = Request(x, y, Reduction::kNone);
  request.options.SetPerClass("pos_weight", {3, 3, 3});
  const auto outcome = RunLoss(request);
  EXPECT_THAT(outcome.per_example,
              Pointwise(DoubleNear(1e-6), {0.126928, 1.422231, 0.145762}));
  EXPECT_THAT(outcome.grad,
              Pointwise(DoubleNear(1e-6), {0.119203, -1.132622, -0.142278}));
}

TEST(BinaryCrossEntropy, SoftTargetsAndWeightsMatchFiniteDifferences) {
  const auto x = Matrix<double>({{0.2, -1.0, 2.5}, {-30, 30, 0}});
  const auto y = Matrix<double>({{0.3, 0.5, 0.2}, {1, 0, 0.5}});
  for (Reduction reduction : {Reduction::kNone, Reduction::kSum,
                              Reduction::kMean, Reduction::kBatchMean}) {
    LossRequest<double> request = Request(x, y, reduction);
    request.options.SetPerClass("pos_weight", {2, 0.5, 1});
    request.options.SetPerClass("weight", {1, 3, 0.25});
    ExpectGradientMatchesFiniteDifferences(request);
  }
  const auto p = Matrix<double>({{0.2, 0.7, 0.99}, {0.5, 0.01, 0.3}});
  ExpectGradientMatchesFiniteDifferences(
      Request(p, y, Reduction::kMean, InputKind::kProbabilities));
}

TEST(BinaryCrossEntropy, SaturatedLogitsAreFinite) {
  const auto x = Matrix<double>({{-1e4, 1e4, 800}});
  const auto y = Matrix<double>({{1, 0, 1}});
  const auto outcome = RunLoss(Request(x, y, Reduction::kNone));
  EXPECT_THAT(outcome.per_example,
              Pointwise(DoubleNear(1e-9), {1e4, 1e4, 0.0}));
  EXPECT_THAT(outcome.grad, Pointwise(DoubleNear(1e-12), {-1.0, 1.0, 0.0}));
}

TEST(BinaryCrossEntropy, ProbabilityLogsClampAtMinus100AsPyTorch) {
  const auto p = Matrix<double>({{0, 1}});
  const auto y = Matrix<double>({{1, 0}});
  const auto outcome =
      RunLoss(Request(p, y, Reduction::kNone, InputKind::kProbabilities));
  EXPECT_THAT(outcome.per_example, Pointwise(DoubleNear(0), {100.0, 100.0}));
}

TEST(BinaryCrossEntropy, MeanIsOverElementsAndPerElementSampleWeight) {
  const auto x = Matrix<double>({{0.5, -0.5}, {1, 2}});
  const auto y = Matrix<double>({{1, 0}, {0, 1}});
  const auto none = RunLoss(Request(x, y, Reduction::kNone));
  const auto mean = RunLoss(Request(x, y, Reduction::kMean));
  double sum = 0;
  for (double v : none.per_example) sum += v;
  EXPECT_NEAR(mean.result.loss, sum / 4, 1e-15);
  EXPECT_DOUBLE_EQ(mean.result.statistics.denominator, 4);
  const auto per_element = Matrix<double>({{1, 2}, {0, 0.5}});
  LossRequest<double> weighted = Request(x, y, Reduction::kSum);
  weighted.sample_weight = per_element.view();
  EXPECT_NEAR(
      RunLoss(weighted).result.loss,
      none.per_example[0] + 2 * none.per_example[1] + 0.5 * none.per_example[3],
      1e-15);
  ExpectGradientMatchesFiniteDifferences(weighted);
  const auto per_row = Vector<double>({3, 1});
  weighted.sample_weight = per_row.view();
  EXPECT_NEAR(RunLoss(weighted).result.loss,
              3 * (none.per_example[0] + none.per_example[1]) +
                  none.per_example[2] + none.per_example[3],
              1e-14);
}

TEST(BinaryCrossEntropy, PosWeightIsRejectedOnProbabilities) {
  const auto p = Matrix<double>({{0.5}});
  const auto y = Matrix<double>({{1}});
  LossRequest<double> request =
      Request(p, y, Reduction::kMean, InputKind::kProbabilities);
  request.options.SetPerClass("pos_weight", {2});
  EXPECT_EQ(StatusOf(request).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace lossd::testing
