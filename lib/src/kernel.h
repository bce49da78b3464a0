// The interface between Compute() and the loss kernels. Internal.
//
// Compute() validates a request, moves the class axis last and works out the
// reduction's denominator; a kernel then makes one pass over the rows,
// writing per-example losses and gradients already scaled for the reduction.

#ifndef LOSSD_SRC_KERNEL_H_
#define LOSSD_SRC_KERNEL_H_

#include <cstdint>
#include <type_traits>
#include <vector>

#include "Eigen/Core"
#include "lossd/options.h"
#include "lossd/registry.h"
#include "lossd/types.h"

namespace lossd::internal {

template <typename T>
using RowMatrix =
    Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// A batch laid out as rows of classes, with everything a kernel needs.
template <typename T>
struct KernelArgs {
  int64_t rows = 0;
  int64_t classes = 0;
  const T* input = nullptr;  // [rows, classes]
  // Instead of `input` (T = float, for kernels whose LossOps say they read
  // it): the input as 16-bit floats.
  const uint16_t* input_16bit = nullptr;  // [rows, classes]
  Float16Format input_format = Float16Format::kBFloat16;
  const int64_t* class_index = nullptr;  // [rows], or null
  const T* dense_target = nullptr;       // [rows, classes], or null
  const T* sample_weight = nullptr;      // null, [rows] or [rows, classes]
  bool sample_weight_per_element = false;
  const uint8_t* mask = nullptr;  // null, [rows] or [rows, classes]
  bool mask_per_element = false;
  InputKind input_kind = InputKind::kLogits;
  const LossSpec* spec = nullptr;
  const OptionValues* options = nullptr;
  // Each example's gradient is multiplied by grad_scale, and by
  // grad_output[i] when grad_output is set (one per example or element).
  double grad_scale = 1;
  const T* grad_output = nullptr;
  T* per_example = nullptr;  // null, [rows] or [rows, classes]
  T* grad_input = nullptr;   // null or [rows, classes]
  T* grad_target = nullptr;  // null or [rows, classes]

  Eigen::Map<const RowMatrix<T>> InputRows() const {
    return Eigen::Map<const RowMatrix<T>>(input, rows, classes);
  }
  // The weight of row `row` (row losses) or of element `index`.
  T RowWeight(int64_t row) const {
    return sample_weight == nullptr ? T(1) : sample_weight[row];
  }
  T ElementWeight(int64_t index, int64_t row) const {
    if (sample_weight == nullptr) return T(1);
    return sample_weight_per_element ? sample_weight[index]
                                     : sample_weight[row];
  }
  // Whether row `row` (row losses) or element `index` is included.
  bool RowIncluded(int64_t row) const {
    return mask == nullptr || mask[row] != 0;
  }
  bool ElementIncluded(int64_t index, int64_t row) const {
    if (mask == nullptr) return true;
    return mask_per_element ? mask[index] != 0 : mask[row] != 0;
  }
  double GradScale(int64_t example) const {
    return grad_output == nullptr ? grad_scale
                                  : grad_scale * grad_output[example];
  }

  // Option values, falling back to the registry's default, or to 0, false,
  // all ones or "" for options the loss does not declare (so one kernel can
  // serve several registry entries with different option sets).
  double Number(absl::string_view name) const {
    const OptionSpec* option = spec->FindOption(name);
    return options->Number(name, option ? option->default_value : 0);
  }
  int64_t Integer(absl::string_view name) const {
    const OptionSpec* option = spec->FindOption(name);
    return options->Integer(
        name, option ? static_cast<int64_t>(option->default_value) : 0);
  }
  bool Boolean(absl::string_view name) const {
    const OptionSpec* option = spec->FindOption(name);
    return options->Boolean(name, option && option->default_value != 0);
  }
  absl::Span<const double> PerClass(absl::string_view name) const {
    return options->PerClass(name);
  }
  absl::string_view Choice(absl::string_view name) const {
    const OptionSpec* option = spec->FindOption(name);
    return options->Choice(name, option && !option->choices.empty()
                                     ? option->choices.front()
                                     : absl::string_view());
  }
};

struct KernelTotals {
  double loss_sum = 0;
  int64_t valid_count = 0;
  double weight_sum = 0;

  // Adds `other`, the totals of the rows after these.
  void Add(const KernelTotals& other) {
    loss_sum += other.loss_sum;
    valid_count += other.valid_count;
    weight_sum += other.weight_sum;
  }
};

// Rows [begin, end) of `args` as a batch of their own: every per-row and
// per-element pointer moved to `begin`. A kernel run on consecutive slices
// computes what it computes on the whole, row for row.
template <typename T>
KernelArgs<T> RowSlice(const KernelArgs<T>& args, int64_t begin, int64_t end) {
  KernelArgs<T> slice = args;
  const int64_t c = args.classes;
  auto move = [&](auto* pointer, bool per_element) {
    return pointer == nullptr ? pointer
                              : pointer + (per_element ? begin * c : begin);
  };
  const bool element_wise = args.spec->element_wise;
  slice.rows = end - begin;
  slice.input = move(args.input, true);
  slice.input_16bit = move(args.input_16bit, true);
  slice.class_index = move(args.class_index, false);
  slice.dense_target = move(args.dense_target, true);
  slice.sample_weight =
      move(args.sample_weight, args.sample_weight_per_element);
  slice.mask = move(args.mask, args.mask_per_element);
  slice.grad_output = move(args.grad_output, element_wise);
  slice.per_example = move(args.per_example, element_wise);
  slice.grad_input = move(args.grad_input, true);
  slice.grad_target = move(args.grad_target, true);
  return slice;
}

// Fills a LossOps from a class with a static template member Run<T>(args).
// The mean's denominator is not the kernel's: Compute() counts it by the
// loss's LossSpec::mean_denominator_rule, and Run must leave out (zero loss,
// not counted in its totals) exactly the examples that rule leaves out.
template <typename Kernel, typename T>
LossOps<T> MakeOps() {
  LossOps<T> ops = {&Kernel::template Run<T>};
  if constexpr (requires { Kernel::kReads16BitInput; }) {
    ops.reads_16bit_input = std::is_same_v<T, float>;
  }
  if constexpr (requires { &Kernel::template InPlaceSafe<T>; }) {
    ops.in_place_safe = &Kernel::template InPlaceSafe<T>;
  }
  return ops;
}

// Converts `count` 16-bit floats to float32 (vectorised where the CPU can).
void Float16ToFloat(const uint16_t* in, int64_t count, Float16Format format,
                    float* out);

// Runs `run` on `args` with its 16-bit input converted to a float32 copy,
// for the cases a kernel that reads 16-bit input leaves to its scalar path.
template <typename Run>
KernelTotals WithFloatInput(const KernelArgs<float>& args, Run&& run) {
  std::vector<float> values(args.rows * args.classes);
  Float16ToFloat(args.input_16bit, args.rows * args.classes, args.input_format,
                 values.data());
  KernelArgs<float> copy = args;
  copy.input = values.data();
  copy.input_16bit = nullptr;
  return run(copy);
}

// One element's loss and its derivatives with respect to the input and the
// target, before sample weights and gradient scales.
struct ElementTerms {
  double loss = 0;
  double d_input = 0;
  double d_target = 0;
  // A weight already inside `loss` (e.g. a class weight), for weight_sum.
  double weight = 1;
};

// The driver of element-wise losses: `evaluate(x, y, class)` returns one
// element's ElementTerms; this applies masks, sample weights, gradient
// scales and totals, in row-major order.
template <typename T, typename Evaluate>
KernelTotals RunElementwise(const KernelArgs<T>& args, Evaluate&& evaluate) {
  KernelTotals totals;
  for (int64_t r = 0; r < args.rows; ++r) {
    for (int64_t c = 0; c < args.classes; ++c) {
      const int64_t i = r * args.classes + c;
      if (!args.ElementIncluded(i, r)) {
        if (args.per_example != nullptr) args.per_example[i] = T(0);
        if (args.grad_input != nullptr) args.grad_input[i] = T(0);
        if (args.grad_target != nullptr) args.grad_target[i] = T(0);
        continue;
      }
      const ElementTerms terms =
          evaluate(static_cast<double>(args.input[i]),
                   static_cast<double>(args.dense_target[i]), c);
      const double w = static_cast<double>(args.ElementWeight(i, r));
      const double loss = w * terms.loss;
      if (args.per_example != nullptr) args.per_example[i] = T(loss);
      const double scale = w * args.GradScale(i);
      if (args.grad_input != nullptr) {
        args.grad_input[i] = T(terms.d_input * scale);
      }
      if (args.grad_target != nullptr) {
        args.grad_target[i] = T(terms.d_target * scale);
      }
      totals.loss_sum += loss;
      totals.valid_count += 1;
      totals.weight_sum += w * terms.weight;
    }
  }
  return totals;
}

// Each loss's spec, defined beside its kernel; registry.cc lists them.
LossSpec CrossEntropySpec();
LossSpec NllSpec();
LossSpec PolySpec();
LossSpec BinaryCrossEntropySpec();
LossSpec FocalSpec();
LossSpec SoftmaxFocalSpec();
LossSpec KlDivSpec();
LossSpec MseSpec();
LossSpec L1Spec();
LossSpec HuberSpec();
LossSpec SmoothL1Spec();
LossSpec PoissonNllSpec();
LossSpec HingeSpec();
LossSpec MultiMarginSpec();
LossSpec AccuracySpec();
LossSpec ClassificationErrorSpec();

}  // namespace lossd::internal

#endif  // LOSSD_SRC_KERNEL_H_
