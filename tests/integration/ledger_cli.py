# SPDX-License-Identifier: BSD-3-Clause
"""riskgate-ledger end to end: three members with one genesis and one
fingerprint key import generated lists, exchange bundles, verify, build a
table; the table equals a reference derived from `export` alone (state
derivation, revocation, expiry); bad lines are reported with their line
number and reason and never with a raw PAN; --strict imports nothing;
only the contributor may revoke; proofs verify standalone and tampered
proofs do not; key files with loose permissions and foreign bundles are
refused.

usage: ledger_cli.py RISKGATE_LEDGER RISKGATE_GEN
"""
import json
import os
import random
import re
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ledger_util import Ledger, check, done  # noqa: E402

EXPIRE_AT = 1924992000  # 2031-01-01: entries with this expiry lapse in the second table


def reference_table(led, d, now_s):
    """fp -> (lists, action, contributor) from `export --all` only."""
    members = {m["member"]: m["index"] for m in led.json(d, "members")}
    held = {}  # (fp, list_bit, member) -> (pos, expiry, action)
    for e in led.json(d, "export", "--all"):
        key = (e["fp"], e["list_bit"], e["member"])
        if e["op"] == "ADD":
            held[key] = (e["pos"], e["expiry"], e["action"])
        elif e["op"] == "REVOKE":
            assert e["ref_member"] == e["member"]
            if key in held and held[key][0] == e["ref_pos"]:
                del held[key]
    table = {}
    for (fp, bit, member), (_pos, expiry, action) in held.items():
        if expiry and expiry <= now_s:
            continue
        lists, act, contrib = table.get(fp, (0, -1, None))
        idx = members[member]
        if action > act or (action == act and idx < contrib):
            act, contrib = action, idx
        table[fp] = (lists | (1 << bit), act, contrib)
    return table


def dumped_table(led, path):
    return {t["fp"]: (t["lists"], t["action"], t["contributor"])
            for t in led.json(None, "table-dump", path)}


def main():
    led = Ledger(sys.argv[1])
    gen = sys.argv[2]
    work = tempfile.mkdtemp(prefix="ledger-cli-")
    try:
        run(led, gen, work)
    finally:
        shutil.rmtree(work)
    done()


def run(led, gen, work):
    import subprocess
    a, b, c = led.consortium(work, ["bank-a", "bank-b", "bank-c"])
    subprocess.run([gen, "--out", os.path.join(work, "t.pcap"), "--lists",
                    os.path.join(work, "L.csv"), "--members", "3", "--list-size", "800",
                    "--messages", "400", "--seed", "7"], check=True, capture_output=True)
    for d, i in ((a, 1), (b, 2), (c, 3)):
        r = led.json(d, "import", os.path.join(work, f"L-{i}.csv"), "--block", "256",
                     ok=(0, 3))[-1]
        check(r["imported"] > 900 and r["size"] == r["imported"], f"import {i}: {r}")

    # bad lines: reported with line number and reason, PANs masked
    bad = os.path.join(work, "bad.csv")
    with open(bad, "w") as f:
        f.write("list,kind,value,severity,expiry,reason\n"
                "txn_fraud,PAN,4761739001010118,high,,x\n"         # 2 Luhn
                "nolist,PAN,4761739001010119,high,,x\n"            # 3 unknown list
                "txn_fraud,CARD,4761739001010119,high,,x\n"        # 4 unknown kind
                "txn_fraud,PAN,\"4761739001010119,high,,x\n"       # 5 corrupt CSV
                "txn_fraud,PAN,4929 1234 5678 9012 3,high,,x\n"    # 6 ok (Luhn-valid? maybe)
                "telecom_fraud,PHONE,+49 151 99999999,low,2031-01-01,sim_swap\n"  # 7
                "telecom_fraud,PHONE,004915199999999,low,,sim_swap\n"  # 8 duplicate of 7
                "txn_fraud,PAN,4761739001010119,high,2001-01-01,x\n"   # 9 expiry past
                "txn_fraud,PAN,12345,high,,x\n")                   # 10 not a PAN
    before = led.json(a, "head")[0]["size"]
    p = led.run(a, "import", bad, "--strict", ok=(1,))
    check(led.json(a, "head")[0]["size"] == before, "--strict imported something")
    p = led.run(a, "import", bad, ok=(3,))
    err = p.stderr
    for line, what in ((2, "Luhn"), (3, "unknown list"), (4, "unknown kind"),
                       (5, "unterminated"), (8, "duplicate of line 7"), (9, "past"),
                       (10, "not a valid PAN")):
        check(re.search(rf"^line {line}: .*{what}", err, re.M) is not None,
              f"bad line {line} ({what}) not reported: {err}")
    check(re.search(r"\d{12}", err) is None, f"raw PAN in messages: {err}")

    # expiring entries and a revoke, then bundles all round
    led.run(b, "add", "telecom_fraud", "PHONE", "+44 7700 900123", "--severity", "high",
            "--expiry", str(EXPIRE_AT))
    exp_b = led.json(b, "export")
    pos = exp_b[0]["pos"]
    led.run(b, "revoke", pos)
    for src in (a, b, c):
        led.run(src, "bundle", "--out", os.path.join(src, "out.bundle"))
    for dst in (a, b, c):
        for src in (a, b, c):
            if src != dst:
                r = led.json(dst, "pull", os.path.join(src, "out.bundle"))[0]
                check(r["ok"], f"pull {src} into {dst}: {r}")
    p = led.run(c, "revoke", exp_b[1]["pos"], "--member", "bank-b", ok=(1,))
    check("only its contributor" in p.stderr, f"foreign revoke reason: {p.stderr}")
    heads = {}
    for d in (a, b, c):
        v = led.json(d, "verify")[0]
        check(v["ok"], f"verify {d}")
        for h in v["logs"]:
            heads.setdefault(h["member"], set()).add((h["size"], h["root"], h["checkpoint"]))
    check(all(len(s) == 1 for s in heads.values()), f"members disagree on heads: {heads}")
    h = led.json(a, "head")[0]
    check(set(("member", "size", "root", "checkpoint", "time")) <= set(h), f"head keys {h}")
    check(h["checkpoint_root"] == h["root"], "head checkpoint covers the log")

    # relay: c bundles everything; a fresh copy of a's view takes it
    led.run(c, "bundle", "--all", "--out", os.path.join(work, "all.bundle"))
    r = led.json(a, "pull", os.path.join(work, "all.bundle"))[0]
    check(r["ok"] and r["blocks_new"] == 0, f"relay pull {r}")

    # state derivation: table equals the reference from the export, now and later
    for now in (1700000000, EXPIRE_AT + 1):
        path = os.path.join(work, f"t{now}.tbl")
        led.run(c, "table", "--out", path, "--now", now)
        got, want = dumped_table(led, path), reference_table(led, c, now)
        check(got == want, f"table at {now}: {len(got)} fps vs reference {len(want)}; "
              f"differ on {len(set(got.items()) ^ set(want.items()))}")
    check(len(reference_table(led, c, EXPIRE_AT + 1)) < len(reference_table(led, c, 1700000000)),
          "expiry removed nothing")

    # proofs
    size = h["size"]
    rnd = random.Random(1)
    for pos in [0, size - 1] + [rnd.randrange(size) for _ in range(5)]:
        proof = os.path.join(work, "p.json")
        with open(proof, "w") as f:
            f.write(led.run(b, "proof", pos, "--member", "bank-a").stdout)
        pj = json.load(open(proof))
        check(len(pj["path"]) * 32 <= 640, "inclusion path longer than 640 bytes")
        r = led.json(None, "verify-proof", proof, "--genesis", os.path.join(work, "genesis.json"))
        check(r[0]["ok"], f"proof of {pos}")
        if pj["path"]:
            pj["path"][0] = ("0" if pj["path"][0][0] != "0" else "1") + pj["path"][0][1:]
            json.dump(pj, open(proof, "w"))
            r = led.json(None, "verify-proof", proof, "--genesis",
                         os.path.join(work, "genesis.json"), ok=(1,))
            check(not r[0]["ok"], f"tampered proof of {pos} accepted")
    cps = led.json(a, "head")[0]
    first = led.json(a, "export")[300]["pos"]
    # sizes with checkpoints are block ends: 256, 512, ...
    proof = os.path.join(work, "c.json")
    with open(proof, "w") as f:
        f.write(led.run(a, "proof", "--consistency", 256).stdout)
    r = led.json(None, "verify-proof", proof, "--genesis", os.path.join(work, "genesis.json"))
    check(r[0]["ok"] and r[0]["second"] == cps["size"], f"consistency proof {r}")
    check(first == 300, "export positions")

    # key files
    os.chmod(os.path.join(a, "member.key"), 0o640)
    p = led.run(a, "add", "txn_fraud", "PAN", "4761739001010119", ok=(1,))
    check("too open" in p.stderr, f"loose member key: {p.stderr}")
    os.chmod(os.path.join(a, "member.key"), 0o600)
    os.chmod(os.path.join(a, "fp.key"), 0o644)
    p = led.run(a, "import", bad, ok=(1,))
    check("too open" in p.stderr, f"loose fp key: {p.stderr}")
    os.chmod(os.path.join(a, "fp.key"), 0o600)
    with open(os.path.join(work, "bad.key"), "w") as f:
        f.write("riskgate-fp-key 1\nepoch 1\nkey 1234\n")
    os.chmod(os.path.join(work, "bad.key"), 0o600)
    p = led.run(os.path.join(work, "x"), "init", "--member", "x", "--fp-key",
                os.path.join(work, "bad.key"), ok=(1,))
    check("bad.key" in p.stderr, f"malformed fp key: {p.stderr}")

    # another consortium's bundle is refused
    os.makedirs(os.path.join(work, "other"))
    other = led.consortium(os.path.join(work, "other"), ["bank-z"], name="other")
    led.run(other[0], "add", "txn_fraud", "PAN", "4761739001010119")
    led.run(other[0], "bundle", "--out", os.path.join(work, "z.bundle"))
    p = led.run(a, "pull", os.path.join(work, "z.bundle"), ok=(1,))
    check("another consortium" in p.stderr, f"foreign bundle: {p.stderr}")


if __name__ == "__main__":
    main()
