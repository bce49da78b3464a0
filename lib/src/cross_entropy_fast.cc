#include "cross_entropy_fast.h"

#include <algorithm>
#include <vector>

namespace lossd::internal {
namespace {

// The row-constant parts of the computation. With every logit finite all C
// classes are possible, so both smoothing rules are t' = keep t + spread:
// uniform keep = 1 - e, spread = e / C; other-classes (1 - e) t + spread
// (1 - t) with spread = e / (C - 1), so keep = 1 - e - spread (nothing
// smoothed below two classes). Then
//   a_c = s w_c (keep t_c + spread),   sum(a) = s (keep sum_c w_c t_c +
//   spread W), loss = sum_c a_c (lse - x_c) + z s lse^2,
//   d loss / dx_c = p_c (sum(a) + 2 z s lse) - a_c,
// with lse - x_c = (max - x_c) + log_sum, W = sum_c w_c.
struct Plan {
  int64_t classes = 0;
  bool hard = false;
  double keep = 1;
  double spread = 0;
  double z_loss = 0;
  absl::Span<const double> class_weight;
  std::vector<float> weight_floats;  // The vector kernels' copy.
  double weight_total = 0;           // W.

  double Weight(int64_t c) const {
    return class_weight.empty() ? 1.0 : class_weight[c];
  }
  const float* weights() const {
    return weight_floats.empty() ? nullptr : weight_floats.data();
  }
};

// What one finite row contributes: its loss, and how to turn e into its
// gradient: finish with (scale, bias_target, bias), then subtract
// `label_fix` at the label (hard targets) and set the dominant class's
// entry to `top_grad`, computed without cancellation.
struct RowResult {
  double loss = 0;
  float scale = 0;
  float bias_target = 0;
  float bias = 0;
  float label_fix = 0;
  float top_grad = 0;
};

// `x_label` is the label's logit (hard targets), read before the row's e
// may have overwritten it (a gradient computed in place).
RowResult Combine(const Plan& plan, const SoftmaxRow& row, float x_label,
                  int64_t label, const float* target, double s,
                  double grad_scale) {
  const double keep = plan.keep, spread = plan.spread;
  const double log_sum = row.log_sum;
  const double lse = static_cast<double>(row.max) + log_sum;
  const int64_t top = row.top;
  const double top_weight = plan.Weight(top);
  double sum_a, other_a, loss;
  if (plan.hard) {
    const double label_weight = plan.Weight(label);
    sum_a = s * (keep * label_weight + spread * plan.weight_total);
    other_a = s * ((label != top ? keep * label_weight : 0.0) +
                   spread * (plan.weight_total - top_weight));
    loss = s * keep * label_weight *
           ((static_cast<double>(row.max) - x_label) + log_sum);
  } else {
    const double target_total = row.target_below + row.target_at_max;
    // The top's own w t as the kernel summed it (a float32 product).
    const float top_wt =
        (plan.weight_floats.empty() ? 1.0f : plan.weight_floats[top]) *
        target[top];
    sum_a = s * (keep * target_total + spread * plan.weight_total);
    other_a = s * (keep * (row.target_below + (row.target_at_max - top_wt)) +
                   spread * (plan.weight_total - top_weight));
    loss = s * keep * (row.target_gap + target_total * log_sum);
  }
  if (spread != 0) {
    loss += s * spread * (row.weight_gap + plan.weight_total * log_sum);
  }
  double z_factor = 0;
  if (plan.z_loss != 0) {
    loss += plan.z_loss * s * lse * lse;
    z_factor = 2 * plan.z_loss * s * lse;
  }
  RowResult result;
  result.loss = loss;
  const double sum = 1 + row.rest;
  result.scale = static_cast<float>(grad_scale * (sum_a + z_factor) / sum);
  result.bias = static_cast<float>(grad_scale * s * spread);
  if (plan.hard) {
    result.label_fix =
        static_cast<float>(grad_scale * s * keep * plan.Weight(label));
  } else {
    result.bias_target = static_cast<float>(grad_scale * s * keep);
  }
  result.top_grad = static_cast<float>(
      grad_scale * (other_a - sum_a * (row.rest / sum) + z_factor / sum));
  return result;
}

// Writes a finite row's gradient from e (already in place in `grad`):
// everything but the two corrected entries.
void FixEntries(const Plan& plan, const RowResult& result,
                const SoftmaxRow& row, int64_t label, float* grad) {
  if (plan.hard) grad[label] -= result.label_fix;
  grad[row.top] = result.top_grad;
}

}  // namespace

KernelTotals RunCrossEntropyFast(
    const KernelArgs<float>& args, const VectorKernels& kernels,
    const CrossEntropyFastSettings& settings,
    absl::FunctionRef<double(int64_t row, double sample_weight, const float* x)>
        scalar_row) {
  const int64_t classes = args.classes;
  Plan plan;
  plan.classes = classes;
  plan.hard = args.class_index != nullptr;
  const double e = settings.smoothing;
  if (e != 0) {
    if (!settings.other_classes_rule) {
      plan.keep = 1 - e;
      plan.spread = e / static_cast<double>(classes);
    } else if (classes >= 2) {
      plan.spread = e / static_cast<double>(classes - 1);
      plan.keep = 1 - e - plan.spread;
    }
  }
  plan.z_loss = settings.z_loss;
  plan.class_weight = settings.class_weight;
  plan.weight_total = static_cast<double>(classes);
  if (!plan.class_weight.empty()) {
    plan.weight_floats.assign(plan.class_weight.begin(),
                              plan.class_weight.end());
    plan.weight_total = 0;
    for (double w : plan.class_weight) plan.weight_total += w;
  }
  const bool want_gap = plan.spread != 0;
  const bool want_grad = args.grad_input != nullptr;

  auto included = [&](int64_t r) {
    return args.RowIncluded(r) &&
           !(plan.hard && args.class_index[r] == settings.ignore_index);
  };
  auto row_target = [&](int64_t r) {
    return plan.hard ? nullptr : args.dense_target + r * classes;
  };
  KernelTotals totals;
  auto add = [&](int64_t r, double s, double loss) {
    if (args.per_example != nullptr) {
      args.per_example[r] = static_cast<float>(loss);
    }
    totals.loss_sum += loss;
    totals.valid_count += 1;
    totals.weight_sum += plan.hard ? s * plan.Weight(args.class_index[r]) : s;
  };
  auto leave_out = [&](int64_t r) {
    if (args.per_example != nullptr) args.per_example[r] = 0.0f;
    if (want_grad) {
      std::fill_n(args.grad_input + r * classes, classes, 0.0f);
    }
  };

  // 16-bit input: converted a row or block at a time, into cache.
  const uint16_t* input_16bit = args.input_16bit;
  const bool bfloat16 = args.input_format == Float16Format::kBFloat16;

  if (classes > kernels.small_classes) {
    // Row by row: e goes into the gradient row (or scratch) and is rescaled
    // there while the row is still in cache.
    // With soft targets or smoothing every gradient entry is a difference
    // that may cancel (kCancellation): such a row's gradient is checked,
    // and in place it is built in scratch first, so that the row's logits
    // are still there if it must be recomputed.
    const bool may_cancel = want_grad && (!plan.hard || plan.spread != 0);
    const bool in_place = want_grad && args.grad_input == args.input;
    // Long rows are computed in two passes (VectorKernels::softmax_row),
    // whose first writes e before it knows that the row is finite: in
    // place, e goes to scratch so that a row the scalar kernel must redo
    // keeps its logits, and finish_row writes the gradient over them.
    // (16-bit rows keep three: converted into cache first, they measured
    // 13-15% slower with two at 32000 classes, for reasons not found.)
    const bool two_pass =
        classes > kernels.two_pass_classes && input_16bit == nullptr;
    std::vector<float> chunk_max(two_pass ? kernels.ChunkCount(classes) : 0);
    std::vector<float> scratch(
        !want_grad || (in_place && (may_cancel || two_pass)) ? classes : 0);
    std::vector<float> converted(input_16bit == nullptr ? 0 : classes);
    for (int64_t r = 0; r < args.rows; ++r) {
      if (!included(r)) {
        leave_out(r);
        continue;
      }
      const double s = static_cast<double>(args.RowWeight(r));
      const bool last = r + 1 == args.rows;
      // 16-bit input has no float rows (args.input is null).
      const float* x =
          input_16bit != nullptr ? nullptr : args.input + r * classes;
      const float* next_x = last || x == nullptr ? nullptr : x + classes;
      if (input_16bit != nullptr) {
        const uint16_t* row_16bit = input_16bit + r * classes;
        kernels.float16_to_float(row_16bit, classes, bfloat16, converted.data(),
                                 nullptr);
        x = converted.data();
        // The next 16-bit row, prefetched during the exp pass as a float
        // row would be (for twice its length: the lines past it are the row
        // after, wanted soon anyway).
        next_x = last ? nullptr
                      : reinterpret_cast<const float*>(row_16bit + classes);
      }
      float* grad = want_grad ? args.grad_input + r * classes : nullptr;
      float* e = want_grad && !scratch.empty() ? scratch.data()
                 : want_grad                   ? grad
                                               : scratch.data();
      const float* target = row_target(r);
      const int64_t label = plan.hard ? args.class_index[r] : 0;
      const float x_label = plan.hard ? x[label] : 0.0f;
      float* const chunk_max_data = two_pass ? chunk_max.data() : nullptr;
      const SoftmaxRow row =
          kernels.softmax_row(x, classes, e, plan.weights(), target, want_gap,
                              next_x, chunk_max_data);
      if (!row.finite) {
        add(r, s, scalar_row(r, s, x));
        continue;
      }
      const RowResult result =
          Combine(plan, row, x_label, label, target, s, args.GradScale(r));
      if (want_grad) {
        // A gradient that may cancel is checked before it reaches `grad`
        // (in place, the logits must survive a redo).
        float* const out = may_cancel ? e : grad;
        const FinishedRow finished = kernels.finish_row(
            e, classes, result.scale, plan.weights(), target,
            result.bias_target, result.bias, out, chunk_max_data, row.max);
        FixEntries(plan, result, row, label, out);
        // (The label's and the top's entries, set apart, may be the largest;
        // when they are large the pass over the row is not needed.)
        if (may_cancel &&
            std::max(std::abs(out[label]), std::abs(out[row.top])) *
                    kCancellation <
                finished.largest_term &&
            kernels.max_abs(out, classes) * kCancellation <
                finished.largest_term) {
          add(r, s, scalar_row(r, s, x));
          continue;
        }
        if (out != grad) std::copy_n(out, classes, grad);
      }
      add(r, s, result.loss);
    }
    return totals;
  }

  // Few classes: blocks of rows, one row per vector lane.
  float label[kSmallBlockRows], sample_weight[kSmallBlockRows],
      grad_scale[kSmallBlockRows], loss[kSmallBlockRows];
  SmallRowsArgs small;
  small.classes = classes;
  small.weight = plan.weights();
  small.weight_total = static_cast<float>(plan.weight_total);
  small.keep = static_cast<float>(plan.keep);
  small.spread = static_cast<float>(plan.spread);
  small.z_loss = static_cast<float>(plan.z_loss);
  small.label = plan.hard ? label : nullptr;
  small.sample_weight = sample_weight;
  small.grad_scale = grad_scale;
  small.loss = loss;
  // In place (the gradient over the input) the block is read from a copy:
  // its rows with a NaN or infinite logit are recomputed after the kernel
  // has written the block.
  const bool in_place = want_grad && args.grad_input == args.input;
  std::vector<float> converted(
      input_16bit == nullptr && !in_place ? 0 : kSmallBlockRows * classes);
  for (int64_t first = 0; first < args.rows; first += kSmallBlockRows) {
    const int64_t count = std::min(kSmallBlockRows, args.rows - first);
    bool all_in = true;  // No row of the block left out.
    for (int64_t i = 0; i < count; ++i) {
      const int64_t r = first + i;
      const bool in = included(r);
      all_in &= in;
      // A row left out weighs 0; its label must then match no class.
      sample_weight[i] = in ? static_cast<float>(args.RowWeight(r)) : 0.0f;
      grad_scale[i] = in ? static_cast<float>(args.GradScale(r)) : 0.0f;
      if (plan.hard) {
        label[i] = in ? static_cast<float>(args.class_index[r]) : -1.0f;
      }
    }
    if (input_16bit != nullptr) {
      kernels.float16_to_float(input_16bit + first * classes, count * classes,
                               bfloat16, converted.data(), nullptr);
      small.x = converted.data();
    } else if (in_place) {
      std::copy_n(args.input + first * classes, count * classes,
                  converted.data());
      small.x = converted.data();
    } else {
      small.x = args.input + first * classes;
    }
    small.rows = count;
    small.target = row_target(first);
    small.grad = want_grad ? args.grad_input + first * classes : nullptr;
    kernels.cross_entropy_small_rows(small);
    if (all_in && small.redo == 0 && args.sample_weight == nullptr &&
        (!plan.hard || plan.class_weight.empty())) {
      // The common block: every row counts with weight 1.
      if (args.per_example != nullptr) {
        std::copy_n(loss, count, args.per_example + first);
      }
      for (int64_t i = 0; i < count; ++i) totals.loss_sum += loss[i];
      totals.valid_count += count;
      totals.weight_sum += static_cast<double>(count);
      continue;
    }
    for (int64_t i = 0; i < count; ++i) {
      const int64_t r = first + i;
      if (!included(r)) {
        leave_out(r);
        continue;
      }
      const double s = static_cast<double>(args.RowWeight(r));
      if ((small.redo >> i) & 1) {
        add(r, s, scalar_row(r, s, small.x + i * classes));
      } else {
        add(r, s, loss[i]);
      }
    }
  }
  return totals;
}

}  // namespace lossd::internal
