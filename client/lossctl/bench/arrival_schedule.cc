#include "bench/arrival_schedule.h"

#include <cmath>

#include "absl/strings/str_cat.h"

namespace lossctl::bench {

absl::StatusOr<ArrivalProcess> ParseArrivalProcess(absl::string_view text) {
  if (text == "constant") return ArrivalProcess::kConstant;
  if (text == "poisson") return ArrivalProcess::kPoisson;
  return absl::InvalidArgumentError(absl::StrCat(
      "--arrival must be constant or poisson, not \"", text, "\""));
}

absl::string_view ArrivalProcessName(ArrivalProcess process) {
  return process == ArrivalProcess::kConstant ? "constant" : "poisson";
}

ArrivalSchedule::ArrivalSchedule(double rate_per_second, ArrivalProcess process,
                                 uint64_t seed)
    : rate_per_second_(rate_per_second), process_(process), random_(seed) {}

int64_t ArrivalSchedule::Next() {
  if (process_ == ArrivalProcess::kConstant) {
    return static_cast<int64_t>(
        std::llround(static_cast<double>(index_++) * 1e9 / rate_per_second_));
  }
  // Inverse transform of a uniform in (0, 1]: -log(u) / rate. Written out
  // rather than std::exponential_distribution so that a seed gives the same
  // times with every standard library.
  const double uniform =
      (static_cast<double>(random_() >> 11) + 1.0) * 0x1.0p-53;
  const int64_t offset =
      static_cast<int64_t>(std::llround(poisson_seconds_ * 1e9));
  poisson_seconds_ += -std::log(uniform) / rate_per_second_;
  ++index_;
  return offset;
}

PacingCounts RunPacing(
    Clock& clock, ArrivalSchedule& schedule, const PacingOptions& options,
    const std::function<bool()>& keep_going,
    const std::function<void()>& wait_for_slot,
    const std::function<void(int64_t intended, int64_t actual, bool late)>&
        send) {
  PacingCounts counts;
  while (keep_going()) {
    const int64_t offset = schedule.Next();
    if (offset >= options.stop_offset_nanos) break;
    const int64_t intended = options.start_nanos + offset;
    // Behind schedule, sleeping is skipped: sends catch up in a burst, as
    // the arrivals they stand for would have.
    if (clock.NowNanos() < intended) clock.SleepUntil(intended);
    if (!keep_going()) break;
    if (wait_for_slot) wait_for_slot();
    const int64_t actual = clock.NowNanos();
    const bool late = actual - intended > options.late_threshold_nanos;
    ++counts.sent;
    counts.late += late;
    send(intended, actual, late);
  }
  return counts;
}

}  // namespace lossctl::bench
