// The open-loop scheduler on a fake clock: how many sends a rate gives,
// when they are meant to leave, and how late ones are counted (never
// dropped). No wall-clock time is involved.

#include "bench/arrival_schedule.h"

#include <cmath>
#include <vector>

#include "gtest/gtest.h"

namespace lossctl::bench {
namespace {

constexpr int64_t kMillisecond = 1000000;
constexpr int64_t kSecond = 1000000000;

// Time moves only when the code under test sleeps or a test advances it.
class FakeClock final : public Clock {
 public:
  int64_t NowNanos() override { return now_; }
  void SleepUntil(int64_t nanos) override {
    ++sleeps_;
    now_ = std::max(now_, nanos);
  }
  void Advance(int64_t nanos) { now_ += nanos; }
  int sleeps() const { return sleeps_; }

 private:
  int64_t now_ = 0;
  int sleeps_ = 0;
};

struct Send {
  int64_t intended;
  int64_t actual;
  bool late;
};

std::vector<Send> Pace(FakeClock& clock, ArrivalSchedule& schedule,
                       int64_t stop_offset, int64_t send_cost = 0,
                       PacingCounts* counts = nullptr) {
  std::vector<Send> sends;
  const PacingCounts result = RunPacing(
      clock, schedule,
      PacingOptions{.start_nanos = clock.NowNanos(),
                    .stop_offset_nanos = stop_offset,
                    .late_threshold_nanos = kMillisecond},
      [] { return true; }, nullptr,
      [&](int64_t intended, int64_t actual, bool late) {
        sends.push_back({intended, actual, late});
        clock.Advance(send_cost);
      });
  if (counts != nullptr) *counts = result;
  return sends;
}

TEST(ArrivalSchedule, ConstantRateSendsExactlyRateTimesDuration) {
  for (double rate : {1.0, 3.0, 250.0, 1000.0, 12345.0}) {
    FakeClock clock;
    ArrivalSchedule schedule(rate, ArrivalProcess::kConstant, 1);
    PacingCounts counts;
    const std::vector<Send> sends =
        Pace(clock, schedule, 10 * kSecond, 0, &counts);
    // Arrivals at k / rate for k = 0, 1, ... strictly before 10 s.
    const int64_t expected = static_cast<int64_t>(std::ceil(10 * rate - 1e-9));
    EXPECT_EQ(static_cast<int64_t>(sends.size()), expected) << rate;
    EXPECT_EQ(counts.sent, expected);
    EXPECT_EQ(counts.late, 0);
    for (size_t k = 0; k < sends.size(); ++k) {
      const int64_t intended = std::llround(k * 1e9 / rate);
      ASSERT_EQ(sends[k].intended, intended) << rate << " #" << k;
      // An instant sender leaves exactly on time.
      ASSERT_EQ(sends[k].actual, intended);
    }
  }
}

TEST(ArrivalSchedule, ConstantRateDoesNotDrift) {
  // A third of a millisecond cannot be represented in whole nanoseconds;
  // the k-th arrival is still within half a nanosecond of k / rate.
  ArrivalSchedule schedule(3000, ArrivalProcess::kConstant, 1);
  int64_t last = 0;
  for (int k = 0; k < 3000000; ++k) last = schedule.Next();
  EXPECT_EQ(last, std::llround(2999999 * 1e9 / 3000));
}

TEST(ArrivalSchedule, PoissonRateMatchesOnAverage) {
  const double rate = 5000;
  ArrivalSchedule schedule(rate, ArrivalProcess::kPoisson, 42);
  const int n = 200000;
  std::vector<double> gaps;
  int64_t previous = schedule.Next();
  EXPECT_EQ(previous, 0);
  for (int i = 0; i < n; ++i) {
    const int64_t next = schedule.Next();
    ASSERT_GE(next, previous);
    gaps.push_back(static_cast<double>(next - previous));
    previous = next;
  }
  double mean = 0;
  for (double g : gaps) mean += g;
  mean /= n;
  double variance = 0;
  for (double g : gaps) variance += (g - mean) * (g - mean);
  variance /= n - 1;
  // Exponential gaps: mean 1/rate, standard deviation equal to the mean.
  // With 200000 gaps the mean's own error is 0.22%: 1% is > 4 sigma.
  EXPECT_NEAR(mean, 1e9 / rate, 0.01 * 1e9 / rate);
  EXPECT_NEAR(std::sqrt(variance) / mean, 1.0, 0.02);
}

TEST(ArrivalSchedule, PoissonCountOverADurationIsNearRateTimesDuration) {
  FakeClock clock;
  ArrivalSchedule schedule(1000, ArrivalProcess::kPoisson, 9);
  const std::vector<Send> sends = Pace(clock, schedule, 20 * kSecond);
  // A Poisson count over 20 s at 1000/s: mean 20000, sd 141. 4 sd: 566.
  EXPECT_NEAR(static_cast<double>(sends.size()), 20000, 566);
}

TEST(ArrivalSchedule, SameSeedSameTimesOtherSeedOtherTimes) {
  ArrivalSchedule a(100, ArrivalProcess::kPoisson, 5);
  ArrivalSchedule b(100, ArrivalProcess::kPoisson, 5);
  ArrivalSchedule c(100, ArrivalProcess::kPoisson, 6);
  bool any_different = false;
  for (int i = 0; i < 100; ++i) {
    const int64_t x = a.Next();
    EXPECT_EQ(x, b.Next());
    any_different |= x != c.Next();
  }
  EXPECT_TRUE(any_different);
}

TEST(ArrivalSchedule, SlowSendsAreLateButNeverDropped) {
  // 1000/s wanted, but each send takes 1.5 ms: send k leaves at 1.5 k ms
  // for an intended k ms, so from k = 3 on it is more than 1 ms late.
  FakeClock clock;
  ArrivalSchedule schedule(1000, ArrivalProcess::kConstant, 1);
  PacingCounts counts;
  const std::vector<Send> sends =
      Pace(clock, schedule, 100 * kMillisecond, 3 * kMillisecond / 2, &counts);
  ASSERT_EQ(sends.size(), 100u);
  EXPECT_EQ(counts.late, 97);
  for (size_t k = 0; k < sends.size(); ++k) {
    EXPECT_EQ(sends[k].intended, static_cast<int64_t>(k) * kMillisecond);
    EXPECT_EQ(sends[k].actual, static_cast<int64_t>(k) * 3 * kMillisecond / 2);
    EXPECT_EQ(sends[k].late, k >= 3) << k;
  }
}

TEST(ArrivalSchedule, AStallIsCaughtUpInABurst) {
  // At 1000/s the slot for send 10 frees 5.5 ms late: sends 10..15 are
  // late, then the schedule is met again; all 50 go out.
  FakeClock clock;
  ArrivalSchedule schedule(1000, ArrivalProcess::kConstant, 1);
  int waits = 0;
  std::vector<Send> sends;
  const PacingCounts counts = RunPacing(
      clock, schedule,
      PacingOptions{.stop_offset_nanos = 50 * kMillisecond,
                    .late_threshold_nanos = kMillisecond},
      [] { return true; },
      [&] {
        if (waits++ == 10) clock.Advance(11 * kMillisecond / 2);
      },
      [&](int64_t intended, int64_t actual, bool late) {
        sends.push_back({intended, actual, late});
      });
  ASSERT_EQ(counts.sent, 50);
  // Send 10 leaves at 15.5 ms; sends 11..14 catch up at once (late);
  // send 15 (intended 15 ms) is 0.5 ms behind: on time by the threshold.
  EXPECT_EQ(counts.late, 5);
  EXPECT_EQ(sends[10].actual, 31 * kMillisecond / 2);
  EXPECT_EQ(sends[14].actual, 31 * kMillisecond / 2);
  EXPECT_EQ(sends[16].actual, 16 * kMillisecond);
}

TEST(ArrivalSchedule, KeepGoingStopsThePacing) {
  FakeClock clock;
  ArrivalSchedule schedule(1000, ArrivalProcess::kConstant, 1);
  int sent = 0;
  const PacingCounts counts = RunPacing(
      clock, schedule, PacingOptions{}, [&] { return sent < 25; }, nullptr,
      [&](int64_t, int64_t, bool) { ++sent; });
  EXPECT_EQ(counts.sent, 25);
  EXPECT_EQ(clock.NowNanos(), 24 * kMillisecond);
}

TEST(ArrivalSchedule, ParsesItsNames) {
  EXPECT_EQ(*ParseArrivalProcess("constant"), ArrivalProcess::kConstant);
  EXPECT_EQ(*ParseArrivalProcess("poisson"), ArrivalProcess::kPoisson);
  EXPECT_FALSE(ParseArrivalProcess("bursty").ok());
}

}  // namespace
}  // namespace lossctl::bench
