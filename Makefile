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

test: build
	cd $(BUILD_DIR) && ctest --output-on-failure --timeout 1200 -j $(JOBS)

format:
	git ls-files '*.cc' '*.h' | xargs clang-format -i

clean:
	rm -rf $(BUILD_DIR)
