// What a load run measured, accumulated from many threads: counts of sent,
// succeeded and failed calls (failures by status code), bytes, late sends,
// and latency histograms, in measurement windows.

#ifndef LOSSCTL_BENCH_RECORDER_H_
#define LOSSCTL_BENCH_RECORDER_H_

#include <cstdint>
#include <map>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "bench/latency_histogram.h"

namespace lossctl::bench {

// The figures of one window (or of several merged).
struct WindowFigures {
  int64_t sent = 0;
  int64_t succeeded = 0;
  int64_t failed = 0;
  // Failed calls by gRPC status code name ("UNAVAILABLE"), plus
  // "VERIFY_FAILED" for answers that did not match the local reference.
  std::map<std::string, int64_t> errors;
  // With verification: calls refused with the very code the library
  // refuses their request with (malformed requests sent on purpose). Not
  // failures, not successes: sent == succeeded + refused + failed.
  int64_t refused = 0;
  std::map<std::string, int64_t> refused_by_code;
  // Calls answered (succeeded or refused) by each server, by its address
  // as gRPC names the peer ("ipv4:127.0.0.1:50051").
  std::map<std::string, int64_t> answered_by;
  // Open loop: sends that left later than their intended time.
  int64_t late = 0;
  int64_t request_bytes = 0;   // Of completed calls.
  int64_t response_bytes = 0;  // Of succeeded calls.
  // Latency of succeeded calls; of failed ones apart, so that fast errors
  // cannot pass for a fast server.
  LatencyHistogram latency;
  LatencyHistogram error_latency;
  // The window's span on the clock, in nanoseconds.
  int64_t begin_nanos = 0;
  int64_t end_nanos = 0;

  double seconds() const { return (end_nanos - begin_nanos) * 1e-9; }
  void Merge(const WindowFigures& other);
};

// Thread-safe.
class Recorder {
 public:
  explicit Recorder(int64_t begin_nanos);

  void OnSent(bool late);
  // How a call ended.
  struct Outcome {
    // Empty for success, else the code name (or VERIFY_FAILED).
    std::string error;
    // `error` was the code verification expected (the call was refused).
    bool expected = false;
    // The server that answered; empty when the call failed.
    std::string peer;
  };
  // One completed call at `now_nanos`.
  void OnDone(const Outcome& outcome, int64_t latency_nanos,
              int64_t request_bytes, int64_t response_bytes, int64_t now_nanos);

  // Ends the current window at `now_nanos` and starts the next one there.
  WindowFigures TakeWindow(int64_t now_nanos);

  // Everything recorded since construction, with its span ending at the
  // last call to OnDone (or at construction).
  WindowFigures Totals() const;

  // A cheap look at the run so far for a progress line.
  struct Progress {
    int64_t sent = 0;
    int64_t succeeded = 0;
    int64_t failed = 0;
    int64_t refused = 0;
    int64_t p50_nanos = 0;  // Of the current window.
    int64_t p99_nanos = 0;
  };
  Progress Peek() const;

 private:
  void Add(WindowFigures& figures, const Outcome& outcome,
           int64_t latency_nanos, int64_t request_bytes,
           int64_t response_bytes);

  mutable absl::Mutex mu_;
  WindowFigures window_ ABSL_GUARDED_BY(mu_);
  WindowFigures totals_ ABSL_GUARDED_BY(mu_);
  int64_t last_done_nanos_ ABSL_GUARDED_BY(mu_);
};

}  // namespace lossctl::bench

#endif  // LOSSCTL_BENCH_RECORDER_H_
