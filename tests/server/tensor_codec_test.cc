#include "tensor_codec.h"

#include <cmath>
#include <cstring>
#include <limits>

#include "Eigen/Core"
#include "absl/strings/match.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace lossd::server {
namespace {

using ::testing::ElementsAre;

template <typename T>
std::string Bytes(std::initializer_list<T> values) {
  std::string out(values.size() * sizeof(T), '\0');
  std::memcpy(out.data(), std::data(values), out.size());
  return out;
}

v1::Tensor Raw(v1::DType dtype, std::vector<int64_t> shape, std::string raw) {
  v1::Tensor tensor;
  tensor.set_dtype(dtype);
  for (int64_t d : shape) tensor.add_shape(d);
  tensor.set_raw(std::move(raw));
  return tensor;
}

template <typename T>
absl::Status DecodeStatus(const v1::Tensor& tensor) {
  Decoded<T> decoded;
  return Decode(tensor, "input", &decoded);
}

TEST(TensorCodec, DecodesEveryDTypeFromRaw) {
  Decoded<double> decoded;
  ASSERT_TRUE(Decode(Raw(v1::DTYPE_FLOAT32, {2}, Bytes<float>({1.5f, -2.f})),
                     "input", &decoded)
                  .ok());
  EXPECT_THAT(decoded.values(), ElementsAre(1.5, -2));
  ASSERT_TRUE(Decode(Raw(v1::DTYPE_INT32, {3}, Bytes<int32_t>({7, -1, 0})),
                     "input", &decoded)
                  .ok());
  EXPECT_THAT(decoded.values(), ElementsAre(7, -1, 0));
  const uint16_t bf16 =
      Eigen::numext::bit_cast<uint16_t>(Eigen::bfloat16(0.75f));
  const uint16_t f16 = Eigen::numext::bit_cast<uint16_t>(Eigen::half(-3.5f));
  ASSERT_TRUE(Decode(Raw(v1::DTYPE_BFLOAT16, {1}, Bytes<uint16_t>({bf16})),
                     "input", &decoded)
                  .ok());
  EXPECT_THAT(decoded.values(), ElementsAre(0.75));
  ASSERT_TRUE(Decode(Raw(v1::DTYPE_FLOAT16, {1}, Bytes<uint16_t>({f16})),
                     "input", &decoded)
                  .ok());
  EXPECT_THAT(decoded.values(), ElementsAre(-3.5));
  ASSERT_TRUE(Decode(Raw(v1::DTYPE_UINT8, {2}, std::string("\x01\xff", 2)),
                     "input", &decoded)
                  .ok());
  EXPECT_THAT(decoded.values(), ElementsAre(1, 255));
  // Raw int64 may be viewed in place: the tensor must outlive the view.
  const v1::Tensor raw_labels =
      Raw(v1::DTYPE_INT64, {2}, Bytes<int64_t>({5, -100}));
  Decoded<int64_t> labels;
  ASSERT_TRUE(Decode(raw_labels, "target", &labels).ok());
  EXPECT_THAT(labels.values(), ElementsAre(5, -100));
}

TEST(TensorCodec, TypedValuesInferDType) {
  v1::Tensor tensor;
  tensor.add_shape(2);
  tensor.add_float_values(0.5f);
  tensor.add_float_values(2.f);
  Decoded<float> decoded;
  ASSERT_TRUE(Decode(tensor, "input", &decoded).ok());
  EXPECT_THAT(decoded.values(), ElementsAre(0.5f, 2.f));
  v1::DType dtype;
  ASSERT_TRUE(ResolveDType(tensor, "input", &dtype).ok());
  EXPECT_EQ(dtype, v1::DTYPE_FLOAT32);
}

TEST(TensorCodec, Errors) {
  // Byte count versus shape and dtype.
  absl::Status s = DecodeStatus<float>(
      Raw(v1::DTYPE_FLOAT32, {2, 3}, std::string(10, '\0')));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(s.message(), "input.raw has 10 bytes"));
  EXPECT_TRUE(absl::StrContains(s.message(), "needs 24")) << s;
  // Raw data without a dtype.
  s = DecodeStatus<float>(Raw(v1::DTYPE_UNSPECIFIED, {1}, std::string(4, 0)));
  EXPECT_TRUE(absl::StrContains(s.message(), "dtype is required")) << s;
  // Negative and overflowing shapes.
  s = DecodeStatus<float>(Raw(v1::DTYPE_FLOAT32, {2, -1}, ""));
  EXPECT_TRUE(absl::StrContains(s.message(), "input.shape[1] = -1")) << s;
  s = DecodeStatus<float>(
      Raw(v1::DTYPE_FLOAT32, {int64_t{1} << 40, int64_t{1} << 40}, ""));
  EXPECT_TRUE(absl::StrContains(s.message(), "too large")) << s;
  // Two data fields.
  v1::Tensor both = Raw(v1::DTYPE_FLOAT32, {1}, Bytes<float>({1.f}));
  both.add_float_values(1.f);
  s = DecodeStatus<float>(both);
  EXPECT_TRUE(absl::StrContains(s.message(), "raw and float_values")) << s;
  // Value count versus shape.
  v1::Tensor short_values;
  short_values.add_shape(3);
  short_values.add_double_values(1);
  s = DecodeStatus<double>(short_values);
  EXPECT_TRUE(absl::StrContains(s.message(), "has 1 values but shape [3]"))
      << s;
  // A typed field that cannot carry the dtype.
  v1::Tensor mismatch;
  mismatch.set_dtype(v1::DTYPE_FLOAT64);
  mismatch.add_float_values(1);
  s = DecodeStatus<double>(mismatch);
  EXPECT_TRUE(absl::StrContains(s.message(), "cannot carry DTYPE_FLOAT64"))
      << s;
  // Floating data where integers are needed, and unknown dtype numbers.
  s = DecodeStatus<int64_t>(Raw(v1::DTYPE_FLOAT32, {1}, Bytes<float>({1.f})));
  EXPECT_TRUE(absl::StrContains(s.message(), "is not an integer type")) << s;
  s = DecodeStatus<float>(Raw(static_cast<v1::DType>(99), {1}, "x"));
  EXPECT_TRUE(absl::StrContains(s.message(), "is not a DType")) << s;
}

TEST(TensorCodec, EncodesEveryFloatingDType) {
  const std::vector<float> values = {1.0f, -0.5f, 3.25f};
  for (v1::DType dtype : {v1::DTYPE_FLOAT32, v1::DTYPE_FLOAT64,
                          v1::DTYPE_BFLOAT16, v1::DTYPE_FLOAT16}) {
    v1::Tensor tensor;
    Encode<float>(values, {3}, dtype, &tensor);
    EXPECT_EQ(tensor.raw().size(), 3 * DTypeSize(dtype));
    Decoded<double> round_trip;
    ASSERT_TRUE(Decode(tensor, "grad", &round_trip).ok());
    // These values are exact in every format.
    EXPECT_THAT(round_trip.values(), ElementsAre(1.0, -0.5, 3.25))
        << v1::DType_Name(dtype);
  }
}

TEST(TensorCodec, AlignedRawFloatsAreNotCopied) {
  const v1::Tensor tensor =
      Raw(v1::DTYPE_FLOAT32, {4}, Bytes<float>({1.f, 2.f, 3.f, 4.f}));
  Decoded<float> decoded;
  ASSERT_TRUE(Decode(tensor, "input", &decoded).ok());
  if (reinterpret_cast<uintptr_t>(tensor.raw().data()) % alignof(float) == 0) {
    EXPECT_EQ(static_cast<const void*>(decoded.values().data()),
              static_cast<const void*>(tensor.raw().data()));
  }
}

}  // namespace
}  // namespace lossd::server
