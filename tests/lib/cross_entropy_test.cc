// cross_entropy against golden values from PyTorch, TensorFlow and optax
// documentation (checked with torch 1.13) and finite differences.

#include <cmath>
#include <limits>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "loss_test_util.h"

namespace lossd::testing {
namespace {

using ::testing::DoubleNear;
using ::testing::ElementsAre;
using ::testing::Pointwise;

const LossSpec* CrossEntropy() { return FindLoss("cross_entropy"); }

LossRequest<double> HardRequest(const Tensor<double>& logits,
                                const Tensor<int64_t>& labels,
                                Reduction reduction) {
  LossRequest<double> request;
  request.loss = CrossEntropy();
  request.input = logits.view();
  request.class_index_target = labels.view();
  request.reduction = reduction;
  return request;
}

TEST(CrossEntropy, TensorFlowSparseDocumentationExample) {
  const auto logits = Matrix<double>(
      {{2, -5, .5, -.1}, {0, 0, 1.9, 1.4}, {-100, 100, -100, -100}});
  const auto labels = Vector<int64_t>({0, 3, 1});
  const auto outcome = RunLoss(HardRequest(logits, labels, Reduction::kNone));
  EXPECT_THAT(outcome.per_example,
              Pointwise(DoubleNear(1e-7), {0.29750752, 1.1448325, 0.0}));
}

TEST(CrossEntropy, OptaxDocumentationExample) {
  const auto logits = Matrix<double>({{1.2, -.8, -.5}, {.9, -1.2, 1.1}});
  const auto labels = Vector<int64_t>({0, 1});
  const auto outcome = RunLoss(HardRequest(logits, labels, Reduction::kNone));
  EXPECT_THAT(outcome.per_example,
              Pointwise(DoubleNear(1e-4), {0.2761, 2.9518}));
}

TEST(CrossEntropy, TensorFlowSoftLabelDocumentationExample) {
  const auto logits = Matrix<double>({{4, 2, 1}, {0, 5, 1}});
  const auto labels = Matrix<double>({{1, 0, 0}, {0, .8, .2}});
  LossRequest<double> request;
  request.loss = CrossEntropy();
  request.input = logits.view();
  request.dense_target = labels.view();
  request.reduction = Reduction::kNone;
  const auto outcome = RunLoss(request);
  EXPECT_THAT(outcome.per_example,
              Pointwise(DoubleNear(1e-7), {0.16984604, 0.82474494}));
}

TEST(CrossEntropy, GradientOfTwoLogitsIsSoftmaxMinusOneHot) {
  const auto logits = Matrix<double>({{3, 4}});
  const auto labels = Vector<int64_t>({1});
  const auto outcome = RunLoss(HardRequest(logits, labels, Reduction::kMean));
  EXPECT_THAT(outcome.grad,
              Pointwise(DoubleNear(1e-8), {0.26894142, 0.73105858 - 1}));
}

TEST(CrossEntropy, SoftTargetGradientIsSoftmaxMinusTarget) {
  const auto logits = Matrix<double>({{0.2, -1.0, 2.5}});
  const auto target = Matrix<double>({{0.3, 0.5, 0.2}});
  LossRequest<double> request;
  request.loss = CrossEntropy();
  request.input = logits.view();
  request.dense_target = target.view();
  const auto outcome = RunLoss(request);
  const double z = std::exp(0.2) + std::exp(-1.0) + std::exp(2.5);
  EXPECT_THAT(outcome.grad,
              Pointwise(DoubleNear(1e-12),
                        {std::exp(0.2) / z - 0.3, std::exp(-1.0) / z - 0.5,
                         std::exp(2.5) / z - 0.2}));
  const double expected =
      -(0.3 * std::log(std::exp(0.2) / z) + 0.5 * std::log(std::exp(-1.0) / z) +
        0.2 * std::log(std::exp(2.5) / z));
  EXPECT_NEAR(outcome.result.loss, expected, 1e-12);
}

// Probabilities [[0.9,0.1],[0.1,0.9],[0.4,0.6]] against one-hot targets:
// cross-entropy 0.38; [[0.6,0.4],[0.3,0.7],[0.1,0.9]]: 1.06.
TEST(CrossEntropy, OnProbabilities) {
  const auto one_hot = Matrix<double>({{1, 0}, {0, 1}, {1, 0}});
  for (const auto& [probabilities, expected] :
       std::vector<std::pair<Tensor<double>, double>>{
           {Matrix<double>({{0.9, 0.1}, {0.1, 0.9}, {0.4, 0.6}}),
            (-2 * std::log(0.9) - std::log(0.4)) / 3},
           {Matrix<double>({{0.6, 0.4}, {0.3, 0.7}, {0.1, 0.9}}),
            -(std::log(0.6) + std::log(0.7) + std::log(0.1)) / 3}}) {
    LossRequest<double> request;
    request.loss = CrossEntropy();
    request.input = probabilities.view();
    request.dense_target = one_hot.view();
    request.input_kind = InputKind::kProbabilities;
    EXPECT_NEAR(RunLoss(request).result.loss, expected, 1e-12);
    ExpectGradientMatchesFiniteDifferences(request);
  }
  EXPECT_NEAR((-2 * std::log(0.9) - std::log(0.4)) / 3, 0.38, 0.005);
  EXPECT_NEAR(-(std::log(0.6) + std::log(0.7) + std::log(0.1)) / 3, 1.06,
              0.005);
}

// PyTorch F.cross_entropy(x, t, weight=w, label_smoothing=0.1), computed
// with torch 1.13 in float64.
class LabelSmoothingAndWeights : public ::testing::Test {
 protected:
  Tensor<double> logits_ = Matrix<double>({{2.0, 1.0, 0.1}, {0.5, 2.5, 0.3}});
  Tensor<int64_t> labels_ = Vector<int64_t>({0, 2});
  LossRequest<double> Request(bool weighted, double smoothing,
                              Reduction reduction) {
    LossRequest<double> request = HardRequest(logits_, labels_, reduction);
    if (weighted) request.options.SetPerClass("class_weight", {1.0, 2.0, 0.5});
    if (smoothing > 0) request.options.SetNumber("label_smoothing", smoothing);
    return request;
  }
};

TEST_F(LabelSmoothingAndWeights, MatchPyTorch) {
  EXPECT_THAT(RunLoss(Request(true, 0.1, Reduction::kNone)).per_example,
              Pointwise(DoubleNear(1e-6), {0.522314, 1.218028}));
  EXPECT_NEAR(RunLoss(Request(true, 0.1, Reduction::kMean)).result.loss,
              1.1602279419516237, 1e-12);
  EXPECT_THAT(RunLoss(Request(false, 0.1, Reduction::kNone)).per_example,
              Pointwise(DoubleNear(1e-6), {0.513697, 2.340050}));
  EXPECT_NEAR(RunLoss(Request(false, 0.1, Reduction::kMean)).result.loss,
              1.426873, 1e-6);
  EXPECT_THAT(RunLoss(Request(true, 0, Reduction::kNone)).per_example,
              Pointwise(DoubleNear(1e-6), {0.417030, 1.210025}));
  EXPECT_NEAR(RunLoss(Request(true, 0, Reduction::kMean)).result.loss, 1.084703,
              1e-6);
}

TEST_F(LabelSmoothingAndWeights, WeightedMeanGradientMatchesPyTorch) {
  const auto outcome = RunLoss(Request(true, 0.1, Reduction::kMean));
  EXPECT_THAT(outcome.grad,
              Pointwise(DoubleNear(1e-6), {-0.175566, 0.119871, 0.055695,
                                           0.018806, 0.258714, -0.277520}));
  // The weighted mean divides by the target classes' weights: 1 + 0.5.
  EXPECT_DOUBLE_EQ(outcome.result.statistics.denominator, 1.5);
  EXPECT_EQ(outcome.result.statistics.valid_count, 2);
}

TEST_F(LabelSmoothingAndWeights, GradientsMatchFiniteDifferences) {
  for (bool weighted : {false, true}) {
    for (double smoothing : {0.0, 0.1, 1.0}) {
      for (Reduction reduction : {Reduction::kNone, Reduction::kSum,
                                  Reduction::kMean, Reduction::kBatchMean}) {
        ExpectGradientMatchesFiniteDifferences(
            Request(weighted, smoothing, reduction));
      }
    }
  }
}

TEST(CrossEntropy, SmoothedSoftTargetsMeanDividesByRows) {
  // The same smoothed one-hot as soft targets: PyTorch's plain row mean
  // (0.870171) rather than the weighted mean.
  const auto logits = Matrix<double>({{2.0, 1.0, 0.1}, {0.5, 2.5, 0.3}});
  const double e = 0.1 / 3;
  const auto target = Matrix<double>({{0.9 + e, e, e}, {e, e, 0.9 + e}});
  LossRequest<double> request;
  request.loss = CrossEntropy();
  request.input = logits.view();
  request.dense_target = target.view();
  request.options.SetPerClass("class_weight", {1.0, 2.0, 0.5});
  EXPECT_NEAR(RunLoss(request).result.loss, 0.870171, 1e-6);
  ExpectGradientMatchesFiniteDifferences(request);
}

TEST(CrossEntropy, IgnoredRowsHaveZeroLossAndGradient) {
  const auto logits = Matrix<double>({{1, 2, 3}, {3, 2, 1}, {0, 0, 0}});
  const auto labels = Vector<int64_t>({0, -100, 2});
  const auto outcome = RunLoss(HardRequest(logits, labels, Reduction::kMean));
  EXPECT_EQ(outcome.per_example[1], 0);
  EXPECT_THAT(
      std::vector<double>(outcome.grad.begin() + 3, outcome.grad.begin() + 6),
      ElementsAre(0, 0, 0));
  EXPECT_EQ(outcome.result.statistics.valid_count, 2);
  EXPECT_DOUBLE_EQ(outcome.result.statistics.denominator, 2);
  EXPECT_NEAR(outcome.result.loss,
              (outcome.per_example[0] + outcome.per_example[2]) / 2, 1e-15);
}

TEST(CrossEntropy, CustomIgnoreIndex) {
  const auto logits = Matrix<double>({{1, 2}, {3, 4}});
  const auto labels = Vector<int64_t>({1, 7});
  LossRequest<double> request = HardRequest(logits, labels, Reduction::kSum);
  request.options.SetInteger("ignore_index", 7);
  EXPECT_NEAR(RunLoss(request).result.loss, std::log(1 + std::exp(-1.0)),
              1e-15);
}

TEST(CrossEntropy, AllIgnoredMeanIsNaNWithZeroGradient) {
  const auto logits = Matrix<double>({{1, 2}, {3, 4}});
  const auto labels = Vector<int64_t>({-100, -100});
  const auto mean = RunLoss(HardRequest(logits, labels, Reduction::kMean));
  EXPECT_TRUE(std::isnan(mean.result.loss));
  EXPECT_THAT(mean.grad, ElementsAre(0, 0, 0, 0));
  EXPECT_EQ(RunLoss(HardRequest(logits, labels, Reduction::kSum)).result.loss,
            0);
}

TEST(CrossEntropy, EmptyBatch) {
  Tensor<double> logits{{}, {0, 5}};
  Tensor<int64_t> labels{{}, {0}};
  EXPECT_TRUE(std::isnan(
      RunLoss(HardRequest(logits, labels, Reduction::kMean)).result.loss));
  EXPECT_EQ(RunLoss(HardRequest(logits, labels, Reduction::kSum)).result.loss,
            0);
}

TEST(CrossEntropy, NegativeInfinityLogitsStayFinite) {
  const double inf = std::numeric_limits<double>::infinity();
  const auto logits = Matrix<double>({{-inf, 1, 2}, {0, -inf, -inf}});
  const auto labels = Vector<int64_t>({2, 0});
  const auto outcome = RunLoss(HardRequest(logits, labels, Reduction::kMean));
  EXPECT_NEAR(outcome.per_example[0], std::log(1 + std::exp(-1.0)), 1e-15);
  EXPECT_EQ(outcome.per_example[1], 0);
  for (double g : outcome.grad) EXPECT_TRUE(std::isfinite(g));
  // Soft targets with no mass on the -inf classes are finite too.
  const auto soft = Matrix<double>({{0, 0.5, 0.5}, {1, 0, 0}});
  LossRequest<double> request;
  request.loss = CrossEntropy();
  request.input = logits.view();
  request.dense_target = soft.view();
  const auto soft_outcome = RunLoss(request);
  EXPECT_TRUE(std::isfinite(soft_outcome.result.loss));
  for (double g : soft_outcome.grad) EXPECT_TRUE(std::isfinite(g));
}

TEST(CrossEntropy, HugeLogitsDoNotOverflow) {
  const auto logits = Matrix<float>({{1e4f, -1e4f, 0}, {-1e4f, 1e4f, 1e4f}});
  const auto labels = Vector<int64_t>({1, 2});
  LossRequest<float> request;
  request.loss = CrossEntropy();
  request.input = logits.view();
  request.class_index_target = labels.view();
  request.reduction = Reduction::kNone;
  const auto outcome = RunLoss(request);
  EXPECT_NEAR(outcome.per_example[0], 2e4, 1e-2);
  EXPECT_NEAR(outcome.per_example[1], std::log(2.0), 1e-6);
  for (float g : outcome.grad) EXPECT_TRUE(std::isfinite(g));
}

TEST(CrossEntropy, ClassAxisOneMatchesTransposedRows) {
  // A PyTorch (N=2, C=3, d=2) tensor against the same data as rows.
  const std::vector<double> ncd = {0.1, 0.2, 1.0,  -1.0, 2.0, 0.5,
                                   0.3, 0.3, -0.4, 0.9,  1.1, 0.0};
  Tensor<double> input{ncd, {2, 3, 2}};
  Tensor<int64_t> labels{{0, 2, 1, 0}, {2, 2}};
  LossRequest<double> request;
  request.loss = CrossEntropy();
  request.input = input.view();
  request.class_index_target = labels.view();
  request.class_axis = 1;
  request.reduction = Reduction::kNone;
  const auto outcome = RunLoss(request);
  // Row (n, j) holds ncd[n][c][j] for c = 0..2.
  Tensor<double> rows{{}, {4, 3}};
  for (int n = 0; n < 2; ++n) {
    for (int j = 0; j < 2; ++j) {
      for (int c = 0; c < 3; ++c)
        rows.values.push_back(ncd[(n * 3 + c) * 2 + j]);
    }
  }
  Tensor<int64_t> flat_labels{{0, 2, 1, 0}, {4}};
  const auto expected =
      RunLoss(HardRequest(rows, flat_labels, Reduction::kNone));
  EXPECT_THAT(outcome.per_example,
              Pointwise(DoubleNear(1e-15), expected.per_example));
  for (int n = 0; n < 2; ++n) {
    for (int j = 0; j < 2; ++j) {
      for (int c = 0; c < 3; ++c) {
        EXPECT_DOUBLE_EQ(outcome.grad[(n * 3 + c) * 2 + j],
                         expected.grad[(n * 2 + j) * 3 + c]);
      }
    }
  }
  ExpectGradientMatchesFiniteDifferences(request);
}

TEST(CrossEntropy, InputKindsAgreeWithLogits) {
  const auto logits = Matrix<double>({{0.5, -1, 2}, {1, 1, 0}});
  const auto labels = Vector<int64_t>({2, 0});
  Tensor<double> log_probabilities = logits, probabilities = logits;
  for (int r = 0; r < 2; ++r) {
    double z = 0;
    for (int c = 0; c < 3; ++c) z += std::exp(logits.values[r * 3 + c]);
    for (int c = 0; c < 3; ++c) {
      log_probabilities.values[r * 3 + c] =
          logits.values[r * 3 + c] - std::log(z);
      probabilities.values[r * 3 + c] = std::exp(logits.values[r * 3 + c]) / z;
    }
  }
  const double expected =
      RunLoss(HardRequest(logits, labels, Reduction::kMean)).result.loss;
  LossRequest<double> from_log =
      HardRequest(log_probabilities, labels, Reduction::kMean);
  from_log.input_kind = InputKind::kLogProbabilities;
  LossRequest<double> from_probabilities =
      HardRequest(probabilities, labels, Reduction::kMean);
  from_probabilities.input_kind = InputKind::kProbabilities;
  EXPECT_NEAR(RunLoss(from_log).result.loss, expected, 1e-12);
  EXPECT_NEAR(RunLoss(from_probabilities).result.loss, expected, 1e-12);
  ExpectGradientMatchesFiniteDifferences(from_log);
  ExpectGradientMatchesFiniteDifferences(from_probabilities);
}

TEST(CrossEntropy, SampleWeightScalesLossButNotDenominator) {
  const auto logits = Matrix<double>({{1, 2}, {2, 0}});
  const auto labels = Vector<int64_t>({0, 0});
  const auto weights = Vector<double>({2, 0.5});
  LossRequest<double> request = HardRequest(logits, labels, Reduction::kMean);
  request.sample_weight = weights.view();
  const auto outcome = RunLoss(request);
  const double l0 = std::log(1 + std::exp(1.0)),
               l1 = std::log(1 + std::exp(-2.0));
  EXPECT_NEAR(outcome.result.loss, (2 * l0 + 0.5 * l1) / 2, 1e-15);
  EXPECT_DOUBLE_EQ(outcome.result.statistics.weight_sum, 2.5);
  ExpectGradientMatchesFiniteDifferences(request);
}

TEST(CrossEntropy, FloatMatchesDouble) {
  const auto logits =
      Matrix<float>({{0.3f, -2.f, 1.5f, 0.f}, {4.f, 4.f, -4.f, 1.f}});
  const auto labels = Vector<int64_t>({2, 3});
  LossRequest<float> request;
  request.loss = CrossEntropy();
  request.input = logits.view();
  request.class_index_target = labels.view();
  request.options.SetNumber("label_smoothing", 0.2);
  const auto outcome = RunLoss(request);
  Tensor<double> wide{{logits.values.begin(), logits.values.end()}, {2, 4}};
  LossRequest<double> wide_request =
      HardRequest(wide, labels, Reduction::kMean);
  wide_request.options.SetNumber("label_smoothing", 0.2);
  const auto expected = RunLoss(wide_request);
  EXPECT_NEAR(outcome.result.loss, expected.result.loss, 1e-6);
  for (size_t i = 0; i < outcome.grad.size(); ++i) {
    EXPECT_NEAR(outcome.grad[i], expected.grad[i], 1e-6);
  }
}

}  // namespace
}  // namespace lossd::testing
