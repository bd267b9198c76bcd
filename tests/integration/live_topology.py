#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Live test: the simulators through riskgate-dp in network namespaces.

usage: live_topology.py BUILD_ROOT TOPOLOGY_SH RISKGATE_ACQ RISKGATE_SWITCH

scripts/topology.sh builds rgacq (10.99.0.1) <-> riskgate-dp (af_packet
vdevs) <-> rgsw (10.99.0.2).  riskgate-switch listens in rgsw; riskgate-acq
sends from rgacq a population whose list file was written first and turned
into the table file (tests/integration/lists_table, else riskgate-ledger).

Checks: every request answered; the dataplane counted hits (telemetry
/riskgate/stats) within the ground truth's bounds for each list; then
riskgate-dp is killed with SIGKILL mid-run and started again: it attaches
the same table file (not rebuilt: same inode, size and mtime), screens again
(new hits counted), and every request of the run is still answered (TCP
retransmits across the gap).  Skips (77) without root, huge pages or a built
riskgate-dp.  Everything it makes is removed on exit.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

SKIP = 77
PORT = 5000
SWITCH = "10.99.0.2"
SEED = 11
TELEMETRY = "/var/run/dpdk/rgtopo/dpdk_telemetry.v2"

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        sys.stderr.write(f"FAIL: {what}\n")
    return cond


def skip(why):
    print(f"SKIP: {why}")
    sys.exit(SKIP)


def hugetlb_dir():
    try:
        with open("/proc/mounts") as f:
            for line in f:
                p = line.split()
                if p[2] == "hugetlbfs" and os.access(p[1], os.W_OK):
                    return p[1]
    except OSError:
        pass
    return None


def telemetry(cmd):
    """One command over the DPDK telemetry socket; the JSON value or None."""
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        s.settimeout(2)
        s.connect(TELEMETRY)
        s.recv(16384)  # greeting
        s.send(cmd.encode())
        reply = json.loads(s.recv(1 << 20).decode())
        s.close()
        return reply.get(cmd)
    except (OSError, ValueError):
        return None


def wait_telemetry(cmd, secs=10):
    end = time.time() + secs
    while time.time() < end:
        v = telemetry(cmd)
        if v is not None:
            return v
        time.sleep(0.2)
    return None


def wait_listen(ns, port, secs=5):
    end = time.time() + secs
    while time.time() < end:
        p = subprocess.run(["ip", "netns", "exec", ns, "ss", "-Hltn", f"sport = :{port}"],
                           capture_output=True, text=True)
        if p.stdout.strip():
            return True
        time.sleep(0.1)
    return False


def build_table(build, work, lists, key, table):
    """The table file from the list file: the fixture, else the ledger."""
    fixture = os.path.join(build, "tests", "integration", "lists_table")
    ledger = os.path.join(build, "ledger", "riskgate-ledger")
    if os.access(fixture, os.X_OK):
        subprocess.run([fixture, "build", "--key", key, "--out", table, lists],
                       check=True, capture_output=True, timeout=60)
        return "lists_table"
    if os.access(ledger, os.X_OK):
        d = os.path.join(work, "ledger")
        for args in (["init", "--member", "bank-a", "--fp-key", key],
                     ["import", lists],
                     ["table", "--out", table]):
            p = subprocess.run([ledger, "--dir", d] + args, capture_output=True,
                               text=True, timeout=120)
            if p.returncode not in (0, 3):  # 3: some lines skipped
                raise RuntimeError(f"riskgate-ledger {args[0]}: {p.stderr.strip()}")
        return "riskgate-ledger"
    skip("neither tests/integration/lists_table nor riskgate-ledger is built")


def hits_by_list(stats):
    return {k[len("hits_"):]: v for k, v in stats.items()
            if k.startswith("hits_") and isinstance(v, int)}


def run_acq(acq, args, background=False):
    cmd = ["ip", "netns", "exec", "rgacq", acq, "--connect", f"{SWITCH}:{PORT}",
           "--seed", str(SEED), "--json", "--no-progress"] + args
    if background:
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        raise RuntimeError(f"riskgate-acq exited {p.returncode}: {p.stderr.strip()}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def main():
    if len(sys.argv) != 5:
        sys.stderr.write(__doc__)
        return 2
    build, topo, acq, switch = sys.argv[1:]
    if os.geteuid() != 0:
        skip("needs root (network namespaces, DPDK)")
    dp = os.path.join(build, "dataplane", "riskgate-dp")
    if not os.access(dp, os.X_OK):
        skip(f"riskgate-dp is not built ({dp})")
    huge = hugetlb_dir()
    if huge is None:
        skip("no writable hugetlbfs mount (scripts/hugepages.sh)")
    for tool in ("ip", "ethtool", "ss"):
        if shutil.which(tool) is None:
            skip(f"{tool} not installed")

    work = tempfile.mkdtemp(prefix="rg-live-")
    tag = f"rglive-{os.getpid()}"
    table = os.path.join(huge, f"{tag}.table")
    seg = os.path.join(huge, f"{tag}.seg")
    env = dict(os.environ, RG_TOPO_RUN=os.path.join(work, "run"))
    sw = None
    bg = None
    subprocess.run([topo, "down"], env=env, capture_output=True)
    try:
        lists = os.path.join(work, "lists.csv")
        key = os.path.join(work, "fp.key")
        with open(os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
            f.write("riskgate-fp-key 1\nepoch 1\nkey %s\n" % os.urandom(16).hex())
        subprocess.run([acq, "--lists-only", "--lists", lists, "--seed", str(SEED),
                        "--list-size", "300"], check=True, timeout=60)
        how = build_table(build, work, lists, key, table)
        t0 = os.stat(table)
        print(f"table {table}: {t0.st_size} bytes ({how})")

        cfg = os.path.join(work, "dp.cfg")
        with open(cfg, "w") as f:
            f.write('ports = ( { a = "net_af_packet0"; b = "net_af_packet1"; } );\n'
                    f'services = ( {{ port = {PORT}; dialect = "ascii87"; '
                    'framing = "len2"; } );\n'
                    f'table = "{table}";\nsegment = "{seg}";\nkey = "{key}";\n')
        p = subprocess.run([topo, "up", "--bridge", "dp", "--dp", dp, "--config", cfg],
                           env=env, capture_output=True, text=True, timeout=60)
        if p.returncode != 0:
            raise RuntimeError(f"topology up failed:\n{p.stderr}")
        check(wait_telemetry("/riskgate/stats") is not None, "no dataplane telemetry")

        sw = subprocess.Popen(["ip", "netns", "exec", "rgsw", switch, "--listen",
                               f"{SWITCH}:{PORT}", "--json"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if not wait_listen("rgsw", PORT):
            raise RuntimeError("riskgate-switch is not listening")

        # 1. steady traffic: all answered, hits within the ground truth's bounds
        r = run_acq(acq, ["--connections", "8", "--rate", "1500", "--duration", "4",
                          "--hit-rate", "0.05", "--timeout", "5"])
        print("acq:", json.dumps(r))
        check(r["sent"] > 3000, f"only {r['sent']} requests sent")
        check(r["answered"] == r["sent"] and r["unanswered"] == 0,
              f"not every request answered: {r}")
        check(r["listed_sent"] > 0, "no listed identifiers sent")
        time.sleep(0.5)
        st = telemetry("/riskgate/stats") or {}
        got = hits_by_list(st)
        print("dp hits:", json.dumps(got), "messages:", st.get("messages"))
        check(st.get("hits", 0) > 0, f"dataplane reported no hits: {st}")
        # requests carry the truth's hits; responses echo DE 2, 41 and 42, so a
        # screener of both directions counts at most twice as many
        for lst, want in r["list_hits"].items():
            check(want <= got.get(lst, 0) <= 2 * want,
                  f"{lst}: dataplane counted {got.get(lst, 0)}, truth {want} (requests)")

        # 2. SIGKILL mid-run, restart on the same table file
        bg = run_acq(acq, ["--connections", "8", "--rate", "800", "--duration", "9",
                           "--hit-rate", "0.05", "--timeout", "25"], background=True)
        time.sleep(2.5)
        subprocess.run([topo, "bridge", "kill"], env=env, check=True, timeout=30)
        killed_at = time.time()
        p = subprocess.run([topo, "bridge", "start"], env=env, capture_output=True,
                           text=True, timeout=60)
        check(p.returncode == 0, f"restart failed: {p.stderr}")
        print(f"restarted {time.time() - killed_at:.1f} s after the kill")
        check(wait_telemetry("/riskgate/stats") is not None, "no telemetry after restart")
        out, err = bg.communicate(timeout=60)
        bg = None
        r2 = json.loads(out.strip().splitlines()[-1])
        print("acq across the restart:", json.dumps(r2))
        check(r2["answered"] == r2["sent"] and r2["unanswered"] == 0,
              f"requests lost across the restart: {r2}")
        check(r2["disconnects"] == 0, f"connections dropped: {r2}")
        t1 = os.stat(table)
        check((t1.st_ino, t1.st_size, t1.st_mtime_ns) == (t0.st_ino, t0.st_size, t0.st_mtime_ns),
              "table file changed across the restart")
        st2 = telemetry("/riskgate/stats") or {}
        tb = telemetry("/riskgate/table") or {}
        print("dp after restart:", json.dumps(hits_by_list(st2)), "table:", json.dumps(tb))
        check(st2.get("hits", 0) > 0, f"no hits after the restart: {st2}")
        check(tb.get("count", 0) > 0, f"restarted dataplane sees an empty table: {tb}")
    except (RuntimeError, subprocess.SubprocessError, OSError, ValueError, KeyError) as e:
        check(False, f"{type(e).__name__}: {e}")
    finally:
        if bg is not None:
            bg.kill()
            bg.wait()
        if sw is not None:
            sw.send_signal(signal.SIGTERM)
            try:
                out, _ = sw.communicate(timeout=5)
                print("switch:", out.strip())
            except subprocess.TimeoutExpired:
                sw.kill()
                sw.wait()
        p = subprocess.run([topo, "down"], env=env, capture_output=True, text=True)
        if p.returncode != 0:
            sys.stderr.write(p.stderr)
        for path in (table, seg):
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
        shutil.rmtree(work, ignore_errors=True)
    if failures:
        print(f"{len(failures)} check(s) failed")
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
