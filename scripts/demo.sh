#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# demo.sh BUILD: the main job end to end, on built-in defaults:
#  1. generate realistic ISO 8583 traffic with lists of risky identifiers,
#     dissect the captures with the same code the fast path runs, and check
#     the list hits against the generator's ground truth;
#  2. three member institutions each import their list into a signed ledger;
#     their riskgated daemons sync live over mutual TLS on loopback and an
#     add at one member is listed at another; then verify, a proof, and the
#     shared screening table (scripts/demo_ledger.sh);
#  3. the appliance inline between an acquirer and a card switch in network
#     namespaces, screening live TCP traffic (scripts/demo_live.sh; needs root);
#  4. the whole appliance under its control plane: the members' riskgated
#     daemons sync live, bank-a's keeps the dataplane's table; an operator at
#     bank-c lists a card with riskgate-ctl mid-run and its hits appear at
#     bank-a (scripts/demo_control.sh; needs root).
set -eu
build=${1:-build}
gen=$build/perf/gen/riskgate-gen
dissect=$build/tools/dissect/riskgate-dissect

work=$(mktemp -d /tmp/riskgate-demo.XXXXXX)
trap 'rm -rf "$work"' EXIT INT TERM

step() { printf '\n== %s\n' "$*"; }

step "part 1: traffic, dissection, ground truth"
for dialect in ascii87 bcd87; do
	step "generating traffic: dialect $dialect, framing len2, 64 connections, 5000 requests"
	"$gen" --out "$work/$dialect.pcap" --lists "$work/$dialect-lists.csv" \
		--truth "$work/$dialect-truth.jsonl" --dialect "$dialect" \
		--flows 64 --messages 5000 --hit-rate 0.02 --seed 2026 \
		--segmentation mixed --retransmit 0.01 --reorder 0.01
	echo "lists: $(($(wc -l < "$work/$dialect-lists.csv") - 1)) entries in $work/$dialect-lists.csv"

	step "dissecting $dialect.pcap (PANs masked)"
	start=$(date +%s%N)
	"$dissect" --dialect "$dialect" --list "$work/$dialect-lists.csv" \
		"$work/$dialect.pcap" > "$work/$dialect.jsonl"
	end=$(date +%s%N)
	echo "$(wc -l < "$work/$dialect.jsonl") messages in $(( (end - start) / 1000000 )) ms; two of them:"
	grep '"hits": \[{' "$work/$dialect.jsonl" | head -n 1
	grep '"mti": "0800"' "$work/$dialect.jsonl" | head -n 1

	step "summary"
	"$dissect" --dialect "$dialect" --list "$work/$dialect-lists.csv" --summary \
		"$work/$dialect.pcap"

	step "hits against the generator's ground truth"
	python3 - "$work/$dialect.jsonl" "$work/$dialect-truth.jsonl" <<'PY'
import collections, json, sys
got = collections.Counter()
for line in open(sys.argv[1]):
    m = json.loads(line)
    for h in m.get("hits", []):
        got[(m["flow"], m["mti"], m["fields"].get("11"), h["list"], h["kind"])] += 1
want = collections.Counter()
for line in open(sys.argv[2]):
    t = json.loads(line)
    want[(t["flow"], t["mti"], t["stan"], t["list"], t["kind"])] += 1
missed = sum((want - got).values())
false = sum((got - want).values())
print(f"expected {sum(want.values())} hits, found {sum(got.values())}: "
      f"{missed} missed, {false} false")
sys.exit(1 if missed or false else 0)
PY
done

step "part 2: the consortium ledger, synced live between the members"
scripts/demo_ledger.sh "$build"

step "part 3: the appliance inline, live traffic"
if [ "$(id -u)" -ne 0 ]; then
	echo "skipped: the live topology needs root (network namespaces, af_packet)"
	exit 0
fi
scripts/demo_live.sh "$build"

step "part 4: the control plane, an operator at another member listing a card mid-run"
scripts/demo_control.sh "$build"
