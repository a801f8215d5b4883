# qread: the two commands a newcomer needs are `make run` and `make test`.
# Each installs what is missing (Debian 12 packages), configures, builds, then runs.
# PRESET picks a CMakePresets.json preset; CI (CI=true) builds with warnings as errors.

PRESET ?= $(if $(filter true 1,$(CI)),ci,release)
BUILD  := build/$(PRESET)
SOURCES := $(shell git ls-files '*.cpp' '*.hpp' '*.cu' '*.h' 2>/dev/null)

.PHONY: all deps configure build run test test-asan bench package format clean

all: build

deps:
	@bash packaging/install-deps.sh

$(BUILD)/build.ninja:
	cmake --preset $(PRESET)

configure: deps $(BUILD)/build.ninja

build: configure
	cmake --build --preset $(PRESET)

run: build
	$(BUILD)/bin/qread --version
	$(BUILD)/bin/qread info
	$(BUILD)/bin/qread --help

test: build
	ctest --preset $(PRESET)

test-asan:
	$(MAKE) test PRESET=asan

bench: build
	$(BUILD)/bin/qread-bench-kernels
	$(BUILD)/bin/qread bench --shape tiny --random-weights --lengths 2k,8k --decode-tokens 16
	$(BUILD)/bin/qread bench --shape tiny --random-weights --lengths 8k --decode-tokens 16 --config config/default.yaml

package: build
	cd $(BUILD) && cpack
	@ls -1 $(BUILD)/package/*.deb

format:
	clang-format -i $(SOURCES)

clean:
	rm -rf build
