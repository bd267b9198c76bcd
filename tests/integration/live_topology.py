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
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dp_util import Topology, check, hits_by_list, result  # noqa: E402


def main():
    if len(sys.argv) != 5:
        sys.stderr.write(__doc__)
        return 2
    build, topo_sh, acq, switch = sys.argv[1:]
    topo = Topology(build, topo_sh, acq, switch, "live")
    bg = None
    try:
        topo.make_table()
        t0 = os.stat(topo.table)
        topo.up()
        check(topo.wait_telemetry("/riskgate/stats") is not None, "dataplane telemetry")
        topo.start_switch()

        # 1. steady traffic: all answered, hits within the ground truth's bounds
        r = topo.run_acq(["--connections", "8", "--rate", "1500", "--duration", "4",
                          "--hit-rate", "0.05", "--timeout", "5"])
        print("acq:", json.dumps(r))
        check(r["sent"] > 3000, f"{r['sent']} requests sent")
        check(r["answered"] == r["sent"] and r["unanswered"] == 0,
              f"every request answered ({r['answered']} of {r['sent']})")
        check(r["listed_sent"] > 0, "listed identifiers sent")
        time.sleep(0.5)
        st = topo.telemetry("/riskgate/stats") or {}
        got = hits_by_list(st)
        print("dp hits:", json.dumps(got), "messages:", st.get("messages"))
        check(st.get("hits", 0) > 0, f"the dataplane reported hits ({st.get('hits')})")
        # requests carry the truth's hits; responses echo DE 2, 41 and 42, so a
        # screener of both directions counts at most twice as many
        for lst, want in r["list_hits"].items():
            check(want <= got.get(lst, 0) <= 2 * want,
                  f"{lst}: dataplane counted {got.get(lst, 0)}, truth {want} (requests)")

        # 2. SIGKILL mid-run, restart on the same table file
        bg = topo.run_acq(["--connections", "8", "--rate", "800", "--duration", "9",
                           "--hit-rate", "0.05", "--timeout", "25"], background=True)
        time.sleep(2.5)
        topo.sh("bridge", "kill", check=True, timeout=30)
        killed_at = time.time()
        p = topo.sh("bridge", "start", timeout=60)
        check(p.returncode == 0, f"riskgate-dp restarted (exit {p.returncode}: {p.stderr.strip()})")
        print(f"restarted {time.time() - killed_at:.1f} s after the kill")
        check(topo.wait_telemetry("/riskgate/stats") is not None, "telemetry after restart")
        out, err = bg.communicate(timeout=60)
        bg = None
        r2 = json.loads(out.strip().splitlines()[-1])
        print("acq across the restart:", json.dumps(r2))
        check(r2["answered"] == r2["sent"] and r2["unanswered"] == 0,
              f"no request lost across the restart ({r2['answered']} of {r2['sent']} answered)")
        check(r2["disconnects"] == 0, f"no connection dropped ({r2['disconnects']})")
        t1 = os.stat(topo.table)
        check((t1.st_ino, t1.st_size, t1.st_mtime_ns) == (t0.st_ino, t0.st_size, t0.st_mtime_ns),
              "table file unchanged across the restart")
        st2 = topo.telemetry("/riskgate/stats") or {}
        tb = topo.telemetry("/riskgate/table") or {}
        print("dp after restart:", json.dumps(hits_by_list(st2)), "table:", json.dumps(tb))
        check(st2.get("hits", 0) > 0, f"hits after the restart ({st2.get('hits')})")
        check(tb.get("count", 0) > 0, f"the restarted dataplane sees the table: {tb}")
    except (RuntimeError, subprocess.SubprocessError, OSError, ValueError, KeyError) as e:
        check(False, f"{type(e).__name__}: {e}")
    finally:
        if bg is not None:
            bg.kill()
            bg.wait()
        topo.close()
    return result()


if __name__ == "__main__":
    sys.exit(main())
