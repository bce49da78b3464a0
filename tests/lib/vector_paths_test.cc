// The float32 vector fast paths (lib/src/cross_entropy_fast.cc,
// vector_kernels.cc) against the float64 scalar kernels on random cases
// over their options. Compute<double> never takes a vector path, so it is
// the reference; CTest runs this binary once per instruction set the
// machine has (LOSSD_VECTOR_KERNELS), so every path is checked.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "lossd/compute.h"
#include "lossd/registry.h"

namespace lossd {
namespace {

struct Case {
  std::string loss = "cross_entropy";
  int64_t rows = 1;
  int64_t classes = 1;
  std::vector<double> input;
  std::vector<int64_t> labels;        // Hard targets, or empty.
  std::vector<double> dense_target;   // Soft targets, or empty.
  std::vector<double> sample_weight;  // Per row, or empty.
  std::vector<uint8_t> mask;          // Per row, or empty.
  std::vector<double> grad_output;    // Per row under kNone, or empty.
  Reduction reduction = Reduction::kMean;
  double grad_scale = 1;
  OptionValues options;
  std::string description;
};

template <typename T>
struct Answer {
  LossResult result;
  std::vector<T> per_example;
  std::vector<T> grad;
};

template <typename T>
Answer<T> RunCase(const Case& c) {
  auto cast = [](const std::vector<double>& v) {
    return std::vector<T>(v.begin(), v.end());
  };
  const std::vector<T> input = cast(c.input), target = cast(c.dense_target),
                       weight = cast(c.sample_weight),
                       grad_output = cast(c.grad_output);
  LossRequest<T> request;
  request.loss = FindLoss(c.loss);
  request.input = {input, {c.rows, c.classes}};
  if (!c.labels.empty()) {
    request.class_index_target = TensorView<int64_t>{c.labels, {c.rows}};
  } else {
    request.dense_target = TensorView<T>{target, {c.rows, c.classes}};
  }
  if (!weight.empty()) request.sample_weight = TensorView<T>{weight, {c.rows}};
  if (!c.mask.empty()) request.mask = TensorView<uint8_t>{c.mask, {c.rows}};
  if (!grad_output.empty()) {
    request.grad_output =
        TensorView<T>{grad_output, request.loss->element_wise
                                       ? std::vector<int64_t>{c.rows, c.classes}
                                       : std::vector<int64_t>{c.rows}};
  }
  request.reduction = c.reduction;
  request.grad_scale = c.grad_scale;
  request.options = c.options;
  Answer<T> answer;
  answer.per_example.resize(request.loss->element_wise ? c.rows * c.classes
                                                       : c.rows);
  answer.grad.resize(c.rows * c.classes);
  absl::StatusOr<LossResult> result = Compute<T>(
      request, absl::MakeSpan(answer.per_example), absl::MakeSpan(answer.grad));
  EXPECT_TRUE(result.ok()) << result.status() << " " << c.description;
  if (result.ok()) answer.result = *result;
  return answer;
}

// |actual - expected| <= rtol * max(|expected|, scale) + floor, as the
// oracle suite compares float32 answers with float64 ones.
void ExpectClose(const std::vector<float>& actual,
                 const std::vector<double>& expected, double floor,
                 const std::string& what) {
  double scale = 0;
  for (double e : expected) {
    if (std::isfinite(e)) scale = std::max(scale, std::abs(e));
  }
  for (size_t i = 0; i < expected.size(); ++i) {
    const double e = expected[i], a = actual[i];
    if (std::isnan(e)) {
      EXPECT_TRUE(std::isnan(a)) << what << "[" << i << "]";
      continue;
    }
    if (std::isinf(e)) {
      EXPECT_EQ(a, e) << what << "[" << i << "]";
      continue;
    }
    ASSERT_LE(std::abs(a - e), 2e-5 * std::max(std::abs(e), scale) + floor)
        << what << "[" << i << "] = " << a << ", float64 " << e;
  }
}

Case RandomCase(std::mt19937& random, int64_t classes, int index) {
  Case c;
  std::uniform_real_distribution<double> uniform(0, 1);
  auto chance = [&](double p) { return uniform(random) < p; };
  c.classes = classes;
  c.rows = 1 + random() % (classes <= 16 ? 150 : classes <= 1000 ? 20 : 3);
  const double spread = std::vector<double>{0.1, 1, 4, 30, 1e4}[random() % 5];
  std::normal_distribution<double> normal(0, spread);
  c.input.resize(c.rows * classes);
  // Values are float32 from the start, so both precisions see the same.
  for (double& x : c.input) x = static_cast<float>(normal(random));
  const bool hard = chance(0.6);
  if (hard) {
    for (int64_t r = 0; r < c.rows; ++r) {
      const int64_t y = random() % classes;
      c.labels.push_back(chance(0.05) ? -100 : y);
      // Confident rows: p of the label within rounding of 1.
      if (chance(0.3)) c.input[r * classes + y] += 60;
    }
  } else {
    c.dense_target.resize(c.rows * classes);
    for (int64_t r = 0; r < c.rows; ++r) {
      double sum = 0;
      const int64_t peak = random() % classes;
      for (int64_t k = 0; k < classes; ++k) {
        double t = chance(0.5) ? 0.0 : uniform(random);
        if (k == peak && chance(0.5)) t = 1e6;  // Nearly one-hot.
        c.dense_target[r * classes + k] = t;
        sum += t;
      }
      for (int64_t k = 0; k < classes; ++k) {
        c.dense_target[r * classes + k] = static_cast<float>(
            sum > 0 ? c.dense_target[r * classes + k] / sum : 1.0 / classes);
      }
      if (chance(0.3)) c.input[r * classes + peak] += 60;
    }
  }
  // Ties at the maximum, and rows the scalar kernel must take over.
  for (int64_t r = 0; r < c.rows; ++r) {
    double* row = c.input.data() + r * classes;
    if (classes > 1 && chance(0.1)) {
      row[random() % classes] = *std::max_element(row, row + classes);
    }
    if (chance(0.03)) row[random() % classes] = -INFINITY;
    if (chance(0.01)) row[random() % classes] = INFINITY;
    if (chance(0.01)) row[random() % classes] = NAN;
  }
  if (chance(0.4)) {
    std::vector<double> weight;
    for (int64_t k = 0; k < classes; ++k) {
      weight.push_back(static_cast<float>(0.1 + 2 * uniform(random)));
    }
    c.options.SetPerClass("class_weight", weight);
  }
  if (chance(0.4)) {
    c.options.SetNumber("label_smoothing", chance(0.5) ? 0.1 : 0.37);
    c.options.SetChoice("label_smoothing_rule",
                        chance(0.5) ? "uniform" : "other_classes");
  }
  if (chance(0.3)) c.options.SetNumber("z_loss", chance(0.5) ? 1e-4 : 0.3);
  if (chance(0.3)) {
    for (int64_t r = 0; r < c.rows; ++r) {
      c.sample_weight.push_back(static_cast<float>(2 * uniform(random)));
    }
  }
  if (chance(0.2)) {
    for (int64_t r = 0; r < c.rows; ++r) c.mask.push_back(chance(0.8));
  }
  c.reduction = std::vector<Reduction>{Reduction::kNone, Reduction::kSum,
                                       Reduction::kMean,
                                       Reduction::kBatchMean}[random() % 4];
  if (c.reduction == Reduction::kNone && chance(0.5)) {
    for (int64_t r = 0; r < c.rows; ++r) {
      c.grad_output.push_back(static_cast<float>(normal(random)));
    }
  }
  if (chance(0.2)) c.grad_scale = 1024;
  c.description = absl::StrCat(
      "case ", index, ": ", c.rows, " x ", classes, hard ? " hard" : " soft",
      " smoothing ", c.options.Number("label_smoothing", 0), " ",
      c.options.Choice("label_smoothing_rule", "uniform"), " z_loss ",
      c.options.Number("z_loss", 0), " class_weight ",
      c.options.Has("class_weight"), " sample_weight ",
      !c.sample_weight.empty(), " mask ", !c.mask.empty());
  return c;
}

// A binary_cross_entropy case: multi-label or soft targets, pos_weight,
// class weights, both smoothing rules, row weights and masks.
Case RandomBinaryCase(std::mt19937& random, int64_t classes, int index) {
  Case c;
  c.loss = "binary_cross_entropy";
  std::uniform_real_distribution<double> uniform(0, 1);
  auto chance = [&](double p) { return uniform(random) < p; };
  c.classes = classes;
  c.rows = 1 + random() % (classes <= 100 ? 40 : 4);
  const double spread = std::vector<double>{0.1, 1, 4, 30, 1e4}[random() % 5];
  std::normal_distribution<double> normal(0, spread);
  const bool soft = chance(0.3);
  for (int64_t i = 0; i < c.rows * classes; ++i) {
    c.input.push_back(static_cast<float>(normal(random)));
    c.dense_target.push_back(soft          ? static_cast<float>(uniform(random))
                             : chance(0.3) ? 1
                                           : 0);
    if (chance(0.002)) c.input.back() = INFINITY;
    if (chance(0.002)) c.input.back() = -INFINITY;
  }
  auto per_class = [&](double low, double high) {
    std::vector<double> values;
    for (int64_t k = 0; k < classes; ++k) {
      values.push_back(
          static_cast<float>(low + (high - low) * uniform(random)));
    }
    return values;
  };
  if (chance(0.4)) c.options.SetPerClass("pos_weight", per_class(0.1, 5));
  if (chance(0.4)) c.options.SetPerClass("weight", per_class(0.1, 2));
  if (chance(0.4)) {
    c.options.SetNumber("label_smoothing", chance(0.5) ? 0.1 : 0.37);
    c.options.SetChoice("label_smoothing_rule",
                        chance(0.5) ? "uniform" : "other_classes");
  }
  if (chance(0.3)) {
    for (int64_t r = 0; r < c.rows; ++r) {
      c.sample_weight.push_back(static_cast<float>(2 * uniform(random)));
    }
  }
  if (chance(0.2)) {
    for (int64_t r = 0; r < c.rows; ++r) c.mask.push_back(chance(0.8));
  }
  c.reduction = std::vector<Reduction>{Reduction::kNone, Reduction::kSum,
                                       Reduction::kMean,
                                       Reduction::kBatchMean}[random() % 4];
  if (c.reduction == Reduction::kNone && chance(0.5)) {
    for (int64_t i = 0; i < c.rows * classes; ++i) {
      c.grad_output.push_back(static_cast<float>(normal(random)));
    }
  }
  if (chance(0.2)) c.grad_scale = 1024;
  c.description = absl::StrCat(
      "binary case ", index, ": ", c.rows, " x ", classes,
      soft ? " soft" : " multi-label", " smoothing ",
      c.options.Number("label_smoothing", 0), " ",
      c.options.Choice("label_smoothing_rule", "uniform"), " pos_weight ",
      c.options.Has("pos_weight"), " weight ", c.options.Has("weight"),
      " sample_weight ", !c.sample_weight.empty(), " mask ", !c.mask.empty());
  return c;
}

void ExpectFloatMatchesFloat64(const Case& c) {
  const Answer<double> expected = RunCase<double>(c);
  const Answer<float> actual = RunCase<float>(c);
  double largest = 0;
  for (double x : c.input) {
    if (std::isfinite(x)) largest = std::max(largest, std::abs(x));
  }
  // lse - x_y and p - 1 near 0 are differences of much larger values.
  const double floor = 1e-6 * std::max(1.0, largest);
  double per_example_scale = 0;
  for (double l : expected.per_example) {
    if (std::isfinite(l)) per_example_scale += std::abs(l);
  }
  SCOPED_TRACE(c.description);
  ExpectClose(actual.per_example, expected.per_example, floor, "per_example");
  // As the oracle suite: 64 float64 epsilons of the largest input times the
  // largest weights (gradient scale, sample and class weights up to 2).
  const double grad_floor =
      64 * 2.2e-16 * std::max(1.0, largest) * std::abs(c.grad_scale) * 4;
  ExpectClose(actual.grad, expected.grad, grad_floor, "grad");
  const double loss = expected.result.loss;
  if (std::isfinite(loss)) {
    const double denominator = expected.result.statistics.denominator > 0
                                   ? expected.result.statistics.denominator
                                   : 1.0;
    EXPECT_NEAR(actual.result.loss, loss,
                2e-5 * per_example_scale / denominator + floor)
        << "loss";
  } else {
    EXPECT_EQ(std::isnan(actual.result.loss), std::isnan(loss));
  }
  EXPECT_EQ(actual.result.statistics.valid_count,
            expected.result.statistics.valid_count);
  EXPECT_NEAR(actual.result.statistics.weight_sum,
              expected.result.statistics.weight_sum,
              1e-6 * std::max(1.0, expected.result.statistics.weight_sum));
}

TEST(VectorPaths, BinaryCrossEntropyFloatMatchesFloat64) {
  std::mt19937 random(7);
  int index = 0;
  for (int64_t classes : {1, 2, 7, 16, 17, 100, 1000}) {
    for (int repeat = 0; repeat < 40; ++repeat) {
      ExpectFloatMatchesFloat64(RandomBinaryCase(random, classes, index++));
    }
  }
}

// Rows whose softmax nearly equals the (smoothed) target: every gradient
// entry is a difference that cancels to a small fraction of its terms, which
// float32 cannot hold; the vector paths must hand such rows to float64.
TEST(VectorPaths, CrossEntropyGradientsThatCancel) {
  std::mt19937 random(99);
  std::uniform_real_distribution<double> uniform(0.05, 1);
  std::normal_distribution<double> jitter(0, 1e-4);
  int index = 0;
  for (int64_t classes : {2, 3, 10, 16, 17, 100, 1000}) {
    for (bool hard : {true, false}) {
      Case c;
      c.classes = classes;
      c.rows = 37;
      const double smoothing = 0.3;
      c.options.SetNumber("label_smoothing", smoothing);
      for (int64_t r = 0; r < c.rows; ++r) {
        std::vector<double> t(classes);
        double sum = 0;
        for (double& v : t) sum += (v = uniform(random));
        for (double& v : t) v /= sum;
        const int64_t y = random() % classes;
        if (hard) c.labels.push_back(y);
        for (int64_t k = 0; k < classes; ++k) {
          if (!hard) c.dense_target.push_back(static_cast<float>(t[k]));
          // The smoothed target the row's softmax should match.
          const double target =
              hard ? (1 - smoothing) * (k == y) + smoothing / classes
                   : (1 - smoothing) * t[k] + smoothing / classes;
          c.input.push_back(
              static_cast<float>(std::log(target) + 2 + jitter(random)));
        }
      }
      c.description = absl::StrCat("cancelling case ", index++, ": ", c.rows,
                                   " x ", classes, hard ? " hard" : " soft");
      ExpectFloatMatchesFloat64(c);
    }
  }
}

// Binary cross-entropy whose gradient sigmoid(x) - y' all but vanishes:
// saturated logits on 0/1 targets, and soft targets equal to sigmoid(x).
TEST(VectorPaths, BinaryCrossEntropyGradientsThatCancel) {
  std::mt19937 random(5);
  std::normal_distribution<double> normal(0, 2), jitter(0, 1e-5);
  int index = 0;
  for (int64_t classes : {1, 2, 16, 100}) {
    for (bool saturated : {true, false}) {
      Case c;
      c.loss = "binary_cross_entropy";
      c.classes = classes;
      c.rows = 9;
      for (int64_t i = 0; i < c.rows * classes; ++i) {
        if (saturated) {
          const bool one = random() % 2;
          c.input.push_back(static_cast<float>(
              (one ? 1 : -1) * (15 + 10 * std::abs(normal(random)))));
          c.dense_target.push_back(one ? 1.0f : 0.0f);
        } else {
          const float x = static_cast<float>(normal(random));
          c.input.push_back(x);
          c.dense_target.push_back(static_cast<float>(
              1 / (1 + std::exp(-static_cast<double>(x))) + jitter(random)));
        }
      }
      c.description = absl::StrCat("binary cancelling case ", index++, ": ",
                                   classes, saturated ? " saturated" : " soft");
      ExpectFloatMatchesFloat64(c);
    }
  }
}

TEST(VectorPaths, CrossEntropyFloatMatchesFloat64) {
  std::mt19937 random(20240611);
  int index = 0;
  // Past 8192 classes rows take two passes (a maximum per chunk): 8193 and
  // 20000 end in a partial chunk and vector.
  for (int64_t classes :
       {1, 2, 3, 7, 8, 9, 10, 15, 16, 17, 31, 100, 1000, 4099, 8193, 20000}) {
    for (int repeat = 0; repeat < (classes <= 100 ? 60 : 10); ++repeat) {
      ExpectFloatMatchesFloat64(RandomCase(random, classes, index++));
    }
  }
}

}  // namespace
}  // namespace lossd
