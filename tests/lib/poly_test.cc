// poly: Poly-1 cross-entropy, optax's poly_loss_cross_entropy.

#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "loss_test_util.h"

namespace lossd::testing {
namespace {

using ::testing::DoubleNear;
using ::testing::Pointwise;

TEST(Poly, MatchesOptaxFormula) {
  const auto logits = Matrix<double>({{2.0, 1.0, 0.1}, {0.5, 2.5, 0.3}});
  const auto labels = Vector<int64_t>({0, 2});
  LossRequest<double> request;
  request.loss = FindLoss("poly");
  request.input = logits.view();
  request.class_index_target = labels.view();
  request.reduction = Reduction::kNone;
  const auto outcome = RunLoss(request);  // Default epsilon 2.
  EXPECT_THAT(
      outcome.per_example,
      Pointwise(DoubleNear(1e-13),
                std::vector<double>{1.0990277385059, 4.24221509521786}));
  EXPECT_THAT(
      outcome.grad,
      Pointwise(DoubleNear(1e-13),
                std::vector<double>{-0.790436136779962, 0.561960178300544,
                                    0.228475958479419, 0.127917212543396,
                                    0.945187459501989, -1.07310467204539}));
  // One-hot soft targets give the same; epsilon 0 gives cross-entropy.
  const auto one_hot = Matrix<double>({{1, 0, 0}, {0, 0, 1}});
  request.class_index_target.reset();
  request.dense_target = one_hot.view();
  EXPECT_THAT(RunLoss(request).per_example,
              Pointwise(DoubleNear(1e-14), outcome.per_example));
  request.options.SetNumber("epsilon", 0);
  LossRequest<double> cross_entropy = request;
  cross_entropy.loss = FindLoss("cross_entropy");
  cross_entropy.options = {};
  EXPECT_THAT(RunLoss(request).per_example,
              Pointwise(DoubleNear(1e-15), RunLoss(cross_entropy).per_example));
}

TEST(Poly, WeightsSmoothingAndIgnoreMatchFiniteDifferences) {
  const auto logits =
      Matrix<double>({{2.0, 1.0, 0.1}, {0.5, 2.5, 0.3}, {0, 0, 1}});
  const auto labels = Vector<int64_t>({0, 2, -100});
  LossRequest<double> request;
  request.loss = FindLoss("poly");
  request.input = logits.view();
  request.class_index_target = labels.view();
  request.options.SetNumber("epsilon", -0.5);
  request.options.SetNumber("label_smoothing", 0.2);
  request.options.SetPerClass("class_weight", {1, 2, 0.5});
  const auto outcome = RunLoss(request);
  EXPECT_DOUBLE_EQ(outcome.result.statistics.denominator, 1.5);
  ExpectGradientMatchesFiniteDifferences(request);
}

}  // namespace
}  // namespace lossd::testing
