// Time as the load generators see it, behind an interface so that the
// open-loop pacing can be tested on a fake clock instead of the wall.

#ifndef LOSSCTL_BENCH_CLOCK_H_
#define LOSSCTL_BENCH_CLOCK_H_

#include <cstdint>

namespace lossctl::bench {

class Clock {
 public:
  virtual ~Clock() = default;
  // Nanoseconds on a monotonic scale with an arbitrary origin.
  virtual int64_t NowNanos() = 0;
  // Returns at or after `nanos` (at once if that has passed).
  virtual void SleepUntil(int64_t nanos) = 0;
};

// std::chrono::steady_clock. Thread-safe.
class SteadyClock final : public Clock {
 public:
  int64_t NowNanos() override;
  void SleepUntil(int64_t nanos) override;
};

// The process-wide steady clock.
Clock& RealClock();

}  // namespace lossctl::bench

#endif  // LOSSCTL_BENCH_CLOCK_H_
