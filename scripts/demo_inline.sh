# SPDX-License-Identifier: BSD-3-Clause
#
# Sourced by the live demos: riskgate-dp inline between the simulators.
# Expects TOPO, DP, SWITCH and WORK set; sets SW_PID (the caller's cleanup
# stops it).

# Write WORK/dp.cfg for table $1, segment $2 and key $3, and build the
# topology (scripts/topology.sh) with riskgate-dp as the bridge.
inline_up() {
	cat > "$WORK/dp.cfg" <<CFG
ports = ( { a = "net_af_packet0"; b = "net_af_packet1"; } );
services = ( { port = 5000; dialect = "ascii87"; framing = "len2"; } );
table = "$1";
segment = "$2";
key = "$3";
CFG
	"$TOPO" up --bridge dp --dp "$DP" --config "$WORK/dp.cfg" 2>&1 | sed 's/^/  /'
}

# Start riskgate-switch in rgsw on port 5000 (JSON report into
# WORK/switch.json) and wait until it listens.
switch_up() {
	ip netns exec rgsw "$SWITCH" --listen 10.99.0.2:5000 --json > "$WORK/switch.json" \
		2>/dev/null &
	SW_PID=$!
	for _ in $(seq 1 50); do
		ip netns exec rgsw ss -Hltn 'sport = :5000' | grep -q . && break
		sleep 0.1
	done
}
