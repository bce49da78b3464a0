// mse: PyTorch's element mean, and the per-row sum averaged over rows.

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "loss_test_util.h"

namespace lossd::testing {
namespace {

LossRequest<double> Request(const Tensor<double>& input,
                            const Tensor<double>& target, Reduction reduction) {
  return DenseTargetRequest("mse", input, target, reduction,
                            InputKind::kProbabilities);
}

TEST(MeanSquaredError, PerRowSumAveragedOverRows) {
  const auto one_hot = Matrix<double>({{1, 0}, {0, 1}, {1, 0}});
  const auto first = Matrix<double>({{0.9, 0.1}, {0.1, 0.9}, {0.4, 0.6}});
  const auto second = Matrix<double>({{0.6, 0.4}, {0.3, 0.7}, {0.1, 0.9}});
  // 0.25 and 0.71 in the examples users learn from.
  EXPECT_NEAR(
      RunLoss(Request(first, one_hot, Reduction::kBatchMean)).result.loss,
      0.76 / 3, 1e-12);
  EXPECT_NEAR(
      RunLoss(Request(second, one_hot, Reduction::kBatchMean)).result.loss,
      2.12 / 3, 1e-12);
  // PyTorch's mse_loss mean is over elements.
  EXPECT_NEAR(RunLoss(Request(first, one_hot, Reduction::kMean)).result.loss,
              0.76 / 6, 1e-12);
}

TEST(MeanSquaredError, GradientIsTwiceTheDifference) {
  const auto x = Matrix<double>({{1, 2}, {3, -4}});
  const auto y = Matrix<double>({{0, 2.5}, {3, 4}});
  const auto outcome = RunLoss(Request(x, y, Reduction::kSum));
  EXPECT_THAT(outcome.grad, ::testing::ElementsAre(2, -1, 0, -16));
  EXPECT_DOUBLE_EQ(outcome.result.loss, 1 + 0.25 + 0 + 64);
  for (Reduction r :
       {Reduction::kNone, Reduction::kMean, Reduction::kBatchMean}) {
    ExpectGradientMatchesFiniteDifferences(Request(x, y, r));
  }
}

}  // namespace
}  // namespace lossd::testing
