// The vectorised bfloat16/float16 conversions of tensor_codec (AVX2 and
// F16C paths chosen at run time, scalar tails) against Eigen's scalar
// conversions, over every 16-bit pattern and over floats around every
// rounding boundary.

#include <bit>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "Eigen/Core"
#include "gtest/gtest.h"
#include "tensor_codec.h"

namespace lossd::server {
namespace {

// Every 16-bit pattern, then a few more so the length is not a multiple of
// any vector width and the scalar tail runs too.
std::vector<uint16_t> AllPatterns() {
  std::vector<uint16_t> bits;
  for (uint32_t b = 0; b <= 0xffff; ++b)
    bits.push_back(static_cast<uint16_t>(b));
  for (uint16_t b : {0x3c00, 0x7c00, 0x0001, 0x8000, 0x4049, 0xc0a0, 0x7fc0}) {
    bits.push_back(b);
  }
  return bits;
}

v1::Tensor RawTensor(v1::DType dtype, const void* data, size_t count,
                     size_t element_size) {
  v1::Tensor tensor;
  tensor.set_dtype(dtype);
  tensor.add_shape(static_cast<int64_t>(count));
  tensor.set_raw(
      std::string(static_cast<const char*>(data), count * element_size));
  return tensor;
}

float Reference(uint16_t bits, v1::DType dtype) {
  return dtype == v1::DTYPE_BFLOAT16
             ? static_cast<float>(
                   Eigen::numext::bit_cast<Eigen::bfloat16>(bits))
             : static_cast<float>(Eigen::numext::bit_cast<Eigen::half>(bits));
}

uint16_t ReferenceBits(float value, v1::DType dtype) {
  return dtype == v1::DTYPE_BFLOAT16
             ? Eigen::numext::bit_cast<uint16_t>(Eigen::bfloat16(value))
             : Eigen::numext::bit_cast<uint16_t>(Eigen::half(value));
}

class HalfWidthCodec : public ::testing::TestWithParam<v1::DType> {};

TEST_P(HalfWidthCodec, DecodesEveryPatternAsEigenDoes) {
  const v1::DType dtype = GetParam();
  const std::vector<uint16_t> bits = AllPatterns();
  // An odd byte offset too: the wire buffer need not be aligned.
  for (size_t offset : {0, 1}) {
    std::string raw(offset, '\0');
    raw.append(reinterpret_cast<const char*>(bits.data()), bits.size() * 2);
    v1::Tensor tensor =
        RawTensor(dtype, raw.data() + offset, bits.size(), sizeof(uint16_t));
    Decoded<float> decoded;
    ASSERT_TRUE(Decode(tensor, "input", &decoded).ok());
    ASSERT_EQ(decoded.values().size(), bits.size());
    for (size_t i = 0; i < bits.size(); ++i) {
      const float expected = Reference(bits[i], dtype);
      const float got = decoded.values()[i];
      if (std::isnan(expected)) {
        EXPECT_TRUE(std::isnan(got)) << "pattern " << bits[i];
      } else {
        EXPECT_EQ(std::bit_cast<uint32_t>(got),
                  std::bit_cast<uint32_t>(expected))
            << "pattern " << bits[i];
      }
    }
  }
}

TEST_P(HalfWidthCodec, EncodesAsEigenRounds) {
  const v1::DType dtype = GetParam();
  // Every representable value, the midpoints to its neighbours (ties round
  // to even), a nudge either side of them, and random floats.
  std::vector<float> values;
  for (uint16_t bits : AllPatterns()) {
    const float v = Reference(bits, dtype);
    const float next = Reference(static_cast<uint16_t>(bits + 1), dtype);
    values.push_back(v);
    if (std::isfinite(v) && std::isfinite(next)) {
      const float middle = v + (next - v) / 2;
      values.push_back(middle);
      values.push_back(std::nextafter(middle, v));
      values.push_back(std::nextafter(middle, next));
    }
  }
  std::mt19937 random(3);
  std::uniform_int_distribution<uint32_t> any_bits;
  for (int i = 0; i < 100001; ++i) {
    values.push_back(std::bit_cast<float>(any_bits(random)));
  }
  values.push_back(std::numeric_limits<float>::infinity());
  values.push_back(-std::numeric_limits<float>::quiet_NaN());
  values.push_back(std::numeric_limits<float>::denorm_min());

  v1::Tensor tensor;
  Encode<float>(values, {static_cast<int64_t>(values.size())}, dtype, &tensor);
  ASSERT_EQ(tensor.raw().size(), values.size() * 2);
  for (size_t i = 0; i < values.size(); ++i) {
    uint16_t got;
    std::memcpy(&got, tensor.raw().data() + 2 * i, sizeof got);
    if (std::isnan(values[i])) {
      EXPECT_TRUE(std::isnan(Reference(got, dtype))) << values[i];
    } else {
      EXPECT_EQ(got, ReferenceBits(values[i], dtype))
          << "value " << values[i] << " bits "
          << std::bit_cast<uint32_t>(values[i]);
    }
  }
}

TEST(View16Bit, ViewsAlignedRawHalfWidthDataWithoutACopy) {
  const std::vector<uint16_t> bits = {0x3f80, 0xc000, 0x0001};
  v1::Tensor tensor = RawTensor(v1::DTYPE_BFLOAT16, bits.data(), 3, 2);
  std::vector<int64_t> shape;
  absl::Span<const uint16_t> view;
  absl::StatusOr<bool> viewed = View16Bit(tensor, "input", &shape, &view);
  ASSERT_TRUE(viewed.ok());
  ASSERT_TRUE(*viewed);
  EXPECT_EQ(shape, std::vector<int64_t>{3});
  EXPECT_EQ(reinterpret_cast<const char*>(view.data()), tensor.raw().data());
  EXPECT_EQ(std::vector<uint16_t>(view.begin(), view.end()), bits);
}

TEST(View16Bit, LeavesOtherTensorsToDecode) {
  std::vector<int64_t> shape;
  absl::Span<const uint16_t> view;
  const float value = 1;
  v1::Tensor float32 = RawTensor(v1::DTYPE_FLOAT32, &value, 1, 4);
  EXPECT_FALSE(*View16Bit(float32, "input", &shape, &view));
  v1::Tensor typed;
  typed.set_dtype(v1::DTYPE_FLOAT16);
  typed.add_shape(1);
  typed.add_float_values(1.5f);
  EXPECT_FALSE(*View16Bit(typed, "input", &shape, &view));
  EXPECT_TRUE(shape.empty());
}

TEST(View16Bit, RejectsByteCountsThatDisagreeWithTheShape) {
  const uint16_t bits[2] = {1, 2};
  v1::Tensor tensor = RawTensor(v1::DTYPE_FLOAT16, bits, 2, 2);
  tensor.set_shape(0, 3);
  std::vector<int64_t> shape;
  absl::Span<const uint16_t> view;
  absl::StatusOr<bool> viewed = View16Bit(tensor, "input", &shape, &view);
  ASSERT_FALSE(viewed.ok());
  EXPECT_NE(viewed.status().message().find("input.raw has 4 bytes"),
            absl::string_view::npos)
      << viewed.status();
}

INSTANTIATE_TEST_SUITE_P(BFloat16AndFloat16, HalfWidthCodec,
                         ::testing::Values(v1::DTYPE_BFLOAT16,
                                           v1::DTYPE_FLOAT16));

}  // namespace
}  // namespace lossd::server
