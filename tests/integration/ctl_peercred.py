#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Rights on riskgated's control socket come from the credentials the
kernel fixed at connect (SO_PEERCRED, SO_PEERGROUPS), never from what the
process behind the peer's pid looks like later.

usage: ctl_peercred.py BUILD_ROOT

riskgated on a ledger of its own (ctl_util.Daemon), the socket open to
nobody (group nogroup), an admin group made for the test:
  1. nobody in the admin group may run `ledger verify` (an admin command),
     nobody without it may not (permission_denied);
  2. riskgated stopped (SIGSTOP): nobody connects without the admin group,
     then joins it (CAP_SETGID given for the test), and sends `ledger-verify`;
     riskgated continued accepts a peer whose process now has the admin
     group, as one whose pid was reused by an admin's process would: still
     permission_denied, and the refusal is logged;
  3. the other way round: connected in the admin group, dropped it before
     the accept: still admin.
Needs root (setpriv, groupadd); skips (77) otherwise.
"""
import json
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ctl_util import NOBODY, Daemon, TempGroup, peer  # noqa: E402
from dp_util import build_arg_as_root, check, result  # noqa: E402


def connected_then_regrouped(d, groups, change):
    """The reply to ledger-verify of nobody (groups at connect) whose group
    change (+GID or -GID) happened between its connect and the accept."""
    d.proc.send_signal(signal.SIGSTOP)
    try:
        p = peer("regroup", d.sock, change, "ledger-verify", groups=groups, setgid=True)
        sent = json.loads(p.stdout.readline() or "null")
    finally:
        d.proc.send_signal(signal.SIGCONT)
    reply = json.loads(p.stdout.readline() or "null")
    p.wait(timeout=60)
    return sent, reply


def main():
    build = build_arg_as_root(__doc__)
    admin = TempGroup("adm")
    d = Daemon(build, "peercred", groups=[admin], admin_group=admin.name)
    try:
        d.start()
        ctl = d.ctl

        # 1. the admin group, as a supplementary group at connect
        rc, out, err = ctl.run("ledger", "verify", user=NOBODY, groups=[admin.gid])
        check(rc == 0 and out and out["ok"],
              f"nobody in the admin group may verify (exit {rc}: {err.strip()})")
        rc, _, err = ctl.run("ledger", "verify", user=NOBODY)
        check(rc == 1 and "permission_denied" in err,
              f"nobody without it may not (exit {rc}: {err.strip()})")

        # 2. groups gained after connect give nothing
        refusal = f"uid {NOBODY} refused ledger-verify"
        logged = d.log_text().count(refusal)
        sent, reply = connected_then_regrouped(d, [], f"+{admin.gid}")
        check(sent and sent.get("sent") and admin.gid in sent["groups"],
              f"the peer joined the admin group after its connect ({sent})")
        code = (reply or {}).get("error", {}).get("code")
        check(code == "permission_denied",
              f"the accept after it: still not admin ({reply})")
        check(d.log_text().count(refusal) == logged + 1, "the refusal is logged")

        # 3. groups dropped after connect take nothing away
        sent, reply = connected_then_regrouped(d, [admin.gid], f"-{admin.gid}")
        check(sent and sent.get("sent") and admin.gid not in sent["groups"],
              f"the peer left the admin group after its connect ({sent})")
        check(reply and reply.get("ok") is True,
              f"the accept after it: admin as at connect ({reply})")
    except (RuntimeError, OSError, ValueError, KeyError, TypeError) as e:
        check(False, f"{type(e).__name__}: {e}")
    finally:
        if d.proc is not None and d.proc.poll() is None:
            d.proc.send_signal(signal.SIGCONT)
        d.close()
    return result()


if __name__ == "__main__":
    sys.exit(main())
