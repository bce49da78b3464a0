// A latency histogram of bounded size whose percentiles are within 1% of
// the true value, whatever the number of samples.
//
// Buckets are geometric, each 2% wider than the one before, from 1 ns to
// about an hour (1462 buckets, 12 KiB). A percentile is the geometric
// middle of the bucket holding the nearest-rank sample, so it is off by at
// most sqrt(1.02) - 1 < 1% relative to that sample; min, max, count and
// mean are exact. Not thread-safe: callers keep one per thread or lock.

#ifndef LOSSCTL_BENCH_LATENCY_HISTOGRAM_H_
#define LOSSCTL_BENCH_LATENCY_HISTOGRAM_H_

#include <cstdint>
#include <vector>

namespace lossctl::bench {

class LatencyHistogram {
 public:
  // Each bucket's upper bound is this factor times its lower bound.
  static constexpr double kGrowth = 1.02;
  // Values past this (about an hour, in ns) share the last bucket; max
  // stays exact.
  static constexpr int64_t kMaxTrackedNanos = int64_t{3600} * 1000000000;

  LatencyHistogram();

  // Adds one sample; negative values count as 0.
  void Record(int64_t nanos);
  // Adds every sample of `other`.
  void Merge(const LatencyHistogram& other);
  void Clear();

  int64_t count() const { return count_; }
  int64_t min() const { return count_ ? min_ : 0; }
  int64_t max() const { return count_ ? max_ : 0; }
  double mean() const { return count_ ? sum_ / count_ : 0; }

  // The nearest-rank q-quantile, q in [0, 1] (0.99 for p99): within 1% (or
  // 1 ns, for values under 100 ns) of the sample ranked ceil(q * count). 0 when
  // empty; q <= 0 gives min and q >= 1 max, exactly.
  int64_t Percentile(double q) const;

  // The bucket `nanos` falls in (exposed for tests).
  static int BucketOf(int64_t nanos);

 private:
  std::vector<int64_t> buckets_;
  int64_t count_ = 0;
  int64_t min_ = 0;
  int64_t max_ = 0;
  double sum_ = 0;
};

}  // namespace lossctl::bench

#endif  // LOSSCTL_BENCH_LATENCY_HISTOGRAM_H_
