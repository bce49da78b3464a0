#include "bench/latency_histogram.h"

#include <algorithm>
#include <cmath>

namespace lossctl::bench {
namespace {

const double kLogGrowth = std::log(LatencyHistogram::kGrowth);
const int kBucketCount =
    static_cast<int>(
        std::log(static_cast<double>(LatencyHistogram::kMaxTrackedNanos)) /
        kLogGrowth) +
    2;

}  // namespace

LatencyHistogram::LatencyHistogram() : buckets_(kBucketCount, 0) {}

int LatencyHistogram::BucketOf(int64_t nanos) {
  if (nanos <= 1) return 0;
  const int bucket =
      static_cast<int>(std::log(static_cast<double>(nanos)) / kLogGrowth);
  return std::min(bucket, kBucketCount - 1);
}

void LatencyHistogram::Record(int64_t nanos) {
  nanos = std::max<int64_t>(nanos, 0);
  ++buckets_[BucketOf(nanos)];
  if (count_ == 0 || nanos < min_) min_ = nanos;
  if (count_ == 0 || nanos > max_) max_ = nanos;
  ++count_;
  sum_ += static_cast<double>(nanos);
}

void LatencyHistogram::Merge(const LatencyHistogram& other) {
  if (other.count_ == 0) return;
  for (size_t i = 0; i < buckets_.size(); ++i) buckets_[i] += other.buckets_[i];
  min_ = count_ ? std::min(min_, other.min_) : other.min_;
  max_ = count_ ? std::max(max_, other.max_) : other.max_;
  count_ += other.count_;
  sum_ += other.sum_;
}

void LatencyHistogram::Clear() {
  std::fill(buckets_.begin(), buckets_.end(), 0);
  count_ = 0;
  min_ = max_ = 0;
  sum_ = 0;
}

int64_t LatencyHistogram::Percentile(double q) const {
  if (count_ == 0) return 0;
  if (q <= 0) return min_;
  if (q >= 1) return max_;
  const int64_t rank = std::max<int64_t>(
      1, static_cast<int64_t>(std::ceil(q * static_cast<double>(count_))));
  int64_t seen = 0;
  for (size_t i = 0; i < buckets_.size(); ++i) {
    seen += buckets_[i];
    if (seen >= rank) {
      // Bucket i holds [g^i, g^(i+1)); its geometric middle is within
      // sqrt(g) of anything in it. Bucket 0 also holds 0 and 1.
      const double middle = i == 0 ? 1.0 : std::exp((i + 0.5) * kLogGrowth);
      return std::clamp(static_cast<int64_t>(std::llround(middle)), min_, max_);
    }
  }
  return max_;
}

}  // namespace lossctl::bench
