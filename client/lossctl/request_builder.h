// Builds a lossd.v1.ComputeRequest from what a user wrote: a JSON request
// document and/or command-line flags, tensors as JSON or .npy.

#ifndef LOSSCTL_REQUEST_BUILDER_H_
#define LOSSCTL_REQUEST_BUILDER_H_

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "lossd/v1/loss_service.pb.h"
#include "nlohmann/json.hpp"
#include "tensor_argument.h"

namespace lossctl {

// Everything `lossctl compute` needs to know; unset members take the
// service's defaults.
struct ComputeSpec {
  std::string loss;
  std::optional<TensorArgument> input;
  std::optional<TensorArgument> target;
  std::optional<TensorArgument> sample_weight;
  // Option name -> value, e.g. {"label_smoothing": 0.1,
  // "class_weight": [1, 2, 3]}.
  std::optional<nlohmann::json> options;
  std::optional<v1::Reduction> reduction;
  std::optional<v1::InputKind> input_kind;
  std::optional<int> class_axis;
  // The floating dtype of JSON tensors (.npy files keep their own).
  v1::DType float_dtype = v1::DTYPE_FLOAT32;
  std::optional<v1::DType> grad_dtype;
  std::string request_id;
  bool per_example = false;
  bool grad_input = false;
};

// Fills `spec` from a request document such as
//   {"loss": "cross_entropy", "input": [[4, 2, 1]], "target": [0],
//    "reduction": "none", "options": {"label_smoothing": 0.1}}
// Keys: loss, input, target, sample_weight, options, reduction, input_kind,
// class_axis, dtype, grad_dtype, request_id, per_example, grad_input.
// Tensors may be strings naming files. Unknown keys are errors.
absl::Status ApplyRequestDocument(const nlohmann::json& document,
                                  ComputeSpec* spec);

// "mean", "REDUCTION_MEAN", "batch_mean", ... (case-insensitive).
absl::StatusOr<v1::Reduction> ParseReduction(absl::string_view text);
// "logits", "probabilities", "log_probabilities" or the enum names.
absl::StatusOr<v1::InputKind> ParseInputKind(absl::string_view text);

// Sets the options oneof member of `request` named after `loss` from
// `options`, through reflection, so that new losses and options need no
// change here. Numbers, integers, booleans and per-class tensors (arrays).
absl::Status SetLossOptions(const nlohmann::json& options,
                            v1::ComputeRequest* request);

// Builds the request. JSON targets of integers are class indices (INT64)
// unless they have the input's full shape, which makes them dense (one-hot
// written as [[1, 0], [0, 1]]); the explicit {"dtype": ...} form decides
// otherwise.
absl::StatusOr<v1::ComputeRequest> BuildComputeRequest(const ComputeSpec& spec);

}  // namespace lossctl

#endif  // LOSSCTL_REQUEST_BUILDER_H_
