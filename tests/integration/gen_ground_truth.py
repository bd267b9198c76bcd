#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""
Ground-truth test of riskgate-gen against riskgate-dissect.

For every built-in dialect and several framings and segmentation mixes
(with retransmissions and reordering on), generate a capture, its list file
and its ground truth, dissect the capture with the lists, and check that:
  - the dissector succeeds and reports no anomaly on any message;
  - every generated message is seen exactly once (count and unique
    flow/direction/MTI/STAN keys; as many requests as generated);
  - the set of hits equals the ground truth exactly: no miss, no false hit.

usage: gen_ground_truth.py PATH/riskgate-dissect PATH/riskgate-gen
exit status 0 when every case passes, 1 otherwise.
"""

import collections
import json
import os
import subprocess
import sys
import tempfile
import time

DIALECTS = ["ascii87", "ascii87-bin", "bcd87", "ebcdic87"]
FRAMINGS = ["len2", "len2i", "ascii4", "bcd2", "len2+tpdu"]
SEGMENTATIONS = ["whole", "coalesce", "split", "tiny", "mixed"]


def cases():
    """(name, gen args, dissect args) for every case."""
    out = []
    i = 0
    for d in DIALECTS:
        for f in FRAMINGS:
            seg = SEGMENTATIONS[i % len(SEGMENTATIONS)]
            port = 5000 + i
            args = ["--dialect", d, "--framing", f, "--port", str(port),
                    "--segmentation", seg, "--flows", "6", "--messages", "240",
                    "--seed", str(100 + i), "--hit-rate", "0.25",
                    "--list-size", "40", "--retransmit", "0.1", "--reorder", "0.1"]
            out.append(("%s/%s/%s" % (d, f, seg), args,
                        ["--dialect", d, "--framing", f, "--port", str(port)]))
            i += 1
    # the other options, on the default dialect and framing
    extra = [
        ("ipv6+vlan/mixed", ["--ipv6", "--vlan", "42"]),
        ("keepalive/mixed", ["--keepalive", "0.3"]),
        ("hdr12/mixed", ["--framing", "ascii4+hdr12"]),
        ("bcd2+tpdu/bcd87/tiny", ["--framing", "bcd2+tpdu", "--dialect", "bcd87",
                                  "--segmentation", "tiny"]),
        ("many-flows/whole", ["--flows", "200", "--messages", "1500",
                              "--segmentation", "whole"]),
    ]
    for name, a in extra:
        base = {"--dialect": "ascii87", "--framing": "len2", "--port": "6000",
                "--segmentation": "mixed", "--flows": "5", "--messages": "300",
                "--seed": "7", "--hit-rate": "0.2", "--list-size": "30",
                "--retransmit": "0.1", "--reorder": "0.1"}
        flags = []
        j = 0
        while j < len(a):
            if j + 1 < len(a) and not a[j + 1].startswith("--"):
                base[a[j]] = a[j + 1]
                j += 2
            else:
                flags.append(a[j])
                j += 1
        args = [x for kv in base.items() for x in kv] + flags
        out.append((name, args, ["--dialect", base["--dialect"],
                                 "--framing", base["--framing"],
                                 "--port", base["--port"]]))
    return out


def mask(kind, value):
    """docs/identifiers.md, "Masking", written again independently."""
    n = len(value)
    if "*" in value or kind not in ("PAN", "ACCOUNT"):
        return value
    if n < (12 if kind == "PAN" else 8):
        return "*" * n
    if kind == "PAN":
        head = 6
    elif n >= 15 and value[:2].isalpha() and value[:2].isupper() and value[2:4].isdigit():
        head = 4
    else:
        head = 6 if n >= 12 else 0
    return value[:head] + "*" * (n - head - 4) + value[-4:]


def run_case(dissect, gen, tmp, name, gen_args, dis_args):
    errors = []
    base = os.path.join(tmp, name.replace("/", "_"))
    cap, lists, truth = base + ".pcap", base + ".csv", base + ".jsonl"
    g = subprocess.run([gen, "--out", cap, "--lists", lists, "--truth", truth] + gen_args,
                       capture_output=True, text=True)
    if g.returncode != 0:
        return ["riskgate-gen failed (%d): %s" % (g.returncode, g.stderr.strip())]
    summary = json.loads(g.stdout)

    d = subprocess.run([dissect] + dis_args + ["--list", lists, "--show-pan", cap],
                       capture_output=True, text=True)
    if d.returncode != 0:
        return ["riskgate-dissect failed (%d): %s" % (d.returncode, d.stderr.strip()[:300])]

    seen = collections.Counter()
    got = collections.Counter()
    raw = set()
    nb_msgs = nb_req = 0
    for line in d.stdout.splitlines():
        if not line.strip():
            continue
        m = json.loads(line)
        if "mti" not in m:
            continue
        nb_msgs += 1
        fields = m.get("fields", {})
        raw.update(fields[de] for de in ("2", "102", "103") if de in fields)
        stan = fields.get("11", "")
        fk = m["flow"]
        seen[(fk, m.get("dir"), m["mti"], stan)] += 1
        if m["mti"][2] in "02" and m["mti"][3] == "0":
            nb_req += 1
        if m.get("anomaly") not in (None, "none"):
            errors.append("anomaly %s on %s %s stan %s" % (m["anomaly"], m["flow"],
                                                          m["mti"], stan))
        for h in m.get("hits", []):
            got[(fk, m.get("dir"), m["mti"], stan, h["list"], h["kind"], int(h["de"]),
                 mask(h["kind"], h["value"]))] += 1

    want = collections.Counter()
    with open(truth) as fp:
        for line in fp:
            t = json.loads(line)
            if t["kind"] == "PAN" and "*" not in t["masked"]:
                errors.append("raw PAN in the ground truth")
            want[(t["flow"], t["dir"], t["mti"], t["stan"], t["list"],
                  t["kind"], t["de"], t["masked"])] += 1

    if nb_msgs != summary["messages"]:
        errors.append("dissector saw %d messages, generator wrote %d"
                      % (nb_msgs, summary["messages"]))
    if nb_req != summary["requests"]:
        errors.append("dissector saw %d requests, generator wrote %d"
                      % (nb_req, summary["requests"]))
    dups = [k for k, n in seen.items() if n != 1]
    if dups:
        errors.append("%d messages seen more than once, e.g. %s" % (len(dups), dups[0]))
    if sum(want.values()) != summary["hits"]:
        errors.append("truth file has %d lines, summary says %d hits"
                      % (sum(want.values()), summary["hits"]))
    if summary["hits"] == 0:
        errors.append("no hits generated: the case proves nothing")
    # without --show-pan no card or account number seen with it shows whole,
    # in fields, identifiers or hits
    masked = subprocess.run([dissect] + dis_args + ["--list", lists, cap],
                            capture_output=True, text=True)
    shown = [v for v in raw if v in masked.stdout or v in masked.stderr]
    if masked.returncode != 0 or not raw or shown:
        errors.append("masked run: exit %d, %d of %d card and account numbers shown whole"
                      % (masked.returncode, len(shown), len(raw)))
    missed = want - got
    false = got - want
    for k in list(missed)[:3]:
        errors.append("missed hit %s" % (k,))
    for k in list(false)[:3]:
        errors.append("false hit %s" % (k,))
    if missed or false:
        errors.append("%d missed, %d false of %d expected"
                      % (sum(missed.values()), sum(false.values()), sum(want.values())))
    return errors


def check_reproducible(gen, tmp):
    """Same arguments, same bytes; another seed, other bytes."""
    outs = []
    for i, seed in enumerate(["3", "3", "4"]):
        p = os.path.join(tmp, "repro%d" % i)
        r = subprocess.run([gen, "--out", p + ".pcap", "--lists", p + ".csv", "--truth",
                            p + ".jsonl", "--messages", "200", "--seed", seed,
                            "--retransmit", "0.1", "--reorder", "0.1"],
                           capture_output=True, text=True)
        if r.returncode != 0:
            return ["reproducibility run failed: %s" % r.stderr.strip()]
        outs.append(tuple(open(p + ext, "rb").read() for ext in (".pcap", ".csv", ".jsonl")))
    errors = []
    if outs[0] != outs[1]:
        errors.append("same seed gave different output")
    if outs[0][0] == outs[2][0]:
        errors.append("different seeds gave the same capture")
    return errors


def check_members(gen, tmp):
    """--members N splits the entries round-robin into LISTS-i.csv."""
    p = os.path.join(tmp, "members")
    r = subprocess.run([gen, "--out", p + ".pcap", "--lists", p + ".csv", "--members", "3",
                        "--messages", "100", "--list-size", "10"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        return ["members run failed: %s" % r.stderr.strip()]
    total = 0
    for i in (1, 2, 3):
        with open("%s-%d.csv" % (p, i)) as fp:
            lines = fp.read().splitlines()
        if lines[0] != "list,kind,value,severity,expiry,reason":
            return ["member file %d lacks the header" % i]
        total += len(lines) - 1
    want = json.loads(r.stdout)["list_entries"]
    if total != want:
        return ["member files hold %d entries, expected %d" % (total, want)]
    return []


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 1
    dissect, gen = sys.argv[1], sys.argv[2]
    failed = 0
    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix="gen_truth.") as tmp:
        for name, gen_args, dis_args in cases():
            errs = run_case(dissect, gen, tmp, name, gen_args, dis_args)
            print("%-4s %s" % ("ok" if not errs else "FAIL", name))
            for e in errs:
                print("     " + e)
            failed += bool(errs)
        for name, fn in (("reproducible", check_reproducible), ("members", check_members)):
            errs = fn(gen, tmp)
            print("%-4s %s" % ("ok" if not errs else "FAIL", name))
            for e in errs:
                print("     " + e)
            failed += bool(errs)
    print("%d failed, %.1f s" % (failed, time.time() - t0))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
