#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# The live part of the demo: card traffic over real TCP through riskgate-dp.
#
#   scripts/demo_live.sh BUILD_DIR [SECONDS]
#
# 1. three members' risk lists for one generated card population
#    (riskgate-acq --lists-only --members 3);
# 2. the shared table built from them: with riskgate-ledger, a consortium of
#    bank-a, bank-b and bank-c that import their own list and exchange
#    bundles, then `riskgate-ledger table`; else the lists_table test fixture;
# 3. scripts/topology.sh up with riskgate-dp bridging the namespaces;
# 4. riskgate-switch in rgsw, riskgate-acq in rgacq for SECONDS (5);
# 5. what happened: transactions, hits by list (dataplane counters against the
#    ground truth) and by contributing member, anomalies, latency;
# 6. everything torn down, also on failure or Ctrl-C.
# Needs root and huge pages (scripts/hugepages.sh).
set -eu

BUILD=${1:?usage: demo_live.sh BUILD_DIR [SECONDS]}
SECS=${2:-5}
HERE=$(cd "$(dirname "$0")" && pwd)
TOPO=$HERE/topology.sh
ACQ=$BUILD/perf/sim/riskgate-acq
SWITCH=$BUILD/perf/sim/riskgate-switch
DP=$BUILD/dataplane/riskgate-dp
LEDGER=$BUILD/ledger/riskgate-ledger
FIXTURE=$BUILD/tests/integration/lists_table
SEED=5

say() { printf '\n== %s\n' "$*"; }
. "$HERE/demo_inline.sh"
. "$HERE/demo_members.sh"

if [ "$(id -u)" != 0 ]; then
	echo "live demo skipped: needs root (network namespaces, DPDK)"
	exit 0
fi
if [ ! -x "$DP" ]; then
	echo "live demo skipped: riskgate-dp is not built ($DP)"
	exit 0
fi
HUGE=$(awk '$3 == "hugetlbfs" { print $2; exit }' /proc/mounts)
[ -n "$HUGE" ] || { echo "live demo: no hugetlbfs mount (run scripts/hugepages.sh)"; exit 1; }

WORK=$(mktemp -d /tmp/rg-demo-live.XXXXXX)
TABLE=$HUGE/rgdemo-$$.table
SEG=$HUGE/rgdemo-$$.seg
export RG_TOPO_RUN=$WORK/run
SW_PID=

cleanup() {
	set +e
	[ -n "$SW_PID" ] && kill -TERM "$SW_PID" 2>/dev/null && wait "$SW_PID" 2>/dev/null
	"$TOPO" down >/dev/null 2>&1
	rm -f "$TABLE" "$SEG"
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$TOPO" down >/dev/null 2>&1 || true

say "risk lists of three members (one generated card population, seed $SEED)"
"$ACQ" --lists-only --lists "$WORK/L.csv" --members 3 --seed "$SEED" --list-size 400
for i in 1 2 3; do
	printf '  member %d: %5d entries in L-%d.csv\n' "$i" $(($(wc -l < "$WORK/L-$i.csv") - 1)) "$i"
done

say "shared fingerprint table"
if [ -x "$LEDGER" ]; then
	members_ledgers
	KEY=$WORK/bank-a/fp.key
	i=1
	for m in $MEMBERS; do
		"$LEDGER" --dir "$WORK/$m" import "$WORK/L-$i.csv" --no-progress >/dev/null || [ $? = 3 ]
		"$LEDGER" --dir "$WORK/$m" bundle --out "$WORK/$m.bundle" >/dev/null
		i=$((i + 1))
	done
	for m in bank-b bank-c; do
		"$LEDGER" --dir "$WORK/bank-a" pull "$WORK/$m.bundle" >/dev/null
	done
	"$LEDGER" --dir "$WORK/bank-a" table --out "$TABLE" >/dev/null
	echo "  riskgate-ledger: bank-a, bank-b, bank-c imported their lists, exchanged"
	echo "  signed bundles; bank-a built the table from all three logs"
elif [ -x "$FIXTURE" ]; then
	KEY=$WORK/fp.key
	(umask 077; printf 'riskgate-fp-key 1\nepoch 1\nkey %s\n' \
		"$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')" > "$KEY")
	"$FIXTURE" build --key "$KEY" --out "$TABLE" "$WORK/L-1.csv" "$WORK/L-2.csv" \
		"$WORK/L-3.csv" >/dev/null
	echo "  lists_table: one table from the three lists, contributors 1..3"
	echo "  (riskgate-ledger not built)"
else
	echo "live demo: neither riskgate-ledger nor lists_table is built" >&2
	exit 1
fi
printf '  %s: %d bytes\n' "$TABLE" "$(stat -c %s "$TABLE")"

say "topology: rgacq 10.99.0.1 <-> riskgate-dp (af_packet) <-> rgsw 10.99.0.2"
inline_up "$TABLE" "$SEG" "$KEY"
switch_up

say "traffic: 16 connections, 2000 requests/s for $SECS s, 3% carrying listed identifiers"
ip netns exec rgacq "$ACQ" --connect 10.99.0.2:5000 --connections 16 --rate 2000 \
	--duration "$SECS" --seed "$SEED" --hit-rate 0.03 --truth "$WORK/truth.jsonl" \
	--json > "$WORK/acq.json"
sleep 0.5
python3 - "$WORK" /var/run/dpdk/rgtopo/dpdk_telemetry.v2 <<'PY'
import csv, json, os, re, socket, sys

work, sock = sys.argv[1], sys.argv[2]

def tel(cmd):
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        s.settimeout(2)
        s.connect(sock)
        s.recv(16384)
        s.send(cmd.encode())
        v = json.loads(s.recv(1 << 20).decode()).get(cmd) or {}
        s.close()
        return v
    except (OSError, ValueError):
        return {}

acq = json.load(open(os.path.join(work, "acq.json")))
stats, anoms = tel("/riskgate/stats"), tel("/riskgate/anomalies")
print("\n== transactions")
print(f"  sent {acq['sent']}, answered {acq['answered']}, unanswered {acq['unanswered']}, "
      f"{acq['answered_per_s']:.0f}/s; {acq['listed_sent']} carried listed identifiers")
if acq["declined"]:
    print("  declined by code:", ", ".join(f"{k}: {v}" for k, v in acq["declined"].items()))
if stats:
    print(f"  the dataplane saw {stats.get('messages', 0)} ISO 8583 messages in "
          f"{stats.get('rx_pkts', 0)} packets")

print("\n== hits by list   (dataplane, both directions | ground truth, requests)")
for lst, want in acq["list_hits"].items():
    print(f"  {lst:<20} {stats.get('hits_' + lst, 0):>8} | {want:>8}")

# contributing member: which member's list file holds each ground-truth hit
def norm(kind, v):
    v = v.strip()
    if kind == "PAN":
        return re.sub(r"\D", "", v)
    if kind == "PHONE":
        v = re.sub(r"[\s\-()]", "", v)
        return v[1:] if v.startswith("+") else v[2:] if v.startswith("00") else v
    if kind == "ACCOUNT":
        return re.sub(r"\s", "", v).upper()
    return v

rows = {}
for i, name in enumerate(("bank-a", "bank-b", "bank-c"), 1):
    with open(os.path.join(work, f"L-{i}.csv")) as f:
        for r in csv.DictReader(f):
            n = norm(r["kind"], r["value"])
            rows.setdefault((r["list"], r["kind"], len(n), n[:6], n[-4:]), []).append((n, name))
by_member = {}
with open(os.path.join(work, "truth.jsonl")) as f:
    for line in f:
        t = json.loads(line)
        m = t["masked"]
        cands = rows.get((t["list"], t["kind"], len(m), m[:6], m[-4:]), [])
        who = [name for n, name in cands
               if all(a == b or a == "*" for a, b in zip(m, n))]
        key = who[0] if who else "?"
        by_member.setdefault(key, {}).setdefault(t["list"], 0)
        by_member[key][t["list"]] += 1
print("\n== hits by contributing member (ground truth of the requests sent)")
for name in sorted(by_member):
    print(f"  {name:<8}", ", ".join(f"{k} {v}" for k, v in sorted(by_member[name].items())))

print("\n== anomalies (dataplane)")
bad = {k: v for k, v in anoms.items() if v}
print("  " + (", ".join(f"{k}: {v}" for k, v in bad.items()) if bad else "none"))

r = acq["rtt_us"]
print("\n== latency (acquirer round trip through the appliance and the switch)")
print(f"  p50 {r['p50']:.0f} us   p99 {r['p99']:.0f} us   p99.9 {r['p999']:.0f} us")
ok = acq["answered"] == acq["sent"] and stats.get("hits", 0) > 0
print("\n" + ("live demo: every request answered, listed cards reported"
              if ok else "live demo: FAILED (see above)"))
sys.exit(0 if ok else 1)
PY
