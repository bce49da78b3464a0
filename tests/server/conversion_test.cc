// ComputeFromProto and DescribeLosses: the wire contract end to end,
// without a server.

#include "conversion.h"

#include <cmath>
#include <cstring>
#include <random>

#include "Eigen/Core"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lossd/registry.h"
#include "quiet_protobuf.h"
#include "tensor_codec.h"

namespace lossd::server {
namespace {

using ::testing::DoubleNear;
using ::testing::Pointwise;

v1::Tensor Floats(std::vector<int64_t> shape, std::vector<float> values) {
  v1::Tensor tensor;
  tensor.mutable_shape()->Assign(shape.begin(), shape.end());
  tensor.mutable_float_values()->Assign(values.begin(), values.end());
  return tensor;
}

v1::Tensor Labels(std::vector<int64_t> values) {
  v1::Tensor tensor;
  tensor.add_shape(static_cast<int64_t>(values.size()));
  tensor.mutable_int64_values()->Assign(values.begin(), values.end());
  return tensor;
}

std::vector<double> Values(const v1::Tensor& tensor) {
  Decoded<double> decoded;
  EXPECT_TRUE(Decode(tensor, "output", &decoded).ok());
  return {decoded.values().begin(), decoded.values().end()};
}

v1::ComputeResponse ComputeOk(const v1::ComputeRequest& request) {
  v1::ComputeResponse response;
  absl::Status status = ComputeFromProto(request, &response);
  EXPECT_TRUE(status.ok()) << status;
  return response;
}

// The examples in issue 3, as users send them.
TEST(Conversion, ProbabilityExamples) {
  struct Case {
    std::vector<float> probabilities;
    double error, squared, cross_entropy;
  };
  for (const Case& c :
       {Case{{0.9f, 0.1f, 0.1f, 0.9f, 0.4f, 0.6f}, 0.33, 0.25, 0.38},
        Case{{0.6f, 0.4f, 0.3f, 0.7f, 0.1f, 0.9f}, 0.33, 0.71, 1.06}}) {
    v1::ComputeRequest request;
    *request.mutable_input() = Floats({3, 2}, c.probabilities);
    *request.mutable_target() = Floats({3, 2}, {1, 0, 0, 1, 1, 0});
    request.set_input_kind(v1::INPUT_KIND_PROBABILITIES);
    request.set_loss("classification_error");
    EXPECT_NEAR(ComputeOk(request).loss(), c.error, 0.005);
    request.set_loss("mse");
    request.set_reduction(v1::REDUCTION_BATCH_MEAN);
    EXPECT_NEAR(ComputeOk(request).loss(), c.squared, 0.005);
    request.set_loss("cross_entropy");
    request.set_reduction(v1::REDUCTION_MEAN);
    EXPECT_NEAR(ComputeOk(request).loss(), c.cross_entropy, 0.005);
  }
}

TEST(Conversion, SoftmaxOfTwoLogitsAndBinaryCrossEntropy) {
  v1::ComputeRequest request;
  request.set_loss("cross_entropy");
  *request.mutable_input() = Floats({1, 2}, {3, 4});
  *request.mutable_target() = Labels({1});
  const v1::ComputeResponse response = ComputeOk(request);
  EXPECT_THAT(Values(response.grad_input()),
              Pointwise(DoubleNear(1e-7), {0.26894142, 0.73105858 - 1}));
  request.set_loss("binary_cross_entropy");
  request.set_input_kind(v1::INPUT_KIND_PROBABILITIES);
  *request.mutable_input() = Floats({1, 1}, {0.26894142f});
  *request.mutable_target() = Floats({1, 1}, {0});
  EXPECT_NEAR(ComputeOk(request).loss(), 0.313, 5e-4);
}

TEST(Conversion, SoftTargetWorksWithBothCrossEntropies) {
  v1::ComputeRequest request;
  *request.mutable_input() = Floats({1, 3}, {0.2f, -1.f, 2.5f});
  *request.mutable_target() = Floats({1, 3}, {0.3f, 0.5f, 0.2f});
  request.set_loss("cross_entropy");
  const double z = std::exp(0.2) + std::exp(-1.0) + std::exp(2.5);
  EXPECT_THAT(Values(ComputeOk(request).grad_input()),
              Pointwise(DoubleNear(1e-6),
                        {std::exp(0.2) / z - 0.3, std::exp(-1.0) / z - 0.5,
                         std::exp(2.5) / z - 0.2}));
  request.set_loss("binary_cross_entropy");
  const v1::ComputeResponse response = ComputeOk(request);
  auto sigmoid = [](double x) { return 1 / (1 + std::exp(-x)); };
  auto bce = [&](double x, double y) {
    return -(y * std::log(sigmoid(x)) + (1 - y) * std::log(1 - sigmoid(x)));
  };
  EXPECT_NEAR(response.loss(),
              (bce(0.2, 0.3) + bce(-1, 0.5) + bce(2.5, 0.2)) / 3, 1e-6);
}

TEST(Conversion, TensorFlowSoftLabelExamplePerExample) {
  v1::ComputeRequest request;
  request.set_loss("cross_entropy");
  request.set_reduction(v1::REDUCTION_NONE);
  *request.mutable_input() = Floats({2, 3}, {4, 2, 1, 0, 5, 1});
  *request.mutable_target() = Floats({2, 3}, {1, 0, 0, 0, .8f, .2f});
  const v1::ComputeResponse response = ComputeOk(request);
  EXPECT_THAT(Values(response.per_example()),
              Pointwise(DoubleNear(1e-6), {0.16984604, 0.82474494}));
  EXPECT_EQ(response.reduction(), v1::REDUCTION_NONE);
  EXPECT_NEAR(response.loss(), 0.16984604 + 0.82474494, 1e-6);
  EXPECT_TRUE(response.has_grad_input());
}

TEST(Conversion, OutputSelectionAndDefaults) {
  v1::ComputeRequest request;
  request.set_loss("cross_entropy");
  *request.mutable_input() = Floats({2, 2}, {1, 2, 3, 4});
  *request.mutable_target() = Labels({0, 1});
  v1::ComputeResponse response = ComputeOk(request);
  EXPECT_FALSE(response.has_per_example());
  EXPECT_TRUE(response.has_grad_input());
  EXPECT_EQ(response.reduction(), v1::REDUCTION_MEAN);
  EXPECT_EQ(response.statistics().valid_count(), 2);
  EXPECT_DOUBLE_EQ(response.statistics().denominator(), 2);
  request.mutable_outputs()->set_per_example(true);
  response = ComputeOk(request);
  EXPECT_TRUE(response.has_per_example());
  EXPECT_FALSE(response.has_grad_input());
  EXPECT_EQ(response.per_example().shape_size(), 1);
}

TEST(Conversion, HalfPrecisionInputsAndGradDtype) {
  v1::ComputeRequest request;
  request.set_loss("cross_entropy");
  v1::Tensor* input = request.mutable_input();
  input->set_dtype(v1::DTYPE_BFLOAT16);
  input->add_shape(1);
  input->add_shape(2);
  std::string raw(4, '\0');
  const uint16_t three =
      Eigen::numext::bit_cast<uint16_t>(Eigen::bfloat16(3.f));
  const uint16_t four = Eigen::numext::bit_cast<uint16_t>(Eigen::bfloat16(4.f));
  std::memcpy(raw.data(), &three, 2);
  std::memcpy(raw.data() + 2, &four, 2);
  input->set_raw(raw);
  *request.mutable_target() = Labels({1});
  v1::ComputeResponse response = ComputeOk(request);
  EXPECT_EQ(response.grad_input().dtype(), v1::DTYPE_BFLOAT16);
  EXPECT_EQ(response.grad_input().raw().size(), 4u);
  EXPECT_THAT(Values(response.grad_input()),
              Pointwise(DoubleNear(2e-3), {0.26894142, -0.26894142}));
  request.set_grad_dtype(v1::DTYPE_FLOAT64);
  response = ComputeOk(request);
  EXPECT_EQ(response.grad_input().dtype(), v1::DTYPE_FLOAT64);
  EXPECT_THAT(Values(response.grad_input()),
              Pointwise(DoubleNear(1e-7), {0.26894142, -0.26894142}));
}

TEST(Conversion, TypedOptionsReachTheLibrary) {
  v1::ComputeRequest request;
  request.set_loss("cross_entropy");
  *request.mutable_input() =
      Floats({2, 3}, {2.0f, 1.0f, 0.1f, 0.5f, 2.5f, 0.3f});
  *request.mutable_target() = Labels({0, 2});
  auto* options = request.mutable_cross_entropy();
  options->set_label_smoothing(0.1);
  *options->mutable_class_weight() = Floats({3}, {1.0f, 2.0f, 0.5f});
  v1::ComputeResponse response = ComputeOk(request);
  EXPECT_NEAR(response.loss(), 1.1602279419516237, 1e-6);
  EXPECT_DOUBLE_EQ(response.statistics().denominator(), 1.5);
  options->set_ignore_index(2);
  response = ComputeOk(request);
  EXPECT_NEAR(response.loss(), 0.522314, 1e-6);  // Row 0 alone, / w[0] = 1.
}

// Every options message field must be a registry option of a compatible
// type, and every loss with options must have its options message.
TEST(Conversion, OptionsMessagesMatchTheRegistry) {
  using google::protobuf::FieldDescriptor;
  const auto* oneof =
      v1::ComputeRequest::descriptor()->FindOneofByName("options");
  ASSERT_NE(oneof, nullptr);
  for (int i = 0; i < oneof->field_count(); ++i) {
    const FieldDescriptor* field = oneof->field(i);
    const LossSpec* spec = FindLoss(field->name());
    ASSERT_NE(spec, nullptr)
        << "options field " << field->name() << " names no registered loss";
    const auto* message = field->message_type();
    EXPECT_EQ(message->field_count(), static_cast<int>(spec->options.size()))
        << field->name();
    for (int j = 0; j < message->field_count(); ++j) {
      const FieldDescriptor* option_field = message->field(j);
      const OptionSpec* option = spec->FindOption(option_field->name());
      ASSERT_NE(option, nullptr)
          << field->name() << "." << option_field->name();
      if (option->type == OptionType::kPerClass) {
        EXPECT_EQ(option_field->message_type(), v1::Tensor::descriptor());
      } else {
        EXPECT_TRUE(option_field->has_presence())
            << field->name() << "." << option_field->name()
            << " must be `optional` so its absence means the default";
      }
    }
  }
  v1::ListLossesResponse listing;
  DescribeLosses(&listing);
  ASSERT_EQ(listing.losses_size(), static_cast<int>(AllLosses().size()));
  for (const v1::LossDescriptor& loss : listing.losses()) {
    const LossSpec* spec = FindLoss(loss.name());
    ASSERT_NE(spec, nullptr);
    EXPECT_EQ(loss.options_size(), static_cast<int>(spec->options.size()));
    // Each library rule has the wire value of the same name.
    ASSERT_TRUE(spec->mean_denominator_rule.has_value()) << loss.name();
    EXPECT_EQ(v1::MeanDenominatorRule_Name(loss.mean_denominator_rule()),
              absl::AsciiStrToUpper(absl::StrCat(
                  "MEAN_DENOMINATOR_RULE_",
                  MeanDenominatorRuleName(*spec->mean_denominator_rule))))
        << loss.name();
    if (!spec->options.empty()) {
      EXPECT_EQ(loss.options_field(), loss.name());
    }
  }
}

TEST(Conversion, ErrorsNameTheField) {
  auto error_of = [](const v1::ComputeRequest& request) {
    v1::ComputeResponse response;
    return ComputeFromProto(request, &response);
  };
  v1::ComputeRequest request;
  request.set_loss("cross_entropy");
  *request.mutable_input() = Floats({2, 2}, {1, 2, 3, 4});
  *request.mutable_target() = Labels({0, 1});
  ASSERT_TRUE(error_of(request).ok());

  v1::ComputeRequest unknown = request;
  unknown.set_loss("crossentropy");
  EXPECT_EQ(error_of(unknown).code(), absl::StatusCode::kNotFound);

  v1::ComputeRequest no_input = request;
  no_input.clear_input();
  EXPECT_TRUE(
      absl::StrContains(error_of(no_input).message(), "input is missing"));

  v1::ComputeRequest bad_label = request;
  *bad_label.mutable_target() = Labels({0, 9});
  EXPECT_TRUE(absl::StrContains(error_of(bad_label).message(),
                                "target[1] = 9 is outside [0, 2)"));

  v1::ComputeRequest other_options = request;
  other_options.mutable_binary_cross_entropy();
  EXPECT_TRUE(absl::StrContains(error_of(other_options).message(),
                                "options binary_cross_entropy do not apply"));

  v1::ComputeRequest integer_input = request;
  *integer_input.mutable_input() = Labels({1, 2});
  EXPECT_TRUE(absl::StrContains(error_of(integer_input).message(),
                                "input.dtype DTYPE_INT64 is not floating"));

  v1::ComputeRequest metric_grad = request;
  metric_grad.set_loss("classification_error");
  metric_grad.mutable_outputs()->set_grad_input(true);
  EXPECT_TRUE(
      absl::StrContains(error_of(metric_grad).message(), "has no gradient"));

  v1::ComputeRequest bad_weight = request;
  *bad_weight.mutable_cross_entropy()->mutable_class_weight() =
      Floats({1, 2}, {1, 1});
  EXPECT_TRUE(absl::StrContains(error_of(bad_weight).message(),
                                "cross_entropy.class_weight must have shape"));
}

// Random mutations of a valid request never crash and always give a status.
TEST(Conversion, SurvivesMutatedRequests) {
  v1::ComputeRequest request;
  request.set_loss("cross_entropy");
  request.set_reduction(v1::REDUCTION_NONE);
  *request.mutable_input() =
      Floats({2, 3, 2}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12});
  request.set_class_axis(1);
  v1::Tensor* target = request.mutable_target();
  target->set_dtype(v1::DTYPE_INT64);
  target->add_shape(2);
  target->add_shape(2);
  for (int64_t label : {0, 1, 2, -100}) target->add_int64_values(label);
  request.mutable_cross_entropy()->set_label_smoothing(0.1);
  const std::string wire = request.SerializeAsString();
  std::mt19937 random(1234);
  int parsed = 0;
  for (int i = 0; i < 3000; ++i) {
    std::string mutated = wire;
    const int flips = 1 + static_cast<int>(random() % 4);
    for (int f = 0; f < flips; ++f) {
      mutated[random() % mutated.size()] = static_cast<char>(random());
    }
    v1::ComputeRequest candidate;
    if (!candidate.ParseFromString(mutated)) continue;
    ++parsed;
    v1::ComputeResponse response;
    (void)ComputeFromProto(candidate, &response);
  }
  EXPECT_GT(parsed, 100);
}

}  // namespace
}  // namespace lossd::server
