#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Install the Debian packages the build, the tests and the demo need.
# Idempotent and quiet when nothing is missing; needs root (or sudo) only
# when something is.
set -eu

pkgs="meson ninja-build golang-go golang-golang-x-mod-dev libgnutls28-dev libcurl4-openssl-dev pkg-config gcc clang llvm libclang-rt-14-dev python3
python3-scapy python3-cryptography libdpdk-dev dpdk dpdk-dev librocksdb-dev libsodium-dev libbpf-dev bpftool
libxdp-dev libpcap-dev libssl-dev libjansson-dev libconfig-dev libmicrohttpd-dev tshark
tcpreplay iproute2 ethtool"

missing=""
for p in $pkgs; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

echo "installing missing Debian packages:$missing"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
