#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""A peer of riskgated's control socket that the access tests run as another
user (setpriv, ctl_util.peer): what it saw goes to stdout, one JSON object a
line.  Standard library only: it runs as nobody under /usr/bin/python3.

usage: ctl_peer.py hold SOCK N
         N connections, one after the other, each sending {"cmd": "version"}
         and reading its line: {"ok": K, "codes": {CODE: COUNT}} ("closed"
         for none); the K answered stay open until stdin ends.
       ctl_peer.py regroup SOCK [+|-]GID CMD
         connect, then add (+) or drop (-) supplementary group GID, send
         {"cmd": CMD}: {"sent": true}; then the reply line.  Run while
         riskgated is stopped (SIGSTOP), this is a connection whose process
         has other groups at accept than at connect, as when the peer has
         exited and its pid belongs to another process.
       ctl_peer.py idle SOCK
         connect, {"connected": true}, send nothing and read until the
         daemon closes: {"lines": [...], "end": "eof"|"timeout"}.
       ctl_peer.py follow SOCK
         {"cmd": "hits", "args": {"n": 0, "follow": true}}: {"following":
         true}, then each event line as it comes, until the daemon closes.
"""
import json
import os
import socket
import sys


def connect(path, timeout=30):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(path)
    return s


def read_line(s, buf):
    """(one line as JSON or None at the end of the connection, rest)."""
    while b"\n" not in buf:
        try:
            x = s.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            x = b""
        if not x:
            return None, buf
        buf += x
    ln, buf = buf.split(b"\n", 1)
    return json.loads(ln), buf


def say(obj):
    print(json.dumps(obj), flush=True)


def hold(path, n):
    kept, codes = [], {}
    for _ in range(n):
        s = connect(path)
        try:
            s.sendall(b'{"cmd": "version"}\n')
        except OSError:
            pass  # refused before the request was sent: its line is still there
        r, _ = read_line(s, b"")
        if r is not None and r.get("ok"):
            kept.append(s)
            continue
        code = r["error"]["code"] if r is not None else "closed"
        codes[code] = codes.get(code, 0) + 1
        s.close()
    say({"ok": len(kept), "codes": codes})
    sys.stdin.read()
    for s in kept:
        s.close()


def regroup(path, gid_arg, cmd):
    s = connect(path)
    gid = int(gid_arg[1:])
    groups = [g for g in os.getgroups() if g != gid]
    os.setgroups(groups + [gid] if gid_arg[0] == "+" else groups)
    s.sendall(json.dumps({"cmd": cmd}).encode() + b"\n")
    say({"sent": True, "groups": os.getgroups()})
    r, _ = read_line(s, b"")
    say(r)


def idle(path):
    s = connect(path, timeout=120)
    say({"connected": True})
    lines, buf, end = [], b"", "eof"
    try:
        while True:
            r, buf = read_line(s, buf)
            if r is None:
                break
            lines.append(r)
    except socket.timeout:
        end = "timeout"
    say({"lines": lines, "end": end})


def follow(path):
    s = connect(path, timeout=None)
    s.sendall(b'{"cmd": "hits", "args": {"n": 0, "follow": true}}\n')
    r, buf = read_line(s, b"")
    say({"following": bool(r and r.get("ok"))})
    while True:
        r, buf = read_line(s, buf)
        if r is None:
            break
        say(r)


def main():
    a = sys.argv[1:]
    if len(a) == 3 and a[0] == "hold":
        hold(a[1], int(a[2]))
    elif len(a) == 4 and a[0] == "regroup":
        regroup(a[1], a[2], a[3])
    elif len(a) == 2 and a[0] == "idle":
        idle(a[1])
    elif len(a) == 2 and a[0] == "follow":
        follow(a[1])
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
