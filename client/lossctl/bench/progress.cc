#include "bench/progress.h"

#include <unistd.h>

#include <cstdio>

#include "absl/strings/str_format.h"

namespace lossctl::bench {

ProgressLine::ProgressLine(bool wanted)
    : enabled_(wanted && isatty(STDERR_FILENO)) {}

void ProgressLine::Begin(const std::string& label, int64_t measure_start_nanos,
                         double planned_seconds, int64_t now_nanos) {
  label_ = label;
  planned_seconds_ = planned_seconds;
  measure_start_nanos_ = measure_start_nanos;
  last_draw_nanos_ = now_nanos;
  last_succeeded_ = 0;
  rate_ = 0;
}

void ProgressLine::Update(const Recorder::Progress& progress,
                          int64_t now_nanos) {
  if (!enabled_) return;
  const double since_draw = (now_nanos - last_draw_nanos_) * 1e-9;
  if (since_draw < 0.25) return;
  rate_ = (progress.succeeded - last_succeeded_) / since_draw;
  last_succeeded_ = progress.succeeded;
  last_draw_nanos_ = now_nanos;
  const double elapsed = (now_nanos - measure_start_nanos_) * 1e-9;
  const std::string time =
      elapsed < 0 ? absl::StrFormat("warm-up %.1fs", -elapsed)
      : planned_seconds_ > 0
          ? absl::StrFormat("%5.1fs/%.1fs", elapsed, planned_seconds_)
          : absl::StrFormat("%5.1fs", elapsed);
  // \r and erase-to-end-of-line: the line redraws in place.
  std::fprintf(stderr,
               "\r\x1b[K%s  %s  sent %lld  ok %lld  errors %lld  %.0f req/s  "
               "p50 %.2f ms  p99 %.2f ms",
               label_.c_str(), time.c_str(),
               static_cast<long long>(progress.sent),
               static_cast<long long>(progress.succeeded),
               static_cast<long long>(progress.failed), rate_,
               progress.p50_nanos * 1e-6, progress.p99_nanos * 1e-6);
  std::fflush(stderr);
}

void ProgressLine::End() {
  if (!enabled_) return;
  std::fprintf(stderr, "\r\x1b[K");
  std::fflush(stderr);
}

}  // namespace lossctl::bench
