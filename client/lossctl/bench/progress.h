// A live one-line progress report on a terminal: elapsed time, counts,
// recent throughput and latency. Silent when stderr is not a TTY (CI logs,
// pipes) or when disabled.

#ifndef LOSSCTL_BENCH_PROGRESS_H_
#define LOSSCTL_BENCH_PROGRESS_H_

#include <cstdint>
#include <string>

#include "bench/recorder.h"

namespace lossctl::bench {

class ProgressLine {
 public:
  // Enabled only if `wanted` and stderr is a terminal.
  explicit ProgressLine(bool wanted);

  // Starts a run called `label` ("concurrency 16") whose measurement
  // starts at `measure_start_nanos` (before it, the line says warm-up) and
  // lasts `planned_seconds` (0 when not known in advance).
  void Begin(const std::string& label, int64_t measure_start_nanos,
             double planned_seconds, int64_t now_nanos);
  // Redraws the line, at most a few times a second.
  void Update(const Recorder::Progress& progress, int64_t now_nanos);
  // Erases the line.
  void End();

  bool enabled() const { return enabled_; }

 private:
  bool enabled_;
  std::string label_;
  double planned_seconds_ = 0;
  int64_t measure_start_nanos_ = 0;
  int64_t last_draw_nanos_ = 0;
  int64_t last_succeeded_ = 0;
  double rate_ = 0;
};

}  // namespace lossctl::bench

#endif  // LOSSCTL_BENCH_PROGRESS_H_
