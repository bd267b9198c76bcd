#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""
Hostile traffic through riskgate-dp (replay): random bytes on the service
port, huge length headers, 1-byte segments, overlapping retransmissions
with different data, a SYN flood larger than the flow table (half-open
flows evicted for real ones), jumbo segments in chained mbufs, a non-ISO
protocol on the service port, and frames that are not IP at all (ARP,
runts, QinQ, truncated IPv4, IPv6 UDP).  Each case must run to completion
(exit 0), forward every frame unchanged (output capture == input capture)
and count what it met under the expected reason.  A generated clean flow
mixed in afterwards must still be screened exactly (its hits found).

usage: dp_hostile.py riskgate-dp riskgate-gen lists_table
"""

import json
import os
import random
import struct
import sys
import tempfile
import time

from dp_util import (ACK, FIN, PSH, RST, SYN, MAC, finish, make_table, read_pcap, replay,
                     report, run, tcp_frame, tool_args, write_pcap)

PORT = 5000
CLI, SRV = "10.9.0.1", "10.2.0.1"


def flow(sport, payloads, cli=CLI, isn=1000, srv_isn=5000, close=True):
    """A connection whose client sends payloads (list of (offset, bytes)
    relative to the first data byte, in the order given)."""
    f = [tcp_frame(cli, SRV, sport, PORT, isn, SYN),
         tcp_frame(SRV, cli, PORT, sport, srv_isn, SYN | ACK, ack=isn + 1),
         tcp_frame(cli, SRV, sport, PORT, isn + 1, ACK, ack=srv_isn + 1)]
    end = 0
    for off, data in payloads:
        f.append(tcp_frame(cli, SRV, sport, PORT, isn + 1 + off, PSH | ACK, data))
        end = max(end, off + len(data))
    if close:
        f.append(tcp_frame(cli, SRV, sport, PORT, isn + 1 + end, FIN | ACK))
        f.append(tcp_frame(SRV, cli, PORT, sport, srv_isn + 1, FIN | ACK))
    return f


def case_random(rng):
    data = bytes(rng.getrandbits(8) for _ in range(6000))
    return flow(40001, [(i, data[i:i + 300]) for i in range(0, len(data), 300)])


def case_huge_len(rng):
    msgs = [b"\xff\xff" + b"0100" + bytes(50), b"\xfe\x00" + bytes(1400)]
    return flow(40002, [(0, msgs[0]), (len(msgs[0]), msgs[1])])


def case_one_byte(rng):
    data = bytes(rng.getrandbits(8) for _ in range(400))
    return flow(40003, [(i, data[i:i + 1]) for i in range(len(data))])


def case_overlap(rng):
    a = bytes(rng.getrandbits(8) for _ in range(600))
    b = bytearray(a)
    for i in range(300, 400):
        b[i] ^= 0x55
    # second half first (held), then the whole range with other bytes
    return flow(40004, [(300, a[300:600]), (0, bytes(b[:600]))])


def case_syn_flood(rng, n):
    f = []
    for i in range(n):
        f.append(tcp_frame("10.8.%d.%d" % (i // 250, i % 250 + 1), SRV, 20000 + i, PORT,
                           rng.getrandbits(32), SYN))
    return f


def case_http(rng):
    req = (b"GET /index.html HTTP/1.1\r\nHost: switch\r\nUser-Agent: x\r\n\r\n") * 20
    return flow(40005, [(i, req[i:i + 100]) for i in range(0, len(req), 100)])


def case_not_ip(rng):
    arp = MAC + b"\x08\x06" + bytes(28)
    runt = bytes(10)
    qinq = MAC + b"\x88\xa8\x00\x05\x81\x00\x00\x07\x08\x00" + bytes(10)
    v4trunc = MAC + b"\x08\x00" + b"\x45\x00\x05\xdc" + bytes(30)
    v6udp = MAC + b"\x86\xdd" + struct.pack(">IHBB", 0x60000000, 8, 17, 64) + bytes(32) + bytes(8)
    garbage = bytes(rng.getrandbits(8) for _ in range(200))
    return [arp, runt, qinq, v4trunc, v6udp, garbage]


def jumbo(frames, size=8000):
    """The same connections with each direction's payload re-cut into
    segments of up to size bytes (frames over the mbuf size: the pcap vdev
    hands them over as chained mbufs).  Handshakes first, FIN/RST last."""
    opening, closing, streams = [], [], {}
    for f in frames:
        ihl = (f[14] & 15) * 4
        t = 14 + ihl
        src, dst = ".".join(map(str, f[26:30])), ".".join(map(str, f[30:34]))
        sport, dport, seq, ack = struct.unpack(">HHII", f[t:t + 12])
        flags = f[t + 13]
        payload = f[t + (f[t + 12] >> 4) * 4:14 + struct.unpack(">H", f[16:18])[0]]
        if payload:
            streams.setdefault((src, dst, sport, dport), []).append((seq, ack, payload))
        (closing if flags & (FIN | RST) else opening).append(f)
    data = []
    for (src, dst, sport, dport), segs in streams.items():
        segs.sort()
        first, ack = segs[0][0], segs[-1][1]
        stream = bytearray()
        for seq, _, p in segs:
            stream[seq - first:seq - first + len(p)] = p
        for off in range(0, len(stream), size):
            data.append(tcp_frame(src, dst, sport, dport, first + off, PSH | ACK,
                                  bytes(stream[off:off + size]), ack=ack))
    return opening + data + closing


def check(dp, tmp, name, frames, table, key, extra, expect):
    cap = os.path.join(tmp, name + ".pcap")
    out = os.path.join(tmp, name + ".out.pcap")
    write_pcap(cap, frames)
    s, errors = replay(dp, ["--replay", cap, "--out", out, "--table", table, "--key", key] +
                       extra)
    if s is None:
        return errors, None
    if read_pcap(out) != read_pcap(cap):
        errors.append("output capture differs from the input")
    if s["packets"] != len(frames):
        errors.append("summary counts %d packets of %d" % (s["packets"], len(frames)))
    c = s["counters"]
    if c.get("tx_pkts", 0) != len(frames):
        errors.append("forwarded %d of %d frames" % (c.get("tx_pkts", 0), len(frames)))
    for k in expect:
        if k not in s["anomalies"] and k not in c:
            errors.append("expected a count of %s; anomalies %s" % (k, s["anomalies"]))
    return errors, s


def generate(gen, tmp, tag, flows, messages):
    """A riskgate-gen capture with its list file and ground truth, named
    after tag: (frames, the generator's summary, list file)."""
    cap, lists = os.path.join(tmp, tag + ".pcap"), os.path.join(tmp, tag + ".csv")
    g = run([gen, "--out", cap, "--lists", lists, "--truth", os.path.join(tmp, tag + ".jsonl"),
             "--flows", str(flows), "--messages", str(messages), "--hit-rate", "0.3",
             "--seed", "3"])
    if g.returncode != 0:
        raise RuntimeError("riskgate-gen: " + g.stderr)
    return read_pcap(cap), json.loads(g.stdout), lists


def check_hits(dp, tmp, name, frames, table, key, extra, expect, want):
    """check(), plus: exactly the want hits found."""
    errs, s = check(dp, tmp, name, frames, table, key, extra, expect)
    if s and s["hits"] != want:
        errs.append("%d hits, %d expected" % (s["hits"], want))
    return errs, s


def main():
    dp, gen, lt = tool_args(__doc__)
    rng = random.Random(42)
    failed = 0
    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix="dp_hostile.") as tmp:
        try:
            clean_frames, gs, clean_lists = generate(gen, tmp, "clean", 4, 100)
        except RuntimeError as e:
            print("FAIL %s" % e)
            return 1
        key, table = make_table(lt, tmp, [clean_lists])
        cases = [
            ("random_bytes", case_random(rng), [], ["resync_skipped_bytes"]),
            ("huge_length", case_huge_len(rng), [], ["frame_too_long"]),
            ("one_byte_segments", case_one_byte(rng), [], ["tcp_segments"]),
            ("overlap_different", case_overlap(rng), [], ["stream_overlap"]),
            ("syn_flood", case_syn_flood(rng, 600), ["--flows", "256"],
             ["flows_evicted"]),
            ("http_on_service_port", case_http(rng), [], ["frame_too_long",
                                                          "resync_skipped_bytes"]),
            ("not_ip", case_not_ip(rng), [], ["skip_not_ip", "skip_l2_malformed",
                                              "skip_ip_malformed", "skip_not_tcp"]),
        ]
        everything = []
        for name, frames, extra, expect in cases:
            errs, s = check(dp, tmp, name, frames, table, key, extra, expect)
            everything += frames
            failed += report("%s %s" % (name, json.dumps(s["anomalies"]) if s else ""), errs)
        # a SYN flood over the flow table, then clean traffic: half-open
        # flows are evicted to make room, every hit is still found
        errs, s = check_hits(dp, tmp, "syn_flood_then_clean",
                             case_syn_flood(rng, 2000) + clean_frames, table, key,
                             ["--flows", "256"], ["flows_evicted"], gs["hits"])
        if s and s["counters"].get("skip_flow_table_full", 0) != 0:
            errs.append("flows refused although half-open ones could go: %d"
                        % s["counters"]["skip_flow_table_full"])
        failed += report("syn_flood_then_clean %s" % (
            json.dumps(s["counters"].get("flows_evicted")) if s else ""), errs)
        # jumbo segments (chained mbufs): screened from a copy, every hit found
        errs, s = check_hits(dp, tmp, "jumbo_segments", jumbo(clean_frames), table, key, [],
                             ["multiseg_copied"], gs["hits"])
        if s and s["counters"].get("skip_segmented", 0):
            errs.append("%d jumbo frames not screened" % s["counters"]["skip_segmented"])
        failed += report("jumbo_segments %s" % (
            json.dumps(s["counters"].get("multiseg_copied")) if s else ""), errs)
        # many jumbo frames, burst after burst: a chain forwarded while it
        # is screened must stay whole until both sides let it go (a chain
        # referenced at its head only was freed twice and crashed)
        try:
            many_frames, ms, many_lists = generate(gen, tmp, "many", 16, 500)
        except RuntimeError as e:
            print("FAIL %s" % e)
            return 1
        mkey, mtable = make_table(lt, tmp, [many_lists], name="table_many")
        errs, s = check_hits(dp, tmp, "jumbo_many", jumbo(many_frames), mtable, mkey, [],
                             ["multiseg_copied"], ms["hits"])
        failed += report("jumbo_many %s" % (
            json.dumps(s["counters"].get("multiseg_copied")) if s else ""), errs)
        # all of it, then clean traffic: still screened exactly
        errs, s = check_hits(dp, tmp, "all_then_clean", everything + clean_frames, table, key,
                             ["--flows", "1024"], [], gs["hits"])
        failed += report("all_then_clean %s" % (json.dumps(s["anomalies"]) if s else ""), errs)
    return finish(failed, t0)


if __name__ == "__main__":
    sys.exit(main())
