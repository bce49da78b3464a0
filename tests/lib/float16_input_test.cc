// LossRequest::input_16bit: bfloat16 and float16 input, read directly by
// the losses that can and copied for the others, gives bitwise the answer of
// the same values given as float32.

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "Eigen/Core"
#include "gtest/gtest.h"
#include "lossd/compute.h"
#include "lossd/registry.h"

namespace lossd {
namespace {

struct Batch {
  std::vector<int64_t> shape;
  int class_axis = -1;
  std::vector<uint16_t> bits;  // The input, 16-bit.
  std::vector<float> values;   // The same values as float32.
  std::vector<int64_t> labels;
  std::vector<int64_t> label_shape;
  std::vector<float> dense;
};

uint16_t ToBits(float value, Float16Format format) {
  return format == Float16Format::kBFloat16
             ? Eigen::numext::bit_cast<uint16_t>(Eigen::bfloat16(value))
             : Eigen::numext::bit_cast<uint16_t>(Eigen::half(value));
}

float FromBits(uint16_t bits, Float16Format format) {
  return format == Float16Format::kBFloat16
             ? static_cast<float>(
                   Eigen::numext::bit_cast<Eigen::bfloat16>(bits))
             : static_cast<float>(Eigen::numext::bit_cast<Eigen::half>(bits));
}

// [rows, classes], or [rows, classes, 3] with the classes on axis 1.
Batch MakeBatch(const LossSpec& spec, int64_t rows, int64_t classes,
                bool class_axis_inside, Float16Format format) {
  Batch batch;
  std::mt19937 random(5);
  std::normal_distribution<double> normal(0, 3);
  std::uniform_real_distribution<double> uniform(0, 1);
  const int64_t inner = class_axis_inside ? 3 : 1;
  batch.shape = class_axis_inside ? std::vector<int64_t>{rows, classes, inner}
                                  : std::vector<int64_t>{rows, classes};
  batch.class_axis = class_axis_inside ? 1 : -1;
  const int64_t elements = rows * classes * inner;
  const InputKind kind = spec.input_kinds.front();
  for (int64_t i = 0; i < elements; ++i) {
    double x = normal(random);
    if (kind == InputKind::kProbabilities) x = uniform(random);
    if (kind == InputKind::kLogProbabilities) x = -std::abs(x);
    if (i % 997 == 5 && kind == InputKind::kLogits) x = -INFINITY;
    batch.bits.push_back(ToBits(static_cast<float>(x), format));
    batch.values.push_back(FromBits(batch.bits.back(), format));
  }
  if (spec.target_kinds.front() == TargetKind::kClassIndex) {
    batch.label_shape = class_axis_inside ? std::vector<int64_t>{rows, inner}
                                          : std::vector<int64_t>{rows};
    for (int64_t i = 0; i < rows * inner; ++i) {
      batch.labels.push_back(static_cast<int64_t>(random() % classes));
    }
  } else {
    for (int64_t i = 0; i < elements; ++i) {
      const TargetKind target = spec.target_kinds.front();
      batch.dense.push_back(static_cast<float>(
          target == TargetKind::kValues       ? normal(random)
          : target == TargetKind::kMultiLabel ? (uniform(random) < 0.5)
                                              : 1.0 / classes));
    }
  }
  return batch;
}

struct Answer {
  LossResult result;
  std::vector<float> per_example;
  std::vector<float> grad;
};

Answer RunBatch(const LossSpec& spec, const Batch& batch, bool as_16bit,
                Float16Format format, int threads) {
  LossRequest<float> request;
  request.loss = &spec;
  request.input_kind = spec.input_kinds.front();
  request.class_axis = batch.class_axis;
  if (as_16bit) {
    request.input_16bit = Float16TensorView{batch.bits, batch.shape, format};
  } else {
    request.input = {batch.values, batch.shape};
  }
  if (!batch.labels.empty()) {
    request.class_index_target =
        TensorView<int64_t>{batch.labels, batch.label_shape};
  } else {
    request.dense_target = TensorView<float>{batch.dense, batch.shape};
  }
  request.threads = threads;
  absl::StatusOr<ProblemShape> shape =
      ResolveShape(batch.shape, request.class_axis);
  EXPECT_TRUE(shape.ok());
  Answer answer;
  answer.per_example.resize(PerExampleSize(spec, *shape));
  if (spec.has_gradient) answer.grad.resize(shape->elements());
  absl::StatusOr<LossResult> result = Compute<float>(
      request, absl::MakeSpan(answer.per_example), absl::MakeSpan(answer.grad));
  EXPECT_TRUE(result.ok()) << spec.name << ": " << result.status();
  if (result.ok()) answer.result = *result;
  return answer;
}

// NaN compares unequal to itself; compare bit patterns.
bool SameBits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](float x, float y) {
           return std::bit_cast<uint32_t>(x) == std::bit_cast<uint32_t>(y);
         });
}

void ExpectSame(const Answer& a, const Answer& b) {
  EXPECT_EQ(std::bit_cast<uint64_t>(a.result.loss),
            std::bit_cast<uint64_t>(b.result.loss));
  EXPECT_EQ(a.result.statistics.valid_count, b.result.statistics.valid_count);
  EXPECT_EQ(a.result.statistics.weight_sum, b.result.statistics.weight_sum);
  EXPECT_TRUE(SameBits(a.per_example, b.per_example)) << "per_example";
  EXPECT_TRUE(SameBits(a.grad, b.grad)) << "grad";
}

TEST(Float16Input, EveryLossGivesTheAnswerOfTheSameFloat32Values) {
  for (Float16Format format :
       {Float16Format::kBFloat16, Float16Format::kFloat16}) {
    for (const LossSpec& spec : AllLosses()) {
      for (int64_t classes : {3, 10, 17, 1000}) {
        for (bool inside : {false, true}) {
          SCOPED_TRACE(
              std::string(spec.name) + " classes " + std::to_string(classes) +
              (inside ? " axis 1" : "") +
              (format == Float16Format::kBFloat16 ? " bfloat16" : " float16"));
          const Batch batch = MakeBatch(spec, 150, classes, inside, format);
          ExpectSame(RunBatch(spec, batch, true, format, 1),
                     RunBatch(spec, batch, false, format, 1));
        }
      }
    }
  }
}

TEST(Float16Input, LargeBatchesOnSeveralThreads) {
  for (absl::string_view name : {"cross_entropy", "binary_cross_entropy"}) {
    const LossSpec& spec = *FindLoss(name);
    for (int64_t classes : {10, 1000}) {
      SCOPED_TRACE(std::string(name) + " " + std::to_string(classes));
      const Batch batch = MakeBatch(spec, (kParallelElements + 777) / classes,
                                    classes, false, Float16Format::kBFloat16);
      const Answer expected =
          RunBatch(spec, batch, false, Float16Format::kBFloat16, 1);
      ExpectSame(RunBatch(spec, batch, true, Float16Format::kBFloat16, 2),
                 expected);
    }
  }
}

TEST(Float16Input, OnlyOneInputAndOnlyFloat32) {
  const Batch batch = MakeBatch(*FindLoss("cross_entropy"), 2, 3, false,
                                Float16Format::kFloat16);
  LossRequest<float> both;
  both.loss = FindLoss("cross_entropy");
  both.input = {batch.values, batch.shape};
  both.input_16bit = Float16TensorView{batch.bits, batch.shape};
  both.class_index_target = TensorView<int64_t>{batch.labels, {2}};
  std::vector<float> none;
  EXPECT_FALSE(
      Compute<float>(both, absl::MakeSpan(none), absl::MakeSpan(none)).ok());
  LossRequest<double> in_double;
  in_double.loss = FindLoss("cross_entropy");
  in_double.input_16bit = Float16TensorView{batch.bits, batch.shape};
  in_double.class_index_target = TensorView<int64_t>{batch.labels, {2}};
  std::vector<double> no_output;
  EXPECT_FALSE(Compute<double>(in_double, absl::MakeSpan(no_output),
                               absl::MakeSpan(no_output))
                   .ok());
}

}  // namespace
}  // namespace lossd
