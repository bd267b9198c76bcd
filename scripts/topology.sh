#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Live topology: an acquirer namespace and a switch namespace joined through
# a DPDK bridge (riskgate-dp, or dpdk-testpmd in io forwarding mode):
#
#   netns rgacq                    root namespace                    netns rgsw
#   rg-acq0 10.99.0.1/24 ==veth== rg-dpa  [bridge]  rg-dpb ==veth== rg-sw0 10.99.0.2/24
#                                 net_af_packet0     net_af_packet1
#
# usage: topology.sh up [--bridge dp|testpmd|none] [--dp PATH] [--config FILE]
#                       [--lcores L] [--qpairs N] [--] [extra bridge args]
#        topology.sh bridge start|kill|stop   (re)start or end the bridge only
#        topology.sh down                     remove everything; safe to repeat
#        topology.sh status                   what exists now
#
# --qpairs N gives both af_packet vdevs N queue pairs (default 1): N packet
# sockets per interface in one PACKET_FANOUT_HASH group, the kernel picking
# the socket by a symmetric flow hash, so both directions of a connection
# land on the same queue index of the two ports (see docs/dataplane.md for
# the exception, ring overflow).  riskgate-dp then needs N worker lcores;
# testpmd gets N rx/tx queues.
#
# Every object it makes carries an rg prefix and its state lives in
# $RG_TOPO_RUN (/run/riskgate-topo): pid file, bridge command line, bridge.log.
# `up` tears down whatever it built if any step fails.  Needs root.
set -u

RUN=${RG_TOPO_RUN:-/run/riskgate-topo}
NS_ACQ=rgacq
NS_SW=rgsw
IF_ACQ=rg-acq0
IF_DPA=rg-dpa
IF_SW=rg-sw0
IF_DPB=rg-dpb
IP_ACQ=10.99.0.1
IP_SW=10.99.0.2
MTU=1500
PREFIX=rgtopo    # DPDK --file-prefix: its runtime files never meet other tests'

log() { echo "topology: $*" >&2; }
die() { log "$*"; exit 1; }

need_root() {
	[ "$(id -u)" = 0 ] || die "needs root (network namespaces, veth, DPDK)"
}

# Turn off every offload that lets the kernel hand a frame to af_packet
# before its TCP checksum is filled in or before it is cut to MTU size: the
# bridge copies frames as they are, so the receiving end must get complete
# frames with valid checksums.
offloads_off() { # [netns] dev
	local ns=() dev
	if [ $# = 2 ]; then ns=(ip netns exec "$1"); dev=$2; else dev=$1; fi
	"${ns[@]}" ethtool -K "$dev" tx off rx off tso off gso off gro off >/dev/null 2>&1 ||
		"${ns[@]}" ethtool -K "$dev" tx off >/dev/null 2>&1 ||
		return 1
	# not every kernel knows these; ignore when absent
	"${ns[@]}" ethtool -K "$dev" lro off >/dev/null 2>&1
	"${ns[@]}" ethtool -K "$dev" rx-gro-hw off >/dev/null 2>&1
	"${ns[@]}" ethtool -K "$dev" tx-udp-segmentation off >/dev/null 2>&1
	return 0
}

bridge_pid() {
	local pid
	[ -f "$RUN/bridge.pid" ] || return 1
	pid=$(cat "$RUN/bridge.pid" 2>/dev/null) || return 1
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
	echo "$pid"
}

bridge_stop() { # signal
	local pid i
	pid=$(bridge_pid) || { rm -f "$RUN/bridge.pid"; return 0; }
	kill "-$1" "$pid" 2>/dev/null
	for i in $(seq 1 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	if kill -0 "$pid" 2>/dev/null; then
		kill -KILL "$pid" 2>/dev/null
		sleep 0.2
	fi
	rm -f "$RUN/bridge.pid"
	return 0
}

# Start the bridge recorded in $RUN/bridge.cmd (one argument per line) and
# wait until both af_packet ports are open.
bridge_start() {
	local args=() line pid i
	[ -f "$RUN/bridge.cmd" ] || die "no bridge configured (run up first)"
	bridge_pid >/dev/null && die "bridge already running"
	while IFS= read -r line; do args+=("$line"); done < "$RUN/bridge.cmd"
	[ ${#args[@]} -gt 0 ] || return 0
	# testpmd without a terminal runs until a signal when it prints stats
	# periodically (--stats-period); otherwise it would quit on stdin EOF
	setsid stdbuf -oL -eL "${args[@]}" </dev/null >>"$RUN/bridge.log" 2>&1 &
	pid=$!
	echo "$pid" > "$RUN/bridge.pid"
	for i in $(seq 1 200); do
		kill -0 "$pid" 2>/dev/null || {
			rm -f "$RUN/bridge.pid"
			tail -20 "$RUN/bridge.log" >&2
			die "bridge exited during start-up (log: $RUN/bridge.log)"
		}
		# both vdevs hold a packet socket bound to their interface
		if [ "$(bridge_sockets "$pid")" -ge 2 ] && grep -qE "$(cat "$RUN/bridge.ready")" \
			"$RUN/bridge.log" 2>/dev/null; then
			log "bridge up (pid $pid)"
			return 0
		fi
		sleep 0.1
	done
	tail -20 "$RUN/bridge.log" >&2
	die "bridge not ready after 20 s (log: $RUN/bridge.log)"
}

# Packet sockets open in process pid.
bridge_sockets() {
	local inodes n=0 ino
	inodes=$(awk 'NR > 1 { print $9 }' /proc/net/packet 2>/dev/null)
	for ino in $inodes; do
		if ls -l "/proc/$1/fd" 2>/dev/null | grep -q "socket:\[$ino\]"; then
			n=$((n + 1))
		fi
	done
	echo "$n"
}

up() {
	local bridge=testpmd dp="" config="" lcores="" qpairs=1 extra=() vdevs
	while [ $# -gt 0 ]; do
		case $1 in
		--bridge) bridge=$2; shift 2 ;;
		--dp) dp=$2; shift 2 ;;
		--config) config=$2; shift 2 ;;
		--lcores) lcores=$2; shift 2 ;;
		--qpairs) qpairs=$2; shift 2 ;;
		--) shift; extra=("$@"); break ;;
		*) die "unknown option $1" ;;
		esac
	done
	case $qpairs in
	'' | *[!0-9]* | 0*) die "--qpairs: expected a number from 1 to 16, got '$qpairs'" ;;
	esac
	[ "$qpairs" -le 16 ] || die "--qpairs: expected a number from 1 to 16, got '$qpairs'"
	need_root
	if ip netns list | grep -qwE "^($NS_ACQ|$NS_SW)" || ip link show "$IF_DPA" >/dev/null 2>&1; then
		die "topology already (partly) up; run: $0 down"
	fi
	mkdir -p "$RUN"
	: > "$RUN/bridge.log"
	# any failing step (or die) below tears down what was built
	trap 'rc=$?; if [ $rc != 0 ]; then log "failed; tearing down"; down; fi' EXIT
	set -e

	ip netns add "$NS_ACQ"
	ip netns add "$NS_SW"
	ip link add "$IF_ACQ" mtu "$MTU" type veth peer name "$IF_DPA" mtu "$MTU"
	ip link add "$IF_SW" mtu "$MTU" type veth peer name "$IF_DPB" mtu "$MTU"
	ip link set "$IF_ACQ" netns "$NS_ACQ"
	ip link set "$IF_SW" netns "$NS_SW"

	# the root-side ends carry no address and say nothing of their own
	for dev in "$IF_DPA" "$IF_DPB"; do
		sysctl -qw "net.ipv6.conf.$dev.disable_ipv6=1" 2>/dev/null || true
		offloads_off "$dev"
		ip link set "$dev" up
	done
	ip netns exec "$NS_ACQ" sysctl -qw "net.ipv6.conf.$IF_ACQ.disable_ipv6=1" 2>/dev/null || true
	ip netns exec "$NS_SW" sysctl -qw "net.ipv6.conf.$IF_SW.disable_ipv6=1" 2>/dev/null || true
	offloads_off "$NS_ACQ" "$IF_ACQ"
	offloads_off "$NS_SW" "$IF_SW"
	ip -n "$NS_ACQ" addr add "$IP_ACQ/24" dev "$IF_ACQ"
	ip -n "$NS_SW" addr add "$IP_SW/24" dev "$IF_SW"
	ip -n "$NS_ACQ" link set lo up
	ip -n "$NS_SW" link set lo up
	ip -n "$NS_ACQ" link set "$IF_ACQ" up
	ip -n "$NS_SW" link set "$IF_SW" up

	vdevs=(--vdev "net_af_packet0,iface=$IF_DPA" --vdev "net_af_packet1,iface=$IF_DPB")
	if [ "$qpairs" != 1 ]; then
		vdevs=(--vdev "net_af_packet0,iface=$IF_DPA,qpairs=$qpairs"
		       --vdev "net_af_packet1,iface=$IF_DPB,qpairs=$qpairs")
	fi
	case $bridge in
	dp)
		[ -n "$dp" ] || dp=$(command -v riskgate-dp) || true
		[ -x "$dp" ] || die "riskgate-dp not found (--dp PATH)"
		[ -n "$config" ] || die "--bridge dp needs --config FILE"
		# --huge-unlink: a bridge killed with SIGKILL leaves no hugepage
		# files behind (its table and segment are files of their own)
		printf '%s\n' "$dp" -l "${lcores:-0}" --no-pci --file-prefix "$PREFIX" \
			--huge-unlink "${vdevs[@]}" -- --config "$config" "${extra[@]}" \
			> "$RUN/bridge.cmd"
		echo "." > "$RUN/bridge.ready"
		;;
	testpmd)
		command -v dpdk-testpmd >/dev/null || die "dpdk-testpmd not found"
		printf '%s\n' "$(command -v dpdk-testpmd)" -l "${lcores:-0,1}" --no-pci \
			--file-prefix "$PREFIX" --in-memory "${vdevs[@]}" -- \
			--forward-mode=io --auto-start --stats-period 3600 --nb-cores=1 \
			--txq="$qpairs" --rxq="$qpairs" "${extra[@]}" > "$RUN/bridge.cmd"
		echo "start packet forwarding|Start automatic packet forwarding" > "$RUN/bridge.ready"
		;;
	none)
		: > "$RUN/bridge.cmd"
		;;
	*)
		log "unknown bridge $bridge"
		false
		;;
	esac
	echo "$bridge" > "$RUN/bridge.kind"
	bridge_start
	set +e
	trap - EXIT
	log "up: $NS_ACQ/$IF_ACQ $IP_ACQ <-> $IF_DPA [$bridge] $IF_DPB <-> $NS_SW/$IF_SW $IP_SW"
}

down() {
	set +e
	bridge_stop TERM
	ip netns pids "$NS_ACQ" 2>/dev/null | xargs -r kill -KILL 2>/dev/null
	ip netns pids "$NS_SW" 2>/dev/null | xargs -r kill -KILL 2>/dev/null
	ip link del "$IF_DPA" 2>/dev/null
	ip link del "$IF_DPB" 2>/dev/null
	ip netns del "$NS_ACQ" 2>/dev/null
	ip netns del "$NS_SW" 2>/dev/null
	# DPDK runtime files of our prefix (riskgate-dp does not run in memory)
	rm -rf "/var/run/dpdk/$PREFIX"
	awk '$3 == "hugetlbfs" { print $2 }' /proc/mounts | while read -r dir; do
		rm -f "$dir/${PREFIX}map_"*
	done
	rm -f "$RUN/bridge.pid" "$RUN/bridge.cmd" "$RUN/bridge.kind" "$RUN/bridge.ready" \
		"$RUN/bridge.log"
	[ -d "$RUN" ] && rmdir "$RUN" 2>/dev/null
	return 0
}

status() {
	local pid rc=0
	echo "namespaces: $(ip netns list | awk '{print $1}' | grep -xE "$NS_ACQ|$NS_SW" | tr '\n' ' ')"
	for dev in "$IF_DPA" "$IF_DPB"; do
		if ip link show "$dev" >/dev/null 2>&1; then
			echo "$dev: $(ip -br link show "$dev" | awk '{print $2}')"
		else
			echo "$dev: absent"; rc=1
		fi
	done
	if pid=$(bridge_pid); then
		echo "bridge: $(cat "$RUN/bridge.kind" 2>/dev/null) pid $pid"
	else
		echo "bridge: not running"; rc=1
	fi
	return $rc
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case $cmd in
up) up "$@" ;;
down) need_root; down ;;
status) status ;;
bridge)
	need_root
	case ${1:-} in
	start) bridge_start ;;
	kill) bridge_stop KILL ;;
	stop) bridge_stop TERM ;;
	*) die "usage: $0 bridge start|kill|stop" ;;
	esac
	;;
*) echo "usage: $0 up|down|status|bridge start|kill|stop" >&2; exit 2 ;;
esac
