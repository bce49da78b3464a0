// Softmax cross-entropy with hard (class index) or soft (distribution)
// targets, PyTorch semantics: class weights, ignore_index and label
// smoothing (target 1 - e + e/C, others e/C).
//
// Every variant is "loss = -sum_c a_c log p_c" for a per-row coefficient
// vector a: hard targets a_c = s (e/C w_c + [c = y] (1 - e) w_y), soft
// targets a_c = s w_c ((1 - e) t_c + e/C), s the sample weight. Then
//   d loss / d logit_c  = p_c sum(a) - a_c
//   d loss / d log p_c  = -a_c
//   d loss / d p_c      = -a_c / p_c
// Terms with a_c = 0 are skipped, so 0 log 0 = 0 and -inf logits on classes
// without target mass stay finite.

#include <algorithm>
#include <cmath>
#include <limits>

#include "kernel.h"
#include "lossd/registry.h"

namespace lossd::internal {
namespace {

constexpr absl::string_view kClassWeight = "class_weight";
constexpr absl::string_view kIgnoreIndex = "ignore_index";
constexpr absl::string_view kLabelSmoothing = "label_smoothing";
constexpr double kDefaultIgnoreIndex = -100;  // PyTorch's default.

// PyTorch clamps log(p) at -100 for losses on probabilities (BCELoss); so do
// we, and keep the gradient's denominator away from 0 the same way.
constexpr double kMinLog = -100;
constexpr double kMinProbability = 1e-12;

struct Settings {
  absl::Span<const double> class_weight;  // Empty: all ones.
  int64_t ignore_index;
  double smoothing;
  double total_class_weight;

  explicit Settings(const OptionValues& options, int64_t classes)
      : class_weight(options.PerClass(kClassWeight)),
        ignore_index(options.Integer(kIgnoreIndex, kDefaultIgnoreIndex)),
        smoothing(options.Number(kLabelSmoothing, 0)) {
    total_class_weight = static_cast<double>(classes);
    if (!class_weight.empty()) {
      total_class_weight = 0;
      for (double w : class_weight) total_class_weight += w;
    }
  }
  double Weight(int64_t c) const {
    return class_weight.empty() ? 1.0 : class_weight[c];
  }
};

// The coefficient vector a of one row (see the top of the file).
struct Coefficients {
  const Settings& settings;
  int64_t classes;
  double sample_weight;
  int64_t label = -1;  // Hard targets; -1 for soft.
  template <typename T>
  double At(int64_t c, const T* soft_row) const {
    const double uniform = settings.smoothing / static_cast<double>(classes);
    if (soft_row == nullptr) {
      double a = uniform * settings.Weight(c);
      if (c == label) a += (1 - settings.smoothing) * settings.Weight(c);
      return sample_weight * a;
    }
    const double t = (1 - settings.smoothing) * soft_row[c] + uniform;
    return sample_weight * settings.Weight(c) * t;
  }
};

struct CrossEntropy {
  template <typename T>
  static double MeanDenominator(const KernelArgs<T>& args) {
    if (args.class_index == nullptr) return static_cast<double>(args.rows);
    const Settings settings(*args.options, args.classes);
    double total = 0;
    for (int64_t r = 0; r < args.rows; ++r) {
      const int64_t y = args.class_index[r];
      if (y != settings.ignore_index) total += settings.Weight(y);
    }
    return total;
  }

  template <typename T>
  static KernelTotals Run(const KernelArgs<T>& args) {
    const Settings settings(*args.options, args.classes);
    const int64_t classes = args.classes;
    KernelTotals totals;
    for (int64_t r = 0; r < args.rows; ++r) {
      const T* x = args.input + r * classes;
      T* grad =
          args.grad_input == nullptr ? nullptr : args.grad_input + r * classes;
      const T* soft_row = args.dense_target == nullptr
                              ? nullptr
                              : args.dense_target + r * classes;
      Coefficients a{settings, classes, static_cast<double>(args.RowWeight(r))};
      double applied_weight = a.sample_weight;
      if (soft_row == nullptr) {
        a.label = args.class_index[r];
        if (a.label == settings.ignore_index) {
          if (args.per_example != nullptr) args.per_example[r] = T(0);
          if (grad != nullptr) std::fill(grad, grad + classes, T(0));
          continue;
        }
        applied_weight *= settings.Weight(a.label);
      }
      const double loss = RowLoss(args, x, soft_row, a, grad, r);
      if (args.per_example != nullptr) args.per_example[r] = T(loss);
      totals.loss_sum += loss;
      totals.valid_count += 1;
      totals.weight_sum += applied_weight;
    }
    return totals;
  }

  // Returns the loss of one row and writes its gradient when `grad` is set.
  template <typename T>
  static double RowLoss(const KernelArgs<T>& args, const T* x,
                        const T* soft_row, const Coefficients& a, T* grad,
                        int64_t row) {
    const int64_t classes = args.classes;
    const double scale = args.GradScale(row);
    // Hard targets without smoothing touch one class only.
    const bool one_class = soft_row == nullptr && a.settings.smoothing == 0;
    auto for_each_term = [&](auto&& term) {
      if (one_class) {
        term(a.label, a.At(a.label, soft_row));
        return;
      }
      for (int64_t c = 0; c < classes; ++c) {
        const double coefficient = a.At(c, soft_row);
        if (coefficient != 0) term(c, coefficient);
      }
    };

    switch (args.input_kind) {
      case InputKind::kLogits: {
        T max_logit = -std::numeric_limits<T>::infinity();
        for (int64_t c = 0; c < classes; ++c)
          max_logit = std::max(max_logit, x[c]);
        double sum_exp = 0;
        if (std::isinf(max_logit) && max_logit < 0) {
          // Every class has probability 0: the loss is infinite unless no
          // class carries target mass. No finite gradient exists; use 0.
          double sum_a = 0;
          for_each_term(
              [&](int64_t, double coefficient) { sum_a += coefficient; });
          if (grad != nullptr) std::fill(grad, grad + classes, T(0));
          return sum_a == 0 ? 0.0 : std::numeric_limits<double>::infinity();
        }
        for (int64_t c = 0; c < classes; ++c) {
          const T e = std::exp(x[c] - max_logit);
          sum_exp += e;
          if (grad != nullptr) grad[c] = e;  // Reused below: exp once.
        }
        const double lse = static_cast<double>(max_logit) + std::log(sum_exp);
        double loss = 0, sum_a = 0;
        for_each_term([&](int64_t c, double coefficient) {
          loss += coefficient * (lse - static_cast<double>(x[c]));
          sum_a += coefficient;
        });
        if (grad != nullptr) {
          const double p_factor = scale * sum_a / sum_exp;
          for (int64_t c = 0; c < classes; ++c) {
            grad[c] = T(static_cast<double>(grad[c]) * p_factor);
          }
          for_each_term([&](int64_t c, double coefficient) {
            grad[c] = T(static_cast<double>(grad[c]) - scale * coefficient);
          });
        }
        return loss;
      }
      case InputKind::kProbabilities: {
        if (grad != nullptr) std::fill(grad, grad + classes, T(0));
        double loss = 0;
        for_each_term([&](int64_t c, double coefficient) {
          const double p = static_cast<double>(x[c]);
          loss -= coefficient * std::max(std::log(p), kMinLog);
          if (grad != nullptr) {
            grad[c] = T(-scale * coefficient / std::max(p, kMinProbability));
          }
        });
        return loss;
      }
      case InputKind::kLogProbabilities: {
        if (grad != nullptr) std::fill(grad, grad + classes, T(0));
        double loss = 0;
        for_each_term([&](int64_t c, double coefficient) {
          loss -= coefficient * static_cast<double>(x[c]);
          if (grad != nullptr) grad[c] = T(-scale * coefficient);
        });
        return loss;
      }
    }
    return 0;
  }
};

}  // namespace

LossSpec CrossEntropySpec() {
  LossSpec spec;
  spec.name = "cross_entropy";
  spec.description =
      "Softmax cross-entropy (PyTorch F.cross_entropy): hard class indices "
      "or soft target distributions.";
  spec.target_kinds = {TargetKind::kClassIndex, TargetKind::kProbabilities};
  spec.input_kinds = {InputKind::kLogits, InputKind::kProbabilities,
                      InputKind::kLogProbabilities};
  spec.options = {
      {.name = kClassWeight,
       .type = OptionType::kPerClass,
       .description = "Weight of each class (PyTorch `weight`)."},
      {.name = kIgnoreIndex,
       .type = OptionType::kInteger,
       .description = "Hard targets equal to this are ignored: zero loss and "
                      "gradient, excluded from the mean.",
       .default_value = kDefaultIgnoreIndex},
      {.name = kLabelSmoothing,
       .type = OptionType::kNumber,
       .description = "Label smoothing e: the target class gets 1 - e + e/C, "
                      "every other class e/C (PyTorch).",
       .default_value = 0,
       .minimum = 0.0,
       .maximum = 1.0},
  };
  spec.float_ops = MakeOps<CrossEntropy, float>();
  spec.double_ops = MakeOps<CrossEntropy, double>();
  return spec;
}

}  // namespace lossd::internal
