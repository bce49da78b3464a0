// Wire tensors (lossd.v1.Tensor) to and from typed numbers. This file and
// conversion.cc are the only code that knows both the wire and the library.

#ifndef LOSSD_SERVER_TENSOR_CODEC_H_
#define LOSSD_SERVER_TENSOR_CODEC_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "lossd/types.h"
#include "lossd/v1/tensor.pb.h"

namespace lossd::server {

// The size in bytes of one element of `dtype`, or 0 for DTYPE_UNSPECIFIED.
size_t DTypeSize(v1::DType dtype);
bool IsFloating(v1::DType dtype);
bool IsInteger(v1::DType dtype);  // INT32, INT64, UINT8 and BOOL.

// The dtype a tensor's data is in: `dtype`, or the one its typed field
// implies when `dtype` is unspecified. Checks that exactly one data field is
// set (or none, for an empty tensor) and that it agrees with `dtype`.
// `field` names the tensor in errors ("target").
absl::Status ResolveDType(const v1::Tensor& tensor, absl::string_view field,
                          v1::DType* dtype);

// A tensor's values as T: a view of the request's bytes when they already
// are T (aligned, little-endian), else a converted copy. Lives no longer
// than the request it decodes.
template <typename T>
class Decoded {
 public:
  TensorView<T> view() const { return {values_, shape_}; }
  absl::Span<const T> values() const { return values_; }
  const std::vector<int64_t>& shape() const { return shape_; }

 private:
  template <typename U>
  friend absl::Status Decode(const v1::Tensor&, absl::string_view, Decoded<U>*);
  std::vector<int64_t> shape_;
  // Converted values; not a std::vector, whose resize would first zero the
  // memory the conversion then overwrites.
  std::unique_ptr<T[]> storage_;
  absl::Span<const T> values_;
};

// Decodes `tensor` into T (float, double or int64_t). Floating T accepts
// every numeric dtype; int64_t accepts the integer dtypes only. Errors are
// InvalidArgument naming `field`: missing or conflicting data, negative or
// overflowing shapes, byte or value counts that disagree with the shape.
template <typename T>
absl::Status Decode(const v1::Tensor& tensor, absl::string_view field,
                    Decoded<T>* out);

// A raw BFLOAT16 or FLOAT16 tensor's values as their 16-bit patterns,
// without a copy: `bits` views the tensor's bytes and lives no longer. True
// if viewed; false (outputs untouched) when the tensor is not raw 16-bit
// data or its bytes are not 2-aligned, and Decode should be used. Errors are
// Decode's.
absl::StatusOr<bool> View16Bit(const v1::Tensor& tensor,
                               absl::string_view field,
                               std::vector<int64_t>* shape,
                               absl::Span<const uint16_t>* bits);

// Writes `values` with `shape` into `tensor` as raw little-endian `dtype`
// (FLOAT32, FLOAT64, BFLOAT16 or FLOAT16).
template <typename T>
void Encode(absl::Span<const T> values, absl::Span<const int64_t> shape,
            v1::DType dtype, v1::Tensor* tensor);

// Makes `tensor` a raw tensor of `count` elements of T and returns its
// buffer, so that results are written straight into the response. Returns
// nullptr when the buffer is not aligned for T (callers then use Encode).
template <typename T>
T* AllocateRaw(int64_t count, absl::Span<const int64_t> shape, v1::DType dtype,
               v1::Tensor* tensor);

}  // namespace lossd::server

#endif  // LOSSD_SERVER_TENSOR_CODEC_H_
