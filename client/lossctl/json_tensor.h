// Tensors written as JSON: nested arrays whose nesting gives the shape
// ([[0.9, 0.1], [0.1, 0.9]] is [2, 2]), a bare number (a scalar), or the
// explicit form {"dtype": "int64", "shape": [3], "data": [0, 1, 0]} where
// data may be flat or nested.

#ifndef LOSSCTL_JSON_TENSOR_H_
#define LOSSCTL_JSON_TENSOR_H_

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "host_tensor.h"
#include "nlohmann/json.hpp"

namespace lossctl {

// A tensor read from JSON whose dtype may not be decided yet: integer
// leaves can be class indices or a one-hot target, which only the request
// around them tells apart.
struct JsonTensor {
  std::vector<int64_t> shape;
  std::vector<double> values;
  // Set when every leaf is written as an integer (1, not 1.0): then
  // `integers` holds them exactly.
  bool all_integers = true;
  std::vector<int64_t> integers;
  // Set when every leaf is true or false (and there is at least one).
  bool all_booleans = false;
  // The dtype of the explicit form, if given.
  std::optional<v1::DType> dtype;
};

// Reads `value`. Errors name `field` and the path of the first offending
// element ("target[1]: expected 2 elements like target[0], got 3").
absl::StatusOr<JsonTensor> ParseJsonTensor(const nlohmann::json& value,
                                           absl::string_view field);

// Encodes as `dtype`. Integer dtypes need integer leaves; BOOL needs 0/1.
absl::StatusOr<HostTensor> ToHostTensor(const JsonTensor& tensor,
                                        v1::DType dtype,
                                        absl::string_view field);

// Nested arrays of the tensor's values (a bare number for a scalar).
// float32, bfloat16 and float16 values are written in their shortest
// round-trip form (0.1f as 0.1, not 0.10000000149011612).
nlohmann::json TensorToJson(const HostTensor& tensor);

}  // namespace lossctl

#endif  // LOSSCTL_JSON_TENSOR_H_
