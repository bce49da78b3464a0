# lossd: `make serve` starts the server, `make test` runs every test.
# Both install missing Debian packages first (scripts/install-deps.sh).

BUILD_DIR ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS ?= $(shell nproc)
ADDRESS ?= 0.0.0.0:50051

.PHONY: all deps configure build serve test format clean

all: build

deps:
	./scripts/install-deps.sh

$(BUILD_DIR)/CMakeCache.txt:
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE)

configure: deps $(BUILD_DIR)/CMakeCache.txt

build: configure
	cmake --build $(BUILD_DIR) -j $(JOBS)

serve: build
	exec $(BUILD_DIR)/server/lossd --address=$(ADDRESS)

# Every stage: unit, integration, oracle, client and container tests
# (CTest), the same suite under AddressSanitizer and UBSan, then a bounded
# fuzzing run in that sanitized build.
test: build
	cd $(BUILD_DIR) && ctest --output-on-failure --timeout 1200 -j $(JOBS)
	$(MAKE) sanitize
	$(MAKE) fuzz

format:
	git ls-files '*.cc' '*.h' | xargs clang-format -i

clean:
	rm -rf $(BUILD_DIR)

# Sanitizers: the whole CTest suite again, in a clang build with
# AddressSanitizer and UBSan on every target (LOSSD_SANITIZE, implied by
# LOSSD_FUZZ, which also builds the libFuzzer target that `make fuzz` then
# reuses: one sanitized build, not two). Tests that start lossd run the
# sanitized lossd, the Python and Node client tests and the PyTorch oracle
# included. Excluded by label, and only these:
#   container  the podman image and the k8s manifests: the image is built
#              from the Dockerfile, not from this build, so nothing of ours
#              would run sanitized, and it is the slowest stage;
#   bench      timings mean nothing under ASan's slowdown.
# UBSan findings abort (-fno-sanitize-recover), so they fail the test that
# hit them; LeakSanitizer reports leaks when each sanitized process exits.
# The one suppression, tests/sanitizers/lsan.supp, is a leak inside Debian's
# c-ares (gRPC's DNS resolver); nothing of ours is suppressed.
ASAN_DIR ?= build-asan
SANITIZE_EXCLUDE ?= container|bench
SANITIZER_ENV = ASAN_OPTIONS=detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  LSAN_OPTIONS=suppressions=$(CURDIR)/tests/sanitizers/lsan.supp:print_suppressions=0

.PHONY: sanitize sanitize-build
sanitize-build: deps
	cmake -S . -B $(ASAN_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DCMAKE_CXX_COMPILER=clang++ -DLOSSD_FUZZ=ON
	cmake --build $(ASAN_DIR) -j $(JOBS)

sanitize: sanitize-build
	cd $(ASAN_DIR) && $(SANITIZER_ENV) ctest --output-on-failure \
	  --timeout 1200 -j $(JOBS) -LE '$(SANITIZE_EXCLUDE)'

# Fuzzing: the libFuzzer target of the sanitized build (built there by
# `make sanitize`; built here if not yet), run for FUZZ_SECONDS from a seed
# corpus of valid requests plus the committed regression inputs. Any crash,
# leak, timeout (FUZZ_TIMEOUT seconds for one input) or allocation past
# the malloc limit fails the stage and leaves its input in
# $(ASAN_DIR)/fuzz-artifacts; to keep it as a regression test see
# tests/fuzz/regressions/README.md.
FUZZ_SECONDS ?= 60
FUZZ_TIMEOUT ?= 10
FUZZ_ARTIFACTS = $(ASAN_DIR)/fuzz-artifacts

.PHONY: fuzz
fuzz: deps
	test -f $(ASAN_DIR)/CMakeCache.txt || cmake -S . -B $(ASAN_DIR) \
	  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ \
	  -DLOSSD_FUZZ=ON
	cmake --build $(ASAN_DIR) -j $(JOBS) --target lossd_compute_fuzzer \
	  lossd_fuzz_seeds
	rm -rf $(ASAN_DIR)/corpus $(FUZZ_ARTIFACTS)
	mkdir -p $(ASAN_DIR)/corpus $(FUZZ_ARTIFACTS)
	$(ASAN_DIR)/tests/fuzz/lossd_fuzz_seeds $(ASAN_DIR)/corpus
	$(SANITIZER_ENV) $(ASAN_DIR)/tests/fuzz/lossd_compute_fuzzer \
	  -max_total_time=$(FUZZ_SECONDS) -timeout=$(FUZZ_TIMEOUT) \
	  -max_len=4096 -rss_limit_mb=2048 -print_final_stats=1 \
	  -artifact_prefix=$(FUZZ_ARTIFACTS)/ \
	  $(ASAN_DIR)/corpus tests/fuzz/regressions
	@if [ -n "$$(ls -A $(FUZZ_ARTIFACTS))" ]; then \
	  echo "fuzz: inputs kept in $(FUZZ_ARTIFACTS):"; \
	  ls -l $(FUZZ_ARTIFACTS); exit 1; fi

# Benchmarks (docs/PERFORMANCE.md): kernels against the memory-bandwidth
# probe, PyTorch on the same shapes, and Compute against a gRPC echo of the
# same bytes, all in one run; prints the tables. A Release build of its own.
BENCH_DIR ?= build-bench

.PHONY: bench
bench: deps
	cmake -S . -B $(BENCH_DIR) -DCMAKE_BUILD_TYPE=Release
	cmake --build $(BENCH_DIR) -j $(JOBS) --target lossd lossd_kernel_benchmark \
	  lossd_bench_echo lossd_service_bench
	/usr/bin/python3 bench/run_bench.py --build_dir $(BENCH_DIR)
