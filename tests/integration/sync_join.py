# SPDX-License-Identifier: BSD-3-Clause
"""Membership in force: a member approved on the ledger joins the running
consortium and catches up; a removed one is dropped.

usage: sync_join.py BUILD_DIR TLOGCHECK

bank-a, bank-b and bank-c sync (bank-a also lists bank-d's address, which
is nobody's yet: it is asked nothing).  Then:
  1. bank-a and bank-b approve bank-d (membership propose, sign by two of
     three, apply at bank-a; their daemons stopped for the offline tool and
     started again);
  2. bank-d's daemon starts on a ledger holding only the genesis: it is
     not a member yet (status says joining, add is refused), takes in
     bank-a's log from bank-a, whose membership change makes it a member,
     and the other logs through bank-a;
  3. bank-d's add reaches bank-c (bank-a now fetches from bank-d);
  4. bank-d is removed (bank-a, bank-b and bank-c sign): bank-a drops it as a peer
     (`peers` says why) and refuses its key in the handshake; what bank-d
     still signs reaches nobody.
"""
import os
import ssl
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sync_members import BUILD, LED, listed_by, tls_refused  # noqa: E402
from ctl_util import Member, free_port, main_in_work  # noqa: E402
from dp_util import check, failures, wait_for  # noqa: E402


def sizes(m):
    return {h["member"]: h["size"] for h in m.ctl.ok("ledger", "head")["heads"]}


def membership(work, action, who, signers, applier):
    """Propose, sign by signers, apply at applier: offline, their daemons
    stopped meanwhile (the tool needs the ledger directories)."""
    for m in signers:
        m.stop()
    prop = os.path.join(work, f"{action}-{os.path.basename(who)}.json")
    LED.run(applier.ldir, "membership", "propose", action, who, prop)
    for m in signers:
        LED.run(m.ldir, "membership", "sign", prop)
    LED.run(applier.ldir, "membership", "apply", prop)
    for m in signers:
        m.start()


def run(work):
    names = ["bank-a", "bank-b", "bank-c", "bank-d"]
    ports = {n: free_port() for n in names}
    ms = {n: Member(BUILD, work, n, ports[n]) for n in names}
    for i, n in enumerate(names[:3]):
        extra = ["--fp-key", os.path.join(ms["bank-a"].ldir, "fp.key")] if i else []
        LED.run(ms[n].ldir, "init", "--member", n, *extra)
    genesis = os.path.join(work, "genesis.json")
    LED.run(None, "genesis", "--out", genesis, "--consortium", "join", "--install",
            *[ms[n].ldir for n in names[:3]])
    a, b, c, d = (ms[n] for n in names)
    a.configure({"bank-b": ports["bank-b"], "bank-d": ports["bank-d"]}, sync_poll_ms=200)
    b.configure({"bank-a": ports["bank-a"], "bank-c": ports["bank-c"]}, sync_poll_ms=200)
    c.configure({"bank-b": ports["bank-b"]}, sync_poll_ms=200)
    d.configure({"bank-a": ports["bank-a"]}, sync_poll_ms=200)
    try:
        for m in (a, b, c):
            m.start()
        for m, v in ((a, "+8613800000001"), (b, "+8613800000002"), (c, "+8613800000003")):
            m.ctl.ok("add", "telecom_fraud", "PHONE", v)
        check(wait_for(lambda: all(sizes(m) == {"bank-a": 1, "bank-b": 1, "bank-c": 1}
                                   for m in (a, b, c)), 20), "three logs everywhere")
        pa = {p["member"]: p for p in a.ctl.ok("peers")["peers"]}
        check("not a member" in pa["bank-d"]["last_error"] and not pa["bank-d"]["connected"],
              f"bank-d, not a member, is asked nothing: {pa['bank-d']}")

        # 1. bank-d approved by bank-a and bank-b
        LED.run(d.ldir, "init", "--member", "bank-d", "--fp-key",
                os.path.join(a.ldir, "fp.key"), "--genesis", genesis)
        membership(work, "add", d.ldir, [a, b], a)
        check(wait_for(lambda: sizes(c).get("bank-a") == 2, 20),
              f"the membership change reached bank-c: {sizes(c)}")
        check(wait_for(lambda: "bank-d" in sizes(c), 20), "bank-c knows bank-d's log")

        # 2. bank-d joins and catches up
        d.start()
        with open(os.path.join(d.dir, "riskgated.log")) as f:
            check("joining" in f.read(), "bank-d's daemon started as a joining member")
        check(wait_for(lambda: d.ctl.ok("status")["member"] == "bank-d", 30),
              f"bank-d became a member: {d.ctl.ok('status')['member']}")
        want = sizes(a)
        check(wait_for(lambda: sizes(d) == sizes(a), 30),
              f"bank-d caught up every log: {sizes(d)} want {sizes(a)}")
        v = d.ctl.run("ledger", "verify")
        check(v[0] == 0 and v[1]["ok"], f"bank-d verifies: {v}")
        check(listed_by(d, "PHONE", "+8613800000003", "bank-c"),
              "bank-c's entry, relayed by bank-a, is listed at bank-d")

        # 3. bank-d's add reaches bank-c
        d.ctl.ok("add", "telecom_fraud", "PHONE", "+8613800000004")
        check(wait_for(lambda: listed_by(c, "PHONE", "+8613800000004", "bank-d"), 30),
              "bank-d's add listed at bank-c")
        print(f"sizes at bank-c: {sizes(c)} (bank-a's log held {want.get('bank-a')} before)")

        # 4. bank-d removed
        membership(work, "remove", "bank-d", [a, b, c], a)  # 3 of 4 now
        check(wait_for(lambda: "removed" in {p["member"]: p for p in
                                             a.ctl.ok("peers")["peers"]}["bank-d"]["last_error"],
                       20), f"bank-a drops bank-d: {a.ctl.ok('peers')['peers']}")
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.load_cert_chain(os.path.join(d.ldir, "tls.crt"), os.path.join(d.ldir, "tls.key"))
        check(tls_refused(a.port, ctx), "bank-d's key refused by bank-a once removed")
        # what it still signs travels no more (nobody fetches from it, and a
        # block of a removed member is refused anyway)
        d.ctl.run("add", "telecom_fraud", "PHONE", "+8613800000005")
        time.sleep(2)
        check(not listed_by(c, "PHONE", "+8613800000005", "bank-d"),
              "bank-d's entry after its removal does not reach bank-c")
    finally:
        for m in (a, b, c, d):
            m.stop()
        if failures:
            for m in (a, b, c, d):
                if os.path.exists(os.path.join(m.dir, "riskgated.log")):
                    sys.stderr.write(f"--- {m.name} log ---\n{m.log_tail()}\n")


if __name__ == "__main__":
    main_in_work("rg-join-", run)
