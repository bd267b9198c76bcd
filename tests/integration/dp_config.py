#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""
riskgate-dp configuration and live mode:
  - bad configuration files, a missing table and a bad key file are refused
    before DPDK starts, with exit status 2 and a message naming the file
    (and line, for the configuration), among them bad per-service mappings
    (unknown kind or list, wrong types) named by service index and line;
  - a live run over two net_null vdevs with a configuration file: the
    shared segment is created with the documented header, the telemetry
    commands /riskgate/stats, /riskgate/lcores, /riskgate/anomalies and
    /riskgate/table answer over the telemetry socket with frames counted,
    /riskgate/config shows each service's mapping (its own, or the
    top-level one merged over the defaults) and the policy in force, and
    SIGTERM stops it with exit status 0.

usage: dp_config.py riskgate-dp riskgate-gen lists_table
"""

import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time

from dp_util import finish, make_table, report, run, telemetry, tool_args

GOOD = """
ports = ( { a = "net_null_cfa"; b = "net_null_cfb"; } );
services = ( { port = 5000; dialect = "ascii87"; framing = "len2"; max_msg = 8192; mapping = { PAN = [ "txn_fraud", "high_risk_account" ]; }; }, { port = 5001; dialect = "bcd87"; framing = "bcd2+tpdu"; } );
lists = { txn_fraud = "monitor"; high_risk_account = "decline"; marketing_cheat = "off"; };
mapping = { PAN = [ "txn_fraud" ]; DEVICE = [ ]; };
table = "%(table)s";
key = "%(key)s";
segment = "%(seg)s";
segment_hugetlb = false;
flows = 1024;
flow_idle_sec = 30;
"""

BAD = [
    ("unknown setting", 'flowz = 3;\n', ":1: flowz: unknown setting"),
    ("bad list", 'lists = { nope = "monitor"; };\n', ":1: lists.nope: unknown list"),
    ("bad action", 'lists = { txn_fraud = "block"; };\n', ":1: lists.txn_fraud: expected"),
    ("bad kind", 'mapping = { CARD = [ "txn_fraud" ]; };\n', ":1: mapping.CARD: unknown"),
    ("bad mapped list", 'mapping = { PAN = [ "nope" ]; };\n',
     ':1: mapping.PAN: unknown list "nope"'),
    ("service bad kind", 'services = ( { port = 5000; mapping = { CARD = [ "txn_fraud" ]; }; } );\n',
     ":1: services[0].mapping.CARD: unknown identifier kind"),
    ("service bad list", 'services = ( { port = 5000;\n  mapping = { PAN = [ "txn_fraud",\n'
     '    "nope" ]; }; } );\n', ':3: services[0].mapping.PAN: unknown list "nope"'),
    ("service list not a name", 'services = ( { port = 5000; },\n'
     '  { port = 5001; mapping = { MERCHANT = [ 7 ]; }; } );\n',
     ":2: services[1].mapping.MERCHANT: element 0 is not a list name"),
    ("service mapping not a group", 'services = ( { port = 5000; mapping = [ "txn_fraud" ]; } );\n',
     ":1: services[0].mapping: expected {"),
    ("service kind not an array", 'services = ( { port = 5000; mapping = { PAN = "txn_fraud"; }; } );\n',
     ":1: services[0].mapping.PAN: expected an array"),
    ("bad framing", 'services = ( { port = 5000; framing = "len3"; } );\n', "services[0]"),
    ("bad dialect", 'services = ( { port = 5000; dialect = "nosuch"; } );\n', "services[0]"),
    ("syntax", 'ports = ( { a = 0 ; b = ; } );\n', ":1: syntax error"),
    ("range", '\n\nflows = 3;\n', ":3: flows: 3 out of range"),
]


def main():
    dp, gen, lt = tool_args(__doc__)
    errors = []
    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix="dp_config.") as tmp:
        lists = os.path.join(tmp, "l.csv")
        run([gen, "--out", os.path.join(tmp, "x.pcap"), "--lists", lists, "--messages", "20"])
        key, table = make_table(lt, tmp, [lists])
        seg = os.path.join(tmp, "riskgate.seg")
        good = GOOD % {"table": table, "key": key, "seg": seg}

        for name, text, want in BAD:
            p = os.path.join(tmp, "bad.cfg")
            k = text.strip().split("=")[0].strip()
            rest = "\n".join(l for l in good.splitlines()
                             if l.split("=")[0].strip() != k)
            with open(p, "w") as fp:
                fp.write(text + (rest if name != "syntax" else ""))
            r = run([dp, "--", "--config", p])
            if r.returncode != 2 or want not in r.stderr or p not in r.stderr:
                errors.append("%s: exit %d, stderr %r (want %r)" % (name, r.returncode,
                                                                  r.stderr.strip(), want))
        # missing table, bad key file
        p = os.path.join(tmp, "c.cfg")
        with open(p, "w") as fp:
            fp.write(good.replace(table, table + ".missing"))
        r = run([dp, "--", "--config", p])
        if r.returncode != 2 or "table" not in r.stderr or ".missing" not in r.stderr:
            errors.append("missing table: exit %d, %r" % (r.returncode, r.stderr.strip()))
        badkey = os.path.join(tmp, "bad.key")
        with open(badkey, "w") as fp:
            fp.write("not a key\n")
        os.chmod(badkey, 0o600)
        with open(p, "w") as fp:
            fp.write(good.replace(key, badkey))
        r = run([dp, "--", "--config", p])
        if r.returncode != 2 or "bad.key" not in r.stderr:
            errors.append("bad key: exit %d, %r" % (r.returncode, r.stderr.strip()))
        r = run([dp, "--", "--replay", os.path.join(tmp, "nosuch.pcap"), "--table", table,
                 "--key", key])
        if r.returncode != 2 or "nosuch.pcap" not in r.stderr:
            errors.append("missing capture: exit %d, %r" % (r.returncode, r.stderr.strip()))

        # live: net_null vdevs, telemetry, segment, SIGTERM
        with open(p, "w") as fp:
            fp.write(good)
        prefix = "rgdpcfg%d" % os.getpid()
        proc = subprocess.Popen([dp, "-l", "0", "--no-huge", "-m", "256", "--no-pci",
                                 "--no-shconf", "--file-prefix", prefix,
                                 "--vdev", "net_null_cfa", "--vdev", "net_null_cfb",
                                 "--", "--config", p],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        sock = "/var/run/dpdk/%s/dpdk_telemetry.v2" % prefix
        try:
            for _ in range(100):
                if os.path.exists(sock) or proc.poll() is not None:
                    break
                time.sleep(0.1)
            time.sleep(0.5)
            if proc.poll() is not None:
                errors.append("live run exited early: %s" % proc.stderr.read()[-400:])
            else:
                st = telemetry(sock, "/riskgate/stats", 5) or {}
                if st.get("rx_pkts", 0) == 0 or st.get("tx_pkts", 0) == 0:
                    errors.append("telemetry stats show no traffic: %s" % st)
                if st.get("policy_version", 0) == 0:
                    errors.append("no policy version in force")
                lc = telemetry(sock, "/riskgate/lcores", 5)
                if not lc or "rx_pkts" not in list(lc.values())[0]:
                    errors.append("telemetry lcores: %s" % lc)
                an = telemetry(sock, "/riskgate/anomalies", 5)
                if not an or "stream_gap" not in an:
                    errors.append("telemetry anomalies: %s" % an)
                tb = telemetry(sock, "/riskgate/table", 5) or {}
                if tb.get("path") != table:
                    errors.append("telemetry table: %s" % tb)
                cf = telemetry(sock, "/riskgate/config", 5) or {}
                s0, s1 = cf.get("service_5000", {}), cf.get("service_5001", {})
                if s0 != {"port": 5000, "dialect": "ascii87", "framing": "len2",
                          "mapping_from": "service", "PAN": "txn_fraud,high_risk_account"}:
                    errors.append("telemetry config, service 5000: %s" % s0)
                if (s1.get("mapping_from") != "top-level" or s1.get("framing") != "bcd2+tpdu" or
                        s1.get("PAN") != "txn_fraud" or "DEVICE" in s1 or
                        s1.get("ACCOUNT") != "high_risk_account"):
                    errors.append("telemetry config, service 5001 (top-level mapping): %s" % s1)
                if (cf.get("policy", {}).get("high_risk_account") != "decline" or
                        cf.get("policy", {}).get("marketing_cheat") != "off" or
                        cf.get("pairs") != ["net_null_cfa <-> net_null_cfb"] or
                        cf.get("flows") != 1024 or cf.get("table") != table):
                    errors.append("telemetry config: %s" % cf)
                with open(seg, "rb") as fp:
                    hdr = fp.read(64)
                magic, version = struct.unpack("<QI", hdr[:12])
                if magic != 0x4745534b53495252 or version != 2:
                    errors.append("segment header: magic %x version %d" % (magic, version))
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            try:
                rc = proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                rc = proc.wait()
                errors.append("SIGTERM did not stop the live run")
            err = proc.stderr.read()
            if rc != 0:
                errors.append("live run exit %d: %s" % (rc, err[-300:]))
            # EAL's runtime directory, with a telemetry socket if it was killed
            shutil.rmtree("/var/run/dpdk/%s" % prefix, ignore_errors=True)
    return finish(report("config errors, live run, telemetry", errors), t0)


if __name__ == "__main__":
    sys.exit(main())
