#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""
Replay correctness of riskgate-dp against riskgate-gen's ground truth.

For every built-in dialect with several framings and segmentation mixes
(retransmissions and reordering on), plus IPv6 with VLAN, keep-alives, a
fixed header and many flows: generate a capture with its lists and ground
truth, build a table from the lists (lists_table), replay the capture with
--events and --out, and check that
  - the hit events equal the ground truth exactly (flow, direction, MTI,
    STAN, list, kind, DE, masked identifier): no miss, no false hit;
  - the summary counts every message, every hit, and no anomaly;
  - the output capture is the input capture, packet by packet, byte for
    byte (transparency).
A --loop run checks that looping multiplies everything exactly.

usage: dp_replay.py riskgate-dp riskgate-gen lists_table
"""

import collections
import json
import os
import sys
import tempfile
import time

from dp_util import (compare_events, finish, key_of, make_table, read_pcap, replay, report, run,
                     tool_args)

DIALECTS = ["ascii87", "ascii87-bin", "bcd87", "ebcdic87"]
FRAMINGS = ["len2", "len2i", "ascii4", "bcd2", "len2+tpdu"]
SEGMENTATIONS = ["whole", "coalesce", "split", "tiny", "mixed"]


def cases():
    out = []
    i = 0
    for d in DIALECTS:
        for f in FRAMINGS:
            seg = SEGMENTATIONS[i % len(SEGMENTATIONS)]
            port = 5000 + i
            out.append(("%s/%s/%s" % (d, f, seg),
                        ["--dialect", d, "--framing", f, "--port", str(port),
                         "--segmentation", seg, "--flows", "6", "--messages", "240",
                         "--seed", str(200 + i), "--hit-rate", "0.25", "--list-size", "40",
                         "--retransmit", "0.1", "--reorder", "0.1"],
                        ["--dialect", d, "--framing", f, "--port", str(port)]))
            i += 1
    base = ["--flows", "5", "--messages", "300", "--seed", "9", "--hit-rate", "0.2",
            "--list-size", "30", "--retransmit", "0.1", "--reorder", "0.1"]
    out.append(("ipv6+vlan/mixed", base + ["--ipv6", "--vlan", "42"], []))
    out.append(("keepalive/mixed", base + ["--keepalive", "0.3"], []))
    out.append(("hdr12/split", base + ["--framing", "ascii4+hdr12", "--segmentation", "split"],
                ["--framing", "ascii4+hdr12"]))
    out.append(("bcd2+tpdu/bcd87/tiny", base + ["--framing", "bcd2+tpdu", "--dialect", "bcd87",
                                                "--segmentation", "tiny"],
                ["--framing", "bcd2+tpdu", "--dialect", "bcd87"]))
    out.append(("many-flows/coalesce", ["--flows", "200", "--messages", "1500", "--seed", "11",
                                        "--segmentation", "coalesce", "--hit-rate", "0.1"], []))
    return out


def run_case(dp, gen, lt, tmp, name, gen_args, dp_args, loops=1):
    base = os.path.join(tmp, name.replace("/", "_"))
    cap, lists, truth = base + ".pcap", base + ".csv", base + ".jsonl"
    out, events = base + ".out.pcap", base + ".events.jsonl"
    g = run([gen, "--out", cap, "--lists", lists, "--truth", truth] + gen_args)
    if g.returncode != 0:
        return ["riskgate-gen failed: " + g.stderr.strip()]
    gs = json.loads(g.stdout)
    key, table = make_table(lt, tmp, [lists], name.replace("/", "_") + ".table")
    args = ["--replay", cap, "--out", out, "--events", events, "--table", table,
            "--key", key] + dp_args
    if loops > 1:
        args += ["--loop", str(loops)]
    s, errors = replay(dp, args)
    if s is None:
        return errors

    want = collections.Counter()
    with open(truth) as fp:
        for line in fp:
            want[key_of(json.loads(line))] += loops
    errors += compare_events(want, events)
    if s["hits"] != gs["hits"] * loops:
        errors.append("summary hits %d, truth %d" % (s["hits"], gs["hits"] * loops))
    if s["messages"] != gs["messages"] * loops:
        errors.append("summary messages %d, generated %d" % (s["messages"],
                                                             gs["messages"] * loops))
    if s["packets"] != gs["packets"] * loops:
        errors.append("summary packets %d, generated %d" % (s["packets"], gs["packets"] * loops))
    if s["anomalies"]:
        errors.append("anomalies on clean traffic: %s" % s["anomalies"])
    if sum(s["hits_by_list"].values()) != s["hits"]:
        errors.append("hits_by_list does not add up")
    pin, pout = read_pcap(cap), read_pcap(out)
    if len(pout) != len(pin) * loops:
        errors.append("output has %d packets, input %d x %d" % (len(pout), len(pin), loops))
    else:
        for i, p in enumerate(pout):
            if p != pin[i % len(pin)]:
                errors.append("output packet %d differs from the input" % (i + 1))
                break
    return errors


def main():
    dp, gen, lt = tool_args(__doc__)
    failed = 0
    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix="dp_replay.") as tmp:
        all_cases = [(n, g, d, 1) for n, g, d in cases()]
        all_cases.append(("loop3/ascii87/mixed", ["--flows", "8", "--messages", "200",
                                                  "--seed", "5", "--hit-rate", "0.2",
                                                  "--reorder", "0.1"], [], 3))
        for name, g, d, loops in all_cases:
            failed += report(name, run_case(dp, gen, lt, tmp, name, g, d, loops))
    return finish(failed, t0)


if __name__ == "__main__":
    sys.exit(main())
