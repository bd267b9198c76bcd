# SPDX-License-Identifier: BSD-3-Clause
"""An add at one member becomes a hit in another member's running
dataplane, through a relay.

usage: sync_dataplane.py BUILD_DIR TLOGCHECK

bank-a, bank-b and bank-c sync over mutual TLS (bank-c's only peer is
bank-b, bank-b's are bank-a and bank-c).  riskgate-dp runs on bank-c's
segment and table, replaying a generated capture in a loop (net_pcap
infinite_rx -> net_null).  A card of that traffic, listed by nobody yet,
is added at bank-a (`riskgate-ctl add`): bank-c's dataplane hits it, and
the hit event bank-c's riskgated drains names bank-a as contributor and
shows the card masked.  Then bank-a revokes it and the hits stop.
Skips (77) without root, huge pages or a built riskgate-dp.
"""
import csv
import json
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ctl_util import Member, free_port, live_programs, main_in_work  # noqa: E402
from dp_util import check, stop, wait_for  # noqa: E402
from sync_members import BUILD, LED  # noqa: E402

GEN = os.path.join(BUILD, "perf", "gen", "riskgate-gen")


def card_hits(m, masked):
    """bank-a's hits on masked among m's recent hit events."""
    return [h for h in m.ctl.hits() if h.get("masked") == masked and
            h.get("contributor") == "bank-a"]


def run(work):
    dp = live_programs(BUILD)[0]
    names = ["bank-a", "bank-b", "bank-c"]
    ports = {n: free_port() for n in names}
    ms = {n: Member(BUILD, work, n, ports[n]) for n in names}
    for i, n in enumerate(names):
        extra = ["--fp-key", os.path.join(ms["bank-a"].ldir, "fp.key")] if i else []
        LED.run(ms[n].ldir, "init", "--member", n, *extra)
    LED.run(None, "genesis", "--out", os.path.join(work, "genesis.json"), "--consortium",
            "dpsync", "--install", *[ms[n].ldir for n in names])
    a, b, c = (ms[n] for n in names)
    a.configure({"bank-b": ports["bank-b"]}, sync_poll_ms=500)
    b.configure({"bank-a": ports["bank-a"], "bank-c": ports["bank-c"]}, sync_poll_ms=500)
    c.configure({"bank-b": ports["bank-b"]}, sync_poll_ms=500)
    cap, lists = os.path.join(work, "traffic.pcap"), os.path.join(work, "lists.csv")
    truth = os.path.join(work, "truth.jsonl")
    subprocess.run([GEN, "--out", cap, "--lists", lists, "--truth", truth, "--messages", "2000",
                    "--flows", "8", "--hit-rate", "0.05", "--segmentation", "whole"],
                   check=True, capture_output=True)
    # a card the traffic carries (the ground truth, masked) and its value (the list)
    with open(truth) as f:
        carried = {json.loads(x)["masked"] for x in f
                   if '"txn_fraud"' in x and '"kind": "PAN"' in x}
    with open(lists) as f:
        pan = next(r["value"] for r in csv.DictReader(f)
                   if r["list"] == "txn_fraud" and r["kind"] == "PAN" and
                   r["value"][:6] + "*" * (len(r["value"]) - 10) + r["value"][-4:] in carried)
    masked = pan[:6] + "*" * (len(pan) - 10) + pan[-4:]
    dpcfg = os.path.join(work, "dp.cfg")
    with open(dpcfg, "w") as f:
        f.write('ports = ( { a = "net_pcap0"; b = "net_null0"; } );\n'
                'services = ( { port = 5000; dialect = "ascii87"; framing = "len2"; } );\n'
                f'table = "{os.path.join(c.dir, "riskgate.table")}";\n'
                f'segment = "{os.path.join(c.dir, "riskgate.seg")}";\n'
                f'key = "{os.path.join(c.ldir, "fp.key")}";\n')
    proc = None
    prefix = f"rgsyncdp{os.getpid()}"
    try:
        for m in (a, b, c):
            m.start()
        log = open(os.path.join(work, "dp.log"), "w")
        proc = subprocess.Popen([dp, "-l", "1", "--in-memory", "--no-pci",
                                 f"--file-prefix={prefix}",
                                 "--log-level=lib.*:warning",
                                 f"--vdev=net_pcap0,rx_pcap={cap},infinite_rx=1",
                                 "--vdev=net_null0,no-rx=1", "--", "--config", dpcfg],
                                stdout=log, stderr=log)
        check(wait_for(lambda: (c.ctl.ok("stats").get("total") or {}).get("messages", 0) > 0,
                       30), f"bank-c's dataplane screens the replay: {c.ctl.ok('stats')}")
        time.sleep(1)
        check(card_hits(c, masked) == [], "no hit on the card before it is listed")
        t0 = time.monotonic()
        a.ctl.ok("add", "txn_fraud", "PAN", pan, "--severity", "high")
        ok = wait_for(lambda: card_hits(c, masked), 30, step=0.02)
        check(ok, f"bank-a's add is hit in bank-c's dataplane ({masked})")
        if ok:
            h = ok[0]
            print(f"first dataplane hit at bank-c {time.monotonic() - t0:.3f} s after the add "
                  f"at bank-a (through bank-b; the card comes round in the replay)")
            check(h.get("list") == "txn_fraud" and pan not in str(h),
                  f"the hit event names the list and masks the card: {h}")
        a.ctl.ok("revoke", "txn_fraud", "PAN", pan)
        check(wait_for(lambda: not (c.ctl.run("lookup", "PAN", pan)[1] or {}).get("in_table"),
                       30), "the revoke reaches bank-c's table")
        time.sleep(1)
        before = len(card_hits(c, masked))
        time.sleep(2)
        check(len(card_hits(c, masked)) == before, "no hits after the revoke arrived")
    finally:
        if proc is not None:
            stop(proc, timeout=20)
        shutil.rmtree(f"/var/run/dpdk/{prefix}", ignore_errors=True)
        for m in (a, b, c):
            m.stop()


if __name__ == "__main__":
    main_in_work("rg-syncdp-", run)
