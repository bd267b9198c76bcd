#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Control plane, live: riskgated + riskgate-dp + the simulators, driven
through riskgate-ctl only.

usage: ctl_live.py BUILD_ROOT RISKGATE_ACQ RISKGATE_SWITCH

Builds its own namespaces (rgcacq 10.98.0.1 <-> riskgate-dp on af_packet
vdevs <-> rgcsw 10.98.0.2; names of its own so it never meets the live
topology test), a one-member ledger, riskgated on a config file, then:
  1. `add` of a card the acquirer keeps sending becomes hit events in the
     running dataplane (with the contributor's name), `revoke` stops them;
  2. `policy set txn_fraud off` stops txn_fraud hits without a restart,
     `monitor` brings them back;
  3. an unprivileged uid (setpriv, nobody/nogroup) may run `status` but
     not `add` (permission_denied, exit 1);
  4. protocol errors: bad JSON, unknown command, oversized line;
  5. kill -9 of riskgated: the dataplane keeps screening (telemetry hits
     grow); the restarted daemon reattaches the table without a rebuild;
  6. `reload` of a broken config is refused and the running one stays;
     metrics answer on the loopback endpoint.
Skips (77) without root, huge pages or a built riskgate-dp.
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
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dp_util  # noqa: E402
from ctl_util import Ctl, live_programs, remove_work, start_daemon  # noqa: E402
from dp_util import check, remove_files, result, skip, stop, wait_for  # noqa: E402

PORT = 5000
NS_ACQ, NS_SW = "rgcacq", "rgcsw"
IF_ACQ, IF_DPA, IF_SW, IF_DPB = "rgc-acq0", "rgc-dpa", "rgc-sw0", "rgc-dpb"
IP_ACQ, IP_SW = "10.98.0.1", "10.98.0.2"
PREFIX = "rgctl"
TELEMETRY = f"/var/run/dpdk/{PREFIX}/dpdk_telemetry.v2"
SEED = 5

def sh(*cmd, **kw):
    return subprocess.run(list(cmd), capture_output=True, text=True, **kw)


def telemetry(cmd):
    return dp_util.telemetry(TELEMETRY, cmd)


def topo_down():
    for ns in (NS_ACQ, NS_SW):
        p = sh("ip", "netns", "pids", ns)
        for pid in p.stdout.split():
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (OSError, ValueError):
                pass
    sh("ip", "link", "del", IF_DPA)
    sh("ip", "link", "del", IF_DPB)
    sh("ip", "netns", "del", NS_ACQ)
    sh("ip", "netns", "del", NS_SW)
    shutil.rmtree(f"/var/run/dpdk/{PREFIX}", ignore_errors=True)


def topo_up():
    cmds = [
        ["ip", "netns", "add", NS_ACQ], ["ip", "netns", "add", NS_SW],
        ["ip", "link", "add", IF_ACQ, "type", "veth", "peer", "name", IF_DPA],
        ["ip", "link", "add", IF_SW, "type", "veth", "peer", "name", IF_DPB],
        ["ip", "link", "set", IF_ACQ, "netns", NS_ACQ],
        ["ip", "link", "set", IF_SW, "netns", NS_SW],
    ]
    for c in cmds:
        p = sh(*c)
        if p.returncode != 0:
            raise RuntimeError(f"{' '.join(c)}: {p.stderr.strip()}")
    for dev in (IF_DPA, IF_DPB):
        sh("sysctl", "-qw", f"net.ipv6.conf.{dev}.disable_ipv6=1")
        sh("ethtool", "-K", dev, "tx", "off", "rx", "off", "tso", "off", "gso", "off", "gro", "off")
        sh("ip", "link", "set", dev, "up")
    for ns, dev, ip in ((NS_ACQ, IF_ACQ, IP_ACQ), (NS_SW, IF_SW, IP_SW)):
        sh("ip", "netns", "exec", ns, "sysctl", "-qw", f"net.ipv6.conf.{dev}.disable_ipv6=1")
        sh("ip", "netns", "exec", ns, "ethtool", "-K", dev, "tx", "off", "rx", "off", "tso", "off",
           "gso", "off", "gro", "off")
        sh("ip", "-n", ns, "addr", "add", f"{ip}/24", "dev", dev)
        sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "-n", ns, "link", "set", dev, "up")


def raw(sock, data, read_all=True):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(sock)
    s.sendall(data)
    buf = b""
    try:
        while True:
            x = s.recv(65536)
            if not x:
                break
            buf += x
            if not read_all and buf.endswith(b"\n"):
                break
    except OSError:
        pass
    s.close()
    return [json.loads(l) for l in buf.decode().splitlines() if l.strip()]


def count_masked(hits, masked, lst=None):
    return sum(1 for h in hits if h.get("masked") == masked and (lst is None or h.get("list") == lst))


def main():
    if len(sys.argv) != 4:
        sys.stderr.write(__doc__)
        return 2
    build, acq, switch = sys.argv[1:]
    dp, riskgated, ctl_bin, ledger, huge = live_programs(build)
    for tool in ("ip", "ethtool", "setpriv"):
        if shutil.which(tool) is None:
            skip(f"{tool} missing")

    work = tempfile.mkdtemp(prefix="rg-ctl-")
    os.chmod(work, 0o755)
    tag = f"rgctl-{os.getpid()}"
    table = os.path.join(huge, f"{tag}.table")
    seg = os.path.join(huge, f"{tag}.seg")
    sock = os.path.join(work, "ctl.sock")
    events = os.path.join(work, "hits.jsonl")
    mport = 20000 + os.getpid() % 20000
    procs = {}
    log = open(os.path.join(work, "riskgated.log"), "a")
    topo_down()
    try:
        ldir = os.path.join(work, "ledger")
        p = sh(ledger, "--dir", ldir, "init", "--member", "bank-a")
        if p.returncode != 0:
            raise RuntimeError(f"ledger init: {p.stderr}")
        lists = os.path.join(work, "lists.csv")
        sh(acq, "--lists-only", "--lists", lists, "--seed", str(SEED), "--listed", "4",
           "--list-size", "0", check=True)
        pans = [l.split(",")[2] for l in open(lists).read().splitlines()[1:]
                if l.split(",")[:2] == ["txn_fraud", "PAN"]]
        if not pans:
            raise RuntimeError("no txn_fraud PAN in the acquirer's list file")
        pan = pans[0]
        cfg = os.path.join(work, "riskgated.cfg")
        cfg_text = (f'ledger = "{ldir}";\nsocket = "{sock}";\nsocket_group = "nogroup";\n'
                    f'segment = "{seg}";\ntable = "{table}";\ntable_capacity = 4096;\n'
                    f'events = "{events}";\nevents_max_bytes = 200000;\nevents_keep = 2;\n'
                    f'metrics = "127.0.0.1:{mport}";\nstale_after_sec = 0;\n'
                    'lists = { txn_fraud = "monitor"; };\nexempt_mti_classes = [ 8 ];\n')
        with open(cfg, "w") as f:
            f.write(cfg_text)
        procs["d"] = start_daemon(riskgated, cfg, log)
        ctl = Ctl(ctl_bin, sock)
        ctl.wait_ready()
        st = ctl.ok("status")
        check(st["table"]["count"] == 0 and st["segment"]["attached"], "daemon up, empty table, segment")

        topo_up()
        dpcfg = os.path.join(work, "dp.cfg")
        with open(dpcfg, "w") as f:
            f.write('ports = ( { a = "net_af_packet0"; b = "net_af_packet1"; } );\n'
                    f'services = ( {{ port = {PORT}; dialect = "ascii87"; framing = "len2"; }} );\n'
                    f'table = "{table}";\nsegment = "{seg}";\nkey = "{ldir}/fp.key";\n')
        procs["dp"] = subprocess.Popen(
            [dp, "-l", "0", "--no-pci", "--file-prefix", PREFIX, "--huge-unlink",
             "--vdev", f"net_af_packet0,iface={IF_DPA}", "--vdev", f"net_af_packet1,iface={IF_DPB}",
             "--", "--config", dpcfg], stdout=log, stderr=log)
        if not wait_for(lambda: telemetry("/riskgate/stats") is not None, 20, 0.2):
            raise RuntimeError("dataplane did not come up")
        procs["sw"] = subprocess.Popen(["ip", "netns", "exec", NS_SW, switch, "--listen",
                                        f"{IP_SW}:{PORT}", "--json"],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        procs["acq"] = subprocess.Popen(
            ["ip", "netns", "exec", NS_ACQ, acq, "--connect", f"{IP_SW}:{PORT}", "--seed", str(SEED),
             "--listed", "4", "--hit-rate", "0.6", "--rate", "400", "--connections", "4",
             "--duration", "60", "--timeout", "5", "--json", "--no-progress"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not wait_for(lambda: (telemetry("/riskgate/stats") or {}).get("messages", 0) > 200, 10):
            raise RuntimeError("no traffic through the dataplane")

        # 1. add -> hits; revoke -> none
        lk = ctl.ok("lookup", "PAN", pan)
        masked = lk["masked"]
        check(pan not in json.dumps(lk) and not lk["in_table"], "lookup before add: masked, not listed")
        time.sleep(0.5)
        check(count_masked(ctl.hits(), masked) == 0, "no hits for the card before add")
        t0 = time.time()
        add = ctl.ok("add", "txn_fraud", "PAN", pan, "--severity", "medium", "--reason", "test")
        check(add["table_ledger_pos"] == add["size"], "table ledger position advanced with the add")
        got = wait_for(lambda: count_masked(ctl.hits(), masked, "txn_fraud"), 5)
        check(got, f"add became hits in the running dataplane ({time.time() - t0:.2f} s)")
        if not got:
            st = telemetry("/riskgate/stats") or {}
            print("dataplane:", {k: v for k, v in st.items() if v and not k.startswith("skip")},
                  "table:", telemetry("/riskgate/table"))
        hs = [h for h in ctl.hits() if h.get("masked") == masked]
        check(hs and hs[-1]["contributor"] == "bank-a" and hs[-1]["ledger_pos"] >= 1,
              "hit events name the contributor and the ledger position")
        # the busiest flows as the dataplane's sweeps published them: the
        # acquirer's 4 connections to the switch, the hits among them
        def flows_with_hits():
            f = ctl.ok("flows", "--top", "3")["flows"]
            return f if f and sum(x["hits"] for x in f) > 0 else None
        fl = wait_for(flows_with_hits, 5)
        check(fl and 1 <= len(fl) <= 3 and all(x["msgs"] > 0 for x in fl) and
              [x["msgs"] for x in fl] == sorted((x["msgs"] for x in fl), reverse=True) and
              all(x["server"] == f"{IP_SW}:{PORT}" and x["client"].startswith(IP_ACQ + ":")
                  for x in fl) and sum(x["hits"] for x in fl) > 0,
              f"flows --top 3: busiest acquirer connections, by messages, with hits: {fl}")
        lk = ctl.ok("lookup", "PAN", pan)
        check(lk["in_table"] and lk["lists"] == ["txn_fraud"] and lk["entries"][0]["member"] == "bank-a",
              "lookup after add: listed by bank-a")
        rc, _, err = ctl.run("add", "txn_fraud", "PAN", pan)
        check(rc == 1, "a second add of the same card is refused (exit 1)")
        ctl.ok("revoke", "txn_fraud", "PAN", pan)
        time.sleep(0.3)
        n1 = count_masked(ctl.hits(), masked)
        time.sleep(1.5)
        n2 = count_masked(ctl.hits(), masked)
        check(n1 == n2, f"revoke stopped the hits ({n1} -> {n2})")

        # 2. policy without restart
        ctl.ok("add", "txn_fraud", "PAN", pan)
        check(wait_for(lambda: count_masked(ctl.hits(), masked) > n2, 5), "re-added card hits again")
        ctl.ok("policy", "set", "txn_fraud", "off")
        time.sleep(0.2)
        a = (telemetry("/riskgate/stats") or {}).get("hits_txn_fraud", 0)
        time.sleep(1.5)
        b = (telemetry("/riskgate/stats") or {}).get("hits_txn_fraud", 0)
        check(a == b, f"policy off: no txn_fraud hits ({a} -> {b})")
        ctl.ok("policy", "set", "txn_fraud", "monitor")
        check(wait_for(lambda: (telemetry("/riskgate/stats") or {}).get("hits_txn_fraud", 0) > b, 5),
              "policy monitor: txn_fraud hits again without a restart")
        pol = ctl.ok("policy", "show")
        check(pol["lists"]["txn_fraud"] == "monitor", "policy show")

        # 3. permissions
        rc, out, _ = ctl.run("status", user="65534")
        check(rc == 0 and out and out["member"] == "bank-a", "nobody/nogroup may read status")
        rc, out, err = ctl.run("add", "txn_fraud", "PAN", pans[-1], user="65534")
        check(rc == 1 and "permission_denied" in err, f"nobody may not add (exit {rc}: {err.strip()})")
        rc, _, _ = ctl.run("policy", "set", "txn_fraud", "off", user="65534")
        check(rc == 1, "nobody may not change the policy")
        rc, _, _ = subprocess.run([ctl_bin, "--socket", os.path.join(work, "none.sock"), "status"],
                                  capture_output=True).returncode, None, None
        check(rc == 3, "exit 3 when the daemon is not there")
        rc = subprocess.run([ctl_bin, "--socket", sock, "policy", "set"], capture_output=True).returncode
        check(rc == 2, "exit 2 on a usage error")

        # 4. protocol errors, many clients
        r = raw(sock, b'{"cmd": "version", "id": 42}\nnot json\n{"cmd": "nope"}\n{"v": 9, "cmd": "status"}\n')
        check([x.get("ok") for x in r] == [True, False, False, False] and r[0].get("id") == 42 and
              [x["error"]["code"] for x in r[1:]] == ["bad_json", "unknown_command", "bad_version"],
              "one reply per request line, error codes")
        r = raw(sock, b"x" * 70000 + b"\n")
        check(len(r) == 1 and r[0]["error"]["code"] == "line_too_long", "oversized line: error and close")
        stuck = [socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) for _ in range(40)]
        for s in stuck:
            s.connect(sock)
            s.sendall(b'{"cmd": "stats"}\n' * 50)  # never read
        t = time.time()
        check(ctl.run("version")[0] == 0 and time.time() - t < 2, "stuck clients do not block the loop")
        for s in stuck:
            s.close()

        # 5. kill -9 riskgated: screening continues; restart reattaches
        procs["d"].kill()
        procs["d"].wait()
        h0 = (telemetry("/riskgate/stats") or {}).get("hits", 0)
        time.sleep(1.5)
        h1 = (telemetry("/riskgate/stats") or {}).get("hits", 0)
        check(h1 > h0, f"dataplane screens with the daemon dead ({h0} -> {h1})")
        procs["d"] = start_daemon(riskgated, cfg, log)
        ctl.wait_ready(what="come back")
        tb = ctl.ok("table")
        check(tb["reattached"] and not tb["rebuilt"] and tb["in_sync"], f"restart reattached: {tb}")
        check(wait_for(lambda: count_masked(ctl.hits(), masked) > 0, 5), "events flow after the restart")
        stats = ctl.ok("stats")
        check(stats["hits_by_member"].get("bank-a", 0) > 0 and stats["total"]["messages"] > 0,
              "stats: dataplane counters and hits by member")

        # 6. reload and metrics
        with open(cfg, "w") as f:
            f.write(cfg_text + "bogus_setting = 1;\n")
        rc, _, err = ctl.run("reload")
        check(rc == 1 and "riskgated.cfg:" in err and "bogus_setting" in err,
              f"broken config refused with file and line ({err.strip()})")
        with open(cfg, "w") as f:
            f.write(cfg_text.replace('txn_fraud = "monitor"', 'txn_fraud = "decline"'))
        ctl.ok("reload")
        check(ctl.ok("policy", "show")["lists"]["txn_fraud"] == "decline", "reload applied the new policy")
        m = urllib.request.urlopen(f"http://127.0.0.1:{mport}/metrics", timeout=5).read().decode()
        check("riskgate_table_entries 1" in m and 'riskgate_hits_by_contributor_total{member="bank-a"}' in m,
              "metrics endpoint")
        lines = [json.loads(l) for l in open(events) if l.strip()]
        check(lines and all(pan not in json.dumps(l) for l in lines) and
              {"ts", "list", "kind", "masked", "fp", "mti", "stan", "rrn", "flow", "action",
               "contributor", "ledger_pos"} <= set(lines[-1]), "event file lines: DESIGN shape, no raw PAN")
    except (RuntimeError, subprocess.SubprocessError, OSError, ValueError, KeyError, TypeError) as e:
        check(False, f"{type(e).__name__}: {e}")
    finally:
        for name in ("acq", "sw", "dp", "d"):
            if name in procs:
                stop(procs[name])
        topo_down()
        remove_files((table, seg, table + ".next"))
        remove_work(work, log)
    return result()


if __name__ == "__main__":
    sys.exit(main())
