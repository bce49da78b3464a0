// binary_cross_entropy's label smoothing (Keras's y (1 - e) + e/2, or the
// other-class rule), target gradient and PyTorch's exact clamp constant.
// Golden values from torch 1.13 in float64.

#include <cmath>
#include <limits>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "loss_test_util.h"

namespace lossd::testing {
namespace {

using ::testing::DoubleNear;
using ::testing::Pointwise;

LossRequest<double> Request(const Tensor<double>& x, const Tensor<double>& y,
                            Reduction reduction) {
  return DenseTargetRequest("binary_cross_entropy", x, y, reduction);
}

TEST(BinaryCrossEntropyOptions, KerasSmoothingWithPosWeightMatchesPyTorch) {
  const auto x = Matrix<double>({{0.3, -2.0, 5.0}});
  const auto y = Matrix<double>({{0, 1, 1}});
  LossRequest<double> request = Request(x, y, Reduction::kNone);
  request.options.SetNumber("label_smoothing", 0.2);
  request.options.SetPerClass("pos_weight", {2, 1, 3});
  std::vector<double> per_example(3), grad(3), grad_target(3);
  ASSERT_TRUE(Compute(request, LossOutputs<double>{absl::MakeSpan(per_example),
                                                   absl::MakeSpan(grad),
                                                   absl::MakeSpan(grad_target)})
                  .ok());
  EXPECT_THAT(per_example,
              Pointwise(DoubleNear(1e-13),
                        std::vector<double>{0.87979076891538, 1.92692801104297,
                                            0.51880297576953}));
  EXPECT_THAT(grad, Pointwise(DoubleNear(1e-14),
                              std::vector<double>{0.43188676849282487,
                                                  -0.7807970779778824,
                                                  0.08126001741200284}));
  EXPECT_THAT(
      grad_target,
      Pointwise(DoubleNear(1e-14), std::vector<double>{0.20348419557482167, 1.6,
                                                       -3.9892554424174116}));
}

TEST(BinaryCrossEntropyOptions, OtherClassesRuleFlipsMass) {
  // y (1 - e) + e (1 - y): a 1 becomes 1 - e, a 0 becomes e.
  const auto x = Matrix<double>({{0.7, -0.4}});
  const auto y = Matrix<double>({{1, 0}});
  const auto flipped = Matrix<double>({{0.9, 0.1}});
  LossRequest<double> request = Request(x, y, Reduction::kSum);
  request.options.SetNumber("label_smoothing", 0.1);
  request.options.SetChoice("label_smoothing_rule", "other_classes");
  const auto smoothed = RunLoss(request);
  const auto reference = RunLoss(Request(x, flipped, Reduction::kSum));
  EXPECT_NEAR(smoothed.result.loss, reference.result.loss, 1e-15);
  request.reduction = Reduction::kMean;
  ExpectGradientMatchesFiniteDifferences(request);
}

TEST(BinaryCrossEntropyOptions, ProbabilityGradientUsesPyTorchsFloatEpsilon) {
  const auto p = Matrix<double>({{1.0, 0.25}});
  const auto y = Matrix<double>({{0, 1}});
  LossRequest<double> request = Request(p, y, Reduction::kSum);
  request.input_kind = InputKind::kProbabilities;
  // PyTorch divides by max(p (1 - p), 1e-12f) = 9.999999960041972e-13.
  EXPECT_THAT(RunLoss(request).grad,
              Pointwise(DoubleNear(1e-3),
                        std::vector<double>{1000000003995.8029, -4.0}));
}

TEST(BinaryCrossEntropyOptions, InfiniteLogitsGiveFiniteLimits) {
  const double inf = std::numeric_limits<double>::infinity();
  const auto x = Matrix<double>({{inf, -inf, inf}});
  const auto y = Matrix<double>({{1, 0, 0}});
  const auto outcome = RunLoss(Request(x, y, Reduction::kNone));
  EXPECT_EQ(outcome.per_example[0], 0);  // PyTorch: NaN.
  EXPECT_EQ(outcome.per_example[1], 0);
  EXPECT_EQ(outcome.per_example[2], inf);
  EXPECT_THAT(outcome.grad,
              Pointwise(DoubleNear(0), std::vector<double>{0, 0, 1}));
}

TEST(CrossEntropyTargetGradient, IsInfiniteOnAnImpossibleClass) {
  // Moving target mass onto a class whose logit is -inf costs infinitely.
  const double inf = std::numeric_limits<double>::infinity();
  const auto x = Matrix<double>({{-inf, 1.0, 2.0}});
  const auto t = Matrix<double>({{0.0, 0.5, 0.5}});
  LossRequest<double> request;
  request.loss = FindLoss("cross_entropy");
  request.input = x.view();
  request.dense_target = t.view();
  std::vector<double> grad_target(3);
  ASSERT_TRUE(
      Compute(request, LossOutputs<double>{{}, {}, absl::MakeSpan(grad_target)})
          .ok());
  EXPECT_EQ(grad_target[0], inf);
  EXPECT_TRUE(std::isfinite(grad_target[1]));
}

}  // namespace
}  // namespace lossd::testing
