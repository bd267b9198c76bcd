# SPDX-License-Identifier: BSD-3-Clause
"""riskgate's logs as C2SP tlog-tiles, checked by an independent verifier.

usage: ledger_tiles.py RISKGATE_LEDGER TLOGCHECK

tlogcheck (tests/interop/tlogcheck) is written in Go against
golang.org/x/mod/sumdb/note and sumdb/tlog and shares no code with
riskgate.  Here:
  1. bank-a's log grows to 600 entries (blocks of 100) and is written as a
     static tile tree (`riskgate-ledger tiles`); its checkpoint is kept;
  2. it grows past 65 536 entries (so level-2 tiles exist) and is written
     again: full tiles already there are left alone;
  3. the tree is served over HTTP and tlogcheck verifies the checkpoint
     signature with the vkey `head` prints, every tile, every entry
     bundle, inclusion proofs of the first, a middle and the last entry,
     and consistency with the kept checkpoint; its counts equal the ones
     computed here from the tree size;
  4. bank-b pulls bank-a's bundle and writes what it mirrors (`--all`): the
     relayed tree verifies under bank-a's key with the same root;
  5. a flipped byte in a served hash tile, in an entry bundle, or a
     checkpoint signed by bank-b under bank-a's origin: tlogcheck refuses.
"""
import base64
import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ctl_util import free_port, loopback_accepts  # noqa: E402
from ledger_util import check, main_in_tmp, merchant_csv  # noqa: E402

TLOGCHECK = sys.argv[2]


class Server:
    """python3 -m http.server over a directory, on loopback."""

    def __init__(self, root):
        self.port = free_port()
        self.p = subprocess.Popen(["/usr/bin/python3", "-m", "http.server", "--bind",
                                   "127.0.0.1", "--directory", root, str(self.port)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not loopback_accepts(self.port):
            self.stop()
            raise SystemExit("http.server did not start")

    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def stop(self):
        self.p.terminate()
        self.p.wait()


def tlogcheck(server, origin, vkey, *extra):
    p = subprocess.run([TLOGCHECK, "-url", server.url(), "-origin", origin, "-vkey", vkey,
                        *extra], capture_output=True, text=True, timeout=300)
    out = [json.loads(x) for x in p.stdout.splitlines() if x.startswith("{")]
    return p.returncode, (out[-1] if out else {}), p.stderr.strip()


def expected_tiles(size):
    """Hash tiles and entry bundles of a tree of size (C2SP tlog-tiles)."""
    tiles, level_nodes = 0, size
    while level_nodes > 0:
        tiles += (level_nodes + 255) // 256
        level_nodes //= 256
    return tiles, (size + 255) // 256


def run(led, work):
    a, b = led.consortium(work, ["bank-a", "bank-b"], name="tiles")
    www, www_b = os.path.join(work, "www"), os.path.join(work, "www-b")

    # 1. 600 entries in blocks of 100
    led.run(a, "import", merchant_csv(os.path.join(work, "1.csv"), "m", 600), "--block", "100")
    r = led.json(a, "tiles", "--out", www)[0]
    check(r["size"] == 600 and r["tiles"] + r["entry_bundles"] == sum(expected_tiles(600)),
          f"first export: {r}")
    origin, vkey = r["origin"], r["vkey"]
    check(origin == "riskgate/tiles/bank-a", f"origin {origin}")
    old = os.path.join(work, "old-checkpoint")
    shutil.copy(os.path.join(www, origin, "checkpoint"), old)

    # 2. past 65 536 entries: level-2 tiles
    led.run(a, "import", merchant_csv(os.path.join(work, "2.csv"), "n", 66000))
    r = led.json(a, "tiles", "--out", www)[0]
    size = r["size"]
    tiles, bundles = expected_tiles(size)
    check(size == 66600, f"size {size}")
    # 600 entries: 2 full hash tiles and 2 full bundles were there already
    check(r["unchanged"] == 4 and r["tiles"] + r["entry_bundles"] == tiles + bundles - 4,
          f"second export leaves full tiles alone: {r}")
    head = led.json(a, "head")[0]
    check(head["vkey"] == vkey and head["checkpoint"] == open(
        os.path.join(www, origin, "checkpoint")).read(), "served checkpoint is head's")
    proof = led.json(a, "proof", "66599")[0]
    check(proof["checkpoint"] == head["checkpoint"], "a proof carries the same note")

    # 3. tlogcheck over HTTP
    srv = Server(www)
    try:
        rc, out, err = tlogcheck(srv, origin, vkey, "-entries", "-prove", "0,33333,66599",
                                 "-old", old)
        check(rc == 0 and out.get("ok"), f"tlogcheck: exit {rc} {out} {err}")
        check(out.get("size") == size and out.get("root") == head["root"] and
              out.get("tiles_verified") == tiles and out.get("entries_verified") == size and
              out.get("proofs_verified") == 3 and out.get("consistency") is True,
              f"tlogcheck counts: {out}, want {tiles} tiles")

        # 5. tampering is caught
        t1 = os.path.join(www, origin, "tile", "1", "000")
        saved = open(t1, "rb").read()
        open(t1, "wb").write(saved[:100] + bytes([saved[100] ^ 1]) + saved[101:])
        rc, out, err = tlogcheck(srv, origin, vkey)
        check(rc == 1 and not out.get("ok") and "tile/1/000" in err,
              f"flipped hash tile: exit {rc} {err}")
        open(t1, "wb").write(saved)
        e7 = os.path.join(www, origin, "tile", "entries", "007")
        saved = open(e7, "rb").read()
        open(e7, "wb").write(saved[:30] + bytes([saved[30] ^ 1]) + saved[31:])
        rc, out, err = tlogcheck(srv, origin, vkey, "-entries")
        check(rc == 1 and "entries/007" in err, f"flipped entry: exit {rc} {err}")
        open(e7, "wb").write(saved)
        rc, out, err = tlogcheck(srv, origin, vkey, "-entries")
        check(rc == 0, f"restored tree verifies again: {err}")
        # bank-b's key under bank-a's origin: not bank-a's checkpoint
        vkey_b = led.json(b, "head", "--member", "bank-b")[0]["vkey"]
        rc, out, err = tlogcheck(srv, origin, origin + vkey_b[len("riskgate/tiles/bank-b"):])
        check(rc != 0, f"checkpoint under another member's key accepted: {out}")
    finally:
        srv.stop()

    # 4. bank-b relays bank-a's log
    bundle = os.path.join(work, "a.bundle")
    led.run(a, "bundle", "--out", bundle)
    led.run(b, "pull", bundle)
    got = led.json(b, "tiles", "--out", www_b, "--all")
    check([g["origin"] for g in got] == [origin], f"bank-b writes the logs it holds: {got}")
    srv = Server(www_b)
    try:
        rc, out, err = tlogcheck(srv, origin, vkey, "-entries", "-prove", "1")
        check(rc == 0 and out.get("root") == head["root"],
              f"relayed tree: exit {rc} {out} {err}")
    finally:
        srv.stop()
    check(base64.b64decode(open(os.path.join(www_b, origin, "checkpoint")).read()
                           .split("\n")[2]).hex() == head["root"], "relayed checkpoint root")


if __name__ == "__main__":
    main_in_tmp("ledger-tiles-", run)
