// cross_entropy's framework-difference options: the label-smoothing rule
// (PyTorch's e/C or fairseq's e/(C-1)), z-loss, logit soft-capping, -inf
// logits as impossible classes, and d loss / d target. Golden values from
// torch 1.13 in float64 (fairseq's label_smoothed_nll_loss transcribed).

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

constexpr double kInf = std::numeric_limits<double>::infinity();

class CrossEntropyOptions : public ::testing::Test {
 protected:
  Tensor<double> logits_ = Matrix<double>({{2.0, 1.0, 0.1}, {0.5, 2.5, 0.3}});
  Tensor<int64_t> labels_ = Vector<int64_t>({0, 2});
  LossRequest<double> Request(Reduction reduction) {
    LossRequest<double> request;
    request.loss = FindLoss("cross_entropy");
    request.input = logits_.view();
    request.class_index_target = labels_.view();
    request.reduction = reduction;
    return request;
  }
};

TEST_F(CrossEntropyOptions, FairseqSmoothingGivesOtherClassesEOverCMinusOne) {
  LossRequest<double> request = Request(Reduction::kNone);
  request.options.SetNumber("label_smoothing", 0.1);
  request.options.SetChoice("label_smoothing_rule", "other_classes");
  const auto none = RunLoss(request);
  EXPECT_THAT(
      none.per_example,
      Pointwise(DoubleNear(1e-13), {0.562030016277834, 2.30004952302054}));
  EXPECT_THAT(none.grad, Pointwise(DoubleNear(1e-13),
                                   {-0.240998861114032, 0.192432970704714,
                                    0.0485658904093182, 0.0586037303070124,
                                    0.752479055791649, -0.811082786098662}));
  request.options.SetPerClass("class_weight", {1.0, 2.0, 0.5});
  request.reduction = Reduction::kMean;
  ExpectGradientMatchesFiniteDifferences(request);
}

TEST_F(CrossEntropyOptions, UniformRuleIsTheDefault) {
  LossRequest<double> request = Request(Reduction::kMean);
  request.options.SetNumber("label_smoothing", 0.1);
  const double implicit = RunLoss(request).result.loss;
  request.options.SetChoice("label_smoothing_rule", "uniform");
  EXPECT_EQ(RunLoss(request).result.loss, implicit);
  EXPECT_NEAR(implicit, 1.426873, 1e-6);  // PyTorch's, reference note 2.4.
}

TEST_F(CrossEntropyOptions, OtherClassesRuleWithOneClassDoesNotSmooth) {
  const auto one = Matrix<double>({{3.0}});
  const auto label = Vector<int64_t>({0});
  LossRequest<double> request = Request(Reduction::kSum);
  request.input = one.view();
  request.class_index_target = label.view();
  request.options.SetNumber("label_smoothing", 0.3);
  request.options.SetChoice("label_smoothing_rule", "other_classes");
  const auto outcome = RunLoss(request);
  EXPECT_EQ(outcome.result.loss, 0);
  EXPECT_EQ(outcome.grad[0], 0);
}

TEST_F(CrossEntropyOptions, ZLossAddsCoefficientTimesLogSumExpSquared) {
  LossRequest<double> request = Request(Reduction::kNone);
  request.options.SetNumber("z_loss", 0.1);
  EXPECT_THAT(
      RunLoss(request).per_example,
      Pointwise(DoubleNear(1e-13), {1.00123342623664, 3.15991646378896}));
  request.reduction = Reduction::kMean;
  EXPECT_THAT(
      RunLoss(request).grad,
      Pointwise(DoubleNear(1e-13),
                {-0.0112168772121499, 0.179813262065227, 0.0731066167747064,
                 0.0838426176354902, 0.619517805189829, -0.431355470523266}));
  request.options.SetNumber("label_smoothing", 0.2);
  ExpectGradientMatchesFiniteDifferences(request);
}

TEST_F(CrossEntropyOptions, LogitSoftcapAppliesTanhAndItsChainFactor) {
  LossRequest<double> request = Request(Reduction::kNone);
  request.options.SetNumber("logit_softcap", 1.5);
  EXPECT_THAT(
      RunLoss(request).per_example,
      Pointwise(DoubleNear(1e-13), {0.667589406227661, 1.65070344114681}));
  request.reduction = Reduction::kMean;
  EXPECT_THAT(
      RunLoss(request).grad,
      Pointwise(DoubleNear(1e-13),
                {-0.0591755775534775, 0.110072208928779, 0.0765035510090357,
                 0.103647767931936, 0.0383733145939517, -0.38830227656547}));
  request.options.SetNumber("z_loss", 0.01);
  request.options.SetNumber("label_smoothing", 0.1);
  ExpectGradientMatchesFiniteDifferences(request);
}

TEST_F(CrossEntropyOptions, SoftcapAndZLossNeedLogits) {
  LossRequest<double> request = Request(Reduction::kMean);
  request.input_kind = InputKind::kLogProbabilities;
  request.options.SetNumber("z_loss", 0.1);
  EXPECT_EQ(StatusOf(request).code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(CrossEntropyOptions, SmoothingSkipsImpossibleClasses) {
  // A -inf logit is as if its class were absent: PyTorch's result on the
  // remaining classes, where PyTorch itself gives inf.
  for (absl::string_view rule : {"uniform", "other_classes"}) {
    const auto masked = Matrix<double>({{-kInf, 1.0, 2.0, -kInf, 0.5}});
    const auto compact = Matrix<double>({{1.0, 2.0, 0.5}});
    const auto masked_label = Vector<int64_t>({2});
    const auto compact_label = Vector<int64_t>({1});
    LossRequest<double> request = Request(Reduction::kMean);
    request.options.SetNumber("label_smoothing", 0.3);
    request.options.SetChoice("label_smoothing_rule", rule);
    request.input = masked.view();
    request.class_index_target = masked_label.view();
    const auto with_masked = RunLoss(request);
    request.input = compact.view();
    request.class_index_target = compact_label.view();
    const auto reference = RunLoss(request);
    EXPECT_NEAR(with_masked.result.loss, reference.result.loss, 1e-15) << rule;
    EXPECT_EQ(with_masked.grad[0], 0);
    EXPECT_EQ(with_masked.grad[3], 0);
    EXPECT_NEAR(with_masked.grad[1], reference.grad[0], 1e-15);
    EXPECT_NEAR(with_masked.grad[2], reference.grad[1], 1e-15);
    EXPECT_NEAR(with_masked.grad[4], reference.grad[2], 1e-15);
  }
}

TEST_F(CrossEntropyOptions, TargetOnAnImpossibleClassIsInfiniteWithFiniteGrad) {
  const auto masked = Matrix<double>({{-kInf, 1.0}});
  const auto label = Vector<int64_t>({0});
  LossRequest<double> request = Request(Reduction::kMean);
  request.input = masked.view();
  request.class_index_target = label.view();
  const auto outcome = RunLoss(request);
  EXPECT_EQ(outcome.result.loss, kInf);
  EXPECT_THAT(outcome.grad, Pointwise(DoubleNear(0), {-1.0, 1.0}));
}

TEST_F(CrossEntropyOptions, GradTargetMatchesPyTorch) {
  const auto soft = Matrix<double>({{0.3, 0.5, 0.2}, {0.1, 0.1, 0.8}});
  LossRequest<double> request = Request(Reduction::kSum);
  request.class_index_target.reset();
  request.dense_target = soft.view();
  request.options.SetNumber("label_smoothing", 0.2);
  std::vector<double> grad(6), grad_target(6);
  ASSERT_TRUE(Compute(request, LossOutputs<double>{{},
                                                   absl::MakeSpan(grad),
                                                   absl::MakeSpan(grad_target)})
                  .ok());
  EXPECT_THAT(grad_target, Pointwise(DoubleNear(1e-13),
                                     {0.333624013022267, 1.13362401302227,
                                      1.85362401302227, 1.77603961841643,
                                      0.17603961841643, 1.93603961841643}));
  EXPECT_THAT(grad, Pointwise(DoubleNear(1e-13),
                              {0.352334472219301, -0.224233695961953,
                               -0.128100776257349, -0.0380629363596543,
                               0.655812389124983, -0.617749452765329}));
}

TEST_F(CrossEntropyOptions,
       GradTargetMatchesFiniteDifferencesForEveryInputKind) {
  const auto soft = Matrix<double>({{0.3, 0.5, 0.2}, {0.1, 0.1, 0.8}});
  const auto probabilities = Matrix<double>({{0.6, 0.3, 0.1}, {0.2, 0.5, 0.3}});
  const auto log_probabilities =
      Matrix<double>({{std::log(0.6), std::log(0.3), std::log(0.1)},
                      {std::log(0.2), std::log(0.5), std::log(0.3)}});
  for (InputKind kind : {InputKind::kLogits, InputKind::kProbabilities,
                         InputKind::kLogProbabilities}) {
    for (absl::string_view rule : {"uniform", "other_classes"}) {
      LossRequest<double> request = Request(Reduction::kMean);
      request.input_kind = kind;
      if (kind == InputKind::kProbabilities)
        request.input = probabilities.view();
      if (kind == InputKind::kLogProbabilities) {
        request.input = log_probabilities.view();
      }
      request.class_index_target.reset();
      request.dense_target = soft.view();
      request.options.SetNumber("label_smoothing", 0.15);
      request.options.SetChoice("label_smoothing_rule", rule);
      request.options.SetPerClass("class_weight", {1.0, 2.0, 0.5});
      if (kind == InputKind::kLogits) request.options.SetNumber("z_loss", 0.05);
      std::vector<double> grad_target(6);
      ASSERT_TRUE(
          Compute(request,
                  LossOutputs<double>{{}, {}, absl::MakeSpan(grad_target)})
              .ok());
      std::vector<double> t(soft.values);
      for (size_t i = 0; i < t.size(); ++i) {
        auto loss_at = [&](double delta) {
          std::vector<double> moved = t;
          moved[i] += delta;
          LossRequest<double> probe = request;
          probe.dense_target = TensorView<double>{moved, {2, 3}};
          std::vector<double> none;
          return Compute<double>(probe, absl::MakeSpan(none),
                                 absl::MakeSpan(none))
              ->loss;
        };
        const double numeric = (loss_at(1e-6) - loss_at(-1e-6)) / 2e-6;
        EXPECT_NEAR(grad_target[i], numeric, 1e-6)
            << InputKindName(kind) << " " << rule << " t[" << i << "]";
      }
    }
  }
}

TEST_F(CrossEntropyOptions, TinyLossesKeepFullPrecision) {
  // One dominant class: lse - x_y = log1p(exp(-d)), not log(1 + tiny).
  for (double d : {20.0, 32.6, 40.0}) {
    const auto x = Matrix<double>({{30.0, 30.0 - d}});
    const auto label = Vector<int64_t>({0});
    LossRequest<double> request = Request(Reduction::kSum);
    request.input = x.view();
    request.class_index_target = label.view();
    request.options.SetNumber("label_smoothing", 0);
    const auto outcome = RunLoss(request);
    const double exact = std::log1p(std::exp(-d));
    EXPECT_NEAR(outcome.result.loss, exact, 1e-15 * exact) << d;
    // d loss / dx_0 = -(1 - p_0) = -exp(-d) / (1 + exp(-d)).
    EXPECT_NEAR(outcome.grad[0], -std::exp(-d) / (1 + std::exp(-d)),
                1e-15 * std::exp(-d))
        << d;
  }
}

}  // namespace
}  // namespace lossd::testing
