// Google Benchmark of the loss library through its public API
// (lossd/compute.h), next to the memory-bandwidth probe run in the same
// process, so every kernel's GB/s can be read as a fraction of the limit.
//
// Every kernel case computes the reduced loss and the gradient of a float32
// batch of about --elements values (64 MiB by default), writing into a
// buffer that is reused across iterations, as a server that reuses its
// buffers would. Bytes per iteration: the input, the target and the
// gradient, each counted once.
//
//   kernel_benchmark [--elements=N] [--smoke] [benchmark flags]
//
// Names: "<loss>/<target>/C:<classes>/threads:<n>" and
// "probe/<pattern>/threads:<n>". Counters: classes, rows, arrays (how many
// arrays the case streams, i.e. which probe is its limit).

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "bandwidth_probe.h"
#include "benchmark/benchmark.h"
#include "lossd/compute.h"
#include "lossd/registry.h"

namespace lossd::bench {
namespace {

enum class Target { kClassIndex, kProbabilities, kMultiLabel };

absl::string_view TargetName(Target target) {
  switch (target) {
    case Target::kClassIndex:
      return "class_index";
    case Target::kProbabilities:
      return "probabilities";
    case Target::kMultiLabel:
      return "multi_label";
  }
  return "";
}

struct KernelCase {
  absl::string_view loss;
  Target target;
  int64_t classes;
  int threads;
  bool bfloat16 = false;  // The input as LossRequest::input_16bit.
};

// The batch of the case being run. Benchmarks run one after another, so
// only the latest batch is kept; rebuilding it per repetition would cost
// more than the measurement.
struct Batch {
  int64_t rows = 0;
  int64_t classes = 0;
  Target target = Target::kClassIndex;
  std::vector<float> input;
  std::vector<uint16_t> input_bfloat16;  // The same values, rounded.
  std::vector<int64_t> labels;
  std::vector<float> dense_target;
  std::vector<float> grad;
};

Batch& BatchFor(int64_t rows, int64_t classes, Target target) {
  static Batch* batch = new Batch;
  if (batch->rows == rows && batch->classes == classes &&
      batch->target == target) {
    return *batch;
  }
  *batch = Batch{.rows = rows, .classes = classes, .target = target};
  const int64_t elements = rows * classes;
  std::mt19937 random(12345);
  std::normal_distribution<float> logit(0.0f, 2.0f);
  batch->input.resize(elements);
  batch->input_bfloat16.resize(elements);
  for (int64_t i = 0; i < elements; ++i) {
    // Rounded to bfloat16 (to nearest even; the logits are finite).
    const uint32_t bits = std::bit_cast<uint32_t>(logit(random));
    batch->input_bfloat16[i] =
        static_cast<uint16_t>((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16);
    batch->input[i] =
        std::bit_cast<float>(uint32_t{batch->input_bfloat16[i]} << 16);
  }
  if (target == Target::kClassIndex) {
    std::uniform_int_distribution<int64_t> label(0, classes - 1);
    batch->labels.resize(rows);
    for (int64_t& y : batch->labels) y = label(random);
  } else {
    batch->dense_target.resize(elements);
    std::uniform_real_distribution<float> uniform(0.0f, 1.0f);
    for (int64_t r = 0; r < rows; ++r) {
      float* row = batch->dense_target.data() + r * classes;
      float sum = 0;
      for (int64_t c = 0; c < classes; ++c) {
        row[c] = target == Target::kMultiLabel
                     ? static_cast<float>(uniform(random) < 0.5f)
                     : uniform(random);
        sum += row[c];
      }
      if (target == Target::kProbabilities) {
        for (int64_t c = 0; c < classes; ++c) row[c] /= sum;
      }
    }
  }
  // Touched once here, so that page faults are not part of the timing.
  batch->grad.assign(elements, 0.0f);
  return *batch;
}

void RunKernel(benchmark::State& state, KernelCase kernel, int64_t elements) {
  const int64_t rows = std::max<int64_t>(1, elements / kernel.classes);
  Batch& batch = BatchFor(rows, kernel.classes, kernel.target);
  LossRequest<float> request;
  request.loss = FindLoss(kernel.loss);
  if (request.loss == nullptr) {
    state.SkipWithError(absl::StrCat("no loss ", kernel.loss).c_str());
    return;
  }
  if (kernel.bfloat16) {
    request.input_16bit = Float16TensorView{
        batch.input_bfloat16, {rows, kernel.classes}, Float16Format::kBFloat16};
  } else {
    request.input = {batch.input, {rows, kernel.classes}};
  }
  if (kernel.target == Target::kClassIndex) {
    request.class_index_target = TensorView<int64_t>{batch.labels, {rows}};
  } else {
    request.dense_target =
        TensorView<float>{batch.dense_target, {rows, kernel.classes}};
  }
  request.reduction = Reduction::kMean;
  request.threads = kernel.threads;
  double loss = 0;
  for (auto _ : state) {
    absl::StatusOr<LossResult> result =
        Compute<float>(request, /*per_example=*/{}, absl::MakeSpan(batch.grad));
    if (!result.ok()) {
      state.SkipWithError(std::string(result.status().message()).c_str());
      return;
    }
    loss = result->loss;
    benchmark::DoNotOptimize(loss);
    benchmark::ClobberMemory();
  }
  if (!std::isfinite(loss)) state.SkipWithError("the loss is not finite");
  const int64_t element_bytes = rows * kernel.classes * sizeof(float);
  const int64_t input_bytes =
      kernel.bfloat16 ? element_bytes / 2 : element_bytes;
  const int64_t target_bytes = kernel.target == Target::kClassIndex
                                   ? rows * int64_t{sizeof(int64_t)}
                                   : element_bytes;
  state.SetBytesProcessed(state.iterations() *
                          (input_bytes + element_bytes + target_bytes));
  state.counters["classes"] = static_cast<double>(kernel.classes);
  state.counters["rows"] = static_cast<double>(rows);
  state.counters["arrays"] = kernel.target == Target::kClassIndex ? 2 : 3;
}

struct ProbeArrays {
  std::vector<float> x, y, z;
};

void RunBandwidthProbe(benchmark::State& state, ProbePattern pattern,
                       int threads, int64_t elements) {
  static ProbeArrays* arrays = new ProbeArrays;
  if (static_cast<int64_t>(arrays->x.size()) != elements) {
    arrays->x.assign(elements, 1.0f);
    arrays->y.assign(elements, 2.0f);
    arrays->z.assign(elements, 3.0f);
  }
  for (auto _ : state) {
    float result =
        RunProbe(pattern, threads, arrays->x, absl::MakeSpan(arrays->y),
                 absl::MakeSpan(arrays->z));
    benchmark::DoNotOptimize(result);
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * ArrayCount(pattern) * elements *
                          int64_t{sizeof(float)});
  state.counters["arrays"] = ArrayCount(pattern);
}

void RegisterAll(int64_t elements, bool smoke) {
  const std::vector<int> thread_counts = {1, 2};
  struct Probe {
    absl::string_view name;
    ProbePattern pattern;
  };
  for (int threads : thread_counts) {
    for (Probe probe : {Probe{"read", ProbePattern::kRead},
                        Probe{"write", ProbePattern::kWrite},
                        Probe{"copy", ProbePattern::kCopy},
                        Probe{"triad", ProbePattern::kTriad}}) {
      benchmark::RegisterBenchmark(
          absl::StrCat("probe/", probe.name, "/threads:", threads).c_str(),
          [=](benchmark::State& state) {
            RunBandwidthProbe(state, probe.pattern, threads, elements);
          })
          ->UseRealTime()
          ->Unit(benchmark::kMillisecond);
    }
  }
  std::vector<KernelCase> cases = {
      {"cross_entropy", Target::kClassIndex, 10, 1},
      {"cross_entropy", Target::kClassIndex, 1000, 1},
      {"cross_entropy", Target::kClassIndex, 32000, 1},
      {"cross_entropy", Target::kClassIndex, 128256, 1},
      {"cross_entropy", Target::kProbabilities, 10, 1},
      {"cross_entropy", Target::kProbabilities, 1000, 1},
      {"cross_entropy", Target::kProbabilities, 32000, 1},
      {"binary_cross_entropy", Target::kMultiLabel, 10, 1},
      {"binary_cross_entropy", Target::kMultiLabel, 1000, 1},
      // Two threads (LossRequest::threads) on the same 64 MiB batches.
      {"cross_entropy", Target::kClassIndex, 10, 2},
      {"cross_entropy", Target::kClassIndex, 1000, 2},
      {"cross_entropy", Target::kClassIndex, 32000, 2},
      {"cross_entropy", Target::kClassIndex, 128256, 2},
      {"cross_entropy", Target::kProbabilities, 1000, 2},
      {"binary_cross_entropy", Target::kMultiLabel, 1000, 2},
      // bfloat16 input, read directly (half the input bytes).
      {"cross_entropy", Target::kClassIndex, 1000, 1, true},
      {"cross_entropy", Target::kClassIndex, 32000, 1, true},
      {"binary_cross_entropy", Target::kMultiLabel, 1000, 1, true},
  };
  if (smoke) {
    cases = {{"cross_entropy", Target::kClassIndex, 10, 1},
             {"cross_entropy", Target::kProbabilities, 100, 1},
             {"binary_cross_entropy", Target::kMultiLabel, 100, 1},
             {"cross_entropy", Target::kClassIndex, 100, 2}};
  }
  for (const KernelCase& kernel : cases) {
    benchmark::RegisterBenchmark(
        absl::StrCat(kernel.loss, "/", TargetName(kernel.target),
                     kernel.bfloat16 ? "/bfloat16" : "", "/C:", kernel.classes,
                     "/threads:", kernel.threads)
            .c_str(),
        [=](benchmark::State& state) { RunKernel(state, kernel, elements); })
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
  }
}

}  // namespace
}  // namespace lossd::bench

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  int64_t elements = int64_t{1} << 24;
  bool smoke = false;
  for (int i = 1; i < argc; ++i) {
    absl::string_view argument = argv[i];
    if (argument == "--smoke") {
      smoke = true;
      elements = 1 << 14;
    } else if (absl::ConsumePrefix(&argument, "--elements=")) {
      if (!absl::SimpleAtoi(argument, &elements) || elements <= 0) {
        std::fprintf(stderr, "--elements wants a positive count\n");
        return 2;
      }
    } else {
      std::fprintf(stderr, "unknown argument %s\n", argv[i]);
      return 2;
    }
  }
  lossd::bench::RegisterAll(elements, smoke);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
