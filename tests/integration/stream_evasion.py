#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""
Evasion of the TCP follower, through riskgate-dp (replay) and
riskgate-dissect on the same captures, built with scapy: both must screen
what the receiver takes and count what it refuses.

- a stray segment far ahead (inside the receiver's window but beyond the
  hold window, then one beyond the receiver's window too) must not move the
  stream: the three requests that follow, each with a listed card, give
  three hits, and the segments are counted (hold full, out of window);
- a segment lost before the appliance while the receiver acknowledges it
  (a real gap): the stream skips it on that evidence and screens the
  request after it;
- a retransmission of screened request bytes with other content (the
  switch takes it if the first copy was lost on its side) is counted as an
  evasion attempt; the same after the switch acknowledged the bytes (it
  drops them) and an identical retransmission are not.

usage: stream_evasion.py riskgate-dp riskgate-dissect lists_table
"""

import json
import os
import sys
import tempfile
import time

from dp_util import make_table, replay, report, run, finish
from isogen_iso8583 import build, frame_len2

try:
    from scapy.all import IP, TCP, Ether, Raw, wrpcap
except ImportError:
    print("SKIP scapy is missing")
    sys.exit(77)

PORT = 5000
CLI, SRV = "10.7.0.1", "10.2.0.1"
LISTED = "4532015112830366"
CLEAN = "4556737586899855"
WSCALE = 2          # windows of 65535 << 2: 256 KiB
CLI_ISN, SRV_ISN = 0xfffe0000, 777


class Tcp:
    """One connection written frame by frame: side 0 the acquirer."""

    def __init__(self, sport):
        self.sport = sport
        self.nxt = [CLI_ISN, SRV_ISN]
        self.frames = []

    def pkt(self, side, flags, payload=b"", seq=None, opts=None):
        src, dst = (CLI, SRV) if side == 0 else (SRV, CLI)
        sp, dp = (self.sport, PORT) if side == 0 else (PORT, self.sport)
        t = TCP(sport=sp, dport=dp, flags=flags, window=65535,
                seq=(self.nxt[side] if seq is None else seq) % 2 ** 32,
                ack=self.nxt[1 - side] % 2 ** 32 if "A" in flags else 0,
                options=opts or [])
        p = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / IP(src=src, dst=dst) / t
        if payload:
            p = p / Raw(load=payload)
        self.frames.append(p)

    def handshake(self):
        self.pkt(0, "S", opts=[("MSS", 1460), ("WScale", WSCALE)])
        self.nxt[0] += 1
        self.pkt(1, "SA", opts=[("MSS", 1460), ("WScale", WSCALE)])
        self.nxt[1] += 1
        self.pkt(0, "A")

    def send(self, side, data, lost=False):
        """Data from side, acknowledged by the other side at once."""
        if not lost:
            self.pkt(side, "PA", data)
        self.nxt[side] += len(data)

    def ack(self, side):
        self.pkt(side, "A")

    def close(self):
        self.pkt(0, "FA")
        self.nxt[0] += 1
        self.pkt(1, "FA")
        self.nxt[1] += 1
        self.pkt(0, "A")


def request(stan, pan):
    return frame_len2(build("0100", {2: pan, 3: "000000", 4: "000000001000",
                                     7: "1208101500", 11: stan, 41: "TERM0001",
                                     42: "MERCHANT0000001", 49: "978"}))


def response(stan):
    return frame_len2(build("0110", {3: "000000", 4: "000000001000", 7: "1208101500",
                                     11: stan, 39: "00", 41: "TERM0001"}))


def exchange(c, stan, pan, lost=False):
    c.send(0, request(stan, pan), lost=lost)
    c.send(1, response(stan))


def case_stray(extra_far):
    """A stray segment 20 KB ahead (70 KB: beyond the dissector's hold
    window too), optionally one beyond the receiver's window, then three
    listed requests."""
    c = Tcp(41001)
    c.handshake()
    c.ack(1)  # the switch's first scaled window: 256 KiB
    c.pkt(0, "PA", b"Z" * 20, seq=c.nxt[0] + 20000)
    c.pkt(0, "PA", b"Y" * 20, seq=c.nxt[0] + 70000)
    if extra_far:
        c.pkt(0, "PA", b"X" * 20, seq=c.nxt[0] + 300000)
    for i in range(3):
        exchange(c, "%06d" % (i + 1), LISTED)
    c.close()
    return c.frames


def case_real_gap():
    c = Tcp(41002)
    c.handshake()
    exchange(c, "000001", LISTED)
    c.send(0, request("000002", LISTED), lost=True)  # the switch got it, the capture not
    exchange(c, "000003", LISTED)
    c.send(1, response("000002"))
    c.close()
    return c.frames


def case_retransmission(second, after_ack):
    """A request with CLEAN, then a retransmission of its bytes carrying
    second, before or after the switch acknowledged them."""
    c = Tcp(41003)
    c.handshake()
    first = request("000001", CLEAN)
    seq = c.nxt[0]
    c.pkt(0, "PA", first)
    c.nxt[0] += len(first)
    if after_ack:
        c.ack(1)
    c.pkt(0, "PA", request("000001", second), seq=seq)
    c.send(1, response("000001"))
    c.close()
    return c.frames


def dissect(tool, cap, lists):
    r = run([tool, "--list", lists, cap])
    if r.returncode != 0:
        return None, ["riskgate-dissect failed (%d): %s" % (r.returncode, r.stderr[-300:])]
    if LISTED in r.stdout or CLEAN in r.stdout:
        return None, ["riskgate-dissect printed a raw PAN"]
    lines = [json.loads(l) for l in r.stdout.splitlines() if l.strip()]
    return lines, []


def check(dp, ds, tmp, name, frames, table, key, lists, hits, anomalies, absent=()):
    """Both tools on one capture: hits, and anomalies {name: count, or
    (riskgate-dp's, riskgate-dissect's) where their hold windows (16 KiB,
    64 KiB) make them differ}; absent: anomalies neither may report."""
    cap = os.path.join(tmp, name + ".pcap")
    wrpcap(cap, frames)
    errors = []
    s, errs = replay(dp, ["--replay", cap, "--table", table, "--key", key])
    errors += errs
    lines, errs = dissect(ds, cap, lists)
    errors += errs
    if s is None or lines is None:
        return errors
    if s["hits"] != hits:
        errors.append("riskgate-dp: %d hits, %d expected" % (s["hits"], hits))
    ds_hits = sum(len(m.get("hits", [])) for m in lines if m.get("mti"))
    if ds_hits != hits:
        errors.append("riskgate-dissect: %d hits, %d expected" % (ds_hits, hits))
    ds_anoms = {}
    for m in lines:
        if m.get("anomaly") not in (None, "none"):
            ds_anoms[m["anomaly"]] = ds_anoms.get(m["anomaly"], 0) + 1
    for a, n in anomalies.items():
        n_dp, n_ds = n if isinstance(n, tuple) else (n, n)
        if s["anomalies"].get(a, 0) != n_dp:
            errors.append("riskgate-dp: %s counted %d, %d expected (%s)"
                          % (a, s["anomalies"].get(a, 0), n_dp, s["anomalies"]))
        if ds_anoms.get(a, 0) != n_ds:
            errors.append("riskgate-dissect: %s reported %d, %d expected (%s)"
                          % (a, ds_anoms.get(a, 0), n_ds, ds_anoms))
    for a in absent:
        if s["anomalies"].get(a, 0) or ds_anoms.get(a, 0):
            errors.append("%s counted: dp %s, dissect %s" % (a, s["anomalies"], ds_anoms))
    return errors


def main():
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        return 1
    dp, ds, lt = sys.argv[1:4]
    failed = 0
    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix="stream_evasion.") as tmp:
        lists = os.path.join(tmp, "lists.csv")
        with open(lists, "w") as fp:
            fp.write("list,kind,value\ntxn_fraud,PAN,%s\n" % LISTED)
        key, table = make_table(lt, tmp, [lists])
        quiet = ("stream_gap", "stream_retrans_unchecked", "stream_retrans_changed")
        # the dissector holds the 20 KB one and gives it up at the end
        stray = {"stream_hold_full": (2, 1), "stream_gap": (0, 1), "stream_out_of_window": 0}
        failed += report("stray segments ahead, in the receiver's window", check(
            dp, ds, tmp, "stray", case_stray(False), table, key, lists, 3, stray))
        stray = dict(stray, stream_out_of_window=1)
        failed += report("stray segments ahead, one beyond the receiver's window", check(
            dp, ds, tmp, "stray_far", case_stray(True), table, key, lists, 3, stray))
        failed += report("segment lost, acknowledged by the switch: skipped", check(
            dp, ds, tmp, "real_gap", case_real_gap(), table, key, lists, 2,
            {"stream_gap": 1}, ("stream_hold_full", "stream_out_of_window")))
        failed += report("retransmission with another card", check(
            dp, ds, tmp, "retrans_changed", case_retransmission(LISTED, False), table, key,
            lists, 0, {"stream_retrans_changed": 1}))
        failed += report("retransmission with another card after the ack", check(
            dp, ds, tmp, "retrans_acked", case_retransmission(LISTED, True), table, key,
            lists, 0, {}, quiet))
        failed += report("identical retransmission", check(
            dp, ds, tmp, "retrans_same", case_retransmission(CLEAN, False), table, key,
            lists, 0, {}, quiet))
    return finish(failed, t0)


if __name__ == "__main__":
    sys.exit(main())
