#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Install the Debian packages the build, the tests and the demo need.
# Idempotent and quiet when nothing is missing; needs root (or sudo) only
# when something is.
set -eu

pkgs="meson ninja-build golang-go golang-golang-x-mod-dev libgnutls28-dev libcurl4-openssl-dev pkg-config gcc clang llvm libclang-rt-14-dev python3
python3-scapy python3-cryptography libdpdk-dev dpdk dpdk-dev librocksdb-dev libsodium-dev libbpf-dev bpftool
libxdp-dev libpcap-dev libssl-dev libjansson-dev libconfig-dev libmicrohttpd-dev tshark
tcpreplay iproute2 ethtool nginx"

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

# nginx is for tests/integration/sync_cache.py, which runs an nginx of its
# own as the test user.  Debian's postinst starts the system nginx service
# (port 80, as root) whenever it can; nothing of riskgate wants that.  While
# the packages install, /usr/sbin/policy-rc.d answers 101 ("action
# forbidden"), which invoke-rc.d and deb-systemd-invoke obey, so no service
# is started; one already there (containers ship one) is left as it is.
# The service is then disabled too, so that it does not start at the next
# boot either.
policy=/usr/sbin/policy-rc.d
made_policy=""
case " $missing " in
*" nginx "*)
	if [ ! -e "$policy" ]; then
		printf '#!/bin/sh\n# scripts/deps.sh: start no service while installing\nexit 101\n' |
			$sudo tee "$policy" >/dev/null
		$sudo chmod 755 "$policy"
		made_policy=yes
	fi
	;;
esac
trap '[ -z "$made_policy" ] || $sudo rm -f "$policy"' EXIT

$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
case " $missing " in
*" nginx "*)
	if [ -d /run/systemd/system ]; then
		$sudo systemctl disable --now nginx.service >/dev/null 2>&1 || true
	fi
	;;
esac
