// softmax_focal: Keras's CategoricalFocalCrossentropy.

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

TEST(SoftmaxFocal, KerasDocumentationExample) {
  const auto p = Matrix<double>({{0.05, 0.9, 0.05}, {0.1, 0.85, 0.05}});
  const auto y = Matrix<double>({{0, 1, 0}, {0, 0, 1}});
  LossRequest<double> request;
  request.loss = FindLoss("softmax_focal");
  request.input = p.view();
  request.dense_target = y.view();
  request.input_kind = InputKind::kProbabilities;
  request.reduction = Reduction::kNone;
  const auto outcome = RunLoss(request);
  // Keras: [2.63401289e-04, 6.75912094e-01].
  EXPECT_THAT(
      outcome.per_example,
      Pointwise(DoubleNear(1e-12),
                std::vector<double>{0.000263401289144566, 0.675912094220619}));
  EXPECT_THAT(
      outcome.grad,
      Pointwise(DoubleNear(1e-12),
                std::vector<double>{0.00724122320460218, -0.000804580356066909,
                                    0.00724122320460218, 0.296773641496907,
                                    0.296773641496907, -5.63869918844124}));
}

TEST(SoftmaxFocal, LogitsWithSmoothingMatchTheKerasFormula) {
  const auto x = Matrix<double>({{2.0, 1.0, 0.1}, {0.5, 2.5, 0.3}});
  const auto y = Matrix<double>({{0.3, 0.5, 0.2}, {0.1, 0.1, 0.8}});
  LossRequest<double> request;
  request.loss = FindLoss("softmax_focal");
  request.input = x.view();
  request.dense_target = y.view();
  request.reduction = Reduction::kNone;
  request.options.SetNumber("gamma", 1.5);
  request.options.SetNumber("label_smoothing", 0.1);
  const auto outcome = RunLoss(request);
  EXPECT_THAT(
      outcome.per_example,
      Pointwise(DoubleNear(1e-13),
                std::vector<double>{0.224960653184109, 0.454563007714421}));
  EXPECT_THAT(
      outcome.grad,
      Pointwise(DoubleNear(1e-13),
                std::vector<double>{0.118357889122447, -0.0780571189753471,
                                    -0.0403007701470999, -0.00773894866045596,
                                    0.206014892080354, -0.198275943419898}));
  request.reduction = Reduction::kMean;
  request.options.SetNumber("gamma", 0.5);
  ExpectGradientMatchesFiniteDifferences(request);
  request.options.SetNumber("epsilon", 0);
  ExpectGradientMatchesFiniteDifferences(request);
}

TEST(SoftmaxFocal, ClassIndicesAreOneHotAndClippingKeepsMinusInfFinite) {
  const double inf = std::numeric_limits<double>::infinity();
  const auto x = Matrix<double>({{-inf, 1.0, 2.0}, {0, 0, 0}});
  const auto labels = Vector<int64_t>({0, -100});
  LossRequest<double> request;
  request.loss = FindLoss("softmax_focal");
  request.input = x.view();
  request.class_index_target = labels.view();
  const auto outcome = RunLoss(request);
  // q_0 = 0 is clipped to 1e-7: 0.25 (1 - 1e-7)^2 (-log 1e-7), over 1 row.
  EXPECT_NEAR(outcome.result.loss,
              0.25 * std::pow(1 - 1e-7, 2) * -std::log(1e-7), 1e-12);
  EXPECT_EQ(outcome.result.statistics.denominator, 1);
  for (double g : outcome.grad) EXPECT_EQ(g, 0);  // Clipped: no gradient.
}

TEST(SoftmaxFocal, UnclippedSaturationHasFiniteGradientsForGammaBelowOne) {
  // q_0 = 1 - e^-50: (1 - q)^gamma has an infinite slope in a direct
  // evaluation; in log space the product stays finite (and tiny).
  const auto x = Matrix<double>({{50.0, 0.0}, {0.0, 0.0}});
  const auto labels = Vector<int64_t>({0, 1});
  LossRequest<double> request;
  request.loss = FindLoss("softmax_focal");
  request.input = x.view();
  request.class_index_target = labels.view();
  request.options.SetNumber("epsilon", 0);
  request.options.SetNumber("gamma", 0.5);
  const auto outcome = RunLoss(request);
  for (double g : outcome.grad) EXPECT_TRUE(std::isfinite(g));
  EXPECT_LT(std::abs(outcome.grad[0]), 1e-9);
  EXPECT_NEAR(outcome.per_example[0],
              0.25 * std::exp(-25.0) * std::log1p(std::exp(-50.0)), 1e-30);
  const auto one_class = Matrix<double>({{3.0}});
  const auto zero = Vector<int64_t>({0});
  request.input = one_class.view();
  request.class_index_target = zero.view();
  const auto single = RunLoss(request);
  EXPECT_EQ(single.grad[0], 0);
  EXPECT_EQ(single.result.loss, 0);
}

}  // namespace
}  // namespace lossd::testing
