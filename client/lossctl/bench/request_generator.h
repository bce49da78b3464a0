// Synthetic requests for load tests: a loss, a shape, a dtype and a target
// kind, filled once from a seeded generator (the same seed gives the same
// bytes) and then reused for every call.

#ifndef LOSSCTL_BENCH_REQUEST_GENERATOR_H_
#define LOSSCTL_BENCH_REQUEST_GENERATOR_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "lossd/v1/loss_service.pb.h"
#include "request_builder.h"

namespace lossctl::bench {

struct GeneratorSpec {
  // Loss, options, reduction, input kind, class axis, grad dtype and
  // outputs; its tensors are ignored.
  ComputeSpec request;
  // The input's shape, the class axis included (last unless class_axis).
  std::vector<int64_t> shape = {32, 1000};
  lossd::v1::DType dtype = lossd::v1::DTYPE_FLOAT32;
  // Default: the loss's first accepted kind (from the registry).
  std::optional<lossd::v1::TargetKind> target_kind;
  uint64_t seed = 1;
};

// "256x32000" or "256,32000" -> {256, 32000}.
absl::StatusOr<std::vector<int64_t>> ParseShape(absl::string_view text);
// "class_index" (or "hard"), "probabilities" ("soft"), "multi_label",
// "values", or the enum names.
absl::StatusOr<lossd::v1::TargetKind> ParseTargetKind(absl::string_view text);

// The request: inputs drawn as logits (normal, sd 2), probabilities (a
// softmax over the class axis, or uniform in [0.01, 0.99] for element-wise
// losses) or their logarithms; targets as class indices (uniform), soft
// distributions (softmax of normals), 0/1 labels or normal values. Errors
// for an unknown loss or a target kind the loss does not accept.
absl::StatusOr<lossd::v1::ComputeRequest> GenerateRequest(
    const GeneratorSpec& spec);

}  // namespace lossctl::bench

#endif  // LOSSCTL_BENCH_REQUEST_GENERATOR_H_
