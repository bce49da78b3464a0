// How `lossctl compute` shows a ComputeResponse and writes its gradient.

#ifndef LOSSCTL_RESPONSE_PRINTER_H_
#define LOSSCTL_RESPONSE_PRINTER_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "lossd/v1/loss_service.pb.h"

namespace lossctl {

// Aligned "name value" lines: the loss, the reduction, the statistics, the
// per-example losses when present, and where the gradient went when
// `grad_path` is set. Numbers in %.8g, enough for float32.
absl::StatusOr<std::string> ResponseAsText(
    const lossd::v1::ComputeResponse& response, const std::string& grad_path);

// One JSON object with the same content; floats in full precision;
// "grad_input" only when `include_grad`.
absl::StatusOr<std::string> ResponseAsJson(
    const lossd::v1::ComputeResponse& response, bool include_grad);

// Writes grad_input to `path`: .npy when it ends in .npy, JSON otherwise
// ("-" is stdout). FailedPrecondition when the response has no gradient.
absl::Status WriteGradient(const lossd::v1::ComputeResponse& response,
                           const std::string& path);

}  // namespace lossctl

#endif  // LOSSCTL_RESPONSE_PRINTER_H_
