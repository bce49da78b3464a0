// The histogram's percentiles against the exact nearest-rank percentiles
// of known distributions: always within 1%.

#include "bench/latency_histogram.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace lossctl::bench {
namespace {

constexpr double kQuantiles[] = {0.001, 0.01, 0.1,  0.25, 0.5,
                                 0.75,  0.9,  0.95, 0.99, 0.999};

// The sample of rank ceil(q * n) (1-based), the definition Percentile uses.
int64_t NearestRank(std::vector<int64_t> sorted, double q) {
  const size_t rank = std::max<size_t>(
      1,
      static_cast<size_t>(std::ceil(q * static_cast<double>(sorted.size()))));
  return sorted[rank - 1];
}

void ExpectWithinOnePercent(const std::vector<int64_t>& samples) {
  LatencyHistogram histogram;
  for (int64_t s : samples) histogram.Record(s);
  std::vector<int64_t> sorted = samples;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(histogram.count(), static_cast<int64_t>(samples.size()));
  EXPECT_EQ(histogram.min(), sorted.front());
  EXPECT_EQ(histogram.max(), sorted.back());
  double sum = 0;
  for (int64_t s : samples) sum += s;
  EXPECT_NEAR(histogram.mean(), sum / samples.size(),
              1e-6 * sum / samples.size());
  for (double q : kQuantiles) {
    const double exact = static_cast<double>(NearestRank(sorted, q));
    const double estimate = static_cast<double>(histogram.Percentile(q));
    EXPECT_LE(std::abs(estimate - exact), 0.01 * exact)
        << "q=" << q << " exact " << exact << " histogram " << estimate;
  }
  EXPECT_EQ(histogram.Percentile(0), sorted.front());
  EXPECT_EQ(histogram.Percentile(1), sorted.back());
}

TEST(LatencyHistogram, EmptyIsAllZero) {
  LatencyHistogram histogram;
  EXPECT_EQ(histogram.count(), 0);
  EXPECT_EQ(histogram.Percentile(0.5), 0);
  EXPECT_EQ(histogram.min(), 0);
  EXPECT_EQ(histogram.max(), 0);
  EXPECT_EQ(histogram.mean(), 0);
}

TEST(LatencyHistogram, ConstantLatency) {
  ExpectWithinOnePercent(std::vector<int64_t>(1000, 1234567));
  LatencyHistogram histogram;
  for (int i = 0; i < 1000; ++i) histogram.Record(1234567);
  // Clamped to [min, max]: a constant is reported exactly.
  EXPECT_EQ(histogram.Percentile(0.5), 1234567);
}

TEST(LatencyHistogram, UniformFromOneMicrosecondToOneHundredMilliseconds) {
  std::vector<int64_t> samples;
  for (int64_t us = 1; us <= 100000; ++us) samples.push_back(us * 1000);
  ExpectWithinOnePercent(samples);
  LatencyHistogram histogram;
  for (int64_t s : samples) histogram.Record(s);
  EXPECT_NEAR(histogram.Percentile(0.5), 50e6, 0.01 * 50e6);
  EXPECT_NEAR(histogram.Percentile(0.99), 99e6, 0.01 * 99e6);
}

TEST(LatencyHistogram, ExponentialAndLogNormalSamples) {
  std::mt19937_64 random(7);
  std::exponential_distribution<double> exponential(1.0 / 2e6);  // Mean 2 ms.
  std::lognormal_distribution<double> lognormal(std::log(5e5), 1.5);
  std::vector<int64_t> exponential_samples, lognormal_samples;
  for (int i = 0; i < 200000; ++i) {
    exponential_samples.push_back(static_cast<int64_t>(exponential(random)));
    lognormal_samples.push_back(static_cast<int64_t>(lognormal(random)));
  }
  ExpectWithinOnePercent(exponential_samples);
  ExpectWithinOnePercent(lognormal_samples);
}

TEST(LatencyHistogram, BimodalTailIsSeen) {
  std::vector<int64_t> samples(9000, 1000000);     // 1 ms
  samples.insert(samples.end(), 1000, 100000000);  // 100 ms
  ExpectWithinOnePercent(samples);
  LatencyHistogram histogram;
  for (int64_t s : samples) histogram.Record(s);
  EXPECT_NEAR(histogram.Percentile(0.5), 1e6, 1e4);
  EXPECT_NEAR(histogram.Percentile(0.90), 1e6, 1e4);
  EXPECT_NEAR(histogram.Percentile(0.901), 1e8, 1e6);
  EXPECT_NEAR(histogram.Percentile(0.99), 1e8, 1e6);
}

TEST(LatencyHistogram, EveryPowerOfTwoNeighbourhoodWithinOnePercent) {
  // One sample between a tiny and a huge one: the median is that sample's
  // bucket, not clamped, so this checks the bucket bound itself (to the
  // nanosecond the histogram reports in, for the smallest values).
  for (int shift = 0; shift < 41; ++shift) {
    for (int64_t delta : {-1, 0, 1}) {
      const int64_t value = (int64_t{1} << shift) + delta;
      if (value < 1) continue;
      LatencyHistogram histogram;
      histogram.Record(0);
      histogram.Record(value);
      histogram.Record(int64_t{1} << 42);
      const double estimate = histogram.Percentile(0.5);
      EXPECT_LE(std::abs(estimate - value), std::max(0.01 * value, 1.0))
          << value;
    }
  }
}

TEST(LatencyHistogram, BucketsAreMonotonic) {
  int previous = 0;
  for (int64_t v = 1; v < (int64_t{1} << 40); v = v * 11 / 10 + 1) {
    const int bucket = LatencyHistogram::BucketOf(v);
    EXPECT_GE(bucket, previous) << v;
    previous = bucket;
  }
}

TEST(LatencyHistogram, MergeEqualsRecordingEverything) {
  std::mt19937_64 random(3);
  std::uniform_int_distribution<int64_t> uniform(1000, 50000000);
  LatencyHistogram all, first, second;
  for (int i = 0; i < 10000; ++i) {
    const int64_t v = uniform(random);
    all.Record(v);
    (i % 3 == 0 ? first : second).Record(v);
  }
  first.Merge(second);
  EXPECT_EQ(first.count(), all.count());
  EXPECT_EQ(first.min(), all.min());
  EXPECT_EQ(first.max(), all.max());
  EXPECT_DOUBLE_EQ(first.mean(), all.mean());
  for (double q : kQuantiles) EXPECT_EQ(first.Percentile(q), all.Percentile(q));
  LatencyHistogram empty;
  empty.Merge(all);
  EXPECT_EQ(empty.Percentile(0.99), all.Percentile(0.99));
}

TEST(LatencyHistogram, OutOfRangeValuesAreClampedNotLost) {
  LatencyHistogram histogram;
  histogram.Record(-5);
  histogram.Record(LatencyHistogram::kMaxTrackedNanos * 4);
  EXPECT_EQ(histogram.count(), 2);
  EXPECT_EQ(histogram.min(), 0);
  EXPECT_EQ(histogram.max(), LatencyHistogram::kMaxTrackedNanos * 4);
  EXPECT_EQ(histogram.Percentile(1), LatencyHistogram::kMaxTrackedNanos * 4);
}

TEST(LatencyHistogram, MemoryDoesNotGrowWithSamples) {
  LatencyHistogram histogram;
  const LatencyHistogram copy_before = histogram;
  for (int i = 0; i < 1000000; ++i) histogram.Record(1000 + i);
  // The state is a fixed array; a copy costs the same before and after.
  EXPECT_EQ(histogram.count(), 1000000);
  EXPECT_EQ(sizeof(histogram), sizeof(copy_before));
}

}  // namespace
}  // namespace lossctl::bench
