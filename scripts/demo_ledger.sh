#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# demo_ledger.sh BUILD: the consortium ledger end to end.  Three member
# institutions each get a ledger (one genesis, one fingerprint key) and
# import their generated risk lists; their riskgated daemons sync live over
# mutual TLS on loopback until every member holds all three logs, and an
# add at one member is listed at another moments later
# (scripts/demo_members.sh); then the logs are verified, a proof checked
# and the shared screening table built.
set -eu
build=${1:-build}
gen=$build/perf/gen/riskgate-gen
ledger=$build/ledger/riskgate-ledger
LEDGER=$ledger
DAEMON=$build/control/riskgated
CTL=$build/control/riskgate-ctl
. "$(dirname "$0")/demo_members.sh"

work=$(mktemp -d /tmp/riskgate-ledger-demo.XXXXXX)
WORK=$work
table=""
cleanup() {
	members_down
	rm -rf "$work"
	if [ -n "$table" ]; then
		# short of huge pages the table lives in /dev/shm behind a symlink
		[ -L "$table" ] && rm -f "$(readlink "$table")"
		rm -f "$table"
	fi
	return 0
}
trap cleanup EXIT INT TERM

step() { printf '\n== %s\n' "$*"; }

step "generating the members' lists (3 members, 20000 decoys per list)"
"$gen" --out "$work/t.pcap" --lists "$work/lists.csv" --members 3 \
	--list-size 20000 --messages 2000 --seed 2026 >/dev/null
wc -l "$work"/lists-*.csv | sed 's/^/  /'

step "three member ledgers: identities and TLS keys, one fingerprint key, one genesis"
members_ledgers
"$ledger" --dir "$work/bank-a" members | python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    print("  %s  ledger key id %s  TLS key pinned as %s" % (m["member"], m["id"], m["tls_pin"]))'

step "each member imports its own list (raw values are fingerprinted, never stored)"
i=1
for m in a b c; do
	# exit 3: some lines were refused (reported on stderr); the rest are in
	rc=0
	"$ledger" --dir "$work/bank-$m" import "$work/lists-$i.csv" --no-progress \
		2>"$work/bad-$m.txt" || rc=$?
	[ "$rc" -eq 0 ] || [ "$rc" -eq 3 ] || { cat "$work/bad-$m.txt"; exit 1; }
	echo "  bank-$m: $(wc -l < "$work/bad-$m.txt") line(s) refused, e.g.: $(head -n 1 "$work/bad-$m.txt")"
	i=$((i + 1))
done

step "three riskgated daemons sync live: mutual TLS 1.3 on loopback, member keys pinned"
members_ports
for m in $MEMBERS; do
	member_config "$m" "$work/$m.table" "$work/$m.seg" ""
	echo "  $m serves on 127.0.0.1:$(member_port "$m") and fetches from the two others"
done
members_up
members_synced

step "an add at bank-a, listed at bank-c (pushed to its peers as soon as it is signed)"
members_add_watch bank-a bank-c telecom_fraud PHONE "+44 7700 900123"
mctl bank-c lookup PHONE "+44 7700 900123" | sed 's/^/  /'

step "riskgate-ctl peers at bank-c"
mctl bank-c peers | sed 's/^/  /'
members_down

step "full verify at every member (entries, tree, signatures, checkpoints, state)"
for m in a b c; do
	"$ledger" --dir "$work/bank-$m" verify | python3 -c '
import json, sys
v = json.load(sys.stdin)
print("  %s: ok=%s, %d entries in %.3f s (%.0f entries/s)" % (
    sys.argv[1], v["ok"], v["entries"], v["seconds"], v["entries_per_s"]))' "bank-$m"
done

step "heads as bank-c sees them (signed tree heads)"
"$ledger" --dir "$work/bank-c" head --all | cut -c1-160

step "an inclusion proof for one of bank-a's entries, checked standalone"
"$ledger" --dir "$work/bank-c" proof 42 --member bank-a > "$work/proof.json"
python3 -c '
import json, sys
p = json.load(open(sys.argv[1]))
print("  %d hashes (%d bytes) up to a tree of %d entries" % (
    len(p["path"]), 32 * len(p["path"]), p["tree_size"]))' "$work/proof.json"
"$ledger" verify-proof "$work/proof.json" --genesis "$work/genesis.json"

step "the shared screening table from bank-c's state"
if [ -d /dev/hugepages ] && [ -w /dev/hugepages ]; then
	table=/dev/hugepages/riskgate-ledger-demo.$$
else
	table=$work/table
fi
"$ledger" --dir "$work/bank-c" table --out "$table"
echo "  $(du -h "$work/bank-a/db" | cut -f1) of RocksDB per member ledger"
