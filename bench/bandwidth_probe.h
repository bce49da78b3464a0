// The memory-bandwidth probe: the simplest loops that read and write the
// same number of arrays as a loss kernel, so that a kernel's speed can be
// read as a fraction of what the memory system delivers on this machine.
//
// Bytes are counted as a kernel's are: every element read once plus every
// element written once (write-allocate traffic is not counted).

#ifndef LOSSD_BENCH_BANDWIDTH_PROBE_H_
#define LOSSD_BENCH_BANDWIDTH_PROBE_H_

#include <cstdint>

#include "absl/types/span.h"

namespace lossd::bench {

// Which arrays a probe streams through.
enum class ProbePattern {
  kRead,   // sum += x[i]: one array read.
  kWrite,  // y[i] = constant: one array written.
  kCopy,   // y[i] = a * x[i]: read one, write one (a hard-target loss).
  kTriad,  // z[i] = x[i] + a * y[i]: read two, write one (dense targets).
};

// The number of arrays `pattern` touches (for byte counts).
int ArrayCount(ProbePattern pattern);

// Runs `pattern` once over the arrays, split into `threads` contiguous
// slices run on as many threads (1 runs on the calling thread). Every span
// has the same length; `z` is used by kTriad only, `y` by all but kRead.
// Returns a value derived from the data so the work cannot be optimised away.
float RunProbe(ProbePattern pattern, int threads, absl::Span<const float> x,
               absl::Span<float> y, absl::Span<float> z);

}  // namespace lossd::bench

#endif  // LOSSD_BENCH_BANDWIDTH_PROBE_H_
