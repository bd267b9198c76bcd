#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Reserve 2 MiB huge pages and mount hugetlbfs at /dev/hugepages, for the
# shared table and the DPDK processes.  Idempotent: it only raises the
# reservation (never lowers one made by someone else) and mounts once.
# RG_HUGEPAGES overrides the number of pages (default 512 = 1 GiB).
set -eu

want=${RG_HUGEPAGES:-512}
mnt=/dev/hugepages
sysctl=/proc/sys/vm/nr_hugepages

if [ "$(id -u)" -ne 0 ]; then
	echo "hugepages: not root, leaving huge pages as they are" >&2
	exit 0
fi

have=$(cat "$sysctl")
if [ "$have" -lt "$want" ]; then
	echo "$want" > "$sysctl"
	have=$(cat "$sysctl")
	if [ "$have" -lt "$want" ]; then
		echo "hugepages: asked for $want pages, the kernel gave $have (memory fragmented?)" >&2
	fi
fi

if ! grep -qs " $mnt hugetlbfs " /proc/mounts; then
	mkdir -p "$mnt"
	mount -t hugetlbfs -o pagesize=2M nodev "$mnt"
fi
