#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# The whole appliance, run by its operators' tools:
#
#   scripts/demo_control.sh BUILD_DIR [SECONDS]
#
# 1. three members (bank-a, bank-b, bank-c) with their own ledgers import
#    their risk lists; bank-c holds one of its cards back;
# 2. each member's riskgated syncs with the two others over mutual TLS 1.3
#    on loopback (scripts/demo_members.sh) until all hold the three logs;
#    bank-a's keeps the appliance's shared table and segment;
# 3. scripts/topology.sh up puts riskgate-dp inline between the acquirer
#    (netns rgacq) and the switch (netns rgsw), on bank-a's table and
#    segment;
# 4. while traffic runs, `add` at bank-c lists the held-back card: the time
#    until bank-a holds it and until bank-a's dataplane hits it is shown,
#    with the hit events;
# 5. `riskgate-ctl peers` at bank-a, `stats`, the last hit events and the
#    busiest flows;
# 6. everything torn down on exit, failure or Ctrl-C.
# Needs root and huge pages (scripts/hugepages.sh); about 20 s.
set -eu

BUILD=${1:?usage: demo_control.sh BUILD_DIR [SECONDS]}
SECS=${2:-10}
HERE=$(cd "$(dirname "$0")" && pwd)
TOPO=$HERE/topology.sh
ACQ=$BUILD/perf/sim/riskgate-acq
SWITCH=$BUILD/perf/sim/riskgate-switch
DP=$BUILD/dataplane/riskgate-dp
LEDGER=$BUILD/ledger/riskgate-ledger
DAEMON=$BUILD/control/riskgated
CTL=$BUILD/control/riskgate-ctl
SEED=7
LISTED=16

say() { printf '\n== %s\n' "$*"; }
. "$HERE/demo_inline.sh"
. "$HERE/demo_members.sh"

if [ "$(id -u)" != 0 ]; then
	echo "control demo skipped: needs root (network namespaces, DPDK)"
	exit 0
fi
for b in "$ACQ" "$SWITCH" "$DP" "$LEDGER" "$DAEMON" "$CTL"; do
	if [ ! -x "$b" ]; then
		echo "control demo skipped: $b is not built"
		exit 0
	fi
done
HUGE=$(awk '$3 == "hugetlbfs" { print $2; exit }' /proc/mounts)
[ -n "$HUGE" ] || { echo "control demo: no hugetlbfs mount (run scripts/hugepages.sh)"; exit 1; }

WORK=$(mktemp -d /tmp/rg-demo-control.XXXXXX)
chmod 755 "$WORK"
TABLE=$HUGE/rgdemoctl-$$.table
SEG=$HUGE/rgdemoctl-$$.seg
SOCK=$WORK/bank-a.sock
export RG_TOPO_RUN=$WORK/run
SW_PID=
ACQ_PID=

ctl() { "$CTL" --socket "$SOCK" "$@"; }

cleanup() {
	rc=$?
	set +e
	if [ "$rc" != 0 ]; then
		for m in $MEMBERS; do
			[ -s "$WORK/$m.log" ] || continue
			echo "control demo failed; riskgated's log at $m:" >&2
			tail -n 20 "$WORK/$m.log" >&2
		done
	fi
	for p in $ACQ_PID $SW_PID; do
		kill -TERM "$p" 2>/dev/null && wait "$p" 2>/dev/null
	done
	"$TOPO" down >/dev/null 2>&1
	members_down
	for f in "$TABLE" "$TABLE.next" "$SEG"; do
		# short of huge pages a file may live in /dev/shm behind a symlink
		[ -L "$f" ] && rm -f "$(readlink "$f")"
		rm -f "$f"
	done
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$TOPO" down >/dev/null 2>&1 || true

say "three members' risk lists (one generated card population, seed $SEED)"
"$ACQ" --lists-only --lists "$WORK/L.csv" --members 3 --seed "$SEED" --listed "$LISTED" \
	--list-size 200
# bank-c holds back one card of its txn_fraud list, to add it live later: a
# card the acquirer uses (the same population without decoys) that no other
# list holds, so its hits before the add are none
"$ACQ" --lists-only --lists "$WORK/P.csv" --seed "$SEED" --listed "$LISTED" --list-size 0
CARD=$(python3 - "$WORK" <<'PY'
import csv, os, re, sys
work = sys.argv[1]
digits = lambda v: re.sub(r"\D", "", v)
pop = [r for r in csv.DictReader(open(os.path.join(work, "P.csv"))) if r["kind"] == "PAN"]
lists_of = {}
for r in pop:
    lists_of.setdefault(digits(r["value"]), set()).add(r["list"])
rows = list(csv.reader(open(os.path.join(work, "L-3.csv"))))
mine = {digits(r[2]) for r in rows[1:] if r[:2] == ["txn_fraud", "PAN"]}
card = next((c for c, l in lists_of.items() if l == {"txn_fraud"} and c in mine), "")
if card:
    with open(os.path.join(work, "L-3.csv"), "w", newline="") as f:
        csv.writer(f).writerows(r for r in rows if len(r) < 3 or digits(r[2]) != card)
print(card)
PY
)
[ -n "$CARD" ] || { echo "control demo: no card to hold back in bank-c's list" >&2; exit 1; }
for i in 1 2 3; do
	printf '  member %d: %5d entries in L-%d.csv\n' "$i" $(($(wc -l < "$WORK/L-$i.csv") - 1)) "$i"
done

say "ledgers: bank-a, bank-b, bank-c, each importing its own list"
members_ledgers
KEY=$WORK/bank-a/fp.key
i=1
for m in $MEMBERS; do
	"$LEDGER" --dir "$WORK/$m" import "$WORK/L-$i.csv" --no-progress >/dev/null 2>&1 || [ $? = 3 ]
	i=$((i + 1))
done

say "riskgated at each member, syncing with the two others over mutual TLS 1.3"
members_ports
# bank-a is the appliance: its daemon keeps the table and segment riskgate-dp
# screens with, and writes the hit events
member_config bank-a "$TABLE" "$SEG" "$WORK/hits.jsonl"
member_config bank-b "$WORK/bank-b.table" "$WORK/bank-b.seg" ""
member_config bank-c "$WORK/bank-c.table" "$WORK/bank-c.seg" ""
for m in $MEMBERS; do
	echo "  $m serves on 127.0.0.1:$(member_port "$m")"
done
members_up
members_synced
ctl table | grep -E '^(count|ledger_pos|in_sync|hugetlb) ' | sed 's/^/  /'

say "topology: rgacq 10.99.0.1 <-> riskgate-dp (af_packet) <-> rgsw 10.99.0.2"
inline_up "$TABLE" "$SEG" "$KEY"
switch_up

say "traffic: 8 connections, 400 requests/s for $SECS s, 30% carrying listed identifiers"
ip netns exec rgacq "$ACQ" --connect 10.99.0.2:5000 --connections 8 --rate 400 \
	--duration "$SECS" --seed "$SEED" --listed "$LISTED" --hit-rate 0.3 --json \
	--no-progress > "$WORK/acq.json" 2>/dev/null &
ACQ_PID=$!
sleep 2
MASKED=$(ctl --json lookup PAN "$CARD" | python3 -c 'import json,sys; print(json.load(sys.stdin)["masked"])')
echo "  hit events so far: $(grep -c . "$WORK/hits.jsonl"); card $MASKED is not listed:"
ctl lookup PAN "$CARD" | sed 's/^/    /'

say "riskgate-ctl add txn_fraud PAN $MASKED at bank-c, mid-run; bank-a screens"
members_add_watch bank-c bank-a txn_fraud PAN "$CARD" --hit
ctl --json hits -n 1000 | grep -F "\"$MASKED\"" | grep -F '"dataplane"' | head -n 2 | sed 's/^/  /'

wait "$ACQ_PID" || true
ACQ_PID=
sleep 0.5
echo "  hits for $MASKED in the event file by the end of the traffic:" \
	"$(grep -cF "\"$MASKED\"" "$WORK/hits.jsonl")"

say "riskgate-ctl peers at bank-a"
ctl peers | sed 's/^/  /'

say "riskgate-ctl stats"
ctl stats | sed 's/^/  /'

say "riskgate-ctl hits -n 5 (the last hit events)"
ctl hits -n 5 | sed 's/^/  /'

say "riskgate-ctl flows --top 5 (the busiest connections through the appliance)"
ctl flows --top 5 | sed 's/^/  /'
