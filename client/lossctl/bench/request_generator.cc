#include "bench/request_generator.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "host_tensor.h"
#include "lossd/registry.h"

namespace lossctl::bench {
namespace {

namespace v1 = ::lossd::v1;

v1::TargetKind ToProto(lossd::TargetKind kind) {
  switch (kind) {
    case lossd::TargetKind::kClassIndex:
      return v1::TARGET_KIND_CLASS_INDEX;
    case lossd::TargetKind::kProbabilities:
      return v1::TARGET_KIND_PROBABILITIES;
    case lossd::TargetKind::kMultiLabel:
      return v1::TARGET_KIND_MULTI_LABEL;
    case lossd::TargetKind::kValues:
      return v1::TARGET_KIND_VALUES;
  }
  return v1::TARGET_KIND_UNSPECIFIED;
}

// Normal and uniform draws written out (Box-Muller on a 64-bit Mersenne
// twister) so that a seed gives the same request with any standard library.
class Draws {
 public:
  explicit Draws(uint64_t seed) : random_(seed) {}
  double Uniform() {  // In (0, 1).
    return (static_cast<double>(random_() >> 11) + 0.5) * 0x1.0p-53;
  }
  double Normal() {
    const double radius = std::sqrt(-2 * std::log(Uniform()));
    return radius * std::cos(2 * M_PI * Uniform());
  }
  int64_t Below(int64_t bound) {
    return static_cast<int64_t>(random_() % static_cast<uint64_t>(bound));
  }

 private:
  std::mt19937_64 random_;
};

// Replaces each run of `classes` values along the class axis (stride
// `inner`) with its softmax.
void SoftmaxAlongClasses(std::vector<double>& values, int64_t outer,
                         int64_t classes, int64_t inner) {
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t i = 0; i < inner; ++i) {
      const int64_t base = o * classes * inner + i;
      double max = -INFINITY;
      for (int64_t c = 0; c < classes; ++c) {
        max = std::max(max, values[base + c * inner]);
      }
      double sum = 0;
      for (int64_t c = 0; c < classes; ++c) {
        double& v = values[base + c * inner];
        v = std::exp(v - max);
        sum += v;
      }
      for (int64_t c = 0; c < classes; ++c) values[base + c * inner] /= sum;
    }
  }
}

}  // namespace

absl::StatusOr<std::vector<int64_t>> ParseShape(absl::string_view text) {
  std::vector<int64_t> shape;
  for (absl::string_view part : absl::StrSplit(text, absl::ByAnyChar("x,X"))) {
    int64_t dimension;
    if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(part), &dimension) ||
        dimension < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--shape \"", text, "\" is not like 256x1000 (sizes >= 0)"));
    }
    shape.push_back(dimension);
  }
  absl::StatusOr<int64_t> count = CheckedElementCount(shape);
  if (!count.ok()) return count.status();
  return shape;
}

absl::StatusOr<v1::TargetKind> ParseTargetKind(absl::string_view text) {
  std::string lower = absl::AsciiStrToLower(text);
  if (absl::StartsWith(lower, "target_kind_")) lower = lower.substr(12);
  if (lower == "class_index" || lower == "hard" || lower == "index") {
    return v1::TARGET_KIND_CLASS_INDEX;
  }
  if (lower == "probabilities" || lower == "soft") {
    return v1::TARGET_KIND_PROBABILITIES;
  }
  if (lower == "multi_label" || lower == "multilabel") {
    return v1::TARGET_KIND_MULTI_LABEL;
  }
  if (lower == "values") return v1::TARGET_KIND_VALUES;
  return absl::InvalidArgumentError(absl::StrCat(
      "--target_kind \"", text,
      "\" is not class_index, probabilities, multi_label or values"));
}

absl::StatusOr<v1::ComputeRequest> GenerateRequest(const GeneratorSpec& spec) {
  const std::string loss_name =
      spec.request.loss.empty() ? "cross_entropy" : spec.request.loss;
  const lossd::LossSpec* loss = lossd::FindLoss(loss_name);
  // A loss this build does not know (a newer server's, or a deliberate
  // error test) can still be sent when the target kind is given.
  if (loss == nullptr && !spec.target_kind) {
    std::vector<std::string> names;
    for (const lossd::LossSpec& known : lossd::AllLosses()) {
      names.emplace_back(known.name);
    }
    return absl::InvalidArgumentError(absl::StrCat(
        "unknown loss \"", loss_name,
        "\" (known here: ", absl::StrJoin(names, ", "),
        "); give --target_kind to send it anyway, or use --request FILE"));
  }
  const bool element_wise = loss != nullptr && loss->element_wise;
  const bool has_gradient = loss == nullptr || loss->has_gradient;
  std::vector<v1::TargetKind> accepted;
  if (loss != nullptr) {
    for (lossd::TargetKind kind : loss->target_kinds) {
      accepted.push_back(ToProto(kind));
    }
  }
  const v1::TargetKind target_kind =
      spec.target_kind ? *spec.target_kind : accepted[0];
  if (loss != nullptr && std::find(accepted.begin(), accepted.end(),
                                   target_kind) == accepted.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat(loss_name, " does not accept --target_kind ",
                     v1::TargetKind_Name(target_kind)));
  }
  if (!IsFloatingDType(spec.dtype)) {
    return absl::InvalidArgumentError("--dtype must be a floating dtype");
  }
  const std::vector<int64_t>& shape = spec.shape;
  if (shape.empty()) return absl::InvalidArgumentError("--shape is empty");
  const int rank = static_cast<int>(shape.size());
  int axis = spec.request.class_axis.value_or(-1);
  if (axis < 0) axis += rank;
  if (axis < 0 || axis >= rank) {
    return absl::InvalidArgumentError(
        absl::StrCat("--class_axis is outside the shape's ", rank, " axes"));
  }
  int64_t outer = 1, inner = 1;
  for (int d = 0; d < axis; ++d) outer *= shape[d];
  for (int d = axis + 1; d < rank; ++d) inner *= shape[d];
  const int64_t classes = shape[axis];
  const int64_t elements = outer * classes * inner;
  if (classes == 0 && target_kind == v1::TARGET_KIND_CLASS_INDEX &&
      outer * inner > 0) {
    return absl::InvalidArgumentError("class indices need at least one class");
  }

  Draws draws(spec.seed);
  const v1::InputKind input_kind =
      spec.request.input_kind.value_or(v1::INPUT_KIND_UNSPECIFIED);
  std::vector<double> input(elements);
  if (input_kind == v1::INPUT_KIND_PROBABILITIES ||
      input_kind == v1::INPUT_KIND_LOG_PROBABILITIES) {
    if (element_wise) {
      for (double& v : input) v = 0.01 + 0.98 * draws.Uniform();
    } else {
      for (double& v : input) v = draws.Normal();
      SoftmaxAlongClasses(input, outer, classes, inner);
    }
    if (input_kind == v1::INPUT_KIND_LOG_PROBABILITIES) {
      for (double& v : input) v = std::log(v);
    }
  } else {
    for (double& v : input) v = 2 * draws.Normal();
  }

  v1::ComputeRequest request;
  request.set_loss(loss_name);
  ToProto(FromDoubles(input, shape, spec.dtype), request.mutable_input());
  switch (target_kind) {
    case v1::TARGET_KIND_CLASS_INDEX: {
      std::vector<int64_t> target_shape = shape;
      target_shape.erase(target_shape.begin() + axis);
      std::vector<double> target(outer * inner);
      for (double& v : target) v = static_cast<double>(draws.Below(classes));
      ToProto(FromDoubles(target, target_shape, v1::DTYPE_INT64),
              request.mutable_target());
      break;
    }
    case v1::TARGET_KIND_PROBABILITIES: {
      std::vector<double> target(elements);
      for (double& v : target) v = draws.Normal();
      SoftmaxAlongClasses(target, outer, classes, inner);
      ToProto(FromDoubles(target, shape, spec.dtype), request.mutable_target());
      break;
    }
    case v1::TARGET_KIND_MULTI_LABEL: {
      std::vector<double> target(elements);
      for (double& v : target) v = draws.Uniform() < 0.5 ? 0 : 1;
      ToProto(FromDoubles(target, shape, spec.dtype), request.mutable_target());
      break;
    }
    default: {
      std::vector<double> target(elements);
      for (double& v : target) v = draws.Normal();
      ToProto(FromDoubles(target, shape, spec.dtype), request.mutable_target());
      break;
    }
  }
  if (spec.request.reduction) request.set_reduction(*spec.request.reduction);
  if (spec.request.input_kind) request.set_input_kind(*spec.request.input_kind);
  if (spec.request.class_axis) request.set_class_axis(*spec.request.class_axis);
  if (spec.request.grad_dtype) request.set_grad_dtype(*spec.request.grad_dtype);
  request.mutable_outputs()->set_per_example(
      spec.request.per_example || spec.request.reduction == v1::REDUCTION_NONE);
  request.mutable_outputs()->set_grad_input(spec.request.grad_input &&
                                            has_gradient);
  if (spec.request.options) {
    if (absl::Status s = SetLossOptions(*spec.request.options, &request);
        !s.ok()) {
      return s;
    }
  }
  return request;
}

}  // namespace lossctl::bench
