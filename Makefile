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
# (CTest), then a bounded fuzzing run.
test: build
	cd $(BUILD_DIR) && ctest --output-on-failure --timeout 1200 -j $(JOBS)
	$(MAKE) fuzz

format:
	git ls-files '*.cc' '*.h' | xargs clang-format -i

clean:
	rm -rf $(BUILD_DIR)

# Fuzzing: a clang build with AddressSanitizer and UBSan, run for a bounded
# time from a seed corpus of valid requests.
FUZZ_DIR ?= build-fuzz
FUZZ_SECONDS ?= 60

.PHONY: fuzz
fuzz: deps
	cmake -S . -B $(FUZZ_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DCMAKE_CXX_COMPILER=clang++ -DLOSSD_FUZZ=ON
	cmake --build $(FUZZ_DIR) -j $(JOBS) --target lossd_compute_fuzzer lossd_fuzz_seeds
	rm -rf $(FUZZ_DIR)/corpus && mkdir -p $(FUZZ_DIR)/corpus
	$(FUZZ_DIR)/tests/fuzz/lossd_fuzz_seeds $(FUZZ_DIR)/corpus
	$(FUZZ_DIR)/tests/fuzz/lossd_compute_fuzzer -max_total_time=$(FUZZ_SECONDS) \
	  -max_len=4096 -rss_limit_mb=2048 -print_final_stats=1 $(FUZZ_DIR)/corpus

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
