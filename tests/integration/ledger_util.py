# SPDX-License-Identifier: BSD-3-Clause
"""Helpers shared by the ledger integration tests: run riskgate-ledger,
make member directories with a shared genesis and fingerprint key; read
and write bundles, and sign checkpoint notes with a member's own key (as a
faulty or dishonest member could sign them)."""
import base64
import hashlib
import json
import os
import struct
import shutil
import subprocess
import sys
import tempfile


class Ledger:
    def __init__(self, exe):
        self.exe = exe

    def run(self, d, *args, ok=(0,), stdin=None):
        cmd = [self.exe] + (["--dir", d] if d else []) + [str(a) for a in args]
        p = subprocess.run(cmd, capture_output=True, text=True, input=stdin, timeout=300)
        if p.returncode not in ok:
            sys.stderr.write(f"command {cmd} exited {p.returncode}\nstdout: {p.stdout}\n"
                             f"stderr: {p.stderr}\n")
            raise SystemExit(1)
        return p

    def json(self, d, *args, ok=(0,)):
        p = self.run(d, *args, ok=ok)
        return [json.loads(x) for x in p.stdout.splitlines() if x.startswith("{")]

    def consortium(self, work, names, name="test"):
        """Member dirs work/NAME, one fp.key, one genesis listing them all."""
        dirs = []
        for i, n in enumerate(names):
            d = os.path.join(work, n)
            extra = ["--fp-key", os.path.join(dirs[0], "fp.key")] if dirs else []
            self.run(d, "init", "--member", n, *extra)
            dirs.append(d)
        self.run(None, "genesis", "--out", os.path.join(work, "genesis.json"),
                 "--consortium", name, "--install", *dirs)
        return dirs


def merchant_csv(path, prefix, n):
    """A list file of n MERCHANT entries prefix0 .. on marketing_cheat."""
    with open(path, "w") as f:
        f.write("list,kind,value\n")
        f.writelines(f"marketing_cheat,MERCHANT,{prefix}{i}\n" for i in range(n))
    return path


BUNDLE_MAGIC = b"RGBUNDL2"
REC_BLOCK, REC_CHECKPOINT, REC_END = 1, 2, 0xFF


def read_bundle(path):
    """(consortium id, [(type, body)]) of a bundle file (docs/ledger.md, "Bundle")."""
    data = open(path, "rb").read()
    assert data[:8] == BUNDLE_MAGIC
    recs, off = [], 40
    while True:
        typ, n = data[off], struct.unpack(">I", data[off + 1:off + 5])[0]
        if typ == REC_END:
            return data[8:40], recs
        recs.append((typ, data[off + 5:off + 5 + n]))
        off += 5 + n


def write_bundle(path, cons, recs):
    out = BUNDLE_MAGIC + cons + b"".join(bytes([t]) + struct.pack(">I", len(b)) + b
                                         for t, b in recs)
    out += bytes([REC_END]) + struct.pack(">I", 32) + hashlib.sha256(out).digest()
    with open(path, "wb") as f:
        f.write(out)
    return path


def member_key(d):
    """The member's Ed25519 ledger key from DIR/member.key (libsodium: seed ||
    public), as a python3-cryptography private key."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    for line in open(os.path.join(d, "member.key")):
        if line.startswith("secret "):
            return Ed25519PrivateKey.from_private_bytes(bytes.fromhex(line.split()[1])[:32])
    raise SystemExit("no secret in member.key")


def sign_note(key, name, text):
    """The signed note of text (bytes, its lines with their newlines) with one
    signature line by key under name (C2SP signed-note), made here."""
    from cryptography.hazmat.primitives import serialization
    pub = key.public_key().public_bytes(serialization.Encoding.Raw,
                                        serialization.PublicFormat.Raw)
    keyid = hashlib.sha256(name.encode() + b"\n\x01" + pub).digest()[:4]
    sig = base64.b64encode(keyid + key.sign(text)).decode()
    return text + f"\n\u2014 {name} {sig}\n".encode()


def checkpoint(key, origin, size, root):
    """A checkpoint note (tlog-checkpoint) signed with key under the name
    origin, made here."""
    return sign_note(key, origin, f"{origin}\n{size}\n{base64.b64encode(root).decode()}\n"
                     .encode())


def note_size_root(body):
    """(size, root) of a checkpoint note."""
    lines = body.split(b"\n")
    return int(lines[1]), base64.b64decode(lines[2])


failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        sys.stderr.write(f"FAIL: {what}\n")


def done():
    if failures:
        sys.stderr.write(f"{len(failures)} check(s) failed\n")
        sys.exit(1)
    print("all checks passed")
    sys.exit(0)


def main_in_tmp(prefix, run):
    """run(led, work): led runs the riskgate-ledger named by argv[1], work
    is a new directory, removed afterwards; then exit as done() does."""
    led = Ledger(sys.argv[1])
    work = tempfile.mkdtemp(prefix=prefix)
    try:
        run(led, work)
    finally:
        shutil.rmtree(work)
    done()
