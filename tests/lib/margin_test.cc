// multi_margin (PyTorch's kernel) and hinge.

#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "loss_test_util.h"

namespace lossd::testing {
namespace {

using ::testing::DoubleNear;
using ::testing::ElementsAre;
using ::testing::Pointwise;

TEST(MultiMargin, PyTorchDocumentationExample) {
  const auto x = Matrix<double>({{0.1, 0.2, 0.4, 0.8}});
  const auto y = Vector<int64_t>({3});
  LossRequest<double> request;
  request.loss = FindLoss("multi_margin");
  request.input = x.view();
  request.class_index_target = y.view();
  EXPECT_NEAR(RunLoss(request).result.loss, 0.325, 1e-15);
}

TEST(MultiMargin, SquaredWithWeightsMatchesPyTorch) {
  const auto x = Matrix<double>({{0.1, 0.2, 0.4, 0.8}, {0.3, -0.2, 0.9, 0.1}});
  const auto y = Vector<int64_t>({3, 0});
  LossRequest<double> request;
  request.loss = FindLoss("multi_margin");
  request.input = x.view();
  request.class_index_target = y.view();
  request.reduction = Reduction::kNone;
  request.options.SetInteger("power", 2);
  request.options.SetNumber("margin", 0.7);
  request.options.SetPerClass("class_weight", {1, 2, 3, 4});
  const auto outcome = RunLoss(request);
  EXPECT_THAT(outcome.per_example,
              Pointwise(DoubleNear(1e-15), std::vector<double>{0.1, 0.495}));
  EXPECT_THAT(
      outcome.grad,
      Pointwise(DoubleNear(1e-15),
                std::vector<double>{0, 0.2, 0.6, -0.8, -1.0, 0.1, 0.65, 0.25}));
  request.reduction = Reduction::kMean;
  EXPECT_NEAR(RunLoss(request).result.loss, 0.2975, 1e-15);  // Plain mean.
  ExpectGradientMatchesFiniteDifferences(request);
  request.options.SetInteger("power", 3);
  EXPECT_EQ(StatusOf(request).code(), absl::StatusCode::kInvalidArgument);
}

TEST(Hinge, SignedAndZeroOneTargets) {
  const auto x = Matrix<double>({{0.3, -2.0, 1.5, -0.2}});
  const auto signed_y = Matrix<double>({{1, -1, -1, 1}});
  const auto zero_one_y = Matrix<double>({{1, 0, 0, 1}});
  LossRequest<double> request;
  request.loss = FindLoss("hinge");
  request.input = x.view();
  request.dense_target = signed_y.view();
  request.reduction = Reduction::kNone;
  const auto outcome = RunLoss(request);
  EXPECT_THAT(
      outcome.per_example,
      Pointwise(DoubleNear(1e-15), std::vector<double>{0.7, 0, 2.5, 1.2}));
  EXPECT_THAT(outcome.grad, ElementsAre(-1, 0, 1, -1));
  request.dense_target = zero_one_y.view();
  request.options.SetChoice("target_encoding", "zero_one");
  EXPECT_EQ(RunLoss(request).per_example, outcome.per_example);
  request.options.SetBoolean("squared", true);
  request.options.SetNumber("margin", 0.5);
  const auto squared = RunLoss(request);
  EXPECT_THAT(
      squared.per_example,
      Pointwise(DoubleNear(1e-15), std::vector<double>{0.04, 0, 4.0, 0.49}));
  EXPECT_THAT(squared.grad, Pointwise(DoubleNear(1e-15),
                                      std::vector<double>{-0.4, 0, 4.0, -1.4}));
}

}  // namespace
}  // namespace lossd::testing
