#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""
Per-service identifier mapping in riskgate-dp (replay).

Three captures from riskgate-gen, one per service port, each with its own
dialect and framing, are merged by timestamp into one capture; their lists
go into one table.  The configuration gives
  - port 5000 (ascii87, len2)       its own mapping: PAN -> txn_fraud only;
  - port 5001 (bcd87, len2+tpdu)    its own mapping: MERCHANT -> marketing_cheat
                                    only (listed PANs on this port never hit);
  - port 5002 (ascii87, ascii4)     no mapping of its own: the top-level one,
                                    which comes after the services in the file
                                    (TERMINAL feeds nothing, PAN feeds
                                    high_risk_account only, the rest as built in);
and telecom_fraud is off.  Checks:
  - the hit events of the merged replay equal each capture's ground truth
    filtered by its service's mapping and the lists in force, exactly
    (flow, direction, MTI, STAN, list, kind, DE, masked identifier), and so
    do the summary's hits and hits_by_list; the filtering must drop hits on
    every port and keep some on every port, or the case proves nothing;
  - a configuration holding only the 5001 service extracts no identifier of
    an unmapped kind there (ident_pan == 0), only merchants;
  - --port/--dialect/--framing over the same configuration replace the
    services and screen with the top-level mapping.

usage: dp_svcmap.py riskgate-dp riskgate-gen lists_table
"""

import collections
import json
import os
import struct
import sys
import tempfile
import time

from dp_util import compare_events, finish, key_of, make_table, replay, report, run, tool_args

LISTS = ["txn_fraud", "high_risk_account", "marketing_cheat", "telecom_fraud"]
# built-in mapping (docs/dataplane.md, Configuration)
DEFAULT_MAPPING = {"PAN": ["txn_fraud", "high_risk_account"],
                   "ACCOUNT": ["high_risk_account"],
                   "MERCHANT": ["marketing_cheat"], "TERMINAL": ["marketing_cheat"],
                   "PHONE": ["telecom_fraud"], "ACQUIRER": [], "DEVICE": []}
TOP_MAPPING = {"TERMINAL": [], "PAN": ["high_risk_account"]}
OFF = {"telecom_fraud"}

COMMON = ["--flows", "6", "--messages", "300", "--hit-rate", "0.4", "--list-size", "30",
          "--segmentation", "mixed", "--retransmit", "0.05", "--reorder", "0.05"]
SERVICES = [
    # name, port, dialect, framing, seed, own mapping (None: the top-level one)
    ("A", 5000, "ascii87", "len2", 41, {"PAN": ["txn_fraud"]}),
    ("B", 5001, "bcd87", "len2+tpdu", 42, {"MERCHANT": ["marketing_cheat"]}),
    ("C", 5002, "ascii87", "ascii4", 43, None),
]


def cfg_mapping(m):
    return "{ %s }" % " ".join("%s = [ %s ];" % (k, ", ".join('"%s"' % l for l in v))
                               for k, v in m.items())


def config_text(services, top=True):
    svc = ",\n".join('  { port = %d; dialect = "%s"; framing = "%s";%s }'
                     % (port, d, f, " mapping = %s;" % cfg_mapping(m) if m is not None else "")
                     for _, port, d, f, _, m in services)
    text = ('ports = ( { a = "net_null_x"; b = "net_null_y"; } );\n'
            'lists = { %s };\n' % " ".join('%s = "off";' % l for l in sorted(OFF)) +
            "services = (\n%s\n);\n" % svc)
    if top:
        text += "mapping = %s;\n" % cfg_mapping(TOP_MAPPING)
    return text


def effective(own):
    """kind -> set of lists a service screens for (in force, not off)."""
    if own is not None:
        m = own
    else:
        m = dict(DEFAULT_MAPPING)
        m.update(TOP_MAPPING)
    return {k: set(v) - OFF for k, v in m.items()}


def read_records(path):
    """(ts_sec, ts_usec, record bytes with its header) of a classic pcap."""
    with open(path, "rb") as fp:
        data = fp.read()
    magic = struct.unpack("<I", data[:4])[0]
    endian = "<" if magic in (0xa1b2c3d4, 0xa1b23c4d) else ">"
    off, out = 24, []
    while off + 16 <= len(data):
        sec, usec, incl, _ = struct.unpack(endian + "IIII", data[off:off + 16])
        out.append((sec, usec, data[off:off + 16 + incl]))
        off += 16 + incl
    return data[:24], out


def merge(paths, out):
    """Interleave captures by timestamp (stable: ties keep input order)."""
    recs, hdr = [], None
    for i, p in enumerate(paths):
        h, r = read_records(p)
        hdr = hdr or h
        recs += [(sec, usec, i, n, rec) for n, (sec, usec, rec) in enumerate(r)]
    recs.sort(key=lambda r: r[:4])
    with open(out, "wb") as fp:
        fp.write(hdr)
        for r in recs:
            fp.write(r[4])
    return len(recs)


def expected(truth, mapping):
    """Ground truth hits kept by mapping; and how many it dropped."""
    keep, dropped = collections.Counter(), 0
    with open(truth) as fp:
        for line in fp:
            d = json.loads(line)
            if d["list"] in mapping.get(d["kind"], ()):
                keep[key_of(d)] += 1
            else:
                dropped += 1
    return keep, dropped


def compare(name, want, s, events):
    errors = ["%s: %s" % (name, e) for e in compare_events(want, events)]
    by_list = collections.Counter(k[4] for k in want.elements())
    for l in LISTS:
        if s["hits_by_list"].get(l, 0) != by_list[l]:
            errors.append("%s: hits_by_list %s = %d, expected %d" % (
                name, l, s["hits_by_list"].get(l, 0), by_list[l]))
    if s["hits"] != sum(want.values()):
        errors.append("%s: summary hits %d, expected %d" % (name, s["hits"],
                                                          sum(want.values())))
    if s["anomalies"]:
        errors.append("%s: anomalies on clean traffic: %s" % (name, s["anomalies"]))
    return errors


def main():
    dp, gen, lt = tool_args(__doc__)
    failed = 0
    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix="dp_svcmap.") as tmp:
        caps, csvs, truths, gstats = [], [], {}, {}
        for name, port, d, f, seed, _ in SERVICES:
            base = os.path.join(tmp, name)
            g = run([gen, "--out", base + ".pcap", "--lists", base + ".csv",
                     "--truth", base + ".jsonl", "--port", str(port), "--dialect", d,
                     "--framing", f, "--seed", str(seed)] + COMMON)
            if g.returncode != 0:
                print("FAIL riskgate-gen %s: %s" % (name, g.stderr.strip()))
                return 1
            caps.append(base + ".pcap")
            csvs.append(base + ".csv")
            truths[name] = base + ".jsonl"
            gstats[name] = json.loads(g.stdout)
        cap = os.path.join(tmp, "merged.pcap")
        nb_pkts = merge(caps, cap)
        key, table = make_table(lt, tmp, csvs)
        conf = os.path.join(tmp, "svc.cfg")
        with open(conf, "w") as fp:
            fp.write(config_text(SERVICES))

        def screen(events, extra):
            return replay(dp, ["--replay", cap, "--events", events, "--table", table,
                               "--key", key] + extra)

        # 1. three services, three mappings, one capture
        errors = []
        want = collections.Counter()
        for name, _, _, _, _, own in SERVICES:
            w, dropped = expected(truths[name], effective(own))
            if not w or not dropped:
                errors.append("%s: ground truth gives %d kept and %d dropped hits: the "
                              "case proves nothing" % (name, sum(w.values()), dropped))
            want += w
        events = os.path.join(tmp, "all.events.jsonl")
        s, errs = screen(events, ["--config", conf])
        errors += errs
        if s is not None:
            errors += compare("services", want, s, events)
            if s["packets"] != nb_pkts:
                errors.append("services: summary packets %d, merged %d" % (s["packets"],
                                                                           nb_pkts))
            msgs = sum(gs["messages"] for gs in gstats.values())
            if s["messages"] != msgs:
                errors.append("services: summary messages %d, generated %d" % (s["messages"],
                                                                               msgs))
        failed += report("three services, own and top-level mappings", errors)

        # 2. only the MERCHANT service: nothing else is even extracted there
        only_b = [sv for sv in SERVICES if sv[0] == "B"]
        conf_b = os.path.join(tmp, "b.cfg")
        with open(conf_b, "w") as fp:
            fp.write(config_text(only_b))
        events = os.path.join(tmp, "b.events.jsonl")
        s, errors = screen(events, ["--config", conf_b])
        if s is not None:
            errors += compare("merchant only", expected(truths["B"],
                                                        effective(only_b[0][5]))[0], s, events)
            ctr = s["counters"]
            if ctr.get("ident_merchant", 0) == 0:
                errors.append("merchant only: no merchant extracted: %s" % ctr)
            for k in ("ident_pan", "ident_account", "ident_terminal", "ident_phone"):
                if ctr.get(k, 0):
                    errors.append("merchant only: %s = %d, expected 0 (unmapped kind)"
                                  % (k, ctr[k]))
        failed += report("unmapped kinds are not extracted", errors)

        # 3. --port/--dialect/--framing replace the services: top-level mapping
        events = os.path.join(tmp, "a.events.jsonl")
        s, errors = screen(events, ["--config", conf, "--port", "5000", "--dialect", "ascii87",
                                    "--framing", "len2"])
        if s is not None:
            w, _ = expected(truths["A"], effective(None))
            errors += compare("replay --port", w, s, events)
            if s["messages"] != gstats["A"]["messages"]:
                errors.append("replay --port: summary messages %d, generated %d"
                              % (s["messages"], gstats["A"]["messages"]))
        failed += report("replay --port screens with the top-level mapping", errors)
    return finish(failed, t0)


if __name__ == "__main__":
    sys.exit(main())
