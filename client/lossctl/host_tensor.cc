#include "host_tensor.h"

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>

#include "Eigen/Core"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace lossctl {

// The wire is little-endian; this client copies bytes as they are.
static_assert(std::endian::native == std::endian::little,
              "lossctl assumes a little-endian host");

namespace {

constexpr int64_t kMaxElements = int64_t{1} << 48;

template <typename T>
T Load(const char* bytes) {
  T value;
  std::memcpy(&value, bytes, sizeof value);
  return value;
}

template <typename T>
void Store(T value, char* bytes) {
  std::memcpy(bytes, &value, sizeof value);
}

double ReadElement(const char* bytes, v1::DType dtype) {
  switch (dtype) {
    case v1::DTYPE_FLOAT32:
      return Load<float>(bytes);
    case v1::DTYPE_FLOAT64:
      return Load<double>(bytes);
    case v1::DTYPE_BFLOAT16:
      return static_cast<float>(
          Eigen::numext::bit_cast<Eigen::bfloat16>(Load<uint16_t>(bytes)));
    case v1::DTYPE_FLOAT16:
      return static_cast<float>(
          Eigen::numext::bit_cast<Eigen::half>(Load<uint16_t>(bytes)));
    case v1::DTYPE_INT32:
      return Load<int32_t>(bytes);
    case v1::DTYPE_INT64:
      return static_cast<double>(Load<int64_t>(bytes));
    case v1::DTYPE_UINT8:
    case v1::DTYPE_BOOL:
      return static_cast<uint8_t>(*bytes);
    default:
      return 0;
  }
}

// Integers saturate rather than overflow (a cast of an out-of-range double
// is undefined behaviour).
template <typename T>
T SaturatingCast(double value) {
  if (std::isnan(value)) return 0;
  const double low = static_cast<double>(std::numeric_limits<T>::lowest());
  const double high = static_cast<double>(std::numeric_limits<T>::max());
  if (value <= low) return std::numeric_limits<T>::lowest();
  if (value >= high) return std::numeric_limits<T>::max();
  return static_cast<T>(value);
}

void WriteElement(double value, v1::DType dtype, char* bytes) {
  switch (dtype) {
    case v1::DTYPE_FLOAT32:
      return Store(static_cast<float>(value), bytes);
    case v1::DTYPE_FLOAT64:
      return Store(value, bytes);
    case v1::DTYPE_BFLOAT16:
      return Store(Eigen::numext::bit_cast<uint16_t>(
                       Eigen::bfloat16(static_cast<float>(value))),
                   bytes);
    case v1::DTYPE_FLOAT16:
      return Store(Eigen::numext::bit_cast<uint16_t>(
                       Eigen::half(static_cast<float>(value))),
                   bytes);
    case v1::DTYPE_INT32:
      return Store(SaturatingCast<int32_t>(value), bytes);
    case v1::DTYPE_INT64:
      return Store(SaturatingCast<int64_t>(value), bytes);
    case v1::DTYPE_UINT8:
      return Store(SaturatingCast<uint8_t>(value), bytes);
    case v1::DTYPE_BOOL:
      return Store(static_cast<uint8_t>(value != 0), bytes);
    default:
      return;
  }
}

}  // namespace

int64_t HostTensor::ElementCount() const {
  int64_t count = 1;
  for (int64_t d : shape) count *= d;
  return count;
}

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

bool IsFloatingDType(v1::DType dtype) {
  return dtype == v1::DTYPE_FLOAT32 || dtype == v1::DTYPE_FLOAT64 ||
         dtype == v1::DTYPE_BFLOAT16 || dtype == v1::DTYPE_FLOAT16;
}

absl::string_view DTypeShortName(v1::DType dtype) {
  switch (dtype) {
    case v1::DTYPE_FLOAT32:
      return "float32";
    case v1::DTYPE_FLOAT64:
      return "float64";
    case v1::DTYPE_BFLOAT16:
      return "bfloat16";
    case v1::DTYPE_FLOAT16:
      return "float16";
    case v1::DTYPE_INT32:
      return "int32";
    case v1::DTYPE_INT64:
      return "int64";
    case v1::DTYPE_UINT8:
      return "uint8";
    case v1::DTYPE_BOOL:
      return "bool";
    default:
      return "unspecified";
  }
}

absl::StatusOr<v1::DType> ParseDTypeName(absl::string_view name) {
  std::string lower = absl::AsciiStrToLower(name);
  if (absl::StartsWith(lower, "dtype_")) lower = lower.substr(6);
  struct Alias {
    absl::string_view name;
    v1::DType dtype;
  };
  static constexpr Alias kAliases[] = {
      {"float32", v1::DTYPE_FLOAT32},   {"f4", v1::DTYPE_FLOAT32},
      {"float", v1::DTYPE_FLOAT32},     {"float64", v1::DTYPE_FLOAT64},
      {"f8", v1::DTYPE_FLOAT64},        {"double", v1::DTYPE_FLOAT64},
      {"bfloat16", v1::DTYPE_BFLOAT16}, {"bf16", v1::DTYPE_BFLOAT16},
      {"float16", v1::DTYPE_FLOAT16},   {"f2", v1::DTYPE_FLOAT16},
      {"half", v1::DTYPE_FLOAT16},      {"int32", v1::DTYPE_INT32},
      {"i4", v1::DTYPE_INT32},          {"int64", v1::DTYPE_INT64},
      {"i8", v1::DTYPE_INT64},          {"uint8", v1::DTYPE_UINT8},
      {"u1", v1::DTYPE_UINT8},          {"bool", v1::DTYPE_BOOL},
      {"b1", v1::DTYPE_BOOL},
  };
  for (const Alias& alias : kAliases) {
    if (alias.name == lower) return alias.dtype;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown dtype \"", name,
      "\"; use float32, float64, bfloat16, float16, int32, int64, uint8 or "
      "bool"));
}

absl::StatusOr<int64_t> CheckedElementCount(absl::Span<const int64_t> shape) {
  int64_t count = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("shape[", i, "] = ", shape[i], " is negative"));
    }
    if (__builtin_mul_overflow(count, shape[i], &count) ||
        count > kMaxElements) {
      return absl::InvalidArgumentError(
          absl::StrCat("shape ", ShapeText(shape), " is too large"));
    }
  }
  return count;
}

std::vector<double> ToDoubles(const HostTensor& tensor) {
  const size_t size = DTypeSize(tensor.dtype);
  std::vector<double> values(size == 0 ? 0 : tensor.bytes.size() / size);
  for (size_t i = 0; i < values.size(); ++i) {
    values[i] = ReadElement(tensor.bytes.data() + i * size, tensor.dtype);
  }
  return values;
}

HostTensor FromDoubles(absl::Span<const double> values,
                       std::vector<int64_t> shape, v1::DType dtype) {
  HostTensor tensor{.dtype = dtype, .shape = std::move(shape)};
  const size_t size = DTypeSize(dtype);
  tensor.bytes.resize(values.size() * size);
  for (size_t i = 0; i < values.size(); ++i) {
    WriteElement(values[i], dtype, tensor.bytes.data() + i * size);
  }
  return tensor;
}

absl::StatusOr<HostTensor> FromProto(const v1::Tensor& tensor,
                                     absl::string_view field) {
  HostTensor out;
  out.shape.assign(tensor.shape().begin(), tensor.shape().end());
  absl::StatusOr<int64_t> count = CheckedElementCount(out.shape);
  if (!count.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": ", count.status().message()));
  }
  const int typed_fields = (tensor.float_values_size() > 0) +
                           (tensor.double_values_size() > 0) +
                           (tensor.int64_values_size() > 0);
  if (typed_fields + !tensor.raw().empty() > 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " has more than one data field set"));
  }
  auto from_values = [&](const auto& values,
                         v1::DType fallback) -> absl::StatusOr<HostTensor> {
    if (static_cast<int64_t>(values.size()) != *count) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, " has ", values.size(), " values but shape ",
                       ShapeText(out.shape), " needs ", *count));
    }
    std::vector<double> doubles(values.begin(), values.end());
    const v1::DType dtype =
        tensor.dtype() == v1::DTYPE_UNSPECIFIED ? fallback : tensor.dtype();
    return FromDoubles(doubles, out.shape, dtype);
  };
  if (tensor.float_values_size() > 0) {
    return from_values(tensor.float_values(), v1::DTYPE_FLOAT32);
  }
  if (tensor.double_values_size() > 0) {
    return from_values(tensor.double_values(), v1::DTYPE_FLOAT64);
  }
  if (tensor.int64_values_size() > 0) {
    return from_values(tensor.int64_values(), v1::DTYPE_INT64);
  }
  out.dtype = tensor.dtype();
  const size_t size = DTypeSize(out.dtype);
  if (size == 0) {
    if (*count == 0 && tensor.raw().empty()) return out;
    return absl::InvalidArgumentError(
        absl::StrCat(field, " has no valid dtype"));
  }
  if (tensor.raw().size() != static_cast<uint64_t>(*count) * size) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " has ", tensor.raw().size(), " bytes but shape ",
                     ShapeText(out.shape), " of ", DTypeShortName(out.dtype),
                     " needs ", static_cast<uint64_t>(*count) * size));
  }
  out.bytes = tensor.raw();
  return out;
}

void ToProto(const HostTensor& tensor, v1::Tensor* out) {
  out->Clear();
  out->set_dtype(tensor.dtype);
  out->mutable_shape()->Assign(tensor.shape.begin(), tensor.shape.end());
  out->set_raw(tensor.bytes);
}

std::string ShapeText(absl::Span<const int64_t> shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

}  // namespace lossctl
