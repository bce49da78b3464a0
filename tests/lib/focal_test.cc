// focal: torchvision's sigmoid_focal_loss, computed in log space.

#include <cmath>
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
  return DenseTargetRequest("focal", x, y, reduction);
}

TEST(Focal, MatchesTorchvision) {
  const auto x = Matrix<double>({{-2.0, 0.5, 3.0}});
  const auto y = Matrix<double>({{0, 1, 1}});
  const auto outcome = RunLoss(Request(x, y, Reduction::kNone));
  EXPECT_THAT(
      outcome.per_example,
      Pointwise(DoubleNear(1e-15),
                std::vector<double>{0.00135267212643028, 0.0168933726293759,
                                    2.73208311242492e-05}));
  EXPECT_THAT(
      outcome.grad,
      Pointwise(DoubleNear(1e-15),
                std::vector<double>{0.00365320514654458, -0.0344842493377286,
                                    -7.87179616220697e-05}));
}

TEST(Focal, SoftTargetsGammaBelowOneAndNoAlpha) {
  const auto x = Matrix<double>({{-2.0, 0.5, 3.0}});
  const auto y = Matrix<double>({{0.3, 0.9, 0.0}});
  LossRequest<double> request = Request(x, y, Reduction::kNone);
  request.options.SetNumber("alpha", -1);
  request.options.SetNumber("gamma", 0.5);
  const auto outcome = RunLoss(request);
  EXPECT_THAT(
      outcome.per_example,
      Pointwise(DoubleNear(1e-13),
                std::vector<double>{0.428629431802733, 0.332296439155549,
                                    2.97541832965019}));
  EXPECT_THAT(outcome.grad, Pointwise(DoubleNear(1e-13),
                                      std::vector<double>{-0.0807183774354006,
                                                          -0.253673631915834,
                                                          1.00026733984549}));
  request.reduction = Reduction::kMean;
  ExpectGradientMatchesFiniteDifferences(request);
}

TEST(Focal, SaturatedLogitsStayFiniteForEveryGamma) {
  const auto x = Matrix<double>({{40.0, -40.0, 1e4, -1e4, 800.0}});
  const auto y = Matrix<double>({{1, 0, 1, 1, 0}});
  for (double gamma : {0.0, 0.25, 1.0, 2.0}) {
    LossRequest<double> request = Request(x, y, Reduction::kSum);
    request.options.SetNumber("gamma", gamma);
    const auto outcome = RunLoss(request);
    for (double g : outcome.grad) EXPECT_TRUE(std::isfinite(g)) << gamma;
    // x = -1e4 with y = 1: loss ~ alpha 1e4, slope -alpha.
    EXPECT_NEAR(outcome.per_example[3], 0.25 * 1e4, 1e-9) << gamma;
    EXPECT_NEAR(outcome.grad[3], -0.25, 1e-12) << gamma;
    EXPECT_NEAR(outcome.per_example[4], 0.75 * 800, 1e-9) << gamma;
  }
}

}  // namespace
}  // namespace lossd::testing
