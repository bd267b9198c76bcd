#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Imports over the control socket, run as a job of riskgated's loop.

usage: ctl_import.py BUILD_ROOT

A one-member ledger (real RocksDB) and riskgated on a config file of its own
(socket, segment and table in a temporary directory; the admin group is the
caller's own group, so no root is needed), then:
  1. the segment riskgated creates names no dataplane: `status` shows
     dp_pid 0, never riskgated's pid; a riskgate-dp started on it (net_null
     vdevs, no huge pages) puts its own pid there (left out when riskgate-dp
     is not built or cannot start here);
  2. a 200k-row import through `riskgate-ctl import` while another client
     asks for `stats` and `status` every 50 ms: replies keep coming during
     the import (the largest gap is printed, never asserted), `status` shows
     the running import, the progress on stderr (a line per 10%, stderr is
     not a terminal) climbs to 100%;
  3. the same file through `riskgate-ledger import` into a fresh ledger: the
     two rates are printed;
  4. the protocol (control/protocol.h): with {"progress": true} the client
     gets progress lines carrying its id, monotonic, ending at the file size,
     then the reply; a request queued behind the import on the same
     connection is answered after it; a second import meanwhile gets "busy";
     a client that does not ask for progress gets the reply line only;
  5. the table holds the imported entries (`lookup`) and is in sync;
  6. a strict import of a file with one bad line imports nothing and names
     the line (masked PAN only); without strict the other lines go in;
  7. a client that leaves mid-import: the import still completes, logged;
  8. kill -9 of riskgated mid-import: the ledger verifies and holds whole
     blocks only; the restarted daemon attaches the table in sync; the same
     file imported again adds the rest and reports the others as already
     listed; `ledger verify` through the daemon;
  9. SIGTERM mid-import: the client gets an error reply, riskgated exits 0,
     the ledger verifies with whole blocks only.
"""
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ctl_util import Conn, Ctl, own_config, remove_work, start_daemon  # noqa: E402
from dp_util import check, result, stop, wait_for  # noqa: E402
from isogen_iso8583 import luhn_complete  # noqa: E402
from ledger_util import Ledger  # noqa: E402

BLOCK = 4096  # entries per block of an import through riskgated (LEDGER_BLOCK_DEFAULT)
HEADER = "list,kind,value,severity,expiry,reason\n"


def pan(tag, i):
    return luhn_complete("4" + str(tag) + f"{i:013d}")


def row(tag, i):
    """Row i of file tag: PANs on txn_fraud and accounts on high_risk_account,
    every one distinct."""
    sev = ("high", "medium", "low")[i % 3]
    if i % 2 == 0:
        return ("txn_fraud", "PAN", pan(tag, i), sev, "2099-12-31" if i % 10 == 0 else "",
                "confirmed_fraud")
    return ("high_risk_account", "ACCOUNT", f"T{tag}X{i:09d}", sev, "", "mule")


def write_csv(path, tag, n, bad_line=0):
    """CSV of row(tag, 0..n-1); file line bad_line (1 = header) is a PAN that
    fails the Luhn check."""
    with open(path, "w") as f:
        f.write(HEADER)
        for i in range(n):
            r = row(tag, i)
            if i + 2 == bad_line:
                r = ("txn_fraud", "PAN", "4111111111111112", "high", "", "")
            f.write(",".join(r) + "\n")
    return path


class Poller(threading.Thread):
    """Asks for stats and status every 50 ms; keeps (time, cmd, result)."""

    def __init__(self, sock):
        super().__init__(daemon=True)
        self.c = Conn(sock)
        self.replies = []
        self.stop = False

    def run(self):
        n = 0
        while not self.stop:
            cmd = "stats" if n % 2 == 0 else "status"
            self.c.send({"cmd": cmd})
            r = self.c.line()
            if r is None:
                break
            self.replies.append((time.time(), cmd, r.get("result")))
            n += 1
            time.sleep(0.05)
        self.c.close()


def head_size(led, ldir):
    return led.json(ldir, "head")[0]["size"]


def dataplane_check(build, work, ctl, seg, table, key, d_pid):
    """riskgate-dp on riskgated's segment: its pid shows, not riskgated's."""
    dp = os.path.join(build, "dataplane", "riskgate-dp")
    if not os.access(dp, os.X_OK):
        print("note: riskgate-dp not built: the dataplane half of the dp_pid check left out")
        return
    cfg = os.path.join(work, "dp.cfg")
    with open(cfg, "w") as f:
        f.write('ports = ( { a = "net_null_ima"; b = "net_null_imb"; } );\n'
                'services = ( { port = 5000; dialect = "ascii87"; framing = "len2"; } );\n'
                f'table = "{table}";\nkey = "{key}";\nsegment = "{seg}";\n'
                'segment_hugetlb = false;\n')
    prefix = f"rgimp{os.getpid()}"
    log = open(os.path.join(work, "dp.log"), "w")
    p = subprocess.Popen([dp, "-l", "0", "--no-huge", "-m", "256", "--no-pci", "--no-shconf",
                          "--file-prefix", prefix, "--vdev", "net_null_ima", "--vdev",
                          "net_null_imb", "--", "--config", cfg], stdout=log, stderr=log)
    try:
        got = wait_for(lambda: p.poll() is None and
                       ctl.ok("status")["segment"].get("dp_pid") == p.pid, 20, 0.2)
        if p.poll() is not None:
            print(f"note: riskgate-dp could not start here (exit {p.returncode}): the "
                  "dataplane half of the dp_pid check left out")
            return
        st = ctl.ok("status")["segment"]
        check(got and st["dataplane_alive"] and st["dp_pid"] != d_pid,
              f"a dataplane on the segment: dp_pid is its pid {p.pid} ({st['dp_pid']})")
    finally:
        stop(p, timeout=20)
        log.close()
        shutil.rmtree(f"/var/run/dpdk/{prefix}", ignore_errors=True)


def main():
    if len(sys.argv) != 2:
        sys.stderr.write(__doc__)
        return 2
    build = sys.argv[1]
    riskgated = os.path.join(build, "control", "riskgated")
    ctl_bin = os.path.join(build, "control", "riskgate-ctl")
    led = Ledger(os.path.join(build, "ledger", "riskgate-ledger"))
    rnd = random.Random(7)
    work = tempfile.mkdtemp(prefix="rg-import-")
    ldir = os.path.join(work, "ledger")
    sock = os.path.join(work, "ctl.sock")
    seg = os.path.join(work, "riskgate.seg")
    table = os.path.join(work, "riskgate.table")
    dlog_path = os.path.join(work, "riskgated.log")
    dlog = open(dlog_path, "a")
    procs = {}
    try:
        led.run(ldir, "init", "--member", "bank-a")
        cfg = os.path.join(work, "riskgated.cfg")
        own_config(cfg, work, ldir, sock)
        procs["d"] = start_daemon(riskgated, cfg, dlog)
        ctl = Ctl(ctl_bin, sock)
        ctl.wait_ready(20)

        # 1. the segment names no dataplane until one starts on it
        st = ctl.ok("status")
        check(st["segment"]["attached"] and st["segment"]["dp_pid"] == 0 and
              st["segment"]["dp_pid"] != procs["d"].pid and not st["segment"]["dataplane_alive"]
              and st["import"] is None,
              f"riskgated's own segment: dp_pid 0, no dataplane ({st['segment']})")
        dataplane_check(build, work, ctl, seg, table, os.path.join(ldir, "fp.key"),
                        procs["d"].pid)

        # 2. 200k rows through riskgate-ctl while another client polls
        n1 = 200000
        f1 = write_csv(os.path.join(work, "big.csv"), 1, n1)
        poller = Poller(sock)
        poller.start()
        time.sleep(0.3)
        t0 = time.time()
        rc, out, err = ctl.run("import", f1, timeout=600)
        t1 = time.time()
        time.sleep(0.2)
        poller.stop = True
        poller.join(10)
        check(rc == 0 and out and out["imported"] == n1 and out["bad"] == 0 and
              out["blocks"] == (n1 + BLOCK - 1) // BLOCK,
              f"riskgate-ctl import of {n1} rows: exit {rc}, {out}")
        during = [r for r in poller.replies if t0 <= r[0] <= t1]
        times = [r[0] for r in poller.replies if r[0] <= t1]
        gaps = [b - a for a, b in zip(times, times[1:]) if b >= t0]
        print(f"figure: {len(during)} stats/status replies during the {t1 - t0:.2f} s import, "
              f"largest gap between replies {max(gaps) * 1000 if gaps else 0:.0f} ms "
              "(polling every 50 ms)")
        check(len(during) >= 2, f"replies arrived during the import ({len(during)})")
        running = [r[2]["import"] for r in during if r[1] == "status" and r[2].get("import")]
        check(running and running[0]["path"] == f1 and running[0]["total_bytes"] ==
              os.path.getsize(f1), "status shows the running import")
        pct = [int(l.split("%")[0].split()[-1]) for l in err.splitlines() if l.startswith("importing")]
        check(pct and pct == sorted(pct) and pct[-1] == 100 and len(pct) <= 12,
              f"progress on stderr, a line per 10%, up to 100% ({pct})")
        socket_rate = n1 / (t1 - t0)

        # 3. the same file offline, for the figure
        l2 = os.path.join(work, "ledger-offline")
        led.run(l2, "init", "--member", "bank-a")
        s = led.json(l2, "import", f1, "--no-progress")[-1]
        print(f"figure: import of {n1} rows: via the socket {socket_rate:.0f} rows/s "
              f"(riskgate-ctl wall time; the daemon reports {out['entries_per_s']:.0f}), "
              f"riskgate-ledger import {s['entries_per_s']:.0f} rows/s")

        # 4. the protocol: progress lines, order, busy, no progress unasked
        n2 = 100000
        f2 = write_csv(os.path.join(work, "second.csv"), 2, n2)
        f3 = write_csv(os.path.join(work, "third.csv"), 3, 1000)
        a = Conn(sock)
        a.send({"cmd": "import", "args": {"path": f2, "progress": True}, "id": "imp-2"},
               {"cmd": "version", "id": "after"})
        lines = []
        busy = None
        while True:
            r = a.line()
            if r is None:
                break
            lines.append(r)
            if busy is None and "progress" in r:
                b = Conn(sock)
                b.send({"cmd": "import", "args": {"path": f3}, "id": 9})
                busy = b.line()
                b.close()
            if "ok" in r:
                break
        prog = [r["progress"] for r in lines if "progress" in r]
        final = lines[-1] if lines else {}
        check(prog and all(r.get("v") == 1 and r.get("id") == "imp-2" for r in lines),
              f"progress lines carry v and the request's id ({len(prog)} lines)")
        check(all(x["bytes"] <= y["bytes"] and x["rows"] <= y["rows"] and x["lines"] <= y["lines"]
                  for x, y in zip(prog, prog[1:])), "progress is monotonic")
        check(prog and prog[-1]["bytes"] == prog[-1]["total_bytes"] == os.path.getsize(f2) and
              prog[-1]["rows"] == n2, f"progress ends at the total ({prog[-1] if prog else None})")
        check(final.get("ok") and final.get("id") == "imp-2" and final["result"]["imported"] == n2,
              "then the reply")
        after = a.line()
        check(after and after.get("id") == "after" and after.get("ok"),
              "a request queued behind the import is answered after it")
        a.close()
        check(busy and busy.get("ok") is False and busy["error"]["code"] == "busy" and
              busy.get("id") == 9, f"a second import meanwhile: busy ({busy})")
        c = Conn(sock)
        c.send({"cmd": "import", "args": {"path": f3}, "id": 3}, {"cmd": "version", "id": 4})
        r1, r2 = c.line(), c.line()
        c.close()
        check(r1 and r1.get("id") == 3 and r1.get("ok") and "progress" not in r1 and
              r1["result"]["imported"] == 1000 and r2 and r2.get("id") == 4,
              "without \"progress\": the reply line only")
        size = n1 + n2 + 1000

        # 5. the table holds the imported entries
        tb = ctl.ok("table")
        check(tb["in_sync"] and tb["ledger_pos"] == size and tb["count"] == size,
              f"table in sync with every entry ({tb['count']} of {size})")
        sample = [(1, i) for i in rnd.sample(range(n1), 10)] + [(2, i) for i in rnd.sample(range(n2), 6)]
        ok = True
        for tag, i in sample:
            lst, kind, value = row(tag, i)[:3]
            lk = ctl.ok("lookup", kind, value)
            good = lk["in_table"] and lst in lk["lists"] and lk["entries"][0]["member"] == "bank-a"
            if kind == "PAN":
                good = good and value not in json.dumps(lk)
            if not good:
                ok = False
                print(f"lookup {kind} {lk.get('masked')}: {lk}")
        check(ok, f"lookup finds {len(sample)} sampled rows in the table, masked")

        # 6. strict: one bad line, nothing imported, the line named
        f5 = write_csv(os.path.join(work, "strict.csv"), 5, 50000, bad_line=40001)
        before = ctl.ok("ledger", "head")["ledger_pos"]
        rc, out, err = ctl.run("import", f5, "--strict")
        check(rc == 1 and "line 40001" in err and "nothing imported" in err and
              "411111******1112" in err and "4111111111111112" not in err,
              f"strict with a bad line: exit {rc}: {err.strip().splitlines()[-1] if err else ''}")
        check(ctl.ok("ledger", "head")["ledger_pos"] == before, "strict imported nothing")
        rc, out, err = ctl.run("import", f5)
        check(rc == 0 and out["imported"] == 49999 and out["bad"] == 1 and
              out["bad_lines"][0]["line"] == 40001, "without strict: the other lines go in")
        size += 49999

        # 7. a client that leaves mid-import
        f6 = write_csv(os.path.join(work, "leave.csv"), 6, 100000)
        a = Conn(sock)
        a.send({"cmd": "import", "args": {"path": f6, "progress": True}})
        first = a.line()
        a.close()
        check(first and "progress" in first, "a progress line before the client left")
        done = wait_for(lambda: ctl.ok("status")["import"] is None, 60, 0.1)
        size += 100000
        check(done and ctl.ok("ledger", "head")["ledger_pos"] == size,
              "the import finished without its client")
        check(wait_for(lambda: "the requesting client left" in open(dlog_path).read(), 5),
              "logged: the requesting client left")

        # 8. kill -9 mid-import
        n7 = 300000
        f7 = write_csv(os.path.join(work, "killed.csv"), 7, n7)
        a = Conn(sock)
        a.send({"cmd": "import", "args": {"path": f7, "progress": True}})
        acked = 0
        while acked < 3 * BLOCK:
            r = a.line()
            if r is None or "progress" not in r:
                break
            acked = r["progress"]["rows"]
        procs["d"].kill()
        procs["d"].wait()
        a.close()
        v = led.json(ldir, "verify", ok=(0, 1))[0]
        check(v["ok"], f"verify after kill -9: {v}")
        delta = head_size(led, ldir) - size
        check(delta % BLOCK == 0 and acked <= delta < n7,
              f"whole blocks only: {delta} entries of the killed import ({acked} reported)")
        procs["d"] = start_daemon(riskgated, cfg, dlog)
        ctl.wait_ready(30, "come back")
        st = ctl.ok("status")
        check(st["table"]["in_sync"] and st["table"]["count"] == size + delta and
              st["segment"]["dp_pid"] != procs["d"].pid,
              f"restart: table attached in sync (reattached {st['table']['reattached']}, "
              f"rebuilt {st['table']['rebuilt']})")
        rc, out, err = ctl.run("import", f7, timeout=600)
        check(rc == 0 and out["imported"] == n7 - delta and out["bad"] == delta and
              all("already listed" in b["why"] for b in out["bad_lines"]),
              f"the same file again: the rest imported, the others already listed ({out and {k: out[k] for k in ('imported', 'bad')}})")
        size += n7
        rc, vr, err = ctl.run("ledger", "verify", timeout=600)
        check(rc == 0 and vr["ok"] and vr["entries"] == size,
              f"ledger verify through the daemon: {vr}")
        check(ctl.ok("table")["count"] == size, "table holds every entry")

        # 9. SIGTERM mid-import: the client is told, the daemon stops cleanly
        f8 = write_csv(os.path.join(work, "stopped.csv"), 8, 200000)
        a = Conn(sock)
        a.send({"cmd": "import", "args": {"path": f8, "progress": True}, "id": "stop"})
        r = a.line()
        procs["d"].send_signal(signal.SIGTERM)
        while r is not None and "progress" in r:
            r = a.line()
        a.close()
        rc = procs["d"].wait(timeout=60)
        check(r and r.get("id") == "stop" and r.get("ok") is False and
              "riskgated is stopping" in r["error"]["message"],
              f"SIGTERM mid-import: the client gets an error reply ({r})")
        check(rc == 0, f"riskgated stopped cleanly (exit {rc})")
        v = led.json(ldir, "verify")[0]
        delta = head_size(led, ldir) - size
        check(v["ok"] and delta % BLOCK == 0 and delta < 200000,
              f"offline verify after the stop: clean, {delta} entries in whole blocks")
        text = open(dlog_path).read()
        check(all(pan(t, i) not in text for t in (1, 5, 7) for i in (0, 2, 4)) and
              "4111111111111112" not in text, "no raw PAN in riskgated's log")
    except (RuntimeError, subprocess.SubprocessError, OSError, ValueError, KeyError, TypeError,
            IndexError, StopIteration) as e:
        check(False, f"{type(e).__name__}: {e}")
    finally:
        if "d" in procs:
            stop(procs["d"], timeout=30)
        remove_work(work, dlog)
    return result()


if __name__ == "__main__":
    sys.exit(main())
