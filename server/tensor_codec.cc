#include "tensor_codec.h"

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

// Converts one element of `dtype` at `bytes` to T.
template <typename T>
T ReadElement(const char* bytes, v1::DType dtype) {
  switch (dtype) {
    case v1::DTYPE_FLOAT32: {
      float v;
      std::memcpy(&v, bytes, sizeof v);
      return static_cast<T>(v);
    }
    case v1::DTYPE_FLOAT64: {
      double v;
      std::memcpy(&v, bytes, sizeof v);
      return static_cast<T>(v);
    }
    case v1::DTYPE_BFLOAT16: {
      uint16_t bits;
      std::memcpy(&bits, bytes, sizeof bits);
      return static_cast<T>(
          static_cast<float>(Eigen::numext::bit_cast<Eigen::bfloat16>(bits)));
    }
    case v1::DTYPE_FLOAT16: {
      uint16_t bits;
      std::memcpy(&bits, bytes, sizeof bits);
      return static_cast<T>(
          static_cast<float>(Eigen::numext::bit_cast<Eigen::half>(bits)));
    }
    case v1::DTYPE_INT32: {
      int32_t v;
      std::memcpy(&v, bytes, sizeof v);
      return static_cast<T>(v);
    }
    case v1::DTYPE_INT64: {
      int64_t v;
      std::memcpy(&v, bytes, sizeof v);
      return static_cast<T>(v);
    }
    case v1::DTYPE_UINT8:
    case v1::DTYPE_BOOL:
      return static_cast<T>(static_cast<uint8_t>(*bytes));
    default:
      return T(0);
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
  int64_t count = 1;
  out->shape_.assign(tensor.shape().begin(), tensor.shape().end());
  for (int i = 0; i < tensor.shape_size(); ++i) {
    const int64_t d = tensor.shape(i);
    if (d < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".shape[", i, "] = ", d, " is negative"));
    }
    if (__builtin_mul_overflow(count, d, &count) || count > kMaxElements) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".shape is too large"));
    }
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
    out->storage_.resize(count);
    for (int64_t i = 0; i < count; ++i) {
      out->storage_[i] = ReadElement<T>(raw.data() + i * element_size, dtype);
    }
    out->values_ = out->storage_;
    return absl::OkStatus();
  }

  auto copy_values = [&](const auto& values) -> absl::Status {
    if (values.size() != count) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, " has ", values.size(), " values but shape [",
                       absl::StrJoin(out->shape_, ", "), "] needs ", count));
    }
    out->storage_.assign(values.begin(), values.end());
    out->values_ = out->storage_;
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
  const size_t element_size = DTypeSize(dtype);
  raw->resize(values.size() * element_size);
  char* out = raw->data();
  for (size_t i = 0; i < values.size(); ++i, out += element_size) {
    switch (dtype) {
      case v1::DTYPE_FLOAT64: {
        const double v = static_cast<double>(values[i]);
        std::memcpy(out, &v, sizeof v);
        break;
      }
      case v1::DTYPE_BFLOAT16: {
        const uint16_t bits = Eigen::numext::bit_cast<uint16_t>(
            Eigen::bfloat16(static_cast<float>(values[i])));
        std::memcpy(out, &bits, sizeof bits);
        break;
      }
      case v1::DTYPE_FLOAT16: {
        const uint16_t bits = Eigen::numext::bit_cast<uint16_t>(
            Eigen::half(static_cast<float>(values[i])));
        std::memcpy(out, &bits, sizeof bits);
        break;
      }
      default: {  // FLOAT32
        const float v = static_cast<float>(values[i]);
        std::memcpy(out, &v, sizeof v);
        break;
      }
    }
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
