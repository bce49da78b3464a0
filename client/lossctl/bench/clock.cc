#include "bench/clock.h"

#include <chrono>
#include <thread>

namespace lossctl::bench {

int64_t SteadyClock::NowNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void SteadyClock::SleepUntil(int64_t nanos) {
  std::this_thread::sleep_until(
      std::chrono::steady_clock::time_point(std::chrono::nanoseconds(nanos)));
}

Clock& RealClock() {
  static SteadyClock* const clock = new SteadyClock();
  return *clock;
}

}  // namespace lossctl::bench
