#include "tensor_codec.h"

#include <cpuid.h>
#include <immintrin.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <type_traits>

#include "Eigen/Core"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace lossd::server {

// Raw tensors are little-endian; this build reads them with plain copies.
static_assert(std::endian::native == std::endian::little,
              "tensor_codec assumes a little-endian host");

namespace {

constexpr int64_t kMaxElements = int64_t{1} << 48;

std::string DTypeName(v1::DType dtype) { return v1::DType_Name(dtype); }

// Conversions run one loop per wire dtype, with the dtype decided outside
// the loop, so that each loop is a plain element-wise map the compiler
// vectorises: a switch per element cost as much as gRPC's own work on a
// 4 MiB bfloat16 request.

// Reads `count` elements of type Wire at `bytes` (any alignment) into `out`,
// each through `convert`.
template <typename Wire, typename T, typename Convert>
inline void ReadAll(const char* bytes, int64_t count, T* out, Convert convert) {
  for (int64_t i = 0; i < count; ++i) {
    Wire value;
    std::memcpy(&value, bytes + i * int64_t{sizeof(Wire)}, sizeof(Wire));
    out[i] = static_cast<T>(convert(value));
  }
}

// Writes `count` values as Wire elements at `bytes`, each through `convert`.
template <typename Wire, typename T, typename Convert>
inline void WriteAll(const T* values, int64_t count, char* bytes,
                     Convert convert) {
  for (int64_t i = 0; i < count; ++i) {
    const Wire value = convert(values[i]);
    std::memcpy(bytes + i * int64_t{sizeof(Wire)}, &value, sizeof(Wire));
  }
}

inline float BFloat16BitsToFloat(uint16_t bits) {
  return std::bit_cast<float>(static_cast<uint32_t>(bits) << 16);
}

// Round to nearest even, as Eigen::bfloat16(float), written without a
// branch: NaN becomes the quiet NaN of its sign (0x7fc0 or 0xffc0).
inline uint16_t FloatToBFloat16Bits(float value) {
  const uint32_t bits = std::bit_cast<uint32_t>(value);
  const uint32_t rounded = (bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16;
  const uint32_t quiet_nan = ((bits >> 16) & 0x8000u) | 0x7fc0u;
  return static_cast<uint16_t>(value != value ? quiet_nan : rounded);
}

float HalfBitsToFloat(uint16_t bits) {
  return static_cast<float>(Eigen::numext::bit_cast<Eigen::half>(bits));
}

uint16_t FloatToHalfBits(float value) {
  return Eigen::numext::bit_cast<uint16_t>(Eigen::half(value));
}

// float16 with the F16C instructions where the CPU has them (chosen at run
// time, so the binary stays portable); they round to nearest even as
// Eigen::half does.
__attribute__((target("avx,f16c"))) void HalfToFloatF16c(const char* bytes,
                                                         int64_t count,
                                                         float* out) {
  int64_t i = 0;
  for (; i + 8 <= count; i += 8) {
    const __m128i half =
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(bytes + 2 * i));
    _mm256_storeu_ps(out + i, _mm256_cvtph_ps(half));
  }
  ReadAll<uint16_t>(bytes + 2 * i, count - i, out + i, HalfBitsToFloat);
}

__attribute__((target("avx,f16c"))) void FloatToHalfF16c(const float* values,
                                                         int64_t count,
                                                         char* bytes) {
  int64_t i = 0;
  for (; i + 8 <= count; i += 8) {
    const __m128i half =
        _mm256_cvtps_ph(_mm256_loadu_ps(values + i), _MM_FROUND_TO_NEAREST_INT);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(bytes + 2 * i), half);
  }
  WriteAll<uint16_t>(values + i, count - i, bytes + 2 * i, FloatToHalfBits);
}

bool HasF16c() {
  // clang 14's __builtin_cpu_supports does not know "f16c": ask cpuid. The
  // "avx" check also covers the OS saving the AVX registers.
  static const bool has = [] {
    unsigned eax, ebx, ecx, edx;
    return __builtin_cpu_supports("avx") &&
           __get_cpuid(1, &eax, &ebx, &ecx, &edx) != 0 && (ecx & bit_F16C) != 0;
  }();
  return has;
}

// bfloat16 <-> float32: the same loops compiled twice, for the baseline
// x86-64 (SSE2, where narrowing to 16 bits vectorises poorly) and for AVX2,
// chosen at run time.
void BFloat16ToFloatBaseline(const char* bytes, int64_t count, float* out) {
  ReadAll<uint16_t>(bytes, count, out, BFloat16BitsToFloat);
}
__attribute__((target("avx2"))) void BFloat16ToFloatAvx2(const char* bytes,
                                                         int64_t count,
                                                         float* out) {
  ReadAll<uint16_t>(bytes, count, out, BFloat16BitsToFloat);
}
void FloatToBFloat16Baseline(const float* values, int64_t count, char* bytes) {
  WriteAll<uint16_t>(values, count, bytes, FloatToBFloat16Bits);
}
__attribute__((target("avx2"))) void FloatToBFloat16Avx2(const float* values,
                                                         int64_t count,
                                                         char* bytes) {
  WriteAll<uint16_t>(values, count, bytes, FloatToBFloat16Bits);
}

bool HasAvx2() {
  static const bool has = __builtin_cpu_supports("avx2");
  return has;
}

// Converts `count` elements of `dtype` at `bytes` to T.
template <typename T>
void ReadElements(const char* bytes, v1::DType dtype, int64_t count, T* out) {
  const auto same = [](auto v) { return v; };
  switch (dtype) {
    case v1::DTYPE_FLOAT32:
      return ReadAll<float>(bytes, count, out, same);
    case v1::DTYPE_FLOAT64:
      return ReadAll<double>(bytes, count, out, same);
    case v1::DTYPE_BFLOAT16:
      if constexpr (std::is_same_v<T, float>) {
        return HasAvx2() ? BFloat16ToFloatAvx2(bytes, count, out)
                         : BFloat16ToFloatBaseline(bytes, count, out);
      }
      return ReadAll<uint16_t>(bytes, count, out, BFloat16BitsToFloat);
    case v1::DTYPE_FLOAT16:
      if constexpr (std::is_same_v<T, float>) {
        if (HasF16c()) return HalfToFloatF16c(bytes, count, out);
      }
      return ReadAll<uint16_t>(bytes, count, out, HalfBitsToFloat);
    case v1::DTYPE_INT32:
      return ReadAll<int32_t>(bytes, count, out, same);
    case v1::DTYPE_INT64:
      return ReadAll<int64_t>(bytes, count, out, same);
    case v1::DTYPE_UINT8:
    case v1::DTYPE_BOOL:
      return ReadAll<uint8_t>(bytes, count, out, same);
    default:
      std::fill(out, out + count, T(0));
  }
}

template <typename T>
constexpr v1::DType NativeDType() {
  if constexpr (std::is_same_v<T, float>) return v1::DTYPE_FLOAT32;
  if constexpr (std::is_same_v<T, double>) return v1::DTYPE_FLOAT64;
  return v1::DTYPE_INT64;
}

}  // namespace

size_t DTypeSize(v1::DType dtype) {
  switch (dtype) {
    case v1::DTYPE_FLOAT64:
    case v1::DTYPE_INT64:
      return 8;
    case v1::DTYPE_FLOAT32:
    case v1::DTYPE_INT32:
      return 4;
    case v1::DTYPE_BFLOAT16:
    case v1::DTYPE_FLOAT16:
      return 2;
    case v1::DTYPE_UINT8:
    case v1::DTYPE_BOOL:
      return 1;
    default:
      return 0;
  }
}

bool IsFloating(v1::DType dtype) {
  return dtype == v1::DTYPE_FLOAT32 || dtype == v1::DTYPE_FLOAT64 ||
         dtype == v1::DTYPE_BFLOAT16 || dtype == v1::DTYPE_FLOAT16;
}

bool IsInteger(v1::DType dtype) {
  return dtype == v1::DTYPE_INT32 || dtype == v1::DTYPE_INT64 ||
         dtype == v1::DTYPE_UINT8 || dtype == v1::DTYPE_BOOL;
}

absl::Status ResolveDType(const v1::Tensor& tensor, absl::string_view field,
                          v1::DType* dtype) {
  std::vector<absl::string_view> set;
  if (!tensor.raw().empty()) set.push_back("raw");
  if (tensor.float_values_size() > 0) set.push_back("float_values");
  if (tensor.double_values_size() > 0) set.push_back("double_values");
  if (tensor.int64_values_size() > 0) set.push_back("int64_values");
  if (set.size() > 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": only one data field may be set, got ",
                     absl::StrJoin(set, " and ")));
  }
  if (!v1::DType_IsValid(tensor.dtype())) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ".dtype ", tensor.dtype(), " is not a DType"));
  }
  *dtype = tensor.dtype();
  if (set.empty() || set[0] == "raw") {
    if (*dtype == v1::DTYPE_UNSPECIFIED) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".dtype is required with raw data"));
    }
    return absl::OkStatus();
  }
  // Typed values: which dtypes each field can carry.
  std::vector<v1::DType> allowed;
  if (set[0] == "float_values") {
    allowed = {v1::DTYPE_FLOAT32, v1::DTYPE_BFLOAT16, v1::DTYPE_FLOAT16};
  } else if (set[0] == "double_values") {
    allowed = {v1::DTYPE_FLOAT64};
  } else {
    allowed = {v1::DTYPE_INT64, v1::DTYPE_INT32, v1::DTYPE_UINT8,
               v1::DTYPE_BOOL};
  }
  if (*dtype == v1::DTYPE_UNSPECIFIED) {
    *dtype = allowed[0];
    return absl::OkStatus();
  }
  for (v1::DType candidate : allowed) {
    if (candidate == *dtype) return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat(
      field, ".", set[0], " cannot carry ", DTypeName(*dtype), " data"));
}

namespace {

// The tensor's shape and element count, checked: no negative dimension, no
// overflow.
absl::Status ParseShape(const v1::Tensor& tensor, absl::string_view field,
                        std::vector<int64_t>* shape, int64_t* count) {
  *count = 1;
  shape->assign(tensor.shape().begin(), tensor.shape().end());
  for (int i = 0; i < tensor.shape_size(); ++i) {
    const int64_t d = tensor.shape(i);
    if (d < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".shape[", i, "] = ", d, " is negative"));
    }
    if (__builtin_mul_overflow(*count, d, count) || *count > kMaxElements) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".shape is too large"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<bool> View16Bit(const v1::Tensor& tensor,
                               absl::string_view field,
                               std::vector<int64_t>* shape,
                               absl::Span<const uint16_t>* bits) {
  v1::DType dtype;
  if (absl::Status s = ResolveDType(tensor, field, &dtype); !s.ok()) return s;
  if ((dtype != v1::DTYPE_BFLOAT16 && dtype != v1::DTYPE_FLOAT16) ||
      tensor.float_values_size() > 0) {
    return false;
  }
  std::vector<int64_t> parsed;
  int64_t count;
  if (absl::Status s = ParseShape(tensor, field, &parsed, &count); !s.ok()) {
    return s;
  }
  const std::string& raw = tensor.raw();
  if (raw.size() != static_cast<uint64_t>(count) * 2) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ".raw has ", raw.size(), " bytes but shape [",
                     absl::StrJoin(parsed, ", "), "] of ", DTypeName(dtype),
                     " needs ", static_cast<uint64_t>(count) * 2));
  }
  if (reinterpret_cast<uintptr_t>(raw.data()) % alignof(uint16_t) != 0) {
    return false;
  }
  *shape = std::move(parsed);
  *bits = absl::MakeConstSpan(reinterpret_cast<const uint16_t*>(raw.data()),
                              static_cast<size_t>(count));
  return true;
}

template <typename T>
absl::Status Decode(const v1::Tensor& tensor, absl::string_view field,
                    Decoded<T>* out) {
  v1::DType dtype;
  if (absl::Status s = ResolveDType(tensor, field, &dtype); !s.ok()) return s;
  if (std::is_floating_point_v<T> ? !(IsFloating(dtype) || IsInteger(dtype))
                                  : !IsInteger(dtype)) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ".dtype ", DTypeName(dtype), " is not ",
        std::is_floating_point_v<T> ? "numeric" : "an integer type"));
  }
  int64_t count;
  if (absl::Status s = ParseShape(tensor, field, &out->shape_, &count);
      !s.ok()) {
    return s;
  }

  const std::string& raw = tensor.raw();
  if (tensor.float_values_size() + tensor.double_values_size() +
          tensor.int64_values_size() ==
      0) {
    const size_t element_size = DTypeSize(dtype);
    if (raw.size() != static_cast<uint64_t>(count) * element_size) {
      return absl::InvalidArgumentError(absl::StrCat(
          field, ".raw has ", raw.size(), " bytes but shape [",
          absl::StrJoin(out->shape_, ", "), "] of ", DTypeName(dtype),
          " needs ", static_cast<uint64_t>(count) * element_size));
    }
    if (dtype == NativeDType<T>() &&
        reinterpret_cast<uintptr_t>(raw.data()) % alignof(T) == 0) {
      // Zero-copy: the bytes already are aligned little-endian T.
      out->values_ = absl::MakeConstSpan(reinterpret_cast<const T*>(raw.data()),
                                         static_cast<size_t>(count));
      return absl::OkStatus();
    }
    out->storage_.reset(new T[count]);
    ReadElements(raw.data(), dtype, count, out->storage_.get());
    out->values_ = absl::MakeConstSpan(out->storage_.get(), count);
    return absl::OkStatus();
  }

  auto copy_values = [&](const auto& values) -> absl::Status {
    if (values.size() != count) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, " has ", values.size(), " values but shape [",
                       absl::StrJoin(out->shape_, ", "), "] needs ", count));
    }
    out->storage_.reset(new T[count]);
    std::copy(values.begin(), values.end(), out->storage_.get());
    out->values_ = absl::MakeConstSpan(out->storage_.get(), count);
    return absl::OkStatus();
  };
  if (tensor.float_values_size() > 0) return copy_values(tensor.float_values());
  if (tensor.double_values_size() > 0) {
    return copy_values(tensor.double_values());
  }
  return copy_values(tensor.int64_values());
}

template <typename T>
void Encode(absl::Span<const T> values, absl::Span<const int64_t> shape,
            v1::DType dtype, v1::Tensor* tensor) {
  tensor->set_dtype(dtype);
  tensor->mutable_shape()->Assign(shape.begin(), shape.end());
  std::string* raw = tensor->mutable_raw();
  const int64_t count = static_cast<int64_t>(values.size());
  raw->resize(values.size() * DTypeSize(dtype));
  char* out = raw->data();
  const auto as_float = [](T v) { return static_cast<float>(v); };
  switch (dtype) {
    case v1::DTYPE_FLOAT64:
      return WriteAll<double>(values.data(), count, out,
                              [](T v) { return static_cast<double>(v); });
    case v1::DTYPE_BFLOAT16:
      if constexpr (std::is_same_v<T, float>) {
        return HasAvx2() ? FloatToBFloat16Avx2(values.data(), count, out)
                         : FloatToBFloat16Baseline(values.data(), count, out);
      }
      return WriteAll<uint16_t>(values.data(), count, out, [&](T v) {
        return FloatToBFloat16Bits(as_float(v));
      });
    case v1::DTYPE_FLOAT16:
      if constexpr (std::is_same_v<T, float>) {
        if (HasF16c()) return FloatToHalfF16c(values.data(), count, out);
      }
      return WriteAll<uint16_t>(values.data(), count, out, [&](T v) {
        return FloatToHalfBits(as_float(v));
      });
    default:  // FLOAT32
      return WriteAll<float>(values.data(), count, out, as_float);
  }
}

template <typename T>
T* AllocateRaw(int64_t count, absl::Span<const int64_t> shape, v1::DType dtype,
               v1::Tensor* tensor) {
  if (dtype != NativeDType<T>()) return nullptr;
  tensor->set_dtype(dtype);
  tensor->mutable_shape()->Assign(shape.begin(), shape.end());
  std::string* raw = tensor->mutable_raw();
  raw->resize(static_cast<size_t>(count) * sizeof(T));
  if (reinterpret_cast<uintptr_t>(raw->data()) % alignof(T) != 0) {
    raw->clear();
    return nullptr;
  }
  return reinterpret_cast<T*>(raw->data());
}

template absl::Status Decode<float>(const v1::Tensor&, absl::string_view,
                                    Decoded<float>*);
template absl::Status Decode<double>(const v1::Tensor&, absl::string_view,
                                     Decoded<double>*);
template absl::Status Decode<int64_t>(const v1::Tensor&, absl::string_view,
                                      Decoded<int64_t>*);
template void Encode<float>(absl::Span<const float>, absl::Span<const int64_t>,
                            v1::DType, v1::Tensor*);
template void Encode<double>(absl::Span<const double>,
                             absl::Span<const int64_t>, v1::DType, v1::Tensor*);
template float* AllocateRaw<float>(int64_t, absl::Span<const int64_t>,
                                   v1::DType, v1::Tensor*);
template double* AllocateRaw<double>(int64_t, absl::Span<const int64_t>,
                                     v1::DType, v1::Tensor*);

}  // namespace lossd::server
