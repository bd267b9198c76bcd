# SPDX-License-Identifier: BSD-3-Clause
# A thin wrapper over Meson for the two README commands.
#   make demo   install what is missing, build, run the demo
#   make test   install what is missing, build, run every test suite
# The build is Meson's: `meson setup build && meson compile -C build` works
# as well once the packages are there.

BUILD ?= build
SAN_BUILD ?= build-san

.PHONY: all deps build demo test clean

all: build

deps:
	@scripts/deps.sh

$(BUILD)/build.ninja:
	@scripts/deps.sh
	meson setup $(BUILD) --werror

build: deps $(BUILD)/build.ninja
	meson compile -C $(BUILD)

demo: build
	@scripts/hugepages.sh
	@scripts/demo.sh $(BUILD)

test: build
	@scripts/hugepages.sh
	@scripts/test.sh $(BUILD) $(SAN_BUILD)

clean:
	rm -rf $(BUILD) $(SAN_BUILD)
