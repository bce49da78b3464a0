// l1, huber, smooth_l1 and poisson_nll against PyTorch (torch 1.13,
// float64), including its gradients at the kinks.

#include <cmath>
#include <limits>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "loss_test_util.h"

namespace lossd::testing {
namespace {

using ::testing::DoubleNear;
using ::testing::ElementsAre;
using ::testing::Pointwise;

LossRequest<double> Request(absl::string_view loss, const Tensor<double>& x,
                            const Tensor<double>& y, Reduction reduction) {
  return DenseTargetRequest(loss, x, y, reduction);
}

class Regression : public ::testing::Test {
 protected:
  Tensor<double> x_ = Matrix<double>({{0.5, -2.0, 3.0, 0.2}});
  Tensor<double> y_ = Matrix<double>({{0.0, 0.0, 1.0, 0.25}});
};

TEST_F(Regression, L1) {
  const auto outcome = RunLoss(Request("l1", x_, y_, Reduction::kNone));
  EXPECT_THAT(
      outcome.per_example,
      Pointwise(DoubleNear(1e-15), std::vector<double>{0.5, 2.0, 2.0, 0.05}));
  EXPECT_THAT(outcome.grad, ElementsAre(1, -1, 1, -1));
  const auto at_zero = Matrix<double>({{1.0}});
  EXPECT_THAT(RunLoss(Request("l1", at_zero, at_zero, Reduction::kSum)).grad,
              ElementsAre(0));
}

TEST_F(Regression, Huber) {
  LossRequest<double> request = Request("huber", x_, y_, Reduction::kNone);
  request.options.SetNumber("delta", 1.5);
  const auto outcome = RunLoss(request);
  EXPECT_THAT(outcome.per_example,
              Pointwise(DoubleNear(1e-15),
                        std::vector<double>{0.125, 1.875, 1.875, 0.00125}));
  EXPECT_THAT(
      outcome.grad,
      Pointwise(DoubleNear(1e-15), std::vector<double>{0.5, -1.5, 1.5, -0.05}));
  request.reduction = Reduction::kMean;
  ExpectGradientMatchesFiniteDifferences(request);
}

TEST_F(Regression, SmoothL1) {
  LossRequest<double> request = Request("smooth_l1", x_, y_, Reduction::kNone);
  request.options.SetNumber("beta", 0.5);
  const auto outcome = RunLoss(request);
  EXPECT_THAT(outcome.per_example,
              Pointwise(DoubleNear(1e-15),
                        std::vector<double>{0.25, 1.75, 1.75, 0.0025}));
  EXPECT_THAT(outcome.grad, Pointwise(DoubleNear(1e-15),
                                      std::vector<double>{1, -1, 1, -0.1}));
}

TEST_F(Regression, SmoothL1WithBetaZeroIsL1WithPyTorchsSlopeAtZero) {
  const auto x = Matrix<double>({{0.0, 1.0, -1.0}});
  const auto y = Matrix<double>({{0.0, 0.0, 0.0}});
  LossRequest<double> request = Request("smooth_l1", x, y, Reduction::kSum);
  request.options.SetNumber("beta", 0);
  const auto outcome = RunLoss(request);
  EXPECT_EQ(outcome.result.loss, 2);
  EXPECT_THAT(outcome.grad, ElementsAre(-1, 1, -1));  // As torch 1.13.
}

TEST_F(Regression, TargetGradientIsMinusTheInputGradient) {
  for (absl::string_view loss : {"mse", "l1", "huber", "smooth_l1"}) {
    LossRequest<double> request = Request(loss, x_, y_, Reduction::kMean);
    std::vector<double> grad(4), grad_target(4);
    ASSERT_TRUE(
        Compute(request,
                LossOutputs<double>{
                    {}, absl::MakeSpan(grad), absl::MakeSpan(grad_target)})
            .ok());
    for (int i = 0; i < 4; ++i) EXPECT_EQ(grad_target[i], -grad[i]) << loss;
  }
}

TEST(PoissonNll, LogInputWithStirlingTerm) {
  const auto x = Matrix<double>({{0.5, -2.0, 3.0, 0.2}});
  const auto y = Matrix<double>({{0.0, 2.0, 0.5, 3.0}});
  LossRequest<double> request = Request("poisson_nll", x, y, Reduction::kNone);
  request.options.SetBoolean("full", true);
  const auto outcome = RunLoss(request);
  EXPECT_THAT(
      outcome.per_example,
      Pointwise(DoubleNear(1e-13),
                std::vector<double>{1.64872127070013, 4.78714176784115,
                                    18.5855369231877, 2.38548430170323}));
  EXPECT_THAT(
      outcome.grad,
      Pointwise(DoubleNear(1e-13),
                std::vector<double>{1.64872127070013, -1.86466471676339,
                                    19.5855369231877, -1.77859724183983}));
}

TEST(PoissonNll, RatesWithEpsilon) {
  const auto x = Matrix<double>({{0.5, 2.0, 3.0, 0.2}});
  const auto y = Matrix<double>({{0.0, 2.0, 0.5, 3.0}});
  LossRequest<double> request = Request("poisson_nll", x, y, Reduction::kNone);
  request.options.SetBoolean("log_input", false);
  const auto outcome = RunLoss(request);
  EXPECT_THAT(
      outcome.per_example,
      Pointwise(DoubleNear(1e-13),
                std::vector<double>{0.5, 0.613705628880109, 2.45069385399928,
                                    5.02831358730231}));
  EXPECT_THAT(outcome.grad,
              Pointwise(DoubleNear(1e-12),
                        std::vector<double>{1.0, 4.99999996961265e-09,
                                            0.833333333888889, -13.99999925}));
}

TEST(PoissonNll, MinusInfLogRateWithZeroCountIsZero) {
  const double inf = std::numeric_limits<double>::infinity();
  const auto x = Matrix<double>({{-inf, -inf}});
  const auto y = Matrix<double>({{0.0, 1.0}});
  const auto outcome = RunLoss(Request("poisson_nll", x, y, Reduction::kNone));
  EXPECT_EQ(outcome.per_example[0], 0);  // PyTorch: NaN.
  EXPECT_EQ(outcome.per_example[1], inf);
  EXPECT_EQ(outcome.grad[0], 0);
}

}  // namespace
}  // namespace lossd::testing
