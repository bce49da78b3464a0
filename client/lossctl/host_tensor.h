// HostTensor: a dense tensor as lossctl holds it, the wire's raw layout
// (little-endian, row-major bytes) plus its dtype and shape. Every input
// format (JSON, .npy) is read into one, and every output written from one.

#ifndef LOSSCTL_HOST_TENSOR_H_
#define LOSSCTL_HOST_TENSOR_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "lossd/v1/tensor.pb.h"

namespace lossctl {

namespace v1 = ::lossd::v1;

struct HostTensor {
  v1::DType dtype = v1::DTYPE_FLOAT32;
  std::vector<int64_t> shape;
  // Exactly ElementCount() * DTypeSize(dtype) bytes, little-endian, C order.
  std::string bytes;

  int64_t ElementCount() const;
};

// Bytes per element, or 0 for DTYPE_UNSPECIFIED and unknown values.
size_t DTypeSize(v1::DType dtype);
bool IsFloatingDType(v1::DType dtype);

// The short name used on the command line and in JSON: "float32", "int64".
absl::string_view DTypeShortName(v1::DType dtype);
// Accepts the short names, numpy's ("f4", "uint8", "bool") and the enum's
// ("DTYPE_FLOAT32"), case-insensitively.
absl::StatusOr<v1::DType> ParseDTypeName(absl::string_view name);

// product(shape), or InvalidArgument for a negative dimension or a product
// past 2^48 elements (no real batch is that large; it guards the arithmetic).
absl::StatusOr<int64_t> CheckedElementCount(absl::Span<const int64_t> shape);

// Every element as a double (bfloat16 and float16 widened exactly).
std::vector<double> ToDoubles(const HostTensor& tensor);

// Encodes `values` as `dtype` (rounding to nearest for narrower floats,
// truncating toward zero for integers). `values.size()` must equal the
// product of `shape`.
HostTensor FromDoubles(absl::Span<const double> values,
                       std::vector<int64_t> shape, v1::DType dtype);

// A wire tensor (raw or typed values) as a HostTensor, checking that the
// data agrees with the shape. `field` names the tensor in errors.
absl::StatusOr<HostTensor> FromProto(const v1::Tensor& tensor,
                                     absl::string_view field);
// Writes `tensor` as raw bytes (the fast path of the contract).
void ToProto(const HostTensor& tensor, v1::Tensor* out);

// "[3, 2]".
std::string ShapeText(absl::Span<const int64_t> shape);

}  // namespace lossctl

#endif  // LOSSCTL_HOST_TENSOR_H_
