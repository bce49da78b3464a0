// Compute(): validation errors name the field and the first offending
// index; the registry is consistent.

#include <set>
#include <string>

#include "absl/strings/match.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "loss_test_util.h"

namespace lossd::testing {
namespace {

using ::testing::HasSubstr;

MATCHER_P(InvalidArgumentWith, text, "") {
  return arg.code() == absl::StatusCode::kInvalidArgument &&
         absl::StrContains(arg.message(), text);
}

class ComputeErrors : public ::testing::Test {
 protected:
  Tensor<double> logits_ = Matrix<double>({{1, 2, 3}, {4, 5, 6}});
  Tensor<int64_t> labels_ = Vector<int64_t>({0, 2});
  LossRequest<double> Request() {
    LossRequest<double> request;
    request.loss = FindLoss("cross_entropy");
    request.input = logits_.view();
    request.class_index_target = labels_.view();
    return request;
  }
};

TEST_F(ComputeErrors, LabelOutOfRangeNamesTheIndex) {
  labels_ = Vector<int64_t>({0, 3});
  EXPECT_THAT(StatusOf(Request()),
              InvalidArgumentWith("target[1] = 3 is outside [0, 3)"));
  labels_ = Vector<int64_t>({-1, 0});
  EXPECT_THAT(StatusOf(Request()), InvalidArgumentWith("target[0] = -1"));
}

TEST_F(ComputeErrors, TargetShape) {
  labels_ = Vector<int64_t>({0, 1, 2});
  EXPECT_THAT(StatusOf(Request()), InvalidArgumentWith("target shape [3]"));
  Tensor<double> soft = Matrix<double>({{1, 0}, {0, 1}});
  LossRequest<double> request = Request();
  request.class_index_target.reset();
  request.dense_target = soft.view();
  EXPECT_THAT(StatusOf(request),
              InvalidArgumentWith("does not match the input shape [2, 3]"));
}

TEST_F(ComputeErrors, ExactlyOneTarget) {
  LossRequest<double> request = Request();
  request.class_index_target.reset();
  EXPECT_THAT(StatusOf(request), InvalidArgumentWith("exactly one target"));
}

TEST_F(ComputeErrors, InputSizeAndShape) {
  logits_.values.pop_back();
  EXPECT_THAT(StatusOf(Request()), InvalidArgumentWith("input has 5 elements"));
  logits_ = {{}, {}};
  EXPECT_THAT(StatusOf(Request()),
              InvalidArgumentWith("at least one dimension"));
  logits_ = {{}, {2, -3}};
  EXPECT_THAT(StatusOf(Request()), InvalidArgumentWith("is negative"));
  logits_ = {{}, {int64_t{1} << 40, int64_t{1} << 40}};
  EXPECT_THAT(StatusOf(Request()), InvalidArgumentWith("too large"));
  // A zero dimension must not hide overflowing ones (found by the fuzzer).
  logits_ = {{}, {0, int64_t{1} << 40, int64_t{1} << 40}};
  EXPECT_THAT(StatusOf(Request()), InvalidArgumentWith("too large"));
}

TEST_F(ComputeErrors, ClassAxisOutOfRange) {
  LossRequest<double> request = Request();
  request.class_axis = 2;
  EXPECT_THAT(StatusOf(request),
              InvalidArgumentWith("class_axis 2 is outside [-2, 2)"));
}

TEST_F(ComputeErrors, Options) {
  LossRequest<double> request = Request();
  request.options.SetNumber("label_smoothing", 1.5);
  EXPECT_THAT(StatusOf(request),
              InvalidArgumentWith("label_smoothing = 1.5 is outside [0, 1]"));
  request = Request();
  request.options.SetPerClass("class_weight", {1, 2});
  EXPECT_THAT(StatusOf(request),
              InvalidArgumentWith(
                  "class_weight has 2 values but the input has 3 classes"));
  request = Request();
  request.options.SetPerClass("class_weight", {1, std::nan(""), 2});
  EXPECT_THAT(StatusOf(request), InvalidArgumentWith("class_weight[1]"));
  request = Request();
  request.options.SetNumber("gamma", 2);
  EXPECT_THAT(StatusOf(request),
              InvalidArgumentWith("option gamma does not apply"));
  request = Request();
  request.options.SetNumber("ignore_index", 2.5);
  EXPECT_THAT(StatusOf(request),
              InvalidArgumentWith("ignore_index must be an integer"));
}

TEST_F(ComputeErrors, InputKindAndTargetKind) {
  LossRequest<double> request = Request();
  request.loss = FindLoss("binary_cross_entropy");
  request.input_kind = InputKind::kLogProbabilities;
  EXPECT_THAT(
      StatusOf(request),
      InvalidArgumentWith("does not accept input_kind log_probabilities"));
  request.input_kind = InputKind::kLogits;
  EXPECT_THAT(StatusOf(request), InvalidArgumentWith("needs a dense target"));
}

TEST_F(ComputeErrors, SampleWeightAndGradOutputShapes) {
  Tensor<double> weights = Vector<double>({1, 2, 3});
  LossRequest<double> request = Request();
  request.sample_weight = weights.view();
  EXPECT_THAT(StatusOf(request),
              InvalidArgumentWith("sample_weight shape [3]"));
  Tensor<double> upstream = Vector<double>({1, 2});
  request = Request();
  request.grad_output = upstream.view();
  EXPECT_THAT(StatusOf(request), InvalidArgumentWith("REDUCTION_NONE only"));
}

TEST(Compute, GradOutputMultipliesEachExample) {
  const auto logits = Matrix<double>({{1, 2, 3}, {4, 5, 6}});
  const auto labels = Vector<int64_t>({0, 2});
  const auto upstream = Vector<double>({2, -0.5});
  LossRequest<double> request;
  request.loss = FindLoss("cross_entropy");
  request.input = logits.view();
  request.class_index_target = labels.view();
  request.reduction = Reduction::kNone;
  const auto plain = RunLoss(request);
  request.grad_output = upstream.view();
  const auto scaled = RunLoss(request);
  for (int i = 0; i < 6; ++i) {
    EXPECT_DOUBLE_EQ(scaled.grad[i], plain.grad[i] * (i < 3 ? 2 : -0.5));
  }
}

TEST(Registry, NamesAreUniqueAndFindable) {
  std::set<std::string> names;
  for (const LossSpec& spec : AllLosses()) {
    EXPECT_TRUE(names.insert(std::string(spec.name)).second) << spec.name;
    EXPECT_EQ(FindLoss(spec.name), &spec);
    EXPECT_FALSE(spec.target_kinds.empty()) << spec.name;
    EXPECT_FALSE(spec.input_kinds.empty()) << spec.name;
    EXPECT_NE(spec.float_ops.run, nullptr) << spec.name;
    EXPECT_TRUE(spec.mean_denominator_rule.has_value()) << spec.name;
  }
  for (const char* name : {"cross_entropy", "binary_cross_entropy", "mse",
                           "classification_error"}) {
    EXPECT_NE(FindLoss(name), nullptr) << name;
  }
  EXPECT_EQ(FindLoss("no_such_loss"), nullptr);
}

}  // namespace
}  // namespace lossd::testing
