// The softmax cross-entropy family: `cross_entropy` (PyTorch's
// F.cross_entropy, with label-smoothing rules, z-loss and logit soft-capping),
// `nll` (PyTorch's F.nll_loss) and `poly` (optax's poly_loss_cross_entropy).
//
// Every variant is "loss = -sum_c a_c log p_c" for a per-row coefficient
// vector a_c = s w_c t'_c: s the sample weight, w_c the class weight, t' the
// (smoothed) target distribution, one-hot for class indices. Then
//   d loss / d logit_c  = p_c sum(a) - a_c
//   d loss / d log p_c  = -a_c
//   d loss / d p_c      = -a_c / p_c
// With t' = (1 - e) onehot + e/C this is exactly PyTorch's label smoothing
// with class weights: (1 - e) w_y nll + (e/C) sum_c w_c (-log p_c).
//
// Extra terms, per row: z-loss z s lse^2 (gradient 2 z s lse p_c); Poly-1
// e_poly sum_c a_c (1 - p_c) (gradient -e_poly (a_c p_c - p_c sum_k a_k p_k));
// soft-capping replaces each logit x by m tanh(x / m) first and multiplies
// the gradient by 1 - tanh^2(x / m).
//
// A class whose logit (or log-probability) is -inf is impossible: it gets no
// smoothing mass (the smoothing spreads over the K possible classes), terms
// with a_c = 0 are skipped (0 log 0 = 0), and its gradient is 0. The loss is
// then finite whenever no target mass sits on an impossible class; PyTorch
// gives NaN or inf there.

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <type_traits>
#include <vector>

#include "cross_entropy_fast.h"
#include "kernel.h"
#include "lossd/registry.h"
#include "numerics.h"
#include "vector_kernels.h"

namespace lossd::internal {
namespace {

constexpr absl::string_view kClassWeight = "class_weight";
constexpr absl::string_view kIgnoreIndex = "ignore_index";
constexpr absl::string_view kLabelSmoothing = "label_smoothing";
constexpr absl::string_view kLabelSmoothingRule = "label_smoothing_rule";
constexpr absl::string_view kZLoss = "z_loss";
constexpr absl::string_view kLogitSoftcap = "logit_softcap";
constexpr absl::string_view kEpsilon = "epsilon";
constexpr double kDefaultIgnoreIndex = -100;  // PyTorch's default.

// PyTorch clamps log(p) at -100 for losses on probabilities (BCELoss); so do
// we, and keep the gradient's denominator away from 0 the same way.
constexpr double kMinLog = -100;
constexpr double kMinProbability = 1e-12;

// The option declarations the family shares.
OptionSpec ClassWeightOption() {
  return {.name = kClassWeight,
          .type = OptionType::kPerClass,
          .description =
              "Weight of each class (PyTorch `weight`). With class "
              "indices REDUCTION_MEAN divides by the sum of the "
              "target classes' weights."};
}
OptionSpec IgnoreIndexOption() {
  return {.name = kIgnoreIndex,
          .type = OptionType::kInteger,
          .description =
              "Class indices equal to this are ignored: zero loss "
              "and gradient, excluded from the mean.",
          .default_value = kDefaultIgnoreIndex,
          .class_index_only = true};
}
OptionSpec LabelSmoothingOption() {
  return {.name = kLabelSmoothing,
          .type = OptionType::kNumber,
          .description =
              "Label smoothing e: the target distribution becomes "
              "(1 - e) t + e/C (see label_smoothing_rule).",
          .default_value = 0,
          .minimum = 0.0,
          .maximum = 1.0};
}

enum class SmoothingRule { kUniform, kOtherClasses };

struct Settings {
  absl::Span<const double> class_weight;  // Empty: all ones.
  int64_t ignore_index;
  double smoothing;
  SmoothingRule rule;
  double z_loss;
  double softcap;  // 0: off.
  double poly_epsilon;

  template <typename T>
  explicit Settings(const KernelArgs<T>& args)
      : class_weight(args.PerClass(kClassWeight)),
        ignore_index(args.Integer(kIgnoreIndex)),
        smoothing(args.Number(kLabelSmoothing)),
        rule(args.Choice(kLabelSmoothingRule) == "other_classes"
                 ? SmoothingRule::kOtherClasses
                 : SmoothingRule::kUniform),
        z_loss(args.Number(kZLoss)),
        softcap(args.Number(kLogitSoftcap)),
        poly_epsilon(args.Number(kEpsilon)) {}

  double Weight(int64_t c) const {
    return class_weight.empty() ? 1.0 : class_weight[c];
  }
};

// Computes rows one at a time with scratch space for one row.
template <typename T>
class RowComputer {
 public:
  explicit RowComputer(const KernelArgs<T>& args)
      : args_(args),
        settings_(args),
        classes_(args.classes),
        logits_(classes_),
        probability_(classes_),
        coefficient_(classes_),
        target_slope_(classes_),
        chain_(settings_.softcap > 0 ? classes_ : 0) {}

  const Settings& settings() const { return settings_; }

  // The loss of row `r` with sample weight `s`; writes its gradients.
  double Run(int64_t r, double s) {
    const T* x = args_.input + r * classes_;
    T* grad =
        args_.grad_input == nullptr ? nullptr : args_.grad_input + r * classes_;
    T* grad_target = args_.grad_target == nullptr
                         ? nullptr
                         : args_.grad_target + r * classes_;
    const double scale = args_.GradScale(r);
    const bool logits = args_.input_kind == InputKind::kLogits;

    // Transformed inputs, and the possible classes.
    int64_t possible = 0;
    for (int64_t c = 0; c < classes_; ++c) {
      double v = static_cast<double>(x[c]);
      if (logits && settings_.softcap > 0) {
        const double t = std::tanh(v / settings_.softcap);
        v = settings_.softcap * t;
        chain_[c] = 1 - t * t;
      }
      logits_[c] = v;
      const bool impossible =
          args_.input_kind != InputKind::kProbabilities && v == -kInfinity;
      possible += !impossible;
    }
    const double sum_a = BuildCoefficients(r, s, possible);

    switch (args_.input_kind) {
      case InputKind::kLogits:
        return LogitsRow(s, sum_a, possible, scale, grad, grad_target);
      case InputKind::kProbabilities: {
        double loss = 0;
        for (int64_t c = 0; c < classes_; ++c) {
          const double p = logits_[c];
          const double log_p = std::max(std::log(p), kMinLog);
          const double a = coefficient_[c];
          if (a != 0) loss -= a * log_p;
          if (grad != nullptr) {
            grad[c] =
                T(a == 0 ? 0.0 : -scale * a / std::max(p, kMinProbability));
          }
          if (grad_target != nullptr) {
            grad_target[c] = T(TargetGradient(c, s, scale, -log_p));
          }
        }
        return loss;
      }
      case InputKind::kLogProbabilities: {
        double loss = 0;
        for (int64_t c = 0; c < classes_; ++c) {
          const double a = coefficient_[c];
          if (a != 0) loss -= a * logits_[c];
          if (grad != nullptr) grad[c] = T(-scale * a);
          if (grad_target != nullptr) {
            grad_target[c] = T(TargetGradient(c, s, scale, -logits_[c]));
          }
        }
        return loss;
      }
    }
    return 0;
  }

 private:
  // Fills coefficient_ (a_c) and target_slope_ (d t'_c / d t_c) for row r;
  // returns sum(a).
  double BuildCoefficients(int64_t r, double s, int64_t possible) {
    const double e = settings_.smoothing;
    const T* soft = args_.dense_target == nullptr
                        ? nullptr
                        : args_.dense_target + r * classes_;
    const int64_t label = soft == nullptr ? args_.class_index[r] : -1;
    // The smoothing spreads over the possible classes. The other-classes
    // rule (fairseq) needs at least two; with fewer nothing is smoothed.
    double keep = 1 - e, spread = 0, spread_slope = 0;
    if (settings_.rule == SmoothingRule::kUniform) {
      if (possible > 0) spread = e / static_cast<double>(possible);
    } else if (possible >= 2) {
      spread = e / static_cast<double>(possible - 1);
      spread_slope = -spread;  // d/dt of spread * (1 - t).
    } else {
      keep = 1;
    }
    double sum_a = 0;
    for (int64_t c = 0; c < classes_; ++c) {
      const double t =
          soft != nullptr ? static_cast<double>(soft[c]) : (c == label ? 1 : 0);
      const bool impossible = args_.input_kind != InputKind::kProbabilities &&
                              logits_[c] == -kInfinity;
      double smoothed = keep * t, slope = keep;
      if (!impossible && e != 0) {
        if (settings_.rule == SmoothingRule::kUniform) {
          smoothed += spread;
        } else {
          smoothed += spread * (1 - t);
          slope += spread_slope;
        }
      }
      const double a = s * settings_.Weight(c) * smoothed;
      coefficient_[c] = a;
      target_slope_[c] = slope;
      sum_a += a;
    }
    return sum_a;
  }

  // d loss / d t_c given d loss / d t'_c per unit of a (`per_unit`): zero
  // when t_c does not move the loss, even where `per_unit` is infinite.
  double TargetGradient(int64_t c, double s, double scale,
                        double per_unit) const {
    const double slope = s * settings_.Weight(c) * target_slope_[c];
    return slope == 0 ? 0.0 : scale * slope * per_unit;
  }

  double LogitsRow(double s, double sum_a, int64_t possible, double scale,
                   T* grad, T* grad_target) {
    if (possible == 0) {
      // Every class is impossible: the loss is infinite unless no class
      // carries target mass, and no finite gradient exists; use 0.
      if (grad != nullptr) std::fill(grad, grad + classes_, T(0));
      if (grad_target != nullptr) {
        for (int64_t c = 0; c < classes_; ++c) {
          grad_target[c] = T(target_slope_[c] == 0 ? 0.0 : kInfinity);
        }
      }
      return sum_a == 0 ? 0.0 : kInfinity;
    }
    const LogSumExp lse_parts = RowLogSumExp(
        classes_, [&](int64_t c) { return logits_[c]; }, probability_.data());
    const double lse = lse_parts.value();
    const double epsilon = settings_.poly_epsilon;
    const int64_t top = lse_parts.argmax;
    // 1 - p of the dominant class, and sums over the other classes, so that
    // its gradient p sum(a) - a = sum_{k != top} a_k - sum(a) (1 - p) does
    // not cancel when p is within rounding of 1.
    const double top_one_minus_p =
        lse_parts.OneMinusProbability(top, probability_[top]);
    double loss = 0, sum_ap = 0, other_a = 0, other_ap = 0;
    for (int64_t c = 0; c < classes_; ++c) {
      const double e = probability_[c];
      probability_[c] = lse_parts.Probability(e);
      const double a = coefficient_[c];
      if (a == 0) continue;
      if (c != top) {
        other_a += a;
        other_ap += a * probability_[c];
      }
      // lse - x_c, as (max - x_c) + log_sum: exact for the dominant class.
      loss -= a * lse_parts.LogProbability(logits_[c]);
      if (epsilon != 0) {
        loss += epsilon * a * lse_parts.OneMinusProbability(c, e);
      }
      sum_ap += a * probability_[c];
    }
    loss += settings_.z_loss * s * lse * lse;
    if (grad != nullptr) {
      const double z_factor = 2 * settings_.z_loss * s * lse;
      for (int64_t c = 0; c < classes_; ++c) {
        const double p = probability_[c];
        const double a = coefficient_[c];
        double g = p * z_factor;
        if (c == top) {
          g += other_a - sum_a * top_one_minus_p;
          if (epsilon != 0) g += epsilon * p * (other_ap - a * top_one_minus_p);
        } else {
          g += p * sum_a - a;
          if (epsilon != 0) g += epsilon * p * (sum_ap - a);
        }
        if (settings_.softcap > 0) g *= chain_[c];
        grad[c] = T(scale * g);
      }
    }
    if (grad_target != nullptr) {
      for (int64_t c = 0; c < classes_; ++c) {
        const double d =
            -lse_parts.LogProbability(logits_[c]) +
            epsilon * (c == top ? top_one_minus_p : 1 - probability_[c]);
        grad_target[c] = T(TargetGradient(c, s, scale, d));
      }
    }
    return loss;
  }

  const KernelArgs<T>& args_;
  Settings settings_;
  int64_t classes_;
  std::vector<double> logits_;  // Soft-capped logits, or the input.
  std::vector<double> probability_;
  std::vector<double> coefficient_;
  std::vector<double> target_slope_;
  std::vector<double> chain_;
};

struct CrossEntropy {
  static constexpr bool kReads16BitInput = true;

  // The vector path (cross_entropy_fast.h) reads a row before writing it.
  template <typename T>
  static bool InPlaceSafe(const KernelArgs<T>& args) {
    if constexpr (!std::is_same_v<T, float>) {
      return false;
    } else {
      const Settings settings(args);
      return SelectVectorKernels() != nullptr &&
             args.input_kind == InputKind::kLogits && settings.softcap == 0 &&
             settings.poly_epsilon == 0 && args.grad_target == nullptr;
    }
  }

  template <typename T>
  static KernelTotals Run(const KernelArgs<T>& args) {
    if constexpr (std::is_same_v<T, float>) {
      // The common case on the vector kernels (cross_entropy_fast.h).
      const Settings settings(args);
      const VectorKernels* kernels = SelectVectorKernels();
      if (kernels != nullptr && args.input_kind == InputKind::kLogits &&
          settings.softcap == 0 && settings.poly_epsilon == 0 &&
          args.grad_target == nullptr) {
        const CrossEntropyFastSettings fast = {
            .class_weight = settings.class_weight,
            .ignore_index = settings.ignore_index,
            .smoothing = settings.smoothing,
            .other_classes_rule = settings.rule == SmoothingRule::kOtherClasses,
            .z_loss = settings.z_loss};
        // A row the vector kernels leave to the scalar one, alone.
        return RunCrossEntropyFast(
            args, *kernels, fast, [&](int64_t r, double s, const float* x) {
              KernelArgs<float> row = RowSlice(args, r, r + 1);
              row.input = x;
              row.input_16bit = nullptr;
              return RowComputer<float>(row).Run(0, s);
            });
      }
      if (args.input_16bit != nullptr) {
        return WithFloatInput(args, [](const KernelArgs<float>& copy) {
          return Run<float>(copy);
        });
      }
    }
    RowComputer<T> computer(args);
    const Settings& settings = computer.settings();
    const int64_t classes = args.classes;
    KernelTotals totals;
    for (int64_t r = 0; r < args.rows; ++r) {
      const bool hard = args.class_index != nullptr;
      if (!args.RowIncluded(r) ||
          (hard && args.class_index[r] == settings.ignore_index)) {
        if (args.per_example != nullptr) args.per_example[r] = T(0);
        for (T* out : {args.grad_input, args.grad_target}) {
          if (out != nullptr) {
            std::fill(out + r * classes, out + (r + 1) * classes, T(0));
          }
        }
        continue;
      }
      const double s = static_cast<double>(args.RowWeight(r));
      const double loss = computer.Run(r, s);
      if (args.per_example != nullptr) args.per_example[r] = T(loss);
      totals.loss_sum += loss;
      totals.valid_count += 1;
      totals.weight_sum += hard ? s * settings.Weight(args.class_index[r]) : s;
    }
    return totals;
  }
};

}  // namespace

LossSpec CrossEntropySpec() {
  LossSpec spec;
  spec.name = "cross_entropy";
  spec.description =
      "Softmax cross-entropy (PyTorch F.cross_entropy): hard class indices "
      "or soft target distributions.";
  spec.formula =
      "loss = -sum_c a_c log softmax(x)_c + z_loss s lse(x)^2, a_c = s w_c "
      "t'_c; d loss/dx_c = p_c sum(a) - a_c + 2 z_loss s lse p_c";
  spec.target_kinds = {TargetKind::kClassIndex, TargetKind::kProbabilities};
  spec.input_kinds = {InputKind::kLogits, InputKind::kProbabilities,
                      InputKind::kLogProbabilities};
  spec.checks_probabilities = true;
  spec.has_target_gradient = true;
  spec.options = {
      ClassWeightOption(),
      IgnoreIndexOption(),
      LabelSmoothingOption(),
      {.name = kLabelSmoothingRule,
       .type = OptionType::kChoice,
       .description =
           "How label_smoothing spreads: uniform gives every class e/C "
           "(target 1 - e + e/C; PyTorch, Keras, TF, optax); other_classes "
           "gives the others e/(C-1) (target 1 - e; fairseq). C counts the "
           "classes whose logit is not -inf.",
       .choices = {"uniform", "other_classes"}},
      {.name = kZLoss,
       .type = OptionType::kNumber,
       .description = "z-loss coefficient: adds z_loss * logsumexp(x)^2 per "
                      "example (PaLM, Liger-Kernel lse_square_scale).",
       .default_value = 0,
       .minimum = 0.0,
       .logits_only = true},
      {.name = kLogitSoftcap,
       .type = OptionType::kNumber,
       .description = "Soft cap m > 0: logits become m tanh(x/m) before the "
                      "softmax (Gemma 2). 0 turns it off.",
       .default_value = 0,
       .minimum = 0.0,
       .logits_only = true},
  };
  spec.mean_denominator_rule = MeanDenominatorRule::kTargetWeightSum;
  spec.float_ops = MakeOps<CrossEntropy, float>();
  spec.double_ops = MakeOps<CrossEntropy, double>();
  return spec;
}

LossSpec NllSpec() {
  LossSpec spec;
  spec.name = "nll";
  spec.description =
      "Negative log-likelihood of log-probabilities (PyTorch F.nll_loss).";
  spec.formula =
      "loss = -w_y x_y (x: log-probabilities); d loss/dx_c = -w_y [c = y]";
  spec.target_kinds = {TargetKind::kClassIndex};
  spec.input_kinds = {InputKind::kLogProbabilities};
  spec.options = {ClassWeightOption(), IgnoreIndexOption()};
  spec.mean_denominator_rule = MeanDenominatorRule::kTargetWeightSum;
  spec.float_ops = MakeOps<CrossEntropy, float>();
  spec.double_ops = MakeOps<CrossEntropy, double>();
  return spec;
}

LossSpec PolySpec() {
  LossSpec spec;
  spec.name = "poly";
  spec.description =
      "Poly-1 cross-entropy (Leng et al. 2022; optax "
      "poly_loss_cross_entropy): cross-entropy plus epsilon (1 - p_t).";
  spec.formula =
      "loss = CE + epsilon sum_c a_c (1 - p_c); d loss/dx_c = p_c sum(a) - a_c "
      "- epsilon (a_c p_c - p_c sum_k a_k p_k)";
  spec.target_kinds = {TargetKind::kClassIndex, TargetKind::kProbabilities};
  spec.input_kinds = {InputKind::kLogits};
  spec.options = {
      {.name = kEpsilon,
       .type = OptionType::kNumber,
       .description = "Weight of the first polynomial term (optax default 2).",
       .default_value = 2.0,
       .minimum = -1.0},
      ClassWeightOption(),
      IgnoreIndexOption(),
      LabelSmoothingOption(),
  };
  spec.mean_denominator_rule = MeanDenominatorRule::kTargetWeightSum;
  spec.float_ops = MakeOps<CrossEntropy, float>();
  spec.double_ops = MakeOps<CrossEntropy, double>();
  return spec;
}

}  // namespace lossd::internal
