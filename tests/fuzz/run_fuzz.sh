#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# run_fuzz.sh EXE SEED_CORPUS WORK_CORPUS SECONDS
# Runs a libFuzzer target for SECONDS, new inputs going to WORK_CORPUS (in
# the build tree) so the seed corpus in the source tree stays as committed.
# libFuzzer's own failure status is 77, which meson reads as "skipped":
# failures and timeouts exit 1 instead.
set -eu
exe=$1 seed=$2 work=$3 secs=$4
mkdir -p "$work"
exec "$exe" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
	-error_exitcode=1 -timeout_exitcode=1 \
	-print_final_stats=1 "$work" "$seed"
