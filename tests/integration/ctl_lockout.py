#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""An unprivileged user cannot lock the operators out of riskgated's
control socket, and riskgate-ctl reports a connection the daemon closed.

usage: ctl_lockout.py BUILD_ROOT

riskgated on a ledger of its own (ctl_util.Daemon), the socket open to
nobody (group nogroup), an admin group made for the test; first with the
default limits:
  1. nobody opens 300 idle connections: it gets clients_per_uid (32) of
     them, every other one is told "too_many_clients" before the close;
  2. root's `riskgate-ctl status` is answered meanwhile;
  3. nobody's `riskgate-ctl status` exits 3 naming too_many_clients (no
     death by SIGPIPE, no silence);
  4. a request too long for a line, bigger than the socket buffers, so
     that riskgate-ctl is still writing when the daemon closes: exit 3
     with line_too_long, not SIGPIPE;
  5. the refusals are counted in `stats` and the metrics;
then reloaded with clients_max 20, clients_admin_reserved 4,
clients_per_uid 100 (client_idle_sec 0, then 1):
  6. nobody gets 16 connections, the rest are refused naming the slots kept
     for the admin group; nobody in the admin group still gets 2 of those,
     and root gets in;
  7. an idle connection of nobody is closed with "idle_timeout"; a root
     connection idle for longer and a follower of nobody (`hits --follow`)
     are not (the follower still gets the next event); counted.
Needs root (setpriv, groupadd); skips (77) otherwise.
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ctl_util import NOBODY, Conn, Daemon, TempGroup, free_port, metrics, peer  # noqa: E402
from dp_util import build_arg_as_root, check, result  # noqa: E402

PAN = "4532015112830366"


def first_line(p):
    """The next JSON line a peer printed (waits for it)."""
    return json.loads(p.stdout.readline() or "null")


def release(p):
    p.stdin.close()
    p.wait(timeout=60)


def main():
    build = build_arg_as_root(__doc__)
    admin = TempGroup("adm")
    port = free_port()
    d = Daemon(build, "lockout", groups=[admin], admin_group=admin.name,
               metrics=f"127.0.0.1:{port}")
    holds = []
    try:
        d.start()
        ctl = d.ctl

        # 1-3. the default limits
        h = peer("hold", d.sock, 300)
        holds.append(h)
        got = first_line(h)
        check(got and got["ok"] == 32 and got["codes"] == {"too_many_clients": 268},
              f"nobody's 300 connections: 32 kept (clients_per_uid), 268 refused with a "
              f"reason ({got})")
        rc, out, err = ctl.run("status")
        check(rc == 0 and out and out["member"] == "bank-a",
              f"root's status while nobody holds all it may (exit {rc}: {err.strip()})")
        rc, _, err = ctl.run("status", user=NOBODY)
        check(rc == 3 and "closed the connection" in err and "too_many_clients" in err and
              "uid 65534 holds 32" in err,
              f"nobody's status: exit 3 naming the reason (exit {rc}: {err.strip()})")

        # 4. a line too long, written while the daemon closes
        with open("/proc/sys/net/core/wmem_default") as f:
            wmem = int(f.read())
        arg = "9" * 120000  # each under the kernel's bound on one argument
        if 5 * len(arg) > 2 * wmem + 65536:
            rc, _, err = ctl.run("add", arg, "PAN", arg, "--severity", arg,
                                 "--expiry", arg, "--reason", arg)
            check(rc == 3 and "line_too_long" in err and "closed the connection" in err,
                  f"a request the daemon closes on mid-write: exit 3, line_too_long, no "
                  f"SIGPIPE (exit {rc}: {err.strip()[:300]})")
        else:
            print(f"note: socket buffers of {wmem} bytes take the whole request: the "
                  "mid-write close is left out")

        # 5. counted
        st = ctl.ok("stats")["control"]
        check(st.get("clients_refused_per_uid", 0) >= 269 and st.get("clients", 0) >= 32,
              f"stats: refusals per uid counted ({st})")
        m = metrics(port).get('riskgate_control_clients_refused_total{reason="per_uid"}')
        check(m is not None and int(m) >= 269, f"metrics: refusals per uid ({m})")
        release(h)
        holds.remove(h)

        # 6. the slots kept for the admin group
        limits = dict(admin_group=admin.name, metrics=f"127.0.0.1:{port}", clients_max=20,
                      clients_admin_reserved=4, clients_per_uid=100)
        d.configure(client_idle_sec=0, **limits)
        rc, out, err = ctl.run("reload")
        check(rc == 0, f"reload with the client settings (exit {rc}: {err.strip()})")
        follower = peer("follow", d.sock)
        holds.append(follower)
        check(first_line(follower) == {"following": True}, "a follower of nobody")
        h = peer("hold", d.sock, 30)
        holds.append(h)
        got = first_line(h)
        check(got and got["ok"] == 15 and got["codes"] == {"too_many_clients": 15},
              f"nobody gets the 16 open slots (one is its follower), the rest refused ({got})")
        rc, _, err = ctl.run("status", user=NOBODY)
        check(rc == 3 and f"kept for root and the {admin.name} group" in err,
              f"nobody's refusal names the slots kept (exit {rc}: {err.strip()})")
        ha = peer("hold", d.sock, 2, groups=[admin.gid])
        holds.append(ha)
        got = first_line(ha)
        check(got and got["ok"] == 2, f"nobody in the admin group takes kept slots ({got})")
        rc, _, err = ctl.run("status")
        check(rc == 0, f"root takes the last kept slot (exit {rc}: {err.strip()})")
        release(h)
        holds.remove(h)
        release(ha)
        holds.remove(ha)

        # 7. idle peers outside the admin group are closed
        d.configure(client_idle_sec=1, **limits)
        rc, out, err = ctl.run("reload")
        check(rc == 0, f"reload with client_idle_sec 1 (exit {rc}: {err.strip()})")
        root = Conn(d.sock)
        idle = peer("idle", d.sock)
        check(first_line(idle) == {"connected": True}, "an idle connection of nobody")
        got = first_line(idle)
        idle.wait(timeout=60)
        codes = [x.get("error", {}).get("code") for x in (got or {}).get("lines", [])]
        check(got and got["end"] == "eof" and codes == ["idle_timeout"],
              f"nobody's idle connection closed with idle_timeout ({got})")
        root.send({"cmd": "version", "id": 1})
        r = root.line()
        check(r and r.get("ok") and r.get("id") == 1,
              "root's connection, idle for longer, is still served")
        root.close()
        ctl.ok("add", "txn_fraud", "PAN", PAN)
        ctl.ok("lookup", "PAN", PAN)
        ev = first_line(follower)
        check(ev and ev.get("event", {}).get("source") == "lookup",
              f"nobody's follower, idle as well, still gets events ({ev})")
        st = ctl.ok("stats")["control"]
        check(st.get("clients_closed_idle", 0) >= 1, f"stats: idle closes counted ({st})")
        m = metrics(port).get('riskgate_control_clients_closed_total{reason="idle"}')
        check(m is not None and int(m) >= 1, f"metrics: idle closes ({m})")
        text = d.log_text()
        check("refused" in text and PAN not in text,
              "refusals logged, no raw PAN in the log")
    except (RuntimeError, OSError, ValueError, KeyError, TypeError) as e:
        check(False, f"{type(e).__name__}: {e}")
    finally:
        for p in holds:
            p.kill()
            p.wait()
        d.close()
    return result()


if __name__ == "__main__":
    sys.exit(main())
