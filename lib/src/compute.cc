#include "lossd/compute.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <mutex>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "kernel.h"

namespace lossd {
namespace {

constexpr absl::string_view kIgnoreIndex = "ignore_index";
constexpr absl::string_view kClassWeight = "class_weight";

std::string ShapeText(absl::Span<const int64_t> shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

absl::Status CheckSize(absl::string_view field, size_t size,
                       absl::Span<const int64_t> shape) {
  int64_t elements = 1;
  for (int64_t d : shape) elements *= d;  // Shapes here are already checked.
  if (static_cast<int64_t>(size) != elements) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " has ", size, " elements but its shape ",
                     ShapeText(shape), " needs ", elements));
  }
  return absl::OkStatus();
}

absl::Status CheckShape(absl::string_view field,
                        absl::Span<const int64_t> shape,
                        absl::Span<const int64_t> expected,
                        absl::string_view expected_name) {
  if (std::vector<int64_t>(shape.begin(), shape.end()) !=
      std::vector<int64_t>(expected.begin(), expected.end())) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " shape ", ShapeText(shape), " does not match ",
                     expected_name, " ", ShapeText(expected)));
  }
  return absl::OkStatus();
}

// Copies `src`, laid out [outer, classes, inner], to `dst` laid out
// [outer * inner, classes], or back when `to_rows` is false.
template <typename T>
void MoveClassAxis(const ProblemShape& shape, const T* src, T* dst,
                   bool to_rows) {
  const int64_t classes = shape.classes, inner = shape.inner;
  for (int64_t o = 0; o < shape.outer; ++o) {
    for (int64_t c = 0; c < classes; ++c) {
      for (int64_t j = 0; j < inner; ++j) {
        const int64_t strided = (o * classes + c) * inner + j;
        const int64_t row_major = (o * inner + j) * classes + c;
        if (to_rows) {
          dst[row_major] = src[strided];
        } else {
          dst[strided] = src[row_major];
        }
      }
    }
  }
}

// A [rows, classes] copy of a tensor laid out [outer, classes, inner].
template <typename T>
std::vector<T> ToRows(const ProblemShape& shape, absl::Span<const T> data) {
  std::vector<T> rows(data.size());
  MoveClassAxis(shape, data.data(), rows.data(), /*to_rows=*/true);
  return rows;
}

template <typename T>
const internal::LossOps<T>& OpsFor(const LossSpec& spec);
template <>
const internal::LossOps<float>& OpsFor(const LossSpec& spec) {
  return spec.float_ops;
}
template <>
const internal::LossOps<double>& OpsFor(const LossSpec& spec) {
  return spec.double_ops;
}

absl::Status CheckClassIndices(const LossSpec& spec,
                               absl::Span<const int64_t> labels,
                               int64_t classes, const OptionValues& options) {
  const OptionSpec* ignore = spec.FindOption(kIgnoreIndex);
  const bool can_ignore = ignore != nullptr;
  const int64_t ignore_index =
      can_ignore ? options.Integer(kIgnoreIndex,
                                   static_cast<int64_t>(ignore->default_value))
                 : 0;
  for (size_t i = 0; i < labels.size(); ++i) {
    const int64_t y = labels[i];
    if ((y < 0 || y >= classes) && !(can_ignore && y == ignore_index)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "target[", i, "] = ", y, " is outside [0, ", classes, ")",
          can_ignore
              ? absl::StrCat(" and is not ignore_index (", ignore_index, ")")
              : ""));
    }
  }
  return absl::OkStatus();
}

// A reduction's denominator and which one it is.
struct Denominator {
  double value = 1;
  DenominatorKind kind = DenominatorKind::kOne;
};

// The denominator of Reduction::kMean over `args` by `rule`, the loss's
// declared LossSpec::mean_denominator_rule: the one place that counts it.
// Sums are float64 in row order, so a caller can reproduce them bitwise.
template <typename T>
Denominator CountMeanDenominator(MeanDenominatorRule rule,
                                 const internal::KernelArgs<T>& args) {
  switch (rule) {
    case MeanDenominatorRule::kUnmaskedElements: {
      int64_t count = 0;
      for (int64_t r = 0; r < args.rows; ++r) {
        for (int64_t c = 0; c < args.classes; ++c) {
          count += args.ElementIncluded(r * args.classes + c, r);
        }
      }
      return {static_cast<double>(count), DenominatorKind::kValidElements};
    }
    case MeanDenominatorRule::kTargetWeightSum:
    case MeanDenominatorRule::kNotIgnoredExamples:
    case MeanDenominatorRule::kUnmaskedExamples:
      break;
  }
  // Examples: unmasked, and for class indices not ignore_index (when the
  // loss has that option and the rule leaves ignored examples out), each
  // counting 1 or, by kTargetWeightSum, its target class's weight.
  const bool class_index = args.class_index != nullptr;
  const bool skips_ignored = class_index &&
                             rule != MeanDenominatorRule::kUnmaskedExamples &&
                             args.spec->FindOption(kIgnoreIndex) != nullptr;
  const int64_t ignore_index = skips_ignored ? args.Integer(kIgnoreIndex) : 0;
  const absl::Span<const double> class_weight =
      class_index && rule == MeanDenominatorRule::kTargetWeightSum
          ? args.PerClass(kClassWeight)
          : absl::Span<const double>();
  double total = 0;
  for (int64_t r = 0; r < args.rows; ++r) {
    if (!args.RowIncluded(r)) continue;
    if (skips_ignored && args.class_index[r] == ignore_index) continue;
    total += class_weight.empty() ? 1.0 : class_weight[args.class_index[r]];
  }
  return {total, class_weight.empty() ? DenominatorKind::kValidExamples
                                      : DenominatorKind::kTargetWeightSum};
}

// Rows per block of a large batch: a block's sums are added in double and
// the blocks' in block order, whichever thread computed them.
constexpr int64_t kBlockElements = int64_t{1} << 18;

// Runs the kernel over the rows of `args`: whole if the batch is small,
// else in fixed blocks spread over up to `threads` threads (0: one per
// core), with the same result for any thread count. `interrupt` (may be
// empty) is asked before the rows and before each block; its first error
// stops the work and is returned.
template <typename T>
absl::StatusOr<internal::KernelTotals> RunRows(
    const internal::LossOps<T>& ops, const internal::KernelArgs<T>& args,
    int64_t elements, int threads,
    const std::function<absl::Status()>& interrupt) {
  // No rows, nothing to do; and a kernel may size per-row scratch by the
  // classes, which no bytes bound when there are no rows ([0, 2^40]).
  if (args.rows == 0) return internal::KernelTotals{};
  if (interrupt) {
    if (absl::Status status = interrupt(); !status.ok()) return status;
  }
  const int64_t rows_per_block =
      std::max<int64_t>(1, kBlockElements / std::max<int64_t>(1, args.classes));
  const int64_t blocks = (args.rows + rows_per_block - 1) / rows_per_block;
  if (elements < kParallelElements || blocks <= 1) return ops.run(args);
  if (threads <= 0) {
    threads =
        std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  }
  threads = static_cast<int>(std::min<int64_t>(threads, blocks));
  std::vector<internal::KernelTotals> totals(blocks);
  std::atomic<int64_t> next_block{0};
  std::mutex interrupted_mutex;
  absl::Status interrupted;  // The first error of `interrupt`.
  auto work = [&] {
    for (int64_t b = next_block.fetch_add(1); b < blocks;
         b = next_block.fetch_add(1)) {
      if (b > 0 && interrupt) {
        if (absl::Status status = interrupt(); !status.ok()) {
          next_block.store(blocks);  // No thread starts another block.
          std::lock_guard<std::mutex> lock(interrupted_mutex);
          if (interrupted.ok()) interrupted = std::move(status);
          return;
        }
      }
      const int64_t begin = b * rows_per_block;
      const int64_t end = std::min(args.rows, begin + rows_per_block);
      totals[b] = ops.run(internal::RowSlice(args, begin, end));
    }
  };
  std::vector<std::thread> helpers;
  for (int t = 1; t < threads; ++t) helpers.emplace_back(work);
  work();
  for (std::thread& helper : helpers) helper.join();
  if (!interrupted.ok()) return interrupted;
  internal::KernelTotals sum;
  for (const internal::KernelTotals& block : totals) sum.Add(block);
  return sum;
}

}  // namespace

absl::StatusOr<ProblemShape> ResolveShape(absl::Span<const int64_t> input_shape,
                                          std::optional<int> class_axis) {
  const int rank = static_cast<int>(input_shape.size());
  if (rank == 0) {
    return absl::InvalidArgumentError(
        "input must have at least one dimension (the classes)");
  }
  int axis = class_axis.value_or(-1);
  if (axis < -rank || axis >= rank) {
    return absl::InvalidArgumentError(absl::StrCat(
        "class_axis ", axis, " is outside [", -rank, ", ", rank, ")"));
  }
  if (axis < 0) axis += rank;
  ProblemShape shape;
  shape.class_axis = axis;
  shape.outer = 1;
  shape.inner = 1;
  // The product of the non-zero dimensions bounds every count derived from
  // the shape (outer, inner, examples), also when another dimension is 0.
  int64_t nonzero_product = 1;
  for (int i = 0; i < rank; ++i) {
    const int64_t d = input_shape[i];
    if (d < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("input.shape[", i, "] = ", d, " is negative"));
    }
    if (d > 0 &&
        (__builtin_mul_overflow(nonzero_product, d, &nonzero_product) ||
         nonzero_product > (int64_t{1} << 48))) {
      return absl::InvalidArgumentError(absl::StrCat(
          "input.shape ", ShapeText(input_shape), " is too large"));
    }
    if (i < axis) shape.outer *= d;
    if (i > axis) shape.inner *= d;
    if (i != axis) shape.example_shape.push_back(d);
  }
  shape.classes = input_shape[axis];
  shape.batch_size = rank >= 2 ? input_shape[0] : 1;
  // Elements are backed by the request's bytes, but with no classes the
  // examples are not: a shape of [2^40, 0] would have the kernels walk and
  // the outputs hold 2^40 rows of nothing (found by the hostile-input tests).
  if (shape.classes == 0 && shape.examples() > 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("input.shape[", axis, "] = 0 leaves no classes for ",
                     shape.examples(), " examples"));
  }
  return shape;
}

int64_t PerExampleSize(const LossSpec& loss, const ProblemShape& shape) {
  return loss.element_wise ? shape.elements() : shape.examples();
}

template <typename T>
absl::StatusOr<LossResult> Compute(const LossRequest<T>& request,
                                   const LossOutputs<T>& outputs) {
  if (request.loss == nullptr) {
    return absl::InvalidArgumentError("loss is not set");
  }
  const LossSpec& spec = *request.loss;
  // 16-bit input: read directly where the kernel can, else as a copy.
  const bool input_16bit = request.input_16bit.has_value();
  if (input_16bit) {
    if constexpr (!std::is_same_v<T, float>) {
      return absl::InvalidArgumentError(
          "input_16bit needs the float32 compute type");
    } else {
      if (!request.input.data.empty() || !request.input.shape.empty()) {
        return absl::InvalidArgumentError("set input or input_16bit, not both");
      }
      const Float16TensorView& half = *request.input_16bit;
      absl::StatusOr<ProblemShape> half_shape =
          ResolveShape(half.shape, request.class_axis);
      if (!half_shape.ok()) return half_shape.status();
      if (absl::Status s = CheckSize("input", half.data.size(), half.shape);
          !s.ok()) {
        return s;
      }
      if (!OpsFor<float>(spec).reads_16bit_input || half_shape->inner != 1 ||
          (request.input_kind == InputKind::kProbabilities &&
           spec.checks_probabilities)) {
        std::vector<float> values(half.data.size());
        internal::Float16ToFloat(half.data.data(),
                                 static_cast<int64_t>(half.data.size()),
                                 half.format, values.data());
        LossRequest<float> copy = request;
        copy.input_16bit.reset();
        copy.input = {values, half.shape};
        return Compute<float>(copy, outputs);
      }
    }
  }
  const std::vector<int64_t>& input_shape =
      input_16bit ? request.input_16bit->shape : request.input.shape;
  absl::StatusOr<ProblemShape> resolved =
      ResolveShape(input_shape, request.class_axis);
  if (!resolved.ok()) return resolved.status();
  const ProblemShape& shape = *resolved;
  if (!input_16bit) {
    if (absl::Status s =
            CheckSize("input", request.input.data.size(), request.input.shape);
        !s.ok()) {
      return s;
    }
  }
  if (!spec.Accepts(request.input_kind)) {
    return absl::InvalidArgumentError(
        absl::StrCat(spec.name, " does not accept input_kind ",
                     InputKindName(request.input_kind)));
  }
  if (request.input_kind == InputKind::kProbabilities &&
      spec.checks_probabilities) {
    // As PyTorch's binary_cross_entropy: a probability outside [0, 1] (or
    // NaN) is the caller's mistake, not something to average into a NaN.
    for (size_t i = 0; i < request.input.data.size(); ++i) {
      const T p = request.input.data[i];
      if (!(p >= T(0) && p <= T(1))) {
        return absl::InvalidArgumentError(
            absl::StrCat("input[", i, "] = ", static_cast<double>(p),
                         " is not a probability in [0, 1]"));
      }
    }
  }
  if (absl::Status s = request.options.Validate(spec.options, shape.classes);
      !s.ok()) {
    return s;
  }
  for (const OptionSpec& option : spec.options) {
    if (!request.options.Has(option.name)) continue;
    if (option.logits_only && request.input_kind != InputKind::kLogits) {
      return absl::InvalidArgumentError(
          absl::StrCat("option ", option.name, " applies to logits only, not ",
                       InputKindName(request.input_kind)));
    }
    if (option.class_index_only && request.dense_target.has_value()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "option ", option.name,
          " applies to class-index targets only; use mask to leave out "
          "examples with dense targets"));
    }
  }

  // Targets.
  if (request.class_index_target.has_value() ==
      request.dense_target.has_value()) {
    return absl::InvalidArgumentError("exactly one target must be given");
  }
  const int64_t per_example_size = PerExampleSize(spec, shape);
  if (request.class_index_target.has_value()) {
    const TensorView<int64_t>& target = *request.class_index_target;
    if (!spec.Accepts(TargetKind::kClassIndex)) {
      return absl::InvalidArgumentError(
          absl::StrCat(spec.name, " needs a dense target of the input's shape ",
                       ShapeText(input_shape), ", not class indices"));
    }
    if (absl::Status s = CheckShape("target", target.shape, shape.example_shape,
                                    "the input shape less the class axis");
        !s.ok()) {
      return s;
    }
    if (absl::Status s = CheckSize("target", target.data.size(), target.shape);
        !s.ok()) {
      return s;
    }
    if (absl::Status s = CheckClassIndices(spec, target.data, shape.classes,
                                           request.options);
        !s.ok()) {
      return s;
    }
  } else {
    const TensorView<T>& target = *request.dense_target;
    if (!spec.Accepts(TargetKind::kProbabilities) &&
        !spec.Accepts(TargetKind::kMultiLabel) &&
        !spec.Accepts(TargetKind::kValues)) {
      return absl::InvalidArgumentError(
          absl::StrCat(spec.name, " needs integer class indices of shape ",
                       ShapeText(shape.example_shape), " as target"));
    }
    if (absl::Status s =
            CheckShape("target", target.shape, input_shape, "the input shape");
        !s.ok()) {
      return s;
    }
    if (absl::Status s = CheckSize("target", target.data.size(), target.shape);
        !s.ok()) {
      return s;
    }
  }

  // Per-example tensors: sample weights, the mask and the upstream gradient.
  // Element-wise losses also take them per element (the input's shape).
  auto check_per_example = [&](absl::string_view field,
                               const std::vector<int64_t>& tensor_shape,
                               size_t size, bool* per_element) -> absl::Status {
    *per_element =
        spec.element_wise && tensor_shape == input_shape && shape.classes != 1;
    if (!*per_element) {
      absl::Status s = CheckShape(field, tensor_shape, shape.example_shape,
                                  "the per-example shape");
      if (!s.ok() && spec.element_wise) {
        s = CheckShape(field, tensor_shape, input_shape, "the input shape");
        *per_element = s.ok();
      }
      if (!s.ok()) return s;
    }
    return CheckSize(field, size, tensor_shape);
  };
  bool weight_per_element = false;
  if (request.sample_weight.has_value()) {
    if (absl::Status s = check_per_example(
            "sample_weight", request.sample_weight->shape,
            request.sample_weight->data.size(), &weight_per_element);
        !s.ok()) {
      return s;
    }
  }
  bool mask_per_element = false;
  if (request.mask.has_value()) {
    if (absl::Status s =
            check_per_example("mask", request.mask->shape,
                              request.mask->data.size(), &mask_per_element);
        !s.ok()) {
      return s;
    }
  }
  std::vector<int64_t> per_example_shape =
      spec.element_wise ? input_shape : shape.example_shape;
  if (request.grad_output.has_value()) {
    if (request.reduction != Reduction::kNone) {
      return absl::InvalidArgumentError(
          "grad_output applies to REDUCTION_NONE only");
    }
    if (absl::Status s = CheckShape("grad_output", request.grad_output->shape,
                                    per_example_shape, "the per-example shape");
        !s.ok()) {
      return s;
    }
    if (absl::Status s =
            CheckSize("grad_output", request.grad_output->data.size(),
                      request.grad_output->shape);
        !s.ok()) {
      return s;
    }
  }
  if (request.normalizer.has_value()) {
    if (request.reduction != Reduction::kMean &&
        request.reduction != Reduction::kBatchMean) {
      return absl::InvalidArgumentError(
          "normalizer applies to REDUCTION_MEAN and REDUCTION_BATCH_MEAN "
          "only");
    }
    if (!(std::isfinite(*request.normalizer) && *request.normalizer > 0)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "normalizer = ", *request.normalizer, " is not finite and positive"));
    }
  }
  if (!std::isfinite(request.grad_scale)) {
    return absl::InvalidArgumentError(
        absl::StrCat("grad_scale = ", request.grad_scale, " is not finite"));
  }
  const absl::Span<T> per_example = outputs.per_example;
  const absl::Span<T> grad_input = outputs.grad_input;
  const absl::Span<T> grad_target = outputs.grad_target;
  if (!grad_input.empty() && !spec.has_gradient) {
    return absl::InvalidArgumentError(
        absl::StrCat(spec.name, " has no gradient"));
  }
  if (!grad_target.empty()) {
    if (!spec.has_target_gradient) {
      return absl::InvalidArgumentError(
          absl::StrCat(spec.name, " has no gradient with respect to targets"));
    }
    if (!request.dense_target.has_value()) {
      return absl::InvalidArgumentError(
          "grad_target needs a dense floating target, not class indices");
    }
  }
  if (!grad_input.empty() &&
      static_cast<int64_t>(grad_input.size()) != shape.elements()) {
    return absl::InvalidArgumentError("grad_input buffer has the wrong size");
  }
  if (!grad_target.empty() &&
      static_cast<int64_t>(grad_target.size()) != shape.elements()) {
    return absl::InvalidArgumentError("grad_target buffer has the wrong size");
  }
  if (!per_example.empty() &&
      static_cast<int64_t>(per_example.size()) != per_example_size) {
    return absl::InvalidArgumentError("per_example buffer has the wrong size");
  }

  // Lay the batch out as [rows, classes]; copies only when the class axis is
  // not the innermost one.
  const bool move_axis = shape.inner != 1;
  std::vector<T> input_rows, target_rows, weight_rows, grad_output_rows,
      grad_rows, grad_target_rows, per_example_rows;
  std::vector<uint8_t> mask_rows;
  internal::KernelArgs<T> args;
  args.rows = shape.examples();
  args.classes = shape.classes;
  args.input = request.input.data.data();
  if (input_16bit) {
    // Only here with the class axis last (see above).
    args.input = nullptr;
    args.input_16bit = request.input_16bit->data.data();
    args.input_format = request.input_16bit->format;
  }
  args.input_kind = request.input_kind;
  args.spec = &spec;
  args.options = &request.options;
  if (request.class_index_target.has_value()) {
    args.class_index = request.class_index_target->data.data();
  } else {
    args.dense_target = request.dense_target->data.data();
  }
  if (request.sample_weight.has_value()) {
    args.sample_weight = request.sample_weight->data.data();
    args.sample_weight_per_element = weight_per_element;
  }
  if (request.mask.has_value()) {
    args.mask = request.mask->data.data();
    args.mask_per_element = mask_per_element;
  }
  if (request.grad_output.has_value()) {
    args.grad_output = request.grad_output->data.data();
  }
  args.per_example = per_example.empty() ? nullptr : per_example.data();
  args.grad_input = grad_input.empty() ? nullptr : grad_input.data();
  args.grad_target = grad_target.empty() ? nullptr : grad_target.data();
  if (move_axis) {
    input_rows = ToRows(shape, request.input.data);
    args.input = input_rows.data();
    if (request.dense_target.has_value()) {
      target_rows = ToRows(shape, request.dense_target->data);
      args.dense_target = target_rows.data();
    }
    if (weight_per_element) {
      weight_rows = ToRows(shape, request.sample_weight->data);
      args.sample_weight = weight_rows.data();
    }
    if (mask_per_element) {
      mask_rows = ToRows(shape, request.mask->data);
      args.mask = mask_rows.data();
    }
    if (spec.element_wise && request.grad_output.has_value()) {
      grad_output_rows = ToRows(shape, request.grad_output->data);
      args.grad_output = grad_output_rows.data();
    }
    if (!grad_input.empty()) {
      grad_rows.resize(grad_input.size());
      args.grad_input = grad_rows.data();
    }
    if (!grad_target.empty()) {
      grad_target_rows.resize(grad_target.size());
      args.grad_target = grad_target_rows.data();
    }
    if (spec.element_wise && !per_example.empty()) {
      per_example_rows.resize(per_example.size());
      args.per_example = per_example_rows.data();
    }
  }

  const internal::LossOps<T>& ops = OpsFor<T>(spec);
  // The gradient computed over the input (the same buffer): kernels that do
  // not read every input value before writing over it get a copy.
  std::vector<T> input_copy;
  if (!move_axis && args.grad_input != nullptr &&
      args.grad_input == args.input &&
      !(ops.in_place_safe != nullptr && ops.in_place_safe(args))) {
    input_copy.assign(request.input.data.begin(), request.input.data.end());
    args.input = input_copy.data();
  }
  Denominator denominator;
  switch (request.reduction) {
    case Reduction::kNone:
    case Reduction::kSum:
      break;
    case Reduction::kMean:
      if (request.normalizer.has_value()) break;  // Replaces it, below.
      if (!spec.mean_denominator_rule.has_value()) {
        return absl::InternalError(
            absl::StrCat(spec.name,
                         " declares no mean denominator rule; use "
                         "REDUCTION_SUM or a normalizer"));
      }
      denominator = CountMeanDenominator(*spec.mean_denominator_rule, args);
      break;
    case Reduction::kBatchMean:
      denominator = {static_cast<double>(shape.batch_size),
                     DenominatorKind::kBatchSize};
      break;
  }
  if (request.normalizer.has_value()) {
    denominator = {*request.normalizer, DenominatorKind::kNormalizer};
  }
  // With nothing to average over every gradient is 0, not 0 * inf.
  args.grad_scale =
      denominator.value != 0 ? request.grad_scale / denominator.value : 0;
  absl::StatusOr<internal::KernelTotals> run =
      RunRows(ops, args, shape.elements(), request.threads, request.interrupt);
  if (!run.ok()) return run.status();
  const internal::KernelTotals& totals = *run;

  if (move_axis) {
    if (!grad_rows.empty()) {
      MoveClassAxis(shape, grad_rows.data(), grad_input.data(),
                    /*to_rows=*/false);
    }
    if (!grad_target_rows.empty()) {
      MoveClassAxis(shape, grad_target_rows.data(), grad_target.data(),
                    /*to_rows=*/false);
    }
    if (!per_example_rows.empty()) {
      MoveClassAxis(shape, per_example_rows.data(), per_example.data(),
                    /*to_rows=*/false);
    }
  }

  LossResult result;
  result.statistics.loss_sum = totals.loss_sum;
  result.statistics.denominator = denominator.value;
  result.statistics.denominator_kind = denominator.kind;
  result.statistics.valid_count = totals.valid_count;
  result.statistics.weight_sum = totals.weight_sum;
  if (denominator.kind == DenominatorKind::kOne) {
    result.loss = totals.loss_sum;
  } else if (denominator.value != 0) {
    result.loss = totals.loss_sum / denominator.value;
  } else {
    // The mean of nothing: NaN as PyTorch, or 0 by request.
    result.loss = request.empty_mean == EmptyMeanPolicy::kZero
                      ? 0.0
                      : std::numeric_limits<double>::quiet_NaN();
  }
  return result;
}

template absl::StatusOr<LossResult> Compute<float>(const LossRequest<float>&,
                                                   const LossOutputs<float>&);
template absl::StatusOr<LossResult> Compute<double>(const LossRequest<double>&,
                                                    const LossOutputs<double>&);

}  // namespace lossd
