#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Timing for the demos' member sync, over riskgated's control sockets (the
JSON-lines protocol of control/protocol.h, one connection per daemon kept
open, so the clocks measure the daemons and not process starts).

usage: demo_sync.py synced SECS SOCK...
           until every daemon holds every member's log at the size its
           owner holds, with the same root; prints the time and the heads
       demo_sync.py add-watch ADD_SOCK WATCH_SOCK LIST KIND VALUE [--hit]
           `add` at ADD_SOCK's member, then the time until WATCH_SOCK's
           daemon holds it (its ledger head, and so its table: a block
           reaches the table in the same loop turn); with --hit also until
           the first dataplane hit event for it at WATCH_SOCK
       demo_sync.py ports N
           N free TCP ports of 127.0.0.1, one a line
Exit status 1 when a daemon does not get there within the time allowed.
"""
import json
import socket
import sys
import time


class Daemon:
    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(30)
        self.s.connect(path)
        self.f = self.s.makefile("rwb")

    def call(self, cmd, **args):
        self.f.write(json.dumps({"cmd": cmd, "args": args}).encode() + b"\n")
        self.f.flush()
        r = json.loads(self.f.readline())
        if not r.get("ok"):
            sys.exit(f"demo_sync: {cmd}: {r.get('error')}")
        return r["result"]

    def heads(self):
        return {h["member"]: h for h in self.call("ledger-head")["heads"]}


def ms(t):
    return f"{(time.monotonic() - t) * 1000:.0f} ms"


def synced(secs, socks):
    t0 = time.monotonic()
    ds = [Daemon(s) for s in socks]
    names = [d.call("status")["member"] for d in ds]
    while True:
        heads = [d.heads() for d in ds]
        # each log as its owner holds it
        want = {n: heads[i][n] for i, n in enumerate(names)}
        if all(h.get(n, {}).get("size") == w["size"] and h[n]["root"] == w["root"]
               for h in heads for n, w in want.items()):
            break
        if time.monotonic() - t0 > secs:
            sys.exit(f"demo_sync: not in sync after {secs} s: " +
                     "; ".join(f"{names[i]} holds " +
                               ", ".join(f"{n} {h.get(n, {}).get('size', 0)}" for n in names)
                               for i, h in enumerate(heads)))
        time.sleep(0.005)
    total = sum(w["size"] for w in want.values())
    print(f"  every member holds all {len(names)} logs ({total} entries, same roots) "
          f"{ms(t0)} after the daemons were up")
    for n, w in want.items():
        print(f"    {n}: {w['size']} entries, root {w['root'][:16]}...")


def add_watch(add_sock, watch_sock, lst, kind, value, want_hit):
    adder, watcher = Daemon(add_sock), Daemon(watch_sock)
    member = adder.call("status")["member"]
    where = watcher.call("status")["member"]
    t0 = time.monotonic()
    r = adder.call("add", list=lst, kind=kind, value=value, reason="demo")
    print(f"  {member}: {r['op']} {lst} {kind} {r['masked']} signed as position {r['pos']} "
          f"of its log, durable {ms(t0)} after the request")
    while watcher.heads().get(member, {}).get("size", 0) < r["size"]:
        if time.monotonic() - t0 > 10:
            sys.exit(f"demo_sync: {where} did not get {member}'s add within 10 s")
        time.sleep(0.0005)
    print(f"  {where}: holds it in its ledger and table {ms(t0)} after the add "
          f"(pushed over mutual TLS, checked, applied)")
    if not want_hit:
        return
    while True:
        hits = watcher.call("hits", n=1000)["hits"]
        if any(h.get("masked") == r["masked"] and h.get("source") == "dataplane" for h in hits):
            break
        if time.monotonic() - t0 > 10:
            sys.exit(f"demo_sync: no dataplane hit at {where} within 10 s of the add")
        time.sleep(0.01)
    print(f"  {where}: first dataplane hit on {r['masked']} {ms(t0)} after the add "
          f"(the card's next transaction through the appliance)")


def ports(n):
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    for s in socks:
        print(s.getsockname()[1])
        s.close()


def main():
    a = sys.argv[1:]
    if len(a) >= 3 and a[0] == "synced":
        synced(float(a[1]), a[2:])
    elif len(a) in (6, 7) and a[0] == "add-watch" and a[6:] in ([], ["--hit"]):
        add_watch(*a[1:6], want_hit=a[6:] == ["--hit"])
    elif len(a) == 2 and a[0] == "ports":
        ports(int(a[1]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
