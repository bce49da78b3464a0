// Building ComputeRequests: dtypes of JSON targets, options through
// reflection, the request document, and the errors users will meet.

#include "request_builder.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace lossctl {
namespace {

using ::nlohmann::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

TensorArgument Tensor(const char* text) {
  absl::StatusOr<TensorArgument> tensor = ReadTensorArgument(text, "t");
  EXPECT_TRUE(tensor.ok()) << tensor.status();
  return *tensor;
}

ComputeSpec Spec(const char* input, const char* target) {
  ComputeSpec spec;
  spec.loss = "cross_entropy";
  spec.input = Tensor(input);
  spec.target = Tensor(target);
  return spec;
}

TEST(RequestBuilder, IntegerTargetsAreClassIndicesUnlessTheyCoverTheInput) {
  absl::StatusOr<v1::ComputeRequest> indices =
      BuildComputeRequest(Spec("[[0.9, 0.1], [0.1, 0.9]]", "[0, 1]"));
  ASSERT_TRUE(indices.ok()) << indices.status();
  EXPECT_EQ(indices->target().dtype(), v1::DTYPE_INT64);
  EXPECT_THAT(indices->target().shape(), ElementsAre(2));

  absl::StatusOr<v1::ComputeRequest> one_hot =
      BuildComputeRequest(Spec("[[0.9, 0.1], [0.1, 0.9]]", "[[1, 0], [0, 1]]"));
  ASSERT_TRUE(one_hot.ok()) << one_hot.status();
  EXPECT_EQ(one_hot->target().dtype(), v1::DTYPE_FLOAT32);
  EXPECT_EQ(one_hot->input().dtype(), v1::DTYPE_FLOAT32);
  EXPECT_EQ(one_hot->input().raw().size(), 16u);

  absl::StatusOr<v1::ComputeRequest> explicit_dtype = BuildComputeRequest(
      Spec("[[0.9, 0.1]]", R"({"dtype": "uint8", "data": [[1, 0]]})"));
  ASSERT_TRUE(explicit_dtype.ok()) << explicit_dtype.status();
  EXPECT_EQ(explicit_dtype->target().dtype(), v1::DTYPE_UINT8);
}

TEST(RequestBuilder, Float64InputGetsFloat64DenseTargets) {
  ComputeSpec spec = Spec("[[4, 2, 1]]", "[[1, 0, 0]]");
  spec.float_dtype = v1::DTYPE_FLOAT64;
  absl::StatusOr<v1::ComputeRequest> request = BuildComputeRequest(spec);
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->input().dtype(), v1::DTYPE_FLOAT64);
  EXPECT_EQ(request->target().dtype(), v1::DTYPE_FLOAT64);
}

TEST(RequestBuilder, OutputsFollowTheSpec) {
  ComputeSpec spec = Spec("[[1, 2]]", "[0]");
  absl::StatusOr<v1::ComputeRequest> plain = BuildComputeRequest(spec);
  ASSERT_TRUE(plain.ok());
  EXPECT_FALSE(plain->outputs().per_example());
  EXPECT_FALSE(plain->outputs().grad_input());
  spec.reduction = v1::REDUCTION_NONE;
  spec.grad_input = true;
  absl::StatusOr<v1::ComputeRequest> none = BuildComputeRequest(spec);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->outputs().per_example());
  EXPECT_TRUE(none->outputs().grad_input());
  EXPECT_EQ(none->reduction(), v1::REDUCTION_NONE);
}

TEST(RequestBuilder, OptionsAreSetThroughReflection) {
  v1::ComputeRequest request;
  request.set_loss("cross_entropy");
  ASSERT_TRUE(SetLossOptions(json::parse(R"({"label_smoothing": 0.1,
      "ignore_index": -100, "class_weight": [1, 2.5]})"),
                             &request)
                  .ok());
  ASSERT_TRUE(request.has_cross_entropy());
  EXPECT_DOUBLE_EQ(request.cross_entropy().label_smoothing(), 0.1);
  EXPECT_TRUE(request.cross_entropy().has_ignore_index());
  EXPECT_EQ(request.cross_entropy().ignore_index(), -100);
  EXPECT_EQ(request.cross_entropy().class_weight().dtype(), v1::DTYPE_FLOAT64);
  EXPECT_THAT(request.cross_entropy().class_weight().shape(), ElementsAre(2));

  v1::ComputeRequest bce;
  bce.set_loss("binary_cross_entropy");
  ASSERT_TRUE(SetLossOptions(json::parse(R"({"pos_weight": [3]})"), &bce).ok());
  EXPECT_TRUE(bce.binary_cross_entropy().has_pos_weight());
}

TEST(RequestBuilder, OptionErrorsNameTheOption) {
  v1::ComputeRequest request;
  request.set_loss("cross_entropy");
  EXPECT_THAT(
      SetLossOptions(json::parse(R"({"smoothing": 0.1})"), &request).message(),
      HasSubstr("has no option \"smoothing\"; its options: "
                "class_weight, ignore_index, label_smoothing"));
  EXPECT_THAT(SetLossOptions(json::parse(R"({"ignore_index": 1.5})"), &request)
                  .message(),
              HasSubstr("options.ignore_index: expected an integer"));
  EXPECT_THAT(
      SetLossOptions(json::parse(R"({"label_smoothing": "a"})"), &request)
          .message(),
      HasSubstr("options.label_smoothing: expected a number"));
  EXPECT_THAT(SetLossOptions(json::parse("[1]"), &request).message(),
              HasSubstr("must be a JSON object"));
  v1::ComputeRequest mse;
  mse.set_loss("mse");
  EXPECT_THAT(SetLossOptions(json::parse(R"({"a": 1})"), &mse).message(),
              HasSubstr("loss \"mse\" takes no options"));
  EXPECT_TRUE(SetLossOptions(json::parse("{}"), &mse).ok());
}

TEST(RequestBuilder, EnumNamesAreForgiving) {
  EXPECT_EQ(*ParseReduction("mean"), v1::REDUCTION_MEAN);
  EXPECT_EQ(*ParseReduction("BATCH_MEAN"), v1::REDUCTION_BATCH_MEAN);
  EXPECT_EQ(*ParseReduction("REDUCTION_NONE"), v1::REDUCTION_NONE);
  EXPECT_THAT(ParseReduction("average").status().message(),
              HasSubstr("use one of none, sum, mean, batch_mean"));
  EXPECT_THAT(ParseReduction("unspecified").status().message(),
              HasSubstr("unknown reduction"));
  EXPECT_EQ(*ParseInputKind("Probabilities"), v1::INPUT_KIND_PROBABILITIES);
  EXPECT_EQ(*ParseInputKind("log_probabilities"),
            v1::INPUT_KIND_LOG_PROBABILITIES);
}

TEST(RequestBuilder, RequestDocument) {
  ComputeSpec spec;
  ASSERT_TRUE(ApplyRequestDocument(json::parse(R"({
      "loss": "cross_entropy", "input": [[4, 2, 1], [0, 5, 1]],
      "target": [[1, 0, 0], [0, 0.8, 0.2]], "reduction": "none",
      "input_kind": "logits", "class_axis": -1, "dtype": "float64",
      "options": {"label_smoothing": 0.0}, "request_id": "r1",
      "per_example": true, "grad_input": true})"),
                                   &spec)
                  .ok());
  absl::StatusOr<v1::ComputeRequest> request = BuildComputeRequest(spec);
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->loss(), "cross_entropy");
  EXPECT_EQ(request->input().dtype(), v1::DTYPE_FLOAT64);
  EXPECT_EQ(request->target().dtype(), v1::DTYPE_FLOAT64);
  EXPECT_EQ(request->class_axis(), -1);
  EXPECT_EQ(request->request_id(), "r1");
  EXPECT_TRUE(request->has_cross_entropy());

  EXPECT_THAT(
      ApplyRequestDocument(json::parse(R"({"lose": "mse"})"), &spec).message(),
      HasSubstr("unknown request key \"lose\""));
  EXPECT_THAT(
      ApplyRequestDocument(json::parse(R"({"loss": 3})"), &spec).message(),
      HasSubstr("request.loss must be a string"));
  EXPECT_THAT(ApplyRequestDocument(json::parse(R"({"input": [[1], 2]})"), &spec)
                  .message(),
              HasSubstr("input[1]"));
}

TEST(RequestBuilder, MissingPiecesAreNamed) {
  ComputeSpec spec;
  EXPECT_THAT(BuildComputeRequest(spec).status().message(),
              HasSubstr("no loss"));
  spec.loss = "mse";
  EXPECT_THAT(BuildComputeRequest(spec).status().message(),
              HasSubstr("no input"));
  spec.input = Tensor("[1]");
  EXPECT_THAT(BuildComputeRequest(spec).status().message(),
              HasSubstr("no target"));
  EXPECT_THAT(
      ReadTensorArgument("@/nonexistent/x.json", "input").status().message(),
      HasSubstr("/nonexistent/x.json"));
  EXPECT_THAT(
      ReadTensorArgument("[1, 2", "input").status().message(),
      HasSubstr("input (inline; use @FILE for a file) is not valid JSON"));
}

}  // namespace
}  // namespace lossctl
