#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Live test: riskgate-dp with two worker lcores, each flow on one of them.

usage: dp_workers.py [--overload] BUILD_ROOT TOPOLOGY_SH RISKGATE_ACQ RISKGATE_SWITCH

scripts/topology.sh --qpairs 2 builds rgacq (10.99.0.1) <-> riskgate-dp
<-> rgsw (10.99.0.2) with two queue pairs on each af_packet vdev (two packet
sockets per interface in one PACKET_FANOUT_HASH group: the kernel picks the
socket by a symmetric flow hash, the same on both interfaces).  riskgate-dp
runs two workers (`lcores = [a, b]`, EAL -l a,b; the main lcore is one of
them); worker w polls queue w of both ports.  riskgate-acq sends over 16
connections a population whose list file was turned into the table first.

Checks:
  - every request answered, no connection dropped;
  - hits per list within the ground truth's bounds (requests carry them,
    responses echo DE 2: at most twice as many);
  - both lcores received packets, created flows and framed messages, and
    both queues of both ports carried frames;
  - flows_created summed over the lcores equals the connections opened,
    and each lcore closed (FIN both ways) every flow it created: a
    connection whose two directions reached different lcores would be
    created on both (one of them a mid-stream pickup) and closed on
    neither;
  - every request and every response framed once (messages = 2 x sent);
  - no anomaly a split flow causes (stream_no_syn, stream_gap, hold full,
    resyncs, skip_no_flow), no anomaly at all;
  - each connection's 4-tuple in the top-flows list (segment) of exactly
    one lcore, with its requests and responses both counted there.
The kernel's rollover counters of the four packet sockets (read through
pidfd_getfd) must stay 0: see docs/dataplane.md, Workers.  --overload
then runs 64 connections as fast as answered, more than two workers on
this machine take, prints what happened and checks that flows were split
only where frames were rolled over (not run by meson: a measurement).
Afterwards: namespaces, processes, DPDK runtime directory and hugepage
files are gone.  Skips (77) without root, huge pages, two CPUs or a built
riskgate-dp.
"""
import ctypes
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dp_util import Topology, check, hits_by_list, result, skip  # noqa: E402

CONNECTIONS = 16


def on_term(sig, frame):
    # meson's timeout sends SIGTERM: leave through the finally blocks
    raise SystemExit(f"signal {sig}")


# common/segment.h, struct rg_seg_header: the fields read here
SEG_HDR = struct.Struct("<QIIIIIIIIQQQQQQQQ64H")
SEG_MAGIC = 0x4745534B53495252
# struct rg_seg_top / struct rg_seg_flow (segment version 2): after the
# counters of each stats block, 64-byte aligned
TOP_HDR = struct.Struct("<QQI44x")
TOP_FLOW = struct.Struct("<16s16sHHBBBBQQQQQ")
TOP_FLOWS = 32


def read_top(f, off):
    """One lcore's top flows (struct rg_seg_top at off), under its sequence
    lock: version even and unchanged across the copy."""
    size = TOP_HDR.size + TOP_FLOWS * TOP_FLOW.size
    for _ in range(200):
        f.seek(off)
        blob = f.read(size)
        f.seek(off)
        again = struct.unpack("<Q", f.read(8))[0]
        version, _sweep, nb = TOP_HDR.unpack_from(blob, 0)
        if version % 2 == 0 and version == again:
            break
        time.sleep(0.002)
    else:
        raise ValueError(f"top flows at {off}: no stable copy (version {version})")
    flows = []
    for k in range(min(nb, TOP_FLOWS)):
        (a0, a1, p0, p1, fam, _svc, closed, _server, msgs, nbytes, hits, _o,
         _l) = TOP_FLOW.unpack_from(blob, TOP_HDR.size + k * TOP_FLOW.size)
        af, n = (socket.AF_INET, 4) if fam == 4 else (socket.AF_INET6, 16)
        ends = sorted([(socket.inet_ntop(af, a0[:n]), p0), (socket.inet_ntop(af, a1[:n]), p1)])
        flows.append({"ends": tuple(ends), "msgs": msgs, "bytes": nbytes, "hits": hits,
                      "closed": closed})
    return flows


def read_segment(path):
    """Header fields and, per lcore slot, its counters and top flows (None
    when the segment has none)."""
    with open(path, "rb", buffering=0) as f:
        hdr = f.read(SEG_HDR.size)
        (magic, version, _hb, _pb, _eb, nb_counters, stats_bytes, nb_lcores, _rs, _rb,
         _po, stats_off, _ro, _tb, dp_pid, _sn, _gen, *lcore_id) = SEG_HDR.unpack(hdr)
        if magic != SEG_MAGIC:
            raise ValueError(f"{path}: not a segment (magic {magic:#x})")
        top_off = (nb_counters * 8 + 63) // 64 * 64
        has_top = (version >= 2 and
                   stats_bytes >= top_off + TOP_HDR.size + TOP_FLOWS * TOP_FLOW.size)
        slots = []
        for i in range(nb_lcores):
            base = stats_off + i * stats_bytes
            f.seek(base)
            c = struct.unpack(f"<{nb_counters}Q", f.read(nb_counters * 8))
            top = read_top(f, base + top_off) if has_top else None
            slots.append({"lcore": lcore_id[i], "c": c, "top": top})
    return {"version": version, "nb_counters": nb_counters, "dp_pid": dp_pid,
            "slots": slots}


def settle(topo, secs=8):
    """/riskgate/stats once the counters stop moving (polls aside)."""
    last, end = None, time.time() + secs
    while time.time() < end:
        st = topo.telemetry("/riskgate/stats")
        if st is not None:
            st = {k: v for k, v in st.items() if k != "polls"}
            if st == last:
                return st
            last = st
        time.sleep(0.5)
    return last or {}


def queue_packets(topo, port):
    """rx packets per queue of one ethdev port (telemetry xstats)."""
    xs = topo.telemetry(f"/ethdev/xstats,{port}") or {}
    out, q = [], 0
    while f"rx_q{q}_packets" in xs:
        out.append(xs[f"rx_q{q}_packets"])
        q += 1
    return out


SOL_PACKET = 263
PACKET_ROLLOVER_STATS = 21  # struct tpacket_rollover_stats: all, huge, failed (u64)
SYS_PIDFD_GETFD = 438       # x86_64, arm64 and every other generic-syscall arch


def rollovers(pid):
    """Per packet socket of process pid: (interface, packets the kernel
    rolled over to another socket of its fanout group, of which "huge
    flow", rollovers that found no room), read through a copy of the
    socket (pidfd_getfd).  None where the kernel or Python cannot."""
    if not hasattr(os, "pidfd_open"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        ifaces = {}
        with open("/proc/net/packet") as f:
            next(f)
            for line in f:
                p = line.split()
                ifaces[p[8]] = int(p[4])  # inode -> ifindex
        names = {}
        for n in os.listdir("/sys/class/net"):
            with open(f"/sys/class/net/{n}/ifindex") as f:
                names[int(f.read())] = n
        out = []
        pidfd = os.pidfd_open(pid)
        try:
            for fd in sorted(os.listdir(f"/proc/{pid}/fd"), key=int):
                try:
                    link = os.readlink(f"/proc/{pid}/fd/{fd}")
                except OSError:
                    continue
                ino = link[len("socket:["):-1] if link.startswith("socket:[") else None
                if ino not in ifaces:
                    continue
                copy = libc.syscall(SYS_PIDFD_GETFD, pidfd, int(fd), 0)
                if copy < 0:
                    return None
                try:
                    v = socket.socket(fileno=copy)
                    st = struct.unpack("<QQQ", v.getsockopt(SOL_PACKET, PACKET_ROLLOVER_STATS,
                                                            24))
                    v.detach()
                finally:
                    os.close(copy)
                out.append((names.get(ifaces[ino], "?"),) + st)
        finally:
            os.close(pidfd)
        return out
    except OSError:
        return None


def leftovers(topo):
    """What the test made that still exists."""
    left = []
    ns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    left += [n for n in topo.NAMESPACES if n in ns.split()]
    if os.path.exists(f"/var/run/dpdk/{topo.PREFIX}"):
        left.append(f"/var/run/dpdk/{topo.PREFIX}")
    left += [os.path.join(topo.huge, n) for n in os.listdir(topo.huge)
             if n.startswith(topo.PREFIX + "map_")]
    left += [p for p in (topo.table, topo.seg, topo.work) if os.path.exists(p)]
    return left


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def run_overload(topo, dp_pid, before):
    """More than the two workers can take: report what the fanout does, and
    check that flows are split only when the kernel rolled frames over."""
    anom0 = topo.telemetry("/riskgate/anomalies") or {}
    roll0 = rollovers(dp_pid) or []
    r = topo.run_acq(["--connections", "64", "--rate", "0", "--window", "256",
                      "--duration", "5", "--timeout", "10"])
    print("overload acq:", json.dumps(r))
    st = settle(topo)
    anom = topo.telemetry("/riskgate/anomalies") or {}
    roll = rollovers(dp_pid) or []
    delta = {n: st.get(n, 0) - before.get(n, 0)
             for n in ("rx_pkts", "messages", "flows_created", "flows_closed", "resyncs")}
    delta["stream_no_syn"] = anom.get("stream_no_syn", 0) - anom0.get("stream_no_syn", 0)
    delta["stream_gap"] = anom.get("stream_gap", 0) - anom0.get("stream_gap", 0)
    rolled = [(a[0], a[1] - b[1], a[2] - b[2], a[3] - b[3]) for a, b in zip(roll, roll0)]
    print("overload dataplane:", json.dumps(delta))
    print("overload rollovers (iface, rolled over, huge flows, failed):", rolled)
    split = delta["flows_created"] != r["connects"]
    check(not split or any(x[1] for x in rolled),
          f"flows split over lcores ({delta['flows_created']} created for "
          f"{r['connects']} connections) only where the kernel rolled frames over")


def main():
    args = sys.argv[1:]
    overload = "--overload" in args
    args = [a for a in args if a != "--overload"]
    if len(args) != 4:
        sys.stderr.write(__doc__)
        return 2
    build, topo_sh, acq, switch = args
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        skip("needs two CPUs for two worker lcores")
    lcores = cpus[:2]
    signal.signal(signal.SIGTERM, on_term)

    topo = Topology(build, topo_sh, acq, switch, "workers")
    dp_pid = None
    try:
        topo.make_table()
        topo.up(f"lcores = [ {lcores[0]}, {lcores[1]} ];\n",
                ("--lcores", f"{lcores[0]},{lcores[1]}", "--qpairs", "2"))
        with open(os.path.join(topo.run_dir, "bridge.pid")) as f:
            dp_pid = int(f.read().strip())
        per = topo.wait_telemetry("/riskgate/lcores")
        check(per is not None and len(per) == 2,
              f"riskgate-dp runs two workers (telemetry /riskgate/lcores: {per})")
        topo.start_switch()

        r = topo.run_acq(["--connections", str(CONNECTIONS), "--rate", "2000",
                          "--duration", "4", "--hit-rate", "0.05", "--timeout", "5"])
        print("acq:", json.dumps(r))
        check(r["sent"] > 4000, f"{r['sent']} requests sent")
        check(r["answered"] == r["sent"] and r["unanswered"] == 0,
              "every request answered")
        check(r["connects"] == CONNECTIONS and r["disconnects"] == 0,
              f"{CONNECTIONS} connections opened, none dropped "
              f"({r['connects']} opened, {r['disconnects']} dropped)")

        st = settle(topo)
        # the af_packet PMD joins its sockets with PACKET_FANOUT_FLAG_ROLLOVER:
        # a ring more than 3/4 full sends frames to another queue, and
        # with them a flow to another lcore (docs/dataplane.md)
        rolled = rollovers(dp_pid)
        if rolled is None:
            print("rollover counters not readable here (pidfd_getfd)")
        else:
            print("packet sockets (iface, rolled over, of which huge flows, failed):", rolled)
            check(len(rolled) == 4 and all(sk[1] == 0 for sk in rolled),
                  "the kernel kept every frame on its hash's queue (no fanout rollover)")
        anom = topo.telemetry("/riskgate/anomalies") or {}
        per = topo.telemetry("/riskgate/lcores") or {}
        queues = [queue_packets(topo, 0), queue_packets(topo, 1)]
        print("dp lcores:", json.dumps(per))
        print("rx packets per queue, port 0 and port 1:", queues)

        # hits: within the ground truth's bounds for each list
        got = hits_by_list(st)
        print("dp hits:", json.dumps(got), "messages:", st.get("messages"))
        check(st.get("hits", 0) > 0, "the dataplane reported hits")
        for lst, want in r["list_hits"].items():
            check(want <= got.get(lst, 0) <= 2 * want,
                  f"{lst}: dataplane counted {got.get(lst, 0)}, truth {want} (requests)")
        check(st.get("messages") == 2 * r["sent"],
              f"every request and response framed once ({st.get('messages')} messages, "
              f"{r['sent']} requests)")

        # both queues of both ports carried frames
        for port, q in enumerate(queues):
            check(len(q) == 2 and all(n > 0 for n in q),
                  f"port {port}: both queues received frames ({q})")

        # per lcore, from the segment (the telemetry shows no flow counts per lcore)
        s = read_segment(topo.seg)
        # /riskgate/stats lists the counters in index order (enum rg_ctr)
        names = list((topo.telemetry("/riskgate/stats") or {}).keys())
        idx = {n: i for i, n in enumerate(names)}
        check(len(s["slots"]) == 2 and s["dp_pid"] == dp_pid,
              f"segment: 2 lcore slots of the running dataplane ({len(s['slots'])}, "
              f"pid {s['dp_pid']})")
        for n in ("rx_pkts", "flows_created", "flows_closed", "messages", "hits"):
            tot = sum(sl["c"][idx[n]] for sl in s["slots"])
            check(tot == st.get(n), f"segment layout: {n} summed over slots = telemetry "
                  f"({tot}, {st.get(n)})")

        def ctr(sl, n):
            return sl["c"][idx[n]]

        created = 0
        for sl in s["slots"]:
            row = {n: ctr(sl, n) for n in ("rx_pkts", "tcp_segments", "flows_created",
                                          "flows_closed", "messages", "hits")}
            print(f"lcore {sl['lcore']}:", json.dumps(row))
            check(row["rx_pkts"] > 0 and row["flows_created"] > 0 and row["messages"] > 0,
                  f"lcore {sl['lcore']} received packets, created flows, framed messages")
            check(row["flows_closed"] == row["flows_created"],
                  f"lcore {sl['lcore']} closed every flow it created "
                  f"({row['flows_closed']} of {row['flows_created']})")
            created += row["flows_created"]
        check(created == r["connects"],
              f"flows created over both lcores = connections ({created}, {r['connects']})")

        # what a flow split across lcores would leave behind
        for n in ("skip_no_flow", "resyncs", "resync_skipped_bytes", "hold_pool_empty",
                  "framer_pool_empty", "skip_flow_table_full"):
            check(st.get(n, 0) == 0, f"{n} = 0 ({st.get(n)})")
        for n in ("stream_no_syn", "stream_gap", "stream_hold_full"):
            check(anom.get(n, 0) == 0, f"anomaly {n} = 0 ({anom.get(n)})")
        nonzero = {k: v for k, v in anom.items() if v}
        check(not nonzero, f"no anomalies ({nonzero})")

        # each connection's 4-tuple on exactly one lcore, both directions there
        if s["slots"][0]["top"] is None:
            print("segment without top flows (version %d): 4-tuple check not run"
                  % s["version"])
        else:
            deadline = time.time() + 5
            while True:
                s = read_segment(topo.seg)
                tops = [sl["top"] for sl in s["slots"]]
                if sum(len(t) for t in tops) >= r["connects"] or time.time() > deadline:
                    break
                time.sleep(0.3)
            where = {}
            for sl, flows in zip(s["slots"], tops):
                for fl in flows:
                    where.setdefault(fl["ends"], []).append((sl["lcore"], fl))
            split = {k: [lc for lc, _ in v] for k, v in where.items() if len(v) > 1}
            check(len(where) == r["connects"],
                  f"top flows: {len(where)} distinct connections, {r['connects']} opened")
            check(not split, f"no connection on two lcores ({split})")
            msgs = sum(fl["msgs"] for flows in tops for fl in flows)
            check(msgs == st.get("messages"),
                  f"top flows: messages of both directions on the flow's lcore "
                  f"({msgs}, {st.get('messages')})")
            odd = [k for k, v in where.items() if any(fl["msgs"] % 2 for _, fl in v)]
            check(not odd, f"top flows: each flow as many responses as requests ({odd})")
            open_ = [k for k, v in where.items() if any(not fl["closed"] for _, fl in v)]
            check(not open_, f"top flows: each flow closed on its lcore ({open_})")
            print("connections per lcore:",
                  {sl["lcore"]: len(t) for sl, t in zip(s["slots"], tops)})
        if overload:
            run_overload(topo, dp_pid, st)
    except (RuntimeError, subprocess.SubprocessError, OSError, ValueError, KeyError,
            struct.error) as e:
        check(False, f"{type(e).__name__}: {e}")
    finally:
        topo.close()
    left = leftovers(topo)
    check(not left, f"everything removed ({left})")
    for pid, what in ((dp_pid, "riskgate-dp"),
                      (topo.sw.pid if topo.sw else None, "riskgate-switch")):
        if pid is not None:
            check(not alive(pid), f"{what} (pid {pid}) has exited")
    return result()


if __name__ == "__main__":
    sys.exit(main())
