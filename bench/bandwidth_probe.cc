#include "bandwidth_probe.h"

#include <algorithm>
#include <thread>
#include <vector>

namespace lossd::bench {
namespace {

// Enough independent accumulators that the additions never wait on each
// other, even in 128-bit vectors: the loop is limited by loads alone.
constexpr int kLanes = 64;

float ReadSlice(const float* x, int64_t n) {
  float accumulators[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int j = 0; j < kLanes; ++j) accumulators[j] += x[i + j];
  }
  float sum = 0;
  for (; i < n; ++i) sum += x[i];
  for (float a : accumulators) sum += a;
  return sum;
}

float RunSlice(ProbePattern pattern, const float* x, float* y, float* z,
               int64_t n) {
  constexpr float kScale = 1.0001f;
  switch (pattern) {
    case ProbePattern::kRead:
      return ReadSlice(x, n);
    case ProbePattern::kWrite:
      std::fill(y, y + n, kScale);
      return y[n / 2];
    case ProbePattern::kCopy:
      for (int64_t i = 0; i < n; ++i) y[i] = kScale * x[i];
      return y[n / 2];
    case ProbePattern::kTriad:
      for (int64_t i = 0; i < n; ++i) z[i] = x[i] + kScale * y[i];
      return z[n / 2];
  }
  return 0;
}

}  // namespace

int ArrayCount(ProbePattern pattern) {
  switch (pattern) {
    case ProbePattern::kRead:
    case ProbePattern::kWrite:
      return 1;
    case ProbePattern::kCopy:
      return 2;
    case ProbePattern::kTriad:
      return 3;
  }
  return 0;
}

float RunProbe(ProbePattern pattern, int threads, absl::Span<const float> x,
               absl::Span<float> y, absl::Span<float> z) {
  const int64_t n = static_cast<int64_t>(x.size());
  threads = std::max(threads, 1);
  // Slices are multiples of 16 floats, so threads never share a cache line.
  const int64_t slice = (n / threads + 15) / 16 * 16;
  std::vector<float> results(threads, 0.0f);
  auto run = [&](int t) {
    const int64_t begin = std::min(n, t * slice);
    const int64_t end = t + 1 == threads ? n : std::min(n, begin + slice);
    results[t] = RunSlice(pattern, x.data() + begin,
                          y.empty() ? nullptr : y.data() + begin,
                          z.empty() ? nullptr : z.data() + begin, end - begin);
  };
  std::vector<std::thread> workers;
  for (int t = 1; t < threads; ++t) workers.emplace_back(run, t);
  run(0);
  for (std::thread& worker : workers) worker.join();
  float total = 0;
  for (float r : results) total += r;
  return total;
}

}  // namespace lossd::bench
