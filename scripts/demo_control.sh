#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# The whole appliance, run by its operators' tools:
#
#   scripts/demo_control.sh BUILD_DIR [SECONDS]
#
# 1. three members (bank-a, bank-b, bank-c) with their own ledgers import
#    their risk lists and exchange signed bundles; bank-a holds one of its
#    cards back;
# 2. riskgated on bank-a's ledger builds the shared table and the segment;
# 3. scripts/topology.sh up puts riskgate-dp inline between the acquirer
#    (netns rgacq) and the switch (netns rgsw), on that table and segment;
# 4. while traffic runs, `riskgate-ctl add` lists the held-back card and its
#    hit events appear (time from the add to the first event shown);
# 5. `riskgate-ctl stats`, the last hit events and the busiest flows;
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
SOCK=$WORK/ctl.sock
export RG_TOPO_RUN=$WORK/run
SW_PID=
ACQ_PID=
D_PID=

ctl() { "$CTL" --socket "$SOCK" "$@"; }

cleanup() {
	rc=$?
	set +e
	if [ "$rc" != 0 ] && [ -s "$WORK/riskgated.log" ]; then
		echo "control demo failed; riskgated's log:" >&2
		tail -n 20 "$WORK/riskgated.log" >&2
	fi
	for p in $ACQ_PID $SW_PID; do
		kill -TERM "$p" 2>/dev/null && wait "$p" 2>/dev/null
	done
	"$TOPO" down >/dev/null 2>&1
	if [ -n "$D_PID" ]; then
		kill -TERM "$D_PID" 2>/dev/null && wait "$D_PID" 2>/dev/null
	fi
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
# bank-a holds back one card of its txn_fraud list, to add it live later: a
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
rows = list(csv.reader(open(os.path.join(work, "L-1.csv"))))
mine = {digits(r[2]) for r in rows[1:] if r[:2] == ["txn_fraud", "PAN"]}
card = next((c for c, l in lists_of.items() if l == {"txn_fraud"} and c in mine), "")
if card:
    with open(os.path.join(work, "L-1.csv"), "w", newline="") as f:
        csv.writer(f).writerows(r for r in rows if len(r) < 3 or digits(r[2]) != card)
print(card)
PY
)
[ -n "$CARD" ] || { echo "control demo: no card to hold back in bank-a's list" >&2; exit 1; }
for i in 1 2 3; do
	printf '  member %d: %5d entries in L-%d.csv\n' "$i" $(($(wc -l < "$WORK/L-$i.csv") - 1)) "$i"
done

say "ledgers: bank-a, bank-b, bank-c import their lists and exchange signed bundles"
KEY=
for m in bank-a bank-b bank-c; do
	if [ -z "$KEY" ]; then
		"$LEDGER" --dir "$WORK/$m" init --member "$m" >/dev/null
		KEY=$WORK/$m/fp.key
	else
		"$LEDGER" --dir "$WORK/$m" init --member "$m" --fp-key "$KEY" >/dev/null
	fi
done
"$LEDGER" genesis --out "$WORK/genesis.json" --consortium demo --install \
	"$WORK/bank-a" "$WORK/bank-b" "$WORK/bank-c" >/dev/null
i=1
for m in bank-a bank-b bank-c; do
	"$LEDGER" --dir "$WORK/$m" import "$WORK/L-$i.csv" --no-progress >/dev/null 2>&1 || [ $? = 3 ]
	"$LEDGER" --dir "$WORK/$m" bundle --out "$WORK/$m.bundle" >/dev/null
	i=$((i + 1))
done
for m in bank-b bank-c; do
	"$LEDGER" --dir "$WORK/bank-a" pull "$WORK/$m.bundle" >/dev/null
done
"$LEDGER" --dir "$WORK/bank-a" head --all | cut -c1-100 | sed 's/^/  /'

say "riskgated on bank-a's ledger: table, segment, control socket"
cat > "$WORK/riskgated.cfg" <<CFG
ledger = "$WORK/bank-a";
socket = "$SOCK";
segment = "$SEG";
table = "$TABLE";
table_capacity = 65536;
events = "$WORK/hits.jsonl";
metrics = "";
stale_after_sec = 0;
log_level = "warn";
lists = { txn_fraud = "monitor"; high_risk_account = "monitor";
          marketing_cheat = "monitor"; telecom_fraud = "monitor"; };
exempt_mti_classes = [ 8 ];
CFG
"$DAEMON" --config "$WORK/riskgated.cfg" >> "$WORK/riskgated.log" 2>&1 &
D_PID=$!
for _ in $(seq 1 100); do
	ctl status >/dev/null 2>&1 && break
	kill -0 "$D_PID" 2>/dev/null || { cat "$WORK/riskgated.log" >&2; exit 1; }
	sleep 0.1
done
ctl table | sed 's/^/  /'

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

say "riskgate-ctl add txn_fraud PAN $MASKED (signed by bank-a, mid-run)"
count_card() {
	ctl --json hits -n 1000 | grep -cF "\"$MASKED\"" || true
}
t0=$(date +%s%N)
ctl add txn_fraud PAN "$CARD" --severity high --reason demo | sed 's/^/  /'
n=0
for _ in $(seq 1 100); do
	n=$(count_card)
	[ "$n" -gt 0 ] && break
	sleep 0.05
done
t1=$(date +%s%N)
if [ "$n" -gt 0 ]; then
	echo "  first hit event for $MASKED $(( (t1 - t0) / 1000000 )) ms after the add"
else
	echo "control demo: no hit for the added card within 5 s" >&2
	exit 1
fi
ctl --json hits -n 1000 | grep -F "\"$MASKED\"" | head -n 2 | sed 's/^/  /'

wait "$ACQ_PID" || true
ACQ_PID=
sleep 0.5
echo "  hits for $MASKED in the event file by the end of the traffic:" \
	"$(grep -cF "\"$MASKED\"" "$WORK/hits.jsonl")"

say "riskgate-ctl stats"
ctl stats | sed 's/^/  /'

say "riskgate-ctl hits -n 5 (the last hit events)"
ctl hits -n 5 | sed 's/^/  /'

say "riskgate-ctl flows --top 5 (the busiest connections through the appliance)"
ctl flows --top 5 | sed 's/^/  /'
