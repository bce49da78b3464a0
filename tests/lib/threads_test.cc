// LossRequest::threads: a large batch is cut into blocks computed on
// several threads. Every loss gives bitwise the same answer for any thread
// count, and each row's outputs are what computing that row on its own
// gives.

#include <cstdint>
#include <random>
#include <string>
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
struct Result {
  LossResult result;
  std::vector<T> per_example;
  std::vector<T> grad;
};

// Rows [begin, end) of `batch` with `threads` threads.
template <typename T>
Result<T> Run(const LossSpec& spec, const Batch<T>& batch, int64_t begin,
              int64_t end, int threads) {
  const int64_t c = batch.classes, rows = end - begin;
  LossRequest<T> request;
  request.loss = &spec;
  request.input_kind = spec.input_kinds.front();
  request.input = {
      absl::MakeConstSpan(batch.input).subspan(begin * c, rows * c), {rows, c}};
  if (!batch.labels.empty()) {
    request.class_index_target = TensorView<int64_t>{
        absl::MakeConstSpan(batch.labels).subspan(begin, rows), {rows}};
  } else {
    request.dense_target = TensorView<T>{
        absl::MakeConstSpan(batch.dense).subspan(begin * c, rows * c),
        {rows, c}};
  }
  request.reduction = Reduction::kSum;
  request.threads = threads;
  Result<T> out;
  out.per_example.resize(spec.element_wise ? rows * c : rows);
  if (spec.has_gradient) out.grad.resize(rows * c);
  absl::StatusOr<LossResult> result = Compute<T>(
      request, absl::MakeSpan(out.per_example), absl::MakeSpan(out.grad));
  EXPECT_TRUE(result.ok()) << spec.name << ": " << result.status();
  if (result.ok()) out.result = *result;
  return out;
}

template <typename T>
void CheckLoss(const LossSpec& spec, int64_t classes) {
  SCOPED_TRACE(std::string(spec.name) + " classes " + std::to_string(classes) +
               (sizeof(T) == 4 ? " float32" : " float64"));
  // Just over the threshold: several blocks, a partial one at the end.
  const int64_t rows = (kParallelElements + 12345) / classes;
  const Batch<T> batch = MakeRandomBatch<T>(
      spec, rows, classes,
      {.seed = 11, .input_stddev = 2, .non_finite_logits = false});
  const Result<T> one = Run(spec, batch, 0, rows, 1);
  for (int threads : {3}) {
    const Result<T> many = Run(spec, batch, 0, rows, threads);
    // Bitwise: the same blocks, added in the same order.
    EXPECT_EQ(many.result.loss, one.result.loss) << threads << " threads";
    EXPECT_EQ(many.result.statistics.weight_sum,
              one.result.statistics.weight_sum);
    EXPECT_EQ(many.result.statistics.valid_count,
              one.result.statistics.valid_count);
    EXPECT_TRUE(many.per_example == one.per_example) << threads << " threads";
    EXPECT_TRUE(many.grad == one.grad) << threads << " threads";
  }
  // Each row as computed on its own, a small batch at a time.
  const int64_t step = 997;
  for (int64_t begin = 0; begin < rows; begin += step) {
    const int64_t end = std::min(rows, begin + step);
    const Result<T> part = Run(spec, batch, begin, end, 1);
    const int64_t per_row = spec.element_wise ? classes : 1;
    for (size_t i = 0; i < part.per_example.size(); ++i) {
      ASSERT_EQ(part.per_example[i], one.per_example[begin * per_row + i])
          << "per_example of row " << begin + i / per_row;
    }
    for (size_t i = 0; i < part.grad.size(); ++i) {
      ASSERT_EQ(part.grad[i], one.grad[begin * classes + i])
          << "grad of row " << begin + i / classes;
    }
  }
}

TEST(Threads, EveryLossIsBitwiseTheSameForAnyThreadCount) {
  for (const LossSpec& spec : AllLosses()) {
    for (int64_t classes : {7, 1000}) {
      CheckLoss<float>(spec, classes);
      CheckLoss<double>(spec, classes);
    }
  }
}

}  // namespace
}  // namespace lossd
