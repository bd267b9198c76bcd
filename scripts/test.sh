#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# test.sh BUILD SAN_BUILD: the whole test suite.
#  1. BUILD (gcc, warnings as errors): unit tests, corpus replays,
#     integration tests.
#  2. SAN_BUILD (clang, AddressSanitizer + UndefinedBehaviorSanitizer,
#     warnings as errors): unit tests again, and every libFuzzer target for
#     RG_FUZZ_SECONDS (default 15) seconds.
# Both run even when the first fails; the exit status says whether all passed.
set -u
build=${1:-build}
san=${2:-build-san}
secs=${RG_FUZZ_SECONDS:-15}
rc=0

meson test -C "$build" --print-errorlogs --num-processes 2 || rc=1

if [ ! -f "$san/build.ninja" ]; then
	CC=clang meson setup "$san" --werror -Db_sanitize=address,undefined \
		-Db_lundef=false -Dfuzz=enabled -Dfuzz_seconds="$secs" || exit 1
fi
meson configure "$san" -Dfuzz_seconds="$secs" >/dev/null
meson compile -C "$san" || exit 1
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	meson test -C "$san" --print-errorlogs --num-processes 2 \
		--suite unit --suite fuzz || rc=1
exit $rc
