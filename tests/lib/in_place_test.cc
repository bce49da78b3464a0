// LossOutputs::grad_input may be the input's own buffer: the gradient then
// replaces the input, and every loss gives bitwise the answer it gives with
// separate buffers (the vector paths without a copy, the others with one).

#include <bit>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include "gtest/gtest.h"
#include "lossd/compute.h"
#include "lossd/registry.h"
#include "random_batch.h"

namespace lossd {
namespace {

using ::lossd::testing::Batch;
using ::lossd::testing::MakeRandomBatch;

template <typename T>
struct Answer {
  bool ok = false;
  LossResult result;
  std::vector<T> per_example;
  std::vector<T> grad;
};

template <typename T>
Answer<T> RunBatch(const LossSpec& spec, const Batch<T>& batch, bool in_place,
                   int threads) {
  Answer<T> answer;
  answer.grad = batch.input;  // In place: the input, then the gradient.
  const std::vector<int64_t> shape = {batch.rows, batch.classes};
  LossRequest<T> request;
  request.loss = &spec;
  request.input_kind = spec.input_kinds.front();
  request.input = {in_place ? absl::Span<const T>(answer.grad)
                            : absl::Span<const T>(batch.input),
                   shape};
  if (!batch.labels.empty()) {
    request.class_index_target =
        TensorView<int64_t>{batch.labels, {batch.rows}};
  } else {
    request.dense_target = TensorView<T>{batch.dense, shape};
  }
  request.reduction = Reduction::kSum;
  request.threads = threads;
  answer.per_example.resize(spec.element_wise ? batch.rows * batch.classes
                                              : batch.rows);
  absl::StatusOr<LossResult> result = Compute<T>(
      request, absl::MakeSpan(answer.per_example), absl::MakeSpan(answer.grad));
  answer.ok = result.ok();
  if (result.ok()) answer.result = *result;
  return answer;
}

template <typename T>
bool SameBits(const std::vector<T>& a, const std::vector<T>& b) {
  using Bits = std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>;
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::bit_cast<Bits>(a[i]) != std::bit_cast<Bits>(b[i])) return false;
  }
  return true;
}

template <typename T>
void Check(const LossSpec& spec, int64_t rows, int64_t classes, int threads) {
  SCOPED_TRACE(std::string(spec.name) + " " + std::to_string(rows) + " x " +
               std::to_string(classes) +
               (sizeof(T) == 4 ? " float32" : " float64"));
  const Batch<T> batch = MakeRandomBatch<T>(
      spec, rows, classes,
      {.seed = 17, .input_stddev = 3, .non_finite_logits = true});
  const Answer<T> apart = RunBatch(spec, batch, false, threads);
  const Answer<T> in_place = RunBatch(spec, batch, true, threads);
  ASSERT_EQ(apart.ok, in_place.ok);
  if (!apart.ok) return;
  EXPECT_EQ(std::bit_cast<uint64_t>(apart.result.loss),
            std::bit_cast<uint64_t>(in_place.result.loss));
  EXPECT_TRUE(SameBits(apart.per_example, in_place.per_example));
  EXPECT_TRUE(SameBits(apart.grad, in_place.grad));
}

TEST(InPlace, EveryLossGivesTheSameGradientOverItsInput) {
  for (const LossSpec& spec : AllLosses()) {
    if (!spec.has_gradient) continue;
    for (int64_t classes : {3, 10, 17, 1000, 9000}) {
      Check<float>(spec, 200, classes, 1);
      Check<double>(spec, 200, classes, 1);
    }
  }
}

TEST(InPlace, LargeBatchesOnSeveralThreads) {
  for (absl::string_view name : {"cross_entropy", "binary_cross_entropy"}) {
    for (int64_t classes : {10, 1000}) {
      Check<float>(*FindLoss(name), (kParallelElements + 999) / classes,
                   classes, 2);
    }
  }
}

}  // namespace
}  // namespace lossd
