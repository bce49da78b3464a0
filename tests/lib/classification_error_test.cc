// classification_error: the share of rows whose argmax misses the target.

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "loss_test_util.h"

namespace lossd::testing {
namespace {

TEST(ClassificationError, DenseAndIndexTargets) {
  const auto one_hot = Matrix<double>({{1, 0}, {0, 1}, {1, 0}});
  const auto labels = Vector<int64_t>({0, 1, 0});
  for (const auto& probabilities :
       {Matrix<double>({{0.9, 0.1}, {0.1, 0.9}, {0.4, 0.6}}),
        Matrix<double>({{0.6, 0.4}, {0.3, 0.7}, {0.1, 0.9}})}) {
    LossRequest<double> dense;
    dense.loss = FindLoss("classification_error");
    dense.input = probabilities.view();
    dense.dense_target = one_hot.view();
    dense.input_kind = InputKind::kProbabilities;
    EXPECT_NEAR(RunLoss(dense).result.loss, 1.0 / 3, 1e-15);
    LossRequest<double> index = dense;
    index.dense_target.reset();
    index.class_index_target = labels.view();
    const auto outcome = RunLoss(index);
    EXPECT_NEAR(outcome.result.loss, 1.0 / 3, 1e-15);
    EXPECT_THAT(outcome.per_example, ::testing::ElementsAre(0, 0, 1));
  }
}

TEST(ClassificationError, HasNoGradient) {
  const auto x = Matrix<double>({{1, 2}});
  const auto y = Vector<int64_t>({1});
  LossRequest<double> request;
  request.loss = FindLoss("classification_error");
  request.input = x.view();
  request.class_index_target = y.view();
  std::vector<double> grad(2);
  EXPECT_EQ(Compute<double>(request, {}, absl::MakeSpan(grad)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(request.loss->has_gradient);
}

}  // namespace
}  // namespace lossd::testing
