// A tensor named on the command line or in a request document: inline JSON,
// a JSON, CSV or .npy file.

#ifndef LOSSCTL_TENSOR_ARGUMENT_H_
#define LOSSCTL_TENSOR_ARGUMENT_H_

#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "host_tensor.h"
#include "json_tensor.h"
#include "nlohmann/json.hpp"

namespace lossctl {

// Exactly one member is set: `exact` for a .npy file (its dtype is final),
// `json` for JSON and CSV (the request decides integer versus floating).
struct TensorArgument {
  std::optional<HostTensor> exact;
  std::optional<JsonTensor> json;

  const std::vector<int64_t>& shape() const {
    return exact ? exact->shape : json->shape;
  }
};

// `text` is "@path" (a .npy file by its magic, CSV if the path ends in
// .csv, else JSON), a path ending in .npy, .csv or .json, or inline JSON
// such as "[[1, 2], [3, 4]]".
absl::StatusOr<TensorArgument> ReadTensorArgument(absl::string_view text,
                                                  absl::string_view field);

// A tensor inside a JSON request document: a string is a path (as above),
// anything else is the tensor itself.
absl::StatusOr<TensorArgument> TensorArgumentFromJson(
    const nlohmann::json& value, absl::string_view field);

// Reads inline JSON text, or the file named by "@path".
absl::StatusOr<nlohmann::json> ReadJsonArgument(absl::string_view text,
                                                absl::string_view field);

}  // namespace lossctl

#endif  // LOSSCTL_TENSOR_ARGUMENT_H_
