# Thin wrapper over CMake. `make train` and `make test` set everything up themselves.
BUILD ?= build
CMAKE_FLAGS ?=
ifeq ($(CI),true)
CMAKE_FLAGS += -DABGPU_WERROR=ON
endif
JOBS ?= $(shell nproc 2>/dev/null || echo 2)

FUZZ_SECONDS ?= 60

.PHONY: all deps configure build test train clean fuzz test-sanitize device-check

all: build

deps:
	@bash tools/install-deps.sh

configure: deps
	@cmake -S . -B $(BUILD) $(CMAKE_FLAGS) >/dev/null

build: configure
	@cmake --build $(BUILD) -j $(JOBS)

test: build
	@cd $(BUILD) && ctest --output-on-failure --timeout 600

train: build
	@./$(BUILD)/abgpu train $(ARGS)

# The whole suite built with -fsanitize=address,undefined. ASAN_OPTIONS: detect_leaks=0
# because PoCL and the ICD loader keep allocations alive until exit by design (their
# leaks are not ours; valgrind checks our own frees); UBSan halts on the first report.
SAN_ENV = ASAN_OPTIONS=detect_leaks=0:abort_on_error=0 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
test-sanitize: deps
	@cmake -S . -B build-sanitize -DABGPU_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS) >/dev/null
	@cmake --build build-sanitize -j $(JOBS)
	@cd build-sanitize && $(SAN_ENV) ctest --output-on-failure --timeout 900

# Each libFuzzer target in tests/fuzz runs FUZZ_SECONDS on a copy of its seed corpus.
fuzz: deps
	@cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DABGPU_FUZZ=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
	@cmake --build build-fuzz -j $(JOBS) --target $(patsubst tests/fuzz/%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
	@bash tools/run-fuzzers.sh build-fuzz $(FUZZ_SECONDS)

# The device check (tools/device-check.sh; docs/opencl.md): uses or builds a build itself
# and installs nothing, for a GPU machine without network. QUICK=1: every size shrunk.
device-check:
	@bash tools/device-check.sh $(DEVICE_CHECK_OUT)

clean:
	rm -rf $(BUILD) build-fuzz build-sanitize
