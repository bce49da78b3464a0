// nll: PyTorch's F.nll_loss on log-probabilities.

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

LossRequest<double> Request(const Tensor<double>& log_p,
                            const Tensor<int64_t>& labels,
                            Reduction reduction) {
  LossRequest<double> request;
  request.loss = FindLoss("nll");
  request.input = log_p.view();
  request.class_index_target = labels.view();
  request.reduction = reduction;
  request.input_kind = InputKind::kLogProbabilities;
  return request;
}

TEST(Nll, WeightedMeanMatchesPyTorch) {
  const auto log_p = Matrix<double>({{-0.5, -1.2, -2.0}, {-0.1, -3.0, -2.5}});
  const auto labels = Vector<int64_t>({0, 2});
  LossRequest<double> request = Request(log_p, labels, Reduction::kMean);
  request.options.SetPerClass("class_weight", {1, 2, 0.5});
  const auto outcome = RunLoss(request);
  EXPECT_NEAR(outcome.result.loss, 1.16666666666667, 1e-13);
  EXPECT_DOUBLE_EQ(outcome.result.statistics.denominator, 1.5);
  EXPECT_THAT(outcome.grad,
              Pointwise(DoubleNear(1e-15),
                        std::vector<double>{-2.0 / 3, 0, 0, 0, 0, -1.0 / 3}));
}

TEST(Nll, IgnoreIndexAndNegativeInfinity) {
  const double inf = std::numeric_limits<double>::infinity();
  const auto log_p = Matrix<double>({{-inf, 0.0}, {-0.7, -0.7}});
  const auto labels = Vector<int64_t>({1, -100});
  const auto outcome = RunLoss(Request(log_p, labels, Reduction::kMean));
  EXPECT_EQ(outcome.result.loss, 0);
  EXPECT_EQ(outcome.result.statistics.valid_count, 1);
  EXPECT_THAT(outcome.grad,
              Pointwise(DoubleNear(0), std::vector<double>{0, -1, 0, 0}));
  const auto on_impossible = Vector<int64_t>({0, 0});
  EXPECT_EQ(RunLoss(Request(log_p, on_impossible, Reduction::kSum)).result.loss,
            inf);
}

TEST(Nll, OnlyLogProbabilitiesAndClassIndices) {
  const auto log_p = Matrix<double>({{-0.5, -1.0}});
  const auto labels = Vector<int64_t>({0});
  LossRequest<double> request = Request(log_p, labels, Reduction::kMean);
  request.input_kind = InputKind::kLogits;
  EXPECT_EQ(StatusOf(request).code(), absl::StatusCode::kInvalidArgument);
  request = Request(log_p, labels, Reduction::kMean);
  request.class_index_target.reset();
  request.dense_target = log_p.view();
  EXPECT_EQ(StatusOf(request).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace lossd::testing
