// When an open-loop load generator should send: the arrival times of a
// constant-rate or Poisson process, and the pacing loop that follows them.

#ifndef LOSSCTL_BENCH_ARRIVAL_SCHEDULE_H_
#define LOSSCTL_BENCH_ARRIVAL_SCHEDULE_H_

#include <cstdint>
#include <functional>
#include <random>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "bench/clock.h"

namespace lossctl::bench {

enum class ArrivalProcess {
  kConstant,  // Evenly spaced: the k-th send at k / rate.
  kPoisson,   // Exponential gaps with mean 1 / rate, from a seeded generator.
};

absl::StatusOr<ArrivalProcess> ParseArrivalProcess(absl::string_view text);
absl::string_view ArrivalProcessName(ArrivalProcess process);

// The intended send times, as offsets from the start in nanoseconds. The
// same seed gives the same times. Not thread-safe.
class ArrivalSchedule {
 public:
  ArrivalSchedule(double rate_per_second, ArrivalProcess process,
                  uint64_t seed);

  // The next arrival's offset; never decreases. Constant arrivals are
  // computed from their index, so no rounding error accumulates.
  int64_t Next();

 private:
  double rate_per_second_;
  ArrivalProcess process_;
  std::mt19937_64 random_;
  int64_t index_ = 0;
  double poisson_seconds_ = 0;
};

// The pacing loop of one open-loop run.
struct PacingOptions {
  // The clock's time of offset 0.
  int64_t start_nanos = 0;
  // No arrival at or past this offset is sent.
  int64_t stop_offset_nanos = INT64_MAX;
  // A send more than this after its intended time counts as late.
  int64_t late_threshold_nanos = 1000000;
};

struct PacingCounts {
  int64_t sent = 0;
  int64_t late = 0;
};

// For each arrival of `schedule` before the stop offset, while
// `keep_going()`: sleeps until its intended time, calls `wait_for_slot()`
// (which may block while too many calls are in flight: the send then goes
// out late, it is never dropped), then `send(intended, actual, late)`.
// Returns how many were sent and how many of those were late.
PacingCounts RunPacing(
    Clock& clock, ArrivalSchedule& schedule, const PacingOptions& options,
    const std::function<bool()>& keep_going,
    const std::function<void()>& wait_for_slot,
    const std::function<void(int64_t intended, int64_t actual, bool late)>&
        send);

}  // namespace lossctl::bench

#endif  // LOSSCTL_BENCH_ARRIVAL_SCHEDULE_H_
