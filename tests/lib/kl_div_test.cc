// kl_div: PyTorch's F.kl_div.

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

LossRequest<double> Request(const Tensor<double>& x, const Tensor<double>& t,
                            Reduction reduction) {
  return DenseTargetRequest("kl_div", x, t, reduction,
                            InputKind::kLogProbabilities);
}

TEST(KlDiv, BatchMeanMatchesPyTorch) {
  const auto log_q = Matrix<double>({{-1.2, -0.4, -2.3}});
  const auto t = Matrix<double>({{0.2, 0.7, 0.1}});
  const auto outcome = RunLoss(Request(log_q, t, Reduction::kBatchMean));
  EXPECT_NEAR(outcome.result.loss, -0.0518185525433374, 1e-15);
  EXPECT_THAT(outcome.grad, Pointwise(DoubleNear(1e-16),
                                      std::vector<double>{-0.2, -0.7, -0.1}));
  EXPECT_NEAR(RunLoss(Request(log_q, t, Reduction::kMean)).result.loss,
              -0.0518185525433374 / 3, 1e-15);
}

TEST(KlDiv, FromLogitsIsLogSoftmaxFirst) {
  const auto x = Matrix<double>({{2.0, 1.0, 0.1}, {0.5, 2.5, 0.3}});
  const auto t = Matrix<double>({{0.3, 0.5, 0.2}, {0.1, 0.1, 0.8}});
  LossRequest<double> request = Request(x, t, Reduction::kSum);
  request.input_kind = InputKind::kLogits;
  const auto outcome = RunLoss(request);
  EXPECT_NEAR(outcome.result.loss, 1.80839466558362, 1e-13);
  EXPECT_THAT(
      outcome.grad,
      Pointwise(DoubleNear(1e-13),
                std::vector<double>{0.359001138885968, -0.257567029295286,
                                    -0.101434109590682, 0.00860373030701236,
                                    0.702479055791649, -0.711082786098662}));
  const auto weights = Matrix<double>({{1, 2, 0}, {0.5, 1, 3}});
  request.sample_weight = weights.view();
  request.reduction = Reduction::kBatchMean;
  ExpectGradientMatchesFiniteDifferences(request);
}

TEST(KlDiv, ZeroTargetsWithMinusInfInputsAreZero) {
  const double inf = std::numeric_limits<double>::infinity();
  const auto log_q = Matrix<double>({{-1.0, -inf}});
  const auto t = Matrix<double>({{1.0, 0.0}});
  const auto outcome = RunLoss(Request(log_q, t, Reduction::kNone));
  EXPECT_THAT(outcome.per_example,
              Pointwise(DoubleNear(0), std::vector<double>{1.0, 0.0}));
  LossRequest<double> request = Request(log_q, t, Reduction::kNone);
  request.options.SetBoolean("log_target", true);
  const auto log_t = Matrix<double>({{0.0, -inf}});
  request.dense_target = log_t.view();
  EXPECT_THAT(RunLoss(request).per_example,
              Pointwise(DoubleNear(0), std::vector<double>{1.0, 0.0}));
}

TEST(KlDiv, LogTargetMatchesFiniteDifferences) {
  const auto log_q = Matrix<double>({{-1.2, -0.4, -2.3}, {-0.1, -2.0, -3.0}});
  const auto log_t = Matrix<double>({{-1.6, -0.35, -2.3}, {-0.5, -1.0, -3.5}});
  LossRequest<double> request = Request(log_q, log_t, Reduction::kMean);
  request.options.SetBoolean("log_target", true);
  const auto outcome = RunLoss(request);
  EXPECT_NEAR(outcome.grad[0], -std::exp(-1.6) / 6, 1e-16);
  ExpectGradientMatchesFiniteDifferences(request);
}

}  // namespace
}  // namespace lossd::testing
