// accuracy: top-k hits, ties to the lower class as torch.argmax.

#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "loss_test_util.h"

namespace lossd::testing {
namespace {

using ::testing::ElementsAre;

TEST(Accuracy, TopKWithTiesAndIgnoredRows) {
  const auto x = Matrix<double>(
      {{0.1, 0.5, 0.4}, {0.3, 0.3, 0.2}, {0.3, 0.3, 0.2}, {1, 2, 3}});
  const auto y = Vector<int64_t>({2, 0, 1, -100});
  LossRequest<double> request;
  request.loss = FindLoss("accuracy");
  request.input = x.view();
  request.class_index_target = y.view();
  request.reduction = Reduction::kNone;
  EXPECT_THAT(RunLoss(request).per_example, ElementsAre(0, 1, 0, 0));
  request.options.SetInteger("top_k", 2);
  EXPECT_THAT(RunLoss(request).per_example, ElementsAre(1, 1, 1, 0));
  request.reduction = Reduction::kMean;
  const auto mean = RunLoss(request);
  EXPECT_EQ(mean.result.loss, 1);
  EXPECT_EQ(mean.result.statistics.denominator, 3);
}

TEST(Accuracy, IsOneMinusClassificationErrorAtTopOne) {
  const auto x = Matrix<double>({{0.9, 0.1}, {0.1, 0.9}, {0.4, 0.6}});
  const auto y = Matrix<double>({{1, 0}, {0, 1}, {1, 0}});
  LossRequest<double> request;
  request.loss = FindLoss("accuracy");
  request.input = x.view();
  request.dense_target = y.view();
  const double accuracy = RunLoss(request).result.loss;
  request.loss = FindLoss("classification_error");
  EXPECT_DOUBLE_EQ(accuracy, 1 - RunLoss(request).result.loss);
  EXPECT_DOUBLE_EQ(accuracy, 2.0 / 3);
}

}  // namespace
}  // namespace lossd::testing
