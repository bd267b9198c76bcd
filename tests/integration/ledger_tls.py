# SPDX-License-Identifier: BSD-3-Clause
"""Members' TLS keys, end to end, checked with the openssl command line (and
curl) rather than riskgate's own code:

  1. `init` makes tls.key (mode 0600, PKCS#8) and tls.crt: an Ed25519 v3
     certificate with the member as CN and DNS name, CA:FALSE, both TLS
     extended key usages; tls.key's public key is the certificate's, and
     the pin `members` and `tls-key --show` print is the SHA-256 of the
     certificate's SubjectPublicKeyInfo, in base64;
  2. the genesis lists each member's tls_key; tls.key readable by group is
     refused with the chmod hint;
  3. a directory made before TLS keys (no tls.* files, no tls line in
     member.pub): `tls-key` makes them, `--show` agrees, a second `tls-key`
     is refused; a genesis made from it lists the key, one made before does
     not (and `members` shows null);
  4. a membership change adding a third member carries its TLS key, signed:
     a change whose tls_key was swapped after signing is refused, and a
     member without a TLS key cannot be proposed; after apply `members`
     shows the key and its pin;
  5. the two files do what they are for: curl, with bank-b's certificate
     and bank-a's pin, talks TLS 1.3 to `openssl s_server` holding bank-a's
     certificate, which takes bank-b's as a client certificate; the pin of
     another key is refused.

usage: ledger_tls.py RISKGATE_LEDGER
"""
import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ctl_util import free_port, loopback_accepts  # noqa: E402
from ledger_util import check, main_in_tmp  # noqa: E402


def openssl(*args, stdin=None):
    p = subprocess.run(["openssl", *args], input=stdin, capture_output=True, timeout=60)
    if p.returncode != 0:
        raise SystemExit(f"openssl {args}: {p.stderr.decode()}")
    return p.stdout


def cert_pin(d):
    """`openssl x509 -pubkey -noout | openssl pkey -pubin -outform der`, hashed."""
    pem = openssl("x509", "-in", os.path.join(d, "tls.crt"), "-pubkey", "-noout")
    der = openssl("pkey", "-pubin", "-outform", "der", stdin=pem)
    return "sha256//" + base64.b64encode(hashlib.sha256(der).digest()).decode()


def raw_pub(der):
    """The 32 key bytes at the end of an Ed25519 SubjectPublicKeyInfo."""
    check(len(der) == 44 and der[:12].hex() == "302a300506032b6570032100",
          f"Ed25519 SPKI: {der.hex()}")
    return der[12:].hex()


def check_files(d, name):
    key, crt = os.path.join(d, "tls.key"), os.path.join(d, "tls.crt")
    check(os.stat(key).st_mode & 0o7777 == 0o600, f"{key} mode {os.stat(key).st_mode:o}")
    with open(key) as f:
        check(f.readline() == "-----BEGIN PRIVATE KEY-----\n", f"{key}: PKCS#8 PEM")
    text = openssl("x509", "-in", crt, "-noout", "-text").decode()
    for want in ("Version: 3", "Public Key Algorithm: ED25519", "Signature Algorithm: ED25519",
                 f"Subject: CN = {name}", f"Issuer: CN = {name}", "CA:FALSE",
                 "Digital Signature", "TLS Web Server Authentication",
                 "TLS Web Client Authentication", f"DNS:{name}"):
        check(want in text, f"{crt}: no '{want}' in\n{text}")
    crt_pub = openssl("x509", "-in", crt, "-pubkey", "-noout")
    key_pub = openssl("pkey", "-in", key, "-pubout")
    check(crt_pub == key_pub, f"{d}: tls.key is not the key of tls.crt")
    return raw_pub(openssl("pkey", "-pubin", "-outform", "der", stdin=crt_pub))


def drop_tls(d):
    """d as made before TLS keys."""
    os.unlink(os.path.join(d, "tls.key"))
    os.unlink(os.path.join(d, "tls.crt"))
    pub = os.path.join(d, "member.pub")
    with open(pub) as f:
        lines = [x for x in f if not x.startswith("tls ")]
    with open(pub, "w") as f:
        f.writelines(lines)


class SServer:
    """openssl s_server with d's TLS key on loopback, TLS 1.3 only, asking for
    a client certificate and taking the one in client_crt."""

    def __init__(self, d, client_crt):
        self.port = free_port()
        self.p = subprocess.Popen(
            ["openssl", "s_server", "-accept", f"127.0.0.1:{self.port}", "-tls1_3",
             "-cert", os.path.join(d, "tls.crt"), "-key", os.path.join(d, "tls.key"),
             "-Verify", "1", "-verify_return_error", "-CAfile", client_crt, "-www"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not loopback_accepts(self.port):
            self.stop()
            raise SystemExit("openssl s_server did not start")

    def stop(self):
        self.p.terminate()
        self.p.wait()


def check_mtls(a, b, pin_a, pin_b):
    if shutil.which("curl") is None:
        sys.stderr.write("curl not found: TLS handshake not checked\n")
        return
    srv = SServer(a, os.path.join(b, "tls.crt"))
    try:
        def curl(pin):
            return subprocess.run(
                ["curl", "-sS", "-k", "--tlsv1.3", "--cert", os.path.join(b, "tls.crt"),
                 "--key", os.path.join(b, "tls.key"), "--pinnedpubkey", pin,
                 f"https://127.0.0.1:{srv.port}/"],
                capture_output=True, text=True, timeout=30)
        p = curl(pin_a)
        check(p.returncode == 0 and "TLSv1.3" in p.stdout,
              f"mutual TLS with bank-a's pin: {p.returncode} {p.stderr}")
        p = curl(pin_b)
        check(p.returncode == 90, f"another key's pin accepted: {p.returncode} {p.stderr}")
    finally:
        srv.stop()


def run(led, work):
    a, b = led.consortium(work, ["bank-a", "bank-b"], name="demo")
    tls = {}
    for d, name in ((a, "bank-a"), (b, "bank-b")):
        tls[name] = check_files(d, name)
        with open(os.path.join(d, "member.pub")) as f:
            check(f"tls {tls[name]}\n" in f.read(), f"{d}/member.pub lists the TLS key")
        show = led.json(d, "tls-key", "--show")[0]
        check(show == {"tls_key": tls[name], "tls_pin": cert_pin(d)}, f"--show {show}")
    with open(os.path.join(work, "genesis.json")) as f:
        gen = json.load(f)
    check({m["name"]: m.get("tls_key") for m in gen["members"]} == tls, f"genesis {gen}")
    for m in led.json(a, "members"):
        d = a if m["member"] == "bank-a" else b
        check(m["tls_key"] == tls[m["member"]] and m["tls_pin"] == cert_pin(d),
              f"members: {m}")
        check(m["tls_key"] != m["public_key"], "TLS key separate from the ledger key")

    # permissions: as member.key
    key = os.path.join(a, "tls.key")
    os.chmod(key, 0o640)
    p = led.run(a, "tls-key", "--show", ok=(1,))
    check("permissions 0640 are too open" in p.stderr and f"chmod 600 {key}" in p.stderr,
          f"loose tls.key: {p.stderr}")
    os.chmod(key, 0o600)
    p = led.run(a, "tls-key", ok=(1,))
    check("already lists a TLS key" in p.stderr, f"tls-key twice: {p.stderr}")

    # a directory made before TLS keys
    old = os.path.join(work, "old")
    led.run(old, "init", "--member", "bank-o", "--fp-key", os.path.join(a, "fp.key"))
    drop_tls(old)
    gen_before = os.path.join(work, "g-before.json")
    led.run(None, "genesis", "--out", gen_before, "--consortium", "old", "--install", old)
    with open(gen_before) as f:
        check("tls_key" not in json.load(f)["members"][0], "old genesis without tls_key")
    ms = led.json(old, "members")
    check(ms[0]["tls_key"] is None and ms[0]["tls_pin"] is None,
          f"member without a TLS key: {ms[0]}")
    p = led.run(old, "tls-key", "--show", ok=(1,))
    check("tls.crt" in p.stderr, f"--show without files: {p.stderr}")
    made = led.json(old, "tls-key")[0]
    check(made["tls_key"] == check_files(old, "bank-o") and made["tls_pin"] == cert_pin(old),
          f"tls-key {made}")
    check(led.json(old, "tls-key", "--show")[0] == made, "--show agrees with tls-key")
    p = led.run(old, "tls-key", ok=(1,))
    check("already lists a TLS key" in p.stderr, f"tls-key again: {p.stderr}")
    gen_after = os.path.join(work, "g-after.json")
    led.run(None, "genesis", "--out", gen_after, "--consortium", "old", old)
    with open(gen_after) as f:
        check(json.load(f)["members"][0]["tls_key"] == made["tls_key"], "genesis after")

    # membership: a third member joins with its TLS key
    c = os.path.join(work, "bank-c")
    led.run(c, "init", "--member", "bank-c", "--fp-key", os.path.join(a, "fp.key"))
    tls_c = check_files(c, "bank-c")
    change = os.path.join(work, "add-c.json")
    led.run(a, "membership", "propose", "add", c, change)
    with open(change) as f:
        check(json.load(f)["tls_key"] == tls_c, "the change carries bank-c's TLS key")
    led.run(a, "membership", "sign", change)
    led.run(b, "membership", "sign", change)
    with open(change) as f:
        signed = json.load(f)
    swapped = dict(signed, tls_key=tls["bank-a"][::-1])
    bad = os.path.join(work, "swapped.json")
    with open(bad, "w") as f:
        json.dump(swapped, f)
    p = led.run(a, "membership", "apply", bad, ok=(1,))
    check("bad co-signature" in p.stderr, f"TLS key swapped after signing: {p.stderr}")
    led.run(a, "membership", "apply", change)
    m = [x for x in led.json(a, "members") if x["member"] == "bank-c"]
    check(len(m) == 1 and m[0]["tls_key"] == tls_c and m[0]["tls_pin"] == cert_pin(c),
          f"bank-c after apply: {m}")
    check(led.json(a, "verify")[0]["ok"], "verify after the change")
    drop_tls(c)
    p = led.run(a, "membership", "propose", "add", c, os.path.join(work, "x.json"), ok=(1,))
    check("lists no TLS key" in p.stderr and "tls-key" in p.stderr,
          f"member without a TLS key proposed: {p.stderr}")

    check_mtls(a, b, cert_pin(a), cert_pin(b))


if __name__ == "__main__":
    main_in_tmp("ledger-tls-", run)
