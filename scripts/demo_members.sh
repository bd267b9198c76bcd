# SPDX-License-Identifier: BSD-3-Clause
#
# Sourced by the demos: three members, bank-a, bank-b and bank-c, each with
# its ledger and its riskgated, the daemons syncing live over mutual TLS 1.3
# on loopback (docs/sync.md), every member fetching from the two others.
# POSIX sh.  Expects LEDGER, DAEMON, CTL and WORK set; uses the names
# M_PIDS and M_PORT_* (the caller's cleanup calls members_down).

MEMBERS="bank-a bank-b bank-c"
M_PIDS=
M_SYNC=${HERE:-$(dirname "$0")}/demo_sync.py

# members_ledgers: WORK/bank-a .. bank-c (identities, TLS keys), one
# fingerprint key, one genesis (consortium demo).
members_ledgers() {
	key=
	for m in $MEMBERS; do
		if [ -z "$key" ]; then
			"$LEDGER" --dir "$WORK/$m" init --member "$m" >/dev/null
			key=$WORK/$m/fp.key
		else
			"$LEDGER" --dir "$WORK/$m" init --member "$m" --fp-key "$key" >/dev/null
		fi
	done
	"$LEDGER" genesis --out "$WORK/genesis.json" --consortium demo --install \
		"$WORK/bank-a" "$WORK/bank-b" "$WORK/bank-c" >/dev/null
}

# mctl M ARGS...: riskgate-ctl at member M's daemon.
mctl() {
	m=$1
	shift
	"$CTL" --socket "$WORK/$m.sock" "$@"
}

# member_port M: the sync port chosen for M.
member_port() {
	eval "echo \$M_PORT_$(echo "$1" | tr -c 'a-z\n' '_')"
}

# member_config M TABLE SEGMENT EVENTS: WORK/M.cfg, serving on its port
# and fetching from the two other members.
member_config() {
	m=$1
	peers=
	for o in $MEMBERS; do
		[ "$o" = "$m" ] && continue
		peers="$peers${peers:+, }{ member = \"$o\"; url = \"https://127.0.0.1:$(member_port "$o")\"; }"
	done
	cat > "$WORK/$m.cfg" <<CFG
ledger = "$WORK/$m";
socket = "$WORK/$m.sock";
table = "$2";
segment = "$3";
events = "$4";
table_capacity = 262144;
metrics = "";
stale_after_sec = 0;
log_level = "warn";
socket_group = "";
admin_group = "$(id -gn)";
lists = { txn_fraud = "monitor"; high_risk_account = "monitor";
          marketing_cheat = "monitor"; telecom_fraud = "monitor"; };
exempt_mti_classes = [ 8 ];
sync_listen = "127.0.0.1:$(member_port "$m")";
peers = ( $peers );
CFG
}

# members_ports: a free port of 127.0.0.1 for each member.
members_ports() {
	set -- $(python3 "$M_SYNC" ports 3)
	M_PORT_bank_a=$1
	M_PORT_bank_b=$2
	M_PORT_bank_c=$3
}

# members_up: start the daemons of the configured members one after the
# other, each logging to WORK/M.log, each once the one before answers: a
# member whose peer is not listening yet retries it after a backoff
# (0.5 s, doubling), so fewer such misses make a quicker start.
members_up() {
	for m in $MEMBERS; do
		"$DAEMON" --config "$WORK/$m.cfg" >> "$WORK/$m.log" 2>&1 &
		M_PIDS="$M_PIDS $!"
		i=0
		until mctl "$m" status >/dev/null 2>&1; do
			i=$((i + 1))
			if [ "$i" -gt 200 ]; then
				echo "demo: riskgated of $m did not come up:" >&2
				tail -n 20 "$WORK/$m.log" >&2
				return 1
			fi
			sleep 0.05
		done
	done
}

# members_down: stop the daemons (SIGTERM, then wait).
members_down() {
	for p in $M_PIDS; do
		kill -TERM "$p" 2>/dev/null && wait "$p" 2>/dev/null
	done
	M_PIDS=
	return 0
}

# members_synced: until every daemon holds the three logs alike (at most
# 30 s); prints how long it took.
members_synced() {
	python3 "$M_SYNC" synced 30 "$WORK/bank-a.sock" "$WORK/bank-b.sock" "$WORK/bank-c.sock"
}

# members_add_watch ADDER WATCHER LIST KIND VALUE [--hit]: an add at
# ADDER, timed until WATCHER holds it (and, --hit, until WATCHER's
# dataplane hits it).
members_add_watch() {
	a=$1
	w=$2
	shift 2
	python3 "$M_SYNC" add-watch "$WORK/$a.sock" "$WORK/$w.sock" "$@"
}
