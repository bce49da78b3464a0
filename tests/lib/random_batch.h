// A valid random batch for any registered loss, for tests that compare two
// ways of computing the same thing (threads, in place) rather than values.

#ifndef LOSSD_TESTS_LIB_RANDOM_BATCH_H_
#define LOSSD_TESTS_LIB_RANDOM_BATCH_H_

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "lossd/registry.h"

namespace lossd::testing {

template <typename T>
struct Batch {
  int64_t rows = 0;
  int64_t classes = 0;
  std::vector<T> input;
  std::vector<int64_t> labels;  // Class-index targets, one per row.
  std::vector<T> dense;         // Or a dense target of the input's shape.
};

struct RandomBatchOptions {
  uint32_t seed = 1;
  double input_stddev = 2;
  // Sprinkle -inf and NaN logits: rows the vector paths hand back to the
  // scalar kernels.
  bool non_finite_logits = false;
};

// A batch for `spec`'s first input kind and first target kind; soft targets
// are rows that sum to one.
template <typename T>
Batch<T> MakeRandomBatch(const LossSpec& spec, int64_t rows, int64_t classes,
                         const RandomBatchOptions& options) {
  Batch<T> batch{.rows = rows, .classes = classes};
  std::mt19937 random(options.seed);
  std::normal_distribution<double> normal(0, options.input_stddev);
  std::uniform_real_distribution<double> uniform(0, 1);
  const InputKind kind = spec.input_kinds.front();
  for (int64_t i = 0; i < rows * classes; ++i) {
    double x = normal(random);
    if (kind == InputKind::kProbabilities) x = uniform(random);
    if (kind == InputKind::kLogProbabilities) x = -std::abs(x);
    if (options.non_finite_logits && kind == InputKind::kLogits) {
      if (i % 331 == 7) x = -INFINITY;
      if (i % 887 == 3) x = NAN;
    }
    batch.input.push_back(static_cast<T>(x));
  }
  const TargetKind target = spec.target_kinds.front();
  if (target == TargetKind::kClassIndex) {
    for (int64_t r = 0; r < rows; ++r) {
      batch.labels.push_back(static_cast<int64_t>(random() % classes));
    }
    return batch;
  }
  for (int64_t r = 0; r < rows; ++r) {
    double sum = 0;
    for (int64_t c = 0; c < classes; ++c) {
      const double t = target == TargetKind::kValues ? normal(random)
                       : target == TargetKind::kMultiLabel
                           ? (uniform(random) < 0.5)
                           : uniform(random);
      batch.dense.push_back(static_cast<T>(t));
      sum += t;
    }
    if (target == TargetKind::kProbabilities) {
      for (int64_t c = 0; c < classes; ++c) {
        T& t = batch.dense[r * classes + c];
        t = static_cast<T>(t / sum);
      }
    }
  }
  return batch;
}

}  // namespace lossd::testing

#endif  // LOSSD_TESTS_LIB_RANDOM_BATCH_H_
