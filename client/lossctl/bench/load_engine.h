// Drives load at lossd and measures it: closed loop (a fixed number of
// workers, each sending its next call when the last one is answered) or
// open loop (calls sent on a schedule whatever the answers do, latency
// counted from the intended send time so queueing cannot hide), over unary
// calls or streams, on one or several connections.

#ifndef LOSSCTL_BENCH_LOAD_ENGINE_H_
#define LOSSCTL_BENCH_LOAD_ENGINE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "bench/arrival_schedule.h"
#include "bench/call_lane.h"
#include "bench/progress.h"
#include "bench/recorder.h"
#include "bench/verifier.h"
#include "grpcpp/grpcpp.h"

namespace lossctl::bench {

// What stays the same across the points of a sweep.
struct LoadSettings {
  bool stream = false;
  ArrivalProcess arrival = ArrivalProcess::kConstant;
  uint64_t seed = 1;
  absl::Duration warmup = absl::Seconds(1);
  // How long to measure; zero with `requests` or `stability` (then it is
  // only a cap when set).
  absl::Duration duration = absl::Seconds(10);
  // Measured calls to send; 0 means stop by time.
  int64_t requests = 0;
  // Deadline of each unary call.
  absl::Duration timeout = absl::Seconds(10);
  // The `authorization` metadata of every call ("Bearer ..."), or empty.
  std::string authorization;
  // Open loop: most calls in flight; at the cap sends wait (and are late).
  int64_t max_in_flight = 4096;
  absl::Duration late_threshold = absl::Milliseconds(1);
  // Stability mode: measure windows of `measurement_interval` until the
  // last three agree within `stability_percentage` percent in throughput
  // and mean latency, or `max_windows` were measured.
  bool stability = false;
  double stability_percentage = 10;
  absl::Duration measurement_interval = absl::Seconds(2);
  int max_windows = 10;
};

// One point of a sweep.
struct LoadPoint {
  // Closed loop: workers (each with one call in flight). Streaming: also
  // the number of streams in open loop.
  int concurrency = 1;
  // Set for open loop: calls per second.
  std::optional<double> rate;
};

struct LoadResult {
  // The whole measured run, drained: sent == succeeded + failed.
  WindowFigures totals;
  // What throughput and latency are reported from: `totals`, or in
  // stability mode the last three windows.
  WindowFigures figures;
  std::vector<WindowFigures> windows;  // Stability mode only.
  bool stable = true;  // False when stability mode ran out of windows.
};

class LoadEngine {
 public:
  // `channels` are the connections (calls are spread over them);
  // `verifier` may be null. All must outlive the engine.
  LoadEngine(std::vector<std::shared_ptr<grpc::Channel>> channels,
             const PreparedRequests* requests, const Verifier* verifier,
             LoadSettings settings);

  // Runs one point to the end and waits for every call it sent.
  LoadResult Run(const LoadPoint& point, ProgressLine* progress) const;

 private:
  std::vector<std::shared_ptr<grpc::Channel>> channels_;
  const PreparedRequests* requests_;
  const Verifier* verifier_;
  LoadSettings settings_;
};

// True when the last three windows' throughput and mean latency each lie
// within `percentage` percent of their average (perf_analyzer's rule).
bool LastThreeAgree(const std::vector<WindowFigures>& windows,
                    double percentage);

}  // namespace lossctl::bench

#endif  // LOSSCTL_BENCH_LOAD_ENGINE_H_
