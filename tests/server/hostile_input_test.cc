// The catalogue of malformed and hostile requests (issue 9), one row per
// class, each through ComputeFromProto, the one validation path of the
// server and the fuzz target: every row must come back with its status code
// (INVALID_ARGUMENT, or OK where an empty tensor is a proper request) and a
// message that names the offending field. Rows cite the bug a peer shipped
// for the class, where there is one.
//
// Each row is also a committed regression input of the fuzzer
// (tests/fuzz/regressions/hostile_<name>.pb), replayed in every build by the
// fuzz_regressions test; RegressionInputsMatchTheCatalogue keeps the two in
// step. After changing a row, rewrite the files with
//   LOSSD_UPDATE_REGRESSIONS=1 build-xxx/tests/server/lossd_hostile_input_test

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "conversion.h"
#include "gtest/gtest.h"
#include "lossd/v1/loss_service.pb.h"
#include "quiet_protobuf.h"

namespace lossd::server {
namespace {

constexpr int64_t kHuge = int64_t{1} << 40;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

v1::Tensor RawFloats(std::vector<int64_t> shape, std::vector<float> values) {
  v1::Tensor tensor;
  tensor.set_dtype(v1::DTYPE_FLOAT32);
  tensor.mutable_shape()->Assign(shape.begin(), shape.end());
  tensor.set_raw(std::string(reinterpret_cast<const char*>(values.data()),
                             values.size() * sizeof(float)));
  return tensor;
}

v1::Tensor Labels(std::vector<int64_t> shape, std::vector<int64_t> labels) {
  v1::Tensor tensor;
  tensor.set_dtype(v1::DTYPE_INT64);
  tensor.mutable_shape()->Assign(shape.begin(), shape.end());
  tensor.mutable_int64_values()->Assign(labels.begin(), labels.end());
  return tensor;
}

// A valid request every row breaks in one way: cross-entropy of a [2, 3]
// batch of float32 logits (raw bytes) against class indices.
v1::ComputeRequest Valid() {
  v1::ComputeRequest request;
  request.set_loss("cross_entropy");
  *request.mutable_input() = RawFloats({2, 3}, {1, 2, 3, 4, 5, 6});
  *request.mutable_target() = Labels({2}, {0, 2});
  return request;
}

struct HostileCase {
  std::string name;  // Also the regression input hostile_<name>.pb.
  std::function<void(v1::ComputeRequest&)> spoil;
  absl::StatusCode code;
  std::string message;  // Names the offending field.
};

std::vector<HostileCase> Catalogue() {
  using absl::StatusCode;
  const StatusCode kInvalid = StatusCode::kInvalidArgument;
  return {
      // Negative dimensions. Triton server#3563: a shape of -1 killed the
      // server.
      {"negative_dimension",
       [](auto& r) { r.mutable_input()->set_shape(0, -1); }, kInvalid,
       "input.shape[0] = -1 is negative"},
      {"negative_target_dimension",
       [](auto& r) { r.mutable_target()->set_shape(0, -2); }, kInvalid,
       "target.shape[0] = -2 is negative"},
      // Huge dimensions: rejected before anything of their size is
      // allocated, whether past the element limit or within it but with no
      // bytes to back them.
      {"huge_dimension",
       [](auto& r) {
         r.mutable_input()->set_shape(0, std::numeric_limits<int64_t>::max());
       },
       kInvalid, "input.shape is too large"},
      {"huge_dimension_without_bytes",
       [](auto& r) { r.mutable_input()->set_shape(0, kHuge); }, kInvalid,
       "input.raw has 24 bytes but shape [1099511627776, 3]"},
      // Shape products that overflow int64. TensorFlow CVE-2021-41197.
      {"shape_product_overflows_int64",
       [](auto& r) {
         r.mutable_input()->set_shape(0, int64_t{1} << 32);
         r.mutable_input()->set_shape(1, int64_t{1} << 32);
         r.mutable_input()->add_shape(3);
       },
       kInvalid, "input.shape is too large"},
      // A zero dimension hiding overflowing ones: the element count stays 0
      // while the rows and classes overflow (fuzzer finding, commit 934b189).
      {"zero_dimension_hides_overflow",
       [](auto& r) {
         *r.mutable_input() = RawFloats({0, kHuge, kHuge}, {});
         r.set_class_axis(0);
       },
       kInvalid, "input.shape [0, 1099511627776, 1099511627776] is too large"},
      // Byte counts that differ from shape x dtype, in both directions.
      // Triton core#350.
      {"fewer_bytes_than_shape",
       [](auto& r) { r.mutable_input()->mutable_raw()->resize(20); }, kInvalid,
       "input.raw has 20 bytes but shape [2, 3] of DTYPE_FLOAT32 needs 24"},
      {"more_bytes_than_shape",
       [](auto& r) { r.mutable_input()->mutable_raw()->append(4, '\0'); },
       kInvalid,
       "input.raw has 28 bytes but shape [2, 3] of DTYPE_FLOAT32 needs 24"},
      {"fewer_values_than_shape",
       [](auto& r) { r.mutable_target()->set_shape(0, 3); }, kInvalid,
       "target has 2 values but shape [3] needs 3"},
      {"more_values_than_shape",
       [](auto& r) { r.mutable_target()->add_int64_values(1); }, kInvalid,
       "target has 3 values but shape [2] needs 2"},
      // Raw bytes that are not a whole number of elements of the dtype.
      {"raw_not_whole_elements",
       [](auto& r) {
         r.mutable_input()->set_dtype(v1::DTYPE_FLOAT64);
         r.mutable_input()->mutable_raw()->resize(47);
         r.mutable_input()->set_shape(0, 2);
       },
       kInvalid, "input.raw has 47 bytes but shape [2, 3] of DTYPE_FLOAT64"},
      {"odd_bytes_for_16_bit",
       [](auto& r) {
         r.mutable_input()->set_dtype(v1::DTYPE_BFLOAT16);
         r.mutable_input()->mutable_raw()->resize(11);
       },
       kInvalid, "input.raw has 11 bytes but shape [2, 3] of DTYPE_BFLOAT16"},
      // Ranks the loss does not take.
      {"scalar_input", [](auto& r) { *r.mutable_input() = RawFloats({}, {1}); },
       kInvalid, "input must have at least one dimension"},
      {"target_rank_mismatch",
       [](auto& r) { r.mutable_target()->add_shape(1); }, kInvalid,
       "target shape [2, 1] does not match"},
      // class_axis out of range, either side.
      {"class_axis_too_large", [](auto& r) { r.set_class_axis(2); }, kInvalid,
       "class_axis 2 is outside [-2, 2)"},
      {"class_axis_most_negative",
       [](auto& r) { r.set_class_axis(std::numeric_limits<int32_t>::min()); },
       kInvalid, "class_axis -2147483648 is outside [-2, 2)"},
      // NaN and infinity in options and in the numbers that scale results.
      {"nan_option",
       [](auto& r) { r.mutable_cross_entropy()->set_label_smoothing(kNaN); },
       kInvalid, "label_smoothing = nan"},
      {"infinite_option",
       [](auto& r) { r.mutable_cross_entropy()->set_z_loss(kInf); }, kInvalid,
       "z_loss = inf"},
      {"nan_in_class_weight",
       [](auto& r) {
         *r.mutable_cross_entropy()->mutable_class_weight() =
             RawFloats({3}, {1, std::nanf(""), 1});
       },
       kInvalid, "class_weight[1] = nan"},
      {"infinite_grad_scale", [](auto& r) { r.set_grad_scale(-kInf); },
       kInvalid, "grad_scale = -inf"},
      {"nan_normalizer", [](auto& r) { r.set_normalizer(kNaN); }, kInvalid,
       "normalizer = nan"},
      // Labels out of range, above and below.
      {"label_too_large",
       [](auto& r) { r.mutable_target()->set_int64_values(1, 3); }, kInvalid,
       "target[1] = 3 is outside [0, 3)"},
      {"label_negative",
       [](auto& r) { r.mutable_target()->set_int64_values(1, -5); }, kInvalid,
       "target[1] = -5 is outside [0, 3)"},
      {"label_most_negative",
       [](auto& r) {
         r.mutable_target()->set_int64_values(
             0, std::numeric_limits<int64_t>::min());
       },
       kInvalid, "target[0] = -9223372036854775808 is outside [0, 3)"},
      // Sample weights of the wrong length, shorter and longer.
      {"sample_weight_too_short",
       [](auto& r) { *r.mutable_sample_weight() = RawFloats({1}, {1}); },
       kInvalid, "sample_weight shape [1] does not match"},
      {"sample_weight_too_long",
       [](auto& r) {
         *r.mutable_sample_weight() = RawFloats({3}, {1, 1, 1});
       },
       kInvalid, "sample_weight shape [3] does not match"},
      // Unknown dtypes and unknown enum values.
      {"unknown_input_dtype",
       [](auto& r) {
         r.mutable_input()->set_dtype(static_cast<v1::DType>(99));
       },
       kInvalid, "input.dtype 99 is not a DType"},
      {"unknown_target_dtype",
       [](auto& r) {
         r.mutable_target()->set_dtype(static_cast<v1::DType>(-7));
       },
       kInvalid, "target.dtype -7 is not a DType"},
      {"unknown_grad_dtype",
       [](auto& r) { r.set_grad_dtype(static_cast<v1::DType>(42)); }, kInvalid,
       "grad_dtype 42"},
      {"unknown_reduction",
       [](auto& r) { r.set_reduction(static_cast<v1::Reduction>(17)); },
       kInvalid, "reduction 17 is not a Reduction"},
      {"unknown_input_kind",
       [](auto& r) { r.set_input_kind(static_cast<v1::InputKind>(9)); },
       kInvalid, "input_kind 9 is not an InputKind"},
      {"unknown_empty_mean",
       [](auto& r) { r.set_empty_mean(static_cast<v1::EmptyMean>(3)); },
       kInvalid, "empty_mean 3 is not an EmptyMean"},
      {"unknown_option_enum",
       [](auto& r) {
         r.mutable_cross_entropy()->set_label_smoothing_rule(
             static_cast<v1::LabelSmoothingRule>(5));
       },
       kInvalid,
       "cross_entropy.label_smoothing_rule = 5 is not a LabelSmoothingRule"},
      // Several data fields at once.
      {"several_data_fields",
       [](auto& r) { r.mutable_input()->add_float_values(1); }, kInvalid,
       "input: only one data field may be set, got raw and float_values"},
      // Empty shapes and zero-sized dimensions: an empty batch is a proper
      // request (the mean of nothing is NaN, as PyTorch); no classes at all
      // leaves no label in range.
      {"empty_batch",
       [](auto& r) {
         *r.mutable_input() = RawFloats({0, 3}, {});
         *r.mutable_target() = Labels({0}, {});
       },
       StatusCode::kOk, ""},
      {"empty_batch_of_huge_rows",
       [](auto& r) {
         *r.mutable_input() = RawFloats({0, kHuge}, {});
         *r.mutable_target() = Labels({0}, {});
       },
       StatusCode::kOk, ""},
      {"no_classes",
       [](auto& r) {
         *r.mutable_input() = RawFloats({2, 0}, {});
       },
       kInvalid, "input.shape[1] = 0"},
      // No classes, rows without bytes: nothing bounds the rows but the
      // shape, so they must not be iterated or given per-example outputs.
      {"no_classes_huge_batch",
       [](auto& r) {
         *r.mutable_input() = RawFloats({kHuge, 0}, {});
         *r.mutable_target() = RawFloats({kHuge, 0}, {});
         r.set_reduction(v1::REDUCTION_NONE);
       },
       kInvalid, "input.shape[1] = 0"},
  };
}

class HostileInput : public testing::TestWithParam<HostileCase> {};

TEST_P(HostileInput, GetsItsStatusNamingTheField) {
  const HostileCase& row = GetParam();
  v1::ComputeRequest request = Valid();
  row.spoil(request);
  v1::ComputeResponse response;
  const absl::Status status = ComputeFromProto(request, &response);
  EXPECT_EQ(status.code(), row.code) << status;
  EXPECT_TRUE(absl::StrContains(status.message(), row.message))
      << status << "\nexpected to contain: " << row.message;
  if (!status.ok()) {
    EXPECT_EQ(response.ByteSizeLong(), 0u) << "an error left a response";
  }
  // The server's own path (gradient over the request's bytes) agrees.
  v1::ComputeResponse in_place;
  EXPECT_EQ(ComputeFromProtoInPlace(&request, &in_place).code(), row.code);
}

INSTANTIATE_TEST_SUITE_P(Catalogue, HostileInput,
                         testing::ValuesIn(Catalogue()),
                         [](const testing::TestParamInfo<HostileCase>& info) {
                           return info.param.name;
                         });

TEST(HostileInput, ValidBaseRequestComputes) {
  v1::ComputeResponse response;
  EXPECT_TRUE(ComputeFromProto(Valid(), &response).ok());
}

// Every row is a committed fuzz regression input, request for request.
TEST(HostileInput, RegressionInputsMatchTheCatalogue) {
  const std::filesystem::path directory = LOSSD_FUZZ_REGRESSIONS_DIR;
  const bool update = std::getenv("LOSSD_UPDATE_REGRESSIONS") != nullptr;
  for (const HostileCase& row : Catalogue()) {
    SCOPED_TRACE(row.name);
    v1::ComputeRequest request = Valid();
    row.spoil(request);
    const std::filesystem::path path =
        directory / absl::StrCat("hostile_", row.name, ".pb");
    if (update) {
      std::ofstream(path, std::ios::binary) << request.SerializeAsString();
    }
    std::ifstream file(path, std::ios::binary);
    ASSERT_TRUE(file.good()) << path << " is missing; see this file's header";
    const std::string bytes((std::istreambuf_iterator<char>(file)),
                            std::istreambuf_iterator<char>());
    // Bytes, not messages: NaN options would never compare equal.
    EXPECT_TRUE(bytes == request.SerializeAsString())
        << path << " differs from the catalogue; see this file's header";
  }
}

}  // namespace
}  // namespace lossd::server
