# SPDX-License-Identifier: BSD-3-Clause
"""Member sync between real riskgated daemons over mutual TLS on loopback.

usage: sync_members.py BUILD_DIR TLOGCHECK

Three members, bank-a, bank-b and bank-c, each with its ledger (and TLS key
from `riskgate-ledger init`), one genesis listing all three, one daemon
each serving its logs (sync_listen) and fetching from its peers.  bank-a
and bank-c are not peers of each other: everything between them goes
through bank-b (relay).
  1. `riskgate-ctl add` at bank-a: bank-c's table holds it (`lookup` at
     bank-c names bank-a as contributor), and bank-b's too; the time it
     took is printed;
  2. an import of 20 000 entries at bank-a reaches bank-c whole through
     bank-b: same size and root; `ledger verify` at bank-c passes;
  3. bank-c killed with SIGKILL while it catches up a second import,
     restarted: it catches up and verifies;
  4. the Go verifier (tlogcheck, golang.org/x/mod/sumdb) fetches bank-a's
     log from bank-b's daemon over mutual TLS with bank-c's client key,
     bank-b's key pinned: checkpoint, every tile, every entry, proofs;
  5. a TLS client whose key no membership lists, or without a
     certificate, or with TLS 1.2 only, is refused in the handshake; the
     daemon counts the refusals and keeps serving members;
  6. `riskgate-ctl peers` at bank-b: both peers connected, no lag, bytes;
  7. partition and heal: bank-b, the only path between bank-a and bank-c,
     hangs (SIGSTOP): bank-a's add does not reach bank-c, and both keep
     answering their control sockets; bank-b resumes (SIGCONT): the add
     arrives.
"""
import base64
import hashlib
import json
import os
import socket
import signal
import ssl
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ctl_util import Member, free_port, main_in_work  # noqa: E402
from dp_util import check, failures, wait_for  # noqa: E402
from ledger_util import Ledger, merchant_csv  # noqa: E402

BUILD = sys.argv[1]
TLOGCHECK = sys.argv[2]
LED = Ledger(os.path.join(BUILD, "ledger", "riskgate-ledger"))
NAMES = ["bank-a", "bank-b", "bank-c"]
# who fetches from whom: bank-a and bank-c only through bank-b
PEERS = {"bank-a": ["bank-b"], "bank-b": ["bank-a", "bank-c"], "bank-c": ["bank-b"]}


def lists_of(m, kind, value):
    rc, out, err = m.ctl.run("lookup", kind, value)
    if rc != 0 or out is None:
        return {"error": err.strip(), "reply": out}
    return out.get("result", out)


def listed_by(m, kind, value, contributor):
    r = lists_of(m, kind, value)
    return r is not None and r.get("in_table") and r.get("contributor") == contributor


def spki_pin(crt):
    """base64(SHA-256(SubjectPublicKeyInfo)) of a certificate, by Python's
    cryptography package."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    cert = x509.load_pem_x509_certificate(open(crt, "rb").read())
    spki = cert.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


def note_vkey(name, pk):
    """Go's note verifier key text for an Ed25519 key."""
    keyid = hashlib.sha256(name.encode() + b"\n\x01" + pk).digest()[:4]
    key = base64.b64encode(b"\x01" + pk).decode()
    return f"{name}+{keyid.hex()}+{key}"


def tls_refused(port, ctx):
    """Whether a handshake (and a request) with ctx fails."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            with ctx.wrap_socket(s) as t:
                t.sendall(b"GET /riskgate/sync/bank-a/checkpoint HTTP/1.1\r\nHost: x\r\n\r\n")
                return t.recv(100) == b""
    except (ssl.SSLError, OSError):
        return True


def run(work):
    ports = {n: free_port() for n in NAMES}
    ms = {n: Member(BUILD, work, n, ports[n]) for n in NAMES}
    first = None
    for n in NAMES:
        extra = ["--fp-key", os.path.join(ms[NAMES[0]].ldir, "fp.key")] if first else []
        LED.run(ms[n].ldir, "init", "--member", n, *extra)
        first = first or n
    LED.run(None, "genesis", "--out", os.path.join(work, "genesis.json"), "--consortium",
            "sync", "--install", *[ms[n].ldir for n in NAMES])
    for n in NAMES:
        ms[n].configure({p: ports[p] for p in PEERS[n]}, sync_poll_ms=2000)
    a, b, c = (ms[n] for n in NAMES)
    try:
        for m in ms.values():
            m.start()

        # 1. an add at bank-a hits at bank-c, through bank-b
        t0 = time.monotonic()
        a.ctl.ok("add", "telecom_fraud", "PHONE", "+8613800138000")
        ok = wait_for(lambda: listed_by(c, "PHONE", "+8613800138000", "bank-a"), 30)
        took = time.monotonic() - t0
        check(ok, f"bank-a's add listed at bank-c (lookup: "
                  f"{lists_of(c, 'PHONE', '+8613800138000')})")
        print(f"add at bank-a listed at bank-c through bank-b in {took * 1000:.0f} ms")
        check(listed_by(b, "PHONE", "+8613800138000", "bank-a"), "listed at bank-b too")

        # 2. an import reaches bank-c whole
        a.ctl.ok("import", merchant_csv(os.path.join(work, "1.csv"), "m", 20000))
        want = a.head("bank-a")
        check(wait_for(lambda: (c.head("bank-a") or {}).get("size") == want["size"], 60),
              f"bank-c holds bank-a's {want['size']} entries: {c.head('bank-a')}")
        got = c.head("bank-a")
        check(got["root"] == want["root"] and got["checkpoint_size"] == want["size"],
              f"same root and checkpoint at bank-c: {got} vs {want}")
        v = c.ctl.run("ledger", "verify")
        check(v[0] == 0 and v[1]["ok"], f"bank-c verifies: {v}")
        check(listed_by(c, "MERCHANT", "m19999", "bank-a"), "the last imported entry listed")

        # 3. kill -9 of bank-c mid catch-up, restart, catch-up
        a.ctl.ok("import", merchant_csv(os.path.join(work, "2.csv"), "n", 60000))
        want = a.head("bank-a")
        wait_for(lambda: (c.head("bank-a") or {}).get("size", 0) > got["size"], 30, step=0.01)
        mid = (c.head("bank-a") or {}).get("size")
        c.kill()
        print(f"bank-c killed holding {mid} of {want['size']} entries of bank-a's log")
        c.stop()
        c.start()
        check(wait_for(lambda: (c.head("bank-a") or {}).get("size") == want["size"], 90),
              f"bank-c caught up after the restart: {c.head('bank-a')} want {want['size']}")
        v = c.ctl.run("ledger", "verify")
        check(v[0] == 0 and v[1]["ok"], f"bank-c verifies after the kill: {v}")
        check(listed_by(c, "MERCHANT", "n59999", "bank-a"), "last entry listed after restart")

        # 4. the Go verifier through bank-b's daemon, mutual TLS
        vkey = next(h for h in json.load(open(os.path.join(work, "genesis.json")))["members"]
                    if h["name"] == "bank-a")
        vkey = note_vkey("riskgate/sync/bank-a", bytes.fromhex(vkey["public_key"]))
        p = subprocess.run([TLOGCHECK, "-url", f"https://127.0.0.1:{b.port}",
                            "-origin", "riskgate/sync/bank-a", "-vkey", vkey, "-entries",
                            "-prove", "0,40000,80000",
                            "-cert", os.path.join(c.ldir, "tls.crt"),
                            "-key", os.path.join(c.ldir, "tls.key"),
                            "-pin", spki_pin(os.path.join(b.ldir, "tls.crt"))],
                           capture_output=True, text=True, timeout=300)
        out = json.loads(p.stdout.splitlines()[-1]) if p.stdout.strip() else {}
        check(p.returncode == 0 and out.get("size") == want["size"] and
              out.get("root") == want["root"] and out.get("entries_verified") == want["size"],
              f"tlogcheck over mutual TLS at bank-b: exit {p.returncode} {out} "
              f"{p.stderr[-500:]}")

        # 5. strangers are refused in the handshake
        before = b.ctl.ok("peers")["serving"]["tls_refused"]
        stranger = os.path.join(work, "stranger")
        LED.run(stranger, "init", "--member", "stranger")
        cases = []
        for what, cert in (("a key no membership lists", stranger), ("no certificate", None)):
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            if cert:
                ctx.load_cert_chain(os.path.join(cert, "tls.crt"), os.path.join(cert, "tls.key"))
            cases.append((what, ctx))
        old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        old.check_hostname = False
        old.verify_mode = ssl.CERT_NONE
        old.maximum_version = ssl.TLSVersion.TLSv1_2
        old.load_cert_chain(os.path.join(c.ldir, "tls.crt"), os.path.join(c.ldir, "tls.key"))
        cases.append(("TLS 1.2", old))
        for what, ctx in cases:
            check(tls_refused(b.port, ctx), f"{what}: refused")
        after = b.ctl.ok("peers")["serving"]["tls_refused"]
        check(after >= before + 2, f"refusals counted: {before} -> {after}")
        # members still served
        a.ctl.ok("add", "telecom_fraud", "DEVICE", "imei-356938035643809")
        check(wait_for(lambda: listed_by(c, "DEVICE", "imei-356938035643809", "bank-a"), 30),
              "members served after the strangers")

        # 6. peers at bank-b
        r = b.ctl.ok("peers")
        peers = {p["member"]: p for p in r["peers"]}
        check(set(peers) == {"bank-a", "bank-c"} and all(p["connected"] for p in peers.values()),
              f"bank-b's peers connected: {r}")
        la = [x for x in peers["bank-a"]["logs"] if x["member"] == "bank-a"]
        check(la and la[0]["lag_entries"] == 0 and peers["bank-a"]["bytes_in"] > 0,
              f"no lag behind bank-a: {peers['bank-a']}")

        # a reload that changes the peers or the address says they need a restart
        text = open(b.cfg).read()
        with open(b.cfg, "w") as f:
            f.write(text.replace(f"127.0.0.1:{ports['bank-c']}", "127.0.0.1:1"))
        r = b.ctl.ok("reload")
        check("peers" in r.get("needs_restart", []) and
              [p["url"] for p in b.ctl.ok("peers")["peers"]
               if p["member"] == "bank-c"] == [f"https://127.0.0.1:{ports['bank-c']}"],
              f"reload of other peers: needs a restart, the running ones stay: {r}")
        with open(b.cfg, "w") as f:
            f.write(text)
        b.ctl.ok("reload")

        # 7. partition (bank-b hangs) and heal
        b.proc.send_signal(signal.SIGSTOP)
        try:
            a.ctl.ok("add", "telecom_fraud", "PHONE", "+8613900000007")
            time.sleep(2)
            check(not listed_by(c, "PHONE", "+8613900000007", "bank-a"),
                  "partitioned: bank-a's add does not reach bank-c")
            check(a.ctl.run("status")[0] == 0 and c.ctl.run("status")[0] == 0,
                  "bank-a and bank-c keep answering while their peer hangs")
        finally:
            b.proc.send_signal(signal.SIGCONT)
        t0 = time.monotonic()
        check(wait_for(lambda: listed_by(c, "PHONE", "+8613900000007", "bank-a"), 60),
              "healed: the add arrives at bank-c")
        print(f"after the heal, the add reached bank-c in {time.monotonic() - t0:.2f} s")
    finally:
        for m in ms.values():
            m.stop()
        if failures:
            for m in ms.values():
                sys.stderr.write(f"--- {m.name} log ---\n{m.log_tail()}\n")




if __name__ == "__main__":
    main_in_work("rg-sync-", run)
