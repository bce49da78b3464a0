// LossRequest::interrupt: asked before the rows and before each block of a
// large batch; its first error stops the computation and is returned. A
// hook that never objects changes nothing, bit for bit.

#include <atomic>
#include <cstdint>
#include <vector>

#include "gtest/gtest.h"
#include "lossd/compute.h"
#include "lossd/registry.h"
#include "random_batch.h"

namespace lossd {
namespace {

using ::lossd::testing::Batch;
using ::lossd::testing::MakeRandomBatch;

constexpr int64_t kClasses = 1000;
// Several blocks of about 256K elements: the hook is asked between them.
constexpr int64_t kRows = 4 * kParallelElements / kClasses;

struct Outcome {
  absl::StatusOr<LossResult> result;
  std::vector<float> grad;
};

Outcome ComputeWith(const Batch<float>& batch, int threads,
                    std::function<absl::Status()> interrupt) {
  LossRequest<float> request;
  request.loss = FindLoss("cross_entropy");
  request.input = {batch.input, {batch.rows, batch.classes}};
  request.class_index_target = TensorView<int64_t>{batch.labels, {batch.rows}};
  request.threads = threads;
  request.interrupt = std::move(interrupt);
  Outcome run;
  run.grad.resize(batch.input.size());
  run.result = lossd::Compute<float>(request, {}, absl::MakeSpan(run.grad));
  return run;
}

Batch<float> LargeBatch() {
  return MakeRandomBatch<float>(*FindLoss("cross_entropy"), kRows, kClasses,
                                {.seed = 5});
}

TEST(Interrupt, AHookThatNeverObjectsChangesNothing) {
  const Batch<float> batch = LargeBatch();
  const Outcome plain = ComputeWith(batch, 1, {});
  std::atomic<int> asked{0};
  const Outcome hooked = ComputeWith(batch, 2, [&] {
    asked.fetch_add(1);
    return absl::OkStatus();
  });
  ASSERT_TRUE(plain.result.ok()) << plain.result.status();
  ASSERT_TRUE(hooked.result.ok()) << hooked.result.status();
  EXPECT_EQ(hooked.result->loss, plain.result->loss);
  EXPECT_TRUE(hooked.grad == plain.grad);
  // Once before the rows, then before every block but the first: as many
  // times as there are blocks (of 2^18 elements in whole rows).
  const int64_t rows_per_block = (int64_t{1} << 18) / kClasses;
  EXPECT_EQ(asked.load(), (kRows + rows_per_block - 1) / rows_per_block);
}

TEST(Interrupt, TheFirstErrorStopsTheBlocksAndIsReturned) {
  const Batch<float> batch = LargeBatch();
  for (int threads : {1, 2}) {
    SCOPED_TRACE(threads);
    std::atomic<int> asked{0};
    const Outcome run = ComputeWith(batch, threads, [&]() -> absl::Status {
      if (asked.fetch_add(1) >= 3) {
        return absl::DeadlineExceededError("the deadline passed");
      }
      return absl::OkStatus();
    });
    EXPECT_EQ(run.result.status().code(), absl::StatusCode::kDeadlineExceeded);
    EXPECT_EQ(run.result.status().message(), "the deadline passed");
    // No block started after the error was seen (each thread asks once
    // more at most before it stops).
    EXPECT_LE(asked.load(), 3 + threads);
  }
}

TEST(Interrupt, ASmallBatchIsAskedOnceBeforeItsRows) {
  const Batch<float> batch =
      MakeRandomBatch<float>(*FindLoss("cross_entropy"), 4, 3, {.seed = 2});
  int asked = 0;
  const Outcome run = ComputeWith(batch, 1, [&] {
    ++asked;
    return absl::CancelledError("cancelled");
  });
  EXPECT_EQ(run.result.status().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(asked, 1);
}

}  // namespace
}  // namespace lossd
