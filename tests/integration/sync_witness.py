# SPDX-License-Identifier: BSD-3-Clause
"""Witnessing and fork detection between real riskgated daemons.

usage: sync_witness.py BUILD_DIR TLOGCHECK

Members bank-a, bank-b, bank-c, fully meshed, and bank-d run twice: one
daemon (d1) peered with bank-a only, another (d2, a copy of the same
ledger directory: one member key, two ledgers) peered with bank-b only.
  1. an add at bank-a: the checkpoint bank-a serves carries cosignatures
     (C2SP tlog-cosignature) by bank-b, bank-c and bank-d, and bank-b's
     view of bank-a's log carries bank-b's; Go's tlogcheck verifies them
     (its own cosignature/v1 code) over mutual TLS;
  2. tlog-witness add-checkpoint at bank-b, by a member's client: the
     genuine checkpoint with the right old size is cosigned (200); a wrong
     old size gets 409 and the size; a bad signature 403; bank-b's own
     log and an unknown origin 404; a malformed body 400; a checkpoint
     signed by bank-a's key with a proof that does not hold 422;
  3. equivocation: d1 and d2 each add a different entry, so bank-d signs
     two logs.  bank-a, bank-b and bank-c each detect the fork (evidence
     with both checkpoints, `riskgate-ctl forks`, an alarm event), freeze
     bank-d's log (a later add at d1 does not reach bank-a's table) while
     bank-a's log still flows; `fork-clear` lets it advance again.
"""
import base64
import hashlib
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sync_members import BUILD, LED, TLOGCHECK, listed_by, note_vkey, spki_pin  # noqa: E402
from ctl_util import Member, free_port, main_in_work  # noqa: E402
from dp_util import check, failures, wait_for  # noqa: E402

from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402


def cosigner_vkey(name, pk):
    """Go-style verifier key text of a cosignature/v1 key (algorithm 0x04)."""
    keyid = hashlib.sha256(name.encode() + b"\n\x04" + pk).digest()[:4]
    key = base64.b64encode(b"\x04" + pk).decode()
    return f"{name}+{keyid.hex()}+{key}"


def member_pk(work, name):
    g = json.load(open(os.path.join(work, "genesis.json")))
    return bytes.fromhex(next(m for m in g["members"] if m["name"] == name)["public_key"])


def member_sk(ldir):
    for line in open(os.path.join(ldir, "member.key")):
        if line.startswith("secret "):
            return Ed25519PrivateKey.from_private_bytes(bytes.fromhex(line.split()[1])[:32])
    raise SystemExit("no secret")


def sign_checkpoint(sk, origin, size, root):
    text = f"{origin}\n{size}\n{base64.b64encode(root).decode()}\n".encode()
    pub = sk.public_key().public_bytes(serialization.Encoding.Raw,
                                       serialization.PublicFormat.Raw)
    keyid = hashlib.sha256(origin.encode() + b"\n\x01" + pub).digest()[:4]
    return text + f"\n\u2014 {origin} {base64.b64encode(keyid + sk.sign(text)).decode()}\n"\
        .encode()


def https(port, client_dir, method, path, body=None):
    """(status, body) of one request with client_dir's TLS key."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_cert_chain(os.path.join(client_dir, "tls.crt"), os.path.join(client_dir, "tls.key"))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        with ctx.wrap_socket(s) as t:
            req = f"{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            if body is not None:
                req += f"Content-Length: {len(body)}\r\n"
            t.sendall(req.encode() + b"\r\n" + (body or b""))
            data = b""
            while True:
                x = t.recv(65536)
                if not x:
                    break
                data += x
    head, _, payload = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1])
    if b"transfer-encoding: chunked" in head.lower():
        out, rest = b"", payload
        while rest:
            n, _, rest = rest.partition(b"\r\n")
            n = int(n, 16)
            if n == 0:
                break
            out, rest = out + rest[:n], rest[n + 2:]
        payload = out
    return status, payload


def events_of(m):
    p = os.path.join(m.dir, "hits.jsonl")
    return [json.loads(x) for x in open(p)] if os.path.exists(p) else []


def run(work):
    names = ["bank-a", "bank-b", "bank-c", "bank-d"]
    ports = {n: free_port() for n in names}
    ports["bank-d@1"], ports["bank-d@2"] = ports["bank-d"], free_port()
    ms = {n: Member(BUILD, work, n, ports[n]) for n in names}
    for i, n in enumerate(names):
        extra = ["--fp-key", os.path.join(ms["bank-a"].ldir, "fp.key")] if i else []
        LED.run(ms[n].ldir, "init", "--member", n, *extra)
    LED.run(None, "genesis", "--out", os.path.join(work, "genesis.json"), "--consortium", "w",
            "--install", *[ms[n].ldir for n in names])
    d1 = ms["bank-d"]
    d2 = Member(BUILD, work, "bank-d2", ports["bank-d@2"])
    shutil.rmtree(d2.ldir, ignore_errors=True)
    shutil.copytree(d1.ldir, d2.ldir)
    a, b, c = ms["bank-a"], ms["bank-b"], ms["bank-c"]
    a.configure({"bank-b": ports["bank-b"], "bank-c": ports["bank-c"],
                 "bank-d": ports["bank-d@1"]}, sync_poll_ms=200)
    b.configure({"bank-a": ports["bank-a"], "bank-c": ports["bank-c"],
                 "bank-d": ports["bank-d@2"]}, sync_poll_ms=200)
    c.configure({"bank-a": ports["bank-a"], "bank-b": ports["bank-b"]}, sync_poll_ms=200)
    d1.configure({"bank-a": ports["bank-a"]}, sync_poll_ms=200)
    d2.configure({"bank-b": ports["bank-b"]}, sync_poll_ms=200)
    everyone = [a, b, c, d1, d2]
    try:
        for m in everyone:
            m.start()
        pks = {n: member_pk(work, n) for n in names}

        # 1. cosignatures by bank-b, bank-c and bank-d on bank-a's checkpoint
        a.ctl.ok("add", "telecom_fraud", "PHONE", "+8613800138001")
        check(wait_for(lambda: listed_by(c, "PHONE", "+8613800138001", "bank-a"), 20),
              "bank-a's add reached bank-c")

        def cosigned_by():
            st, body = https(a.port, c.ldir, "GET", "/riskgate/w/bank-a/checkpoint")
            return st == 200 and all(f"\u2014 riskgate/w/{w} ".encode() in body
                                     for w in ("bank-b", "bank-c", "bank-d"))
        check(wait_for(cosigned_by, 20), "bank-a serves its checkpoint cosigned by b, c, d: "
              f"{https(a.port, c.ldir, 'GET', '/riskgate/w/bank-a/checkpoint')}")
        vkey = note_vkey("riskgate/w/bank-a", pks["bank-a"])
        cos = []
        for w in ("bank-b", "bank-c"):
            cos += ["-cosigner", cosigner_vkey(f"riskgate/w/{w}", pks[w])]
        common = ["-cert", os.path.join(c.ldir, "tls.crt"), "-key",
                  os.path.join(c.ldir, "tls.key")]
        for where, port, pin_dir, extra in (
                ("bank-a's checkpoint", a.port, a.ldir, cos),
                ("bank-b's view", b.port, b.ldir,
                 ["-cosigner", cosigner_vkey("riskgate/w/bank-b", pks["bank-b"])])):
            url = f"https://127.0.0.1:{port}"
            p = subprocess.run([TLOGCHECK, "-url", url, "-origin", "riskgate/w/bank-a",
                                "-vkey", vkey, "-cosigned-url",
                                f"{url}/riskgate/w/bank-a/checkpoint", *extra, *common,
                                "-pin", spki_pin(os.path.join(pin_dir, "tls.crt"))],
                               capture_output=True, text=True, timeout=120)
            out = json.loads(p.stdout.splitlines()[-1]) if p.stdout.strip() else {}
            check(p.returncode == 0 and out.get("cosignatures_verified") == len(extra) // 2,
                  f"tlogcheck verifies the cosignatures on {where}: exit {p.returncode} {out} "
                  f"{p.stderr[-400:]}")

        # 2. add-checkpoint at bank-b
        st, note = https(b.port, c.ldir, "GET", "/riskgate/w/bank-a/checkpoint")
        size = int(note.split(b"\n")[1])
        # the note with bank-a's own signature line only
        own_sig = "\u2014 riskgate/w/bank-a ".encode()
        plain = note[:note.index(b"\n\n") + 2] + next(
            ln for ln in note.split(b"\n") if ln.startswith(own_sig)) + b"\n"
        st, body = https(b.port, c.ldir, "POST", "/add-checkpoint",
                         f"old {size}\n\n".encode() + plain)
        check(st == 200 and body.startswith("\u2014 riskgate/w/bank-b ".encode()),
              f"genuine checkpoint, right old size: cosigned ({st} {body!r})")
        st, body = https(b.port, c.ldir, "POST", "/add-checkpoint", b"old 0\n\n" + plain)
        check(st == 409 and body.strip() == str(size).encode(),
              f"wrong old size: 409 with the size ({st} {body!r})")
        bad = bytearray(plain)
        bad[-10] = ord("A") if bad[-10] != ord("A") else ord("B")
        st, body = https(b.port, c.ldir, "POST", "/add-checkpoint",
                         f"old {size}\n\n".encode() + bytes(bad))
        check(st in (400, 403), f"bad signature: 403 ({st} {body!r})")
        own = sign_checkpoint(member_sk(b.ldir), "riskgate/w/bank-b", 1, b"\x01" * 32)
        st, body = https(b.port, c.ldir, "POST", "/add-checkpoint", b"old 0\n\n" + own)
        check(st == 404, f"the witness's own log: 404 ({st} {body!r})")
        st, body = https(b.port, c.ldir, "POST", "/add-checkpoint", b"old x\n\n" + plain)
        check(st == 400 and b"old" in body, f"malformed: 400 ({st} {body!r})")
        forged = sign_checkpoint(member_sk(a.ldir), "riskgate/w/bank-a", size + 5,
                                 hashlib.sha256(b"x").digest())
        proof = "\n".join(base64.b64encode(os.urandom(32)).decode() for _ in range(3))
        st, body = https(b.port, c.ldir, "POST", "/add-checkpoint",
                         f"old {size}\n{proof}\n\n".encode() + forged)
        check(st == 422, f"a proof that does not hold: 422 ({st} {body!r})")
        check(b.ctl.ok("forks")["frozen"] == [], "a bad proof alone is no fork")

        # 3. bank-d equivocates
        t0 = time.monotonic()
        d1.ctl.ok("add", "marketing_cheat", "DEVICE", "dev-one")
        d2.ctl.ok("add", "marketing_cheat", "DEVICE", "dev-two")
        for m in (a, b, c):
            ok = wait_for(lambda: "bank-d" in m.ctl.ok("forks")["frozen"], 30)
            check(ok, f"{m.name} detects bank-d's fork: {m.ctl.ok('forks')}")
            print(f"{m.name} froze bank-d's log {time.monotonic() - t0:.2f} s after the adds")
            f = m.ctl.ok("forks")
            ev = [e for e in f["evidence"] if e["member"] == "bank-d"]
            check(ev and len(ev[0]["signed"]) == 2, f"{m.name} keeps both signed objects: {f}")
            check(any(e.get("alarm") == "fork" and e.get("state") == "raised"
                      for e in events_of(m)), f"{m.name} raised the fork alarm")
        # frozen: a later add at d1 does not reach bank-a; bank-a's own log still flows
        d1.ctl.ok("add", "marketing_cheat", "DEVICE", "dev-three")
        a.ctl.ok("add", "telecom_fraud", "PHONE", "+8613800138002")
        check(wait_for(lambda: listed_by(c, "PHONE", "+8613800138002", "bank-a"), 20),
              "bank-a's log still flows to bank-c")
        time.sleep(1)
        r = a.ctl.run("lookup", "DEVICE", "dev-three")[1] or {}
        check(not r.get("in_table"), f"bank-d's frozen log did not advance at bank-a: {r}")
        r = a.ctl.ok("fork-clear", "bank-d")
        check(r.get("frozen") is False, f"fork-clear: {r}")
        rc, out, err = a.ctl.run("fork-clear", "bank-c")
        check(rc != 0, "fork-clear of a log that is not frozen is refused")
    finally:
        for m in everyone:
            m.stop()
        if failures:
            for m in everyone:
                sys.stderr.write(f"--- {m.name} log ---\n{m.log_tail()}\n")


if __name__ == "__main__":
    main_in_work("rg-wit-", run)
