# Verbs: setup build test demo bench fuzz package check clean.
# `make demo` and `make test` work on a fresh Debian 12 machine as root.
JOBS ?= 2
BUILD ?= build
ASAN_BUILD ?= build-asan
# -g1 (line tables only) keeps backtraces useful and compiles ~30% faster
# than full debug info on CI's two cores.
CMAKE_FLAGS ?= -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG" -DDUENDE_WERROR=ON
# Sanitizers at -O1 (as their docs advise) with assertions on, built by
# clang 19 with libFuzzer's coverage hooks too: one tree serves the sanitizer
# test phase and the fuzz targets (fuzz/), which saves CI a third build. The
# web dashboard is built and browser-tested by the release build only.
# Warnings are errors in the release build (GCC 12) only.
ASAN_FLAGS ?= -G Ninja -DCMAKE_CXX_COMPILER=clang++-19 -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1" -DDUENDE_WERROR=OFF -DDUENDE_SANITIZE=ON -DDUENDE_FUZZ=ON -DDUENDE_BENCH=OFF -DDUENDE_WEB=OFF
# `make fuzz` on its own: a smaller tree with only the libraries the targets
# link (clang 19, ASan+UBSan). FUZZ_SECONDS per target, FUZZ_JOBS targets at
# a time.
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 20
FUZZ_JOBS ?= $(JOBS)
FUZZ_FLAGS ?= -G Ninja -DCMAKE_CXX_COMPILER=clang++-19 -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1" -DDUENDE_FUZZ=ON -DDUENDE_TESTS=OFF -DDUENDE_BENCH=OFF -DDUENDE_WEB=OFF
export CCACHE_DIR ?= $(CURDIR)/.ccache

.PHONY: setup build build-asan test test-long test-fast demo bench fuzz fuzz-build package check clean

setup:
	@bash scripts/setup.sh

build: setup
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS)
	cmake --build $(BUILD) -j$(JOBS)

build-asan: setup
	cmake -S . -B $(ASAN_BUILD) $(ASAN_FLAGS)
	cmake --build $(ASAN_BUILD) -j$(JOBS)

# Every test but the minutes-long ones (label long: `make test-long`), in the
# release build and again under ASan+UBSan (end-to-end ones only in the
# release build); then, from the sanitizer tree, every fuzz target over its
# corpus and regressions and TEST_FUZZ_SECONDS of fuzzing each (issue 9: a
# bounded run on every CI pass).
TEST_FUZZ_SECONDS ?= 10
SANITIZER_ENV = ASAN_OPTIONS=detect_leaks=1 LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp UBSAN_OPTIONS=print_stacktrace=1
test: build build-asan
	cd $(BUILD) && ctest -j$(JOBS) --output-on-failure -LE long
	cd $(ASAN_BUILD) && $(SANITIZER_ENV) ctest -j$(JOBS) --output-on-failure -LE 'e2e|long|fuzz'
	cd $(ASAN_BUILD) && ctest -L fuzz -j$(JOBS) --output-on-failure
	bash fuzz/run.sh $(ASAN_BUILD) $(TEST_FUZZ_SECONDS) $(FUZZ_JOBS)

test-long: build
	cd $(BUILD) && ctest -j$(JOBS) --output-on-failure -L long

test-fast: build
	cd $(BUILD) && ctest -j$(JOBS) --output-on-failure -L fast

demo: build
	bash scripts/demo.sh $(BUILD)

bench: build
	bash bench/run.sh $(BUILD)

fuzz-build: setup
	cmake -S . -B $(FUZZ_BUILD) $(FUZZ_FLAGS)
	cmake --build $(FUZZ_BUILD) -j$(JOBS) --target fuzz_all

# Every target once over its corpus and regressions (CTest label "fuzz"),
# then FUZZ_SECONDS of fuzzing each from a temporary copy of its corpus.
fuzz: fuzz-build
	cd $(FUZZ_BUILD) && ctest -L fuzz -j$(JOBS) --output-on-failure
	bash fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS) $(FUZZ_JOBS)

# Debian packages (packaging/CMakeLists.txt) into $(BUILD)/packages.
package: build
	cd $(BUILD) && cpack --config CPackConfig.cmake
	@ls -1 $(BUILD)/packages/*.deb

check:
	clang-format --dry-run --Werror $$(git ls-files 'src/*.cc' 'src/*.h')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
