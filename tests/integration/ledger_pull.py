# SPDX-License-Identifier: BSD-3-Clause
"""`pull` takes in a bundle whole or not at all, and refuses provably bad
signed checkpoints, keeping them as evidence.

usage: ledger_pull.py RISKGATE_LEDGER

bank-a's log holds 6 entries in 4 blocks (sizes 3, 4, 5, 6).  Its bundle is
rewritten here (records framed again, the end hash recomputed; checkpoint
notes written and signed here, with Python's Ed25519 and bank-a's own key,
as a faulty or dishonest bank-a could sign them) and pulled by bank-b:
  1. the third block's signature broken: refused (exit 1), bank-b holds
     nothing of bank-a's log, not even the two good blocks before it;
  2. the last block's entries changed: refused the same way;
  3. each provably bad checkpoint added to the good bundle (size 0 with a
     root that is not the empty tree's; size 7, beyond the 6 entries the
     bundle brings; size 5 with another root; size 2, inside a block):
     refused (exit 4), nothing taken in, the checkpoint named in the JSON
     (`evidence`: member, object, at, problem) and kept (`evidence`
     command lists it with the signed checkpoint);
  4. all of them in one bundle: each one named;
  5. the good bundle, plus a size-0 checkpoint with the empty tree's root
     (true of every log): taken in whole (exit 0); pulled again: all held;
  6. then a second head for size 6 with another root: a fork (exit 4),
     kept, the log held unchanged.
"""
import hashlib
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ledger_util import (REC_BLOCK, REC_CHECKPOINT, check, checkpoint, main_in_tmp,  # noqa: E402
                         member_key, note_size_root, read_bundle, write_bundle)


def pull(led, d, path):
    p = led.run(d, "pull", path, ok=(0, 1, 4))
    return p.returncode, json.loads(p.stdout.splitlines()[-1]), p.stderr


def size_of(led, d, member):
    return led.json(d, "head", "--member", member)[0]["size"]


def run(led, work):
    a, b = led.consortium(work, ["bank-a", "bank-b"])
    lst = os.path.join(work, "l.csv")
    with open(lst, "w") as f:
        f.write("list,kind,value\n" + "".join(f"marketing_cheat,MERCHANT,m{i}\n"
                                              for i in range(3)))
    led.run(a, "import", lst)
    for i in range(3):
        led.run(a, "add", "marketing_cheat", "MERCHANT", f"n{i}")
    good = os.path.join(work, "a.bundle")
    led.run(a, "bundle", "--out", good)
    cons, recs = read_bundle(good)
    blocks = [i for i, (t, _) in enumerate(recs) if t == REC_BLOCK]
    check(len(blocks) == 4, f"bank-a's bundle holds 4 blocks: {len(blocks)}")
    origin = led.json(a, "head")[0]["origin"]
    check(origin.startswith("riskgate/") and origin.endswith("/bank-a"), f"origin {origin}")
    key = member_key(a)
    roots = dict(note_size_root(body) for t, body in recs if t == REC_CHECKPOINT)
    check(sorted(roots) == [3, 4, 5, 6], f"checkpoints at block ends: {sorted(roots)}")

    # 1. and 2. a bad later block: nothing of the bundle is taken in
    for what, blk, off in (("third block's signature", blocks[2], 150),
                           ("last block's entries", blocks[3], 201 + 2 + 30)):
        bad = list(recs)
        body = bytearray(bad[blk][1])
        body[off] ^= 1
        bad[blk] = (REC_BLOCK, bytes(body))
        rc, r, err = pull(led, b, write_bundle(os.path.join(work, "bad.bundle"), cons, bad))
        check(rc == 1 and not r["ok"], f"{what}: refused (exit {rc}, {r})")
        check(r["blocks_new"] == 0 and r["entries_new"] == 0, f"{what}: counts {r}")
        check(size_of(led, b, "bank-a") == 0,
              f"{what}: bank-b holds {size_of(led, b, 'bank-a')} entries of bank-a's log, "
              "not 0")

    # 3. and 4. provably bad checkpoints
    empty = hashlib.sha256(b"").digest()
    other = hashlib.sha256(b"another log").digest()
    cases = [(0, other, "empty_root"), (7, other, "beyond"), (5, other, "root"),
             (2, other, "root")]
    # (bank-a's own head at size 5 left out: with it, another root at 5 is a fork)
    without5 = [(t, body) for t, body in recs
                if t != REC_CHECKPOINT or note_size_root(body)[0] != 5]
    for extra in [[c] for c in cases] + [cases]:
        bad = without5 + [(REC_CHECKPOINT, checkpoint(key, origin, s, r_))
                          for s, r_, _ in extra]
        what = "all bad checkpoints" if len(extra) > 1 else f"checkpoint at size {extra[0][0]}"
        rc, r, err = pull(led, b, write_bundle(os.path.join(work, "bad.bundle"), cons, bad))
        check(rc == 4 and not r["ok"], f"{what}: refused with evidence (exit {rc}, {r})")
        named = sorted((e["at"], e["problem"]) for e in r.get("evidence", [])
                       if e["member"] == "bank-a" and e["object"] == "checkpoint")
        want = sorted((s, p) for s, _, p in extra)
        check(named == want and r.get("evidence_kept") == len(extra),
              f"{what}: named {named}, want {want} ({r})")
        check(size_of(led, b, "bank-a") == 0 and r["blocks_new"] == 0,
              f"{what}: nothing taken in ({r})")
        check("evidence kept" in err, f"{what}: stderr '{err.strip()}'")
    kept = led.json(b, "evidence")
    got = sorted((e["at"], e["problem"]) for e in kept)
    check(got == sorted((s, p) for s, _, p in cases),
          f"evidence command lists each bad checkpoint once: {got}")
    for e in kept:
        check(e["member"] == "bank-a" and e["object"] == "checkpoint" and
              e["signed"] and e["signed"][0]["size"] == e["at"] and
              e["signed"][0]["root"] == other.hex() and
              e["signed"][0]["note"].startswith(origin + "\n"), f"evidence record {e}")
        check((e["log_root"] == roots[5].hex()) if e["at"] == 5 else e["log_root"] is None,
              f"log root kept beside a root mismatch: {e}")

    # 5. the good bundle, with a size-0 checkpoint of the empty tree
    ok_recs = recs + [(REC_CHECKPOINT, checkpoint(key, origin, 0, empty))]
    rc, r, err = pull(led, b, write_bundle(os.path.join(work, "ok.bundle"), cons, ok_recs))
    check(rc == 0 and r["ok"] and r["blocks_new"] == 4 and r["entries_new"] == 6 and
          r["checkpoints_new"] == 4 and r["evidence"] == [],
          f"good bundle taken in whole: exit {rc} {r} {err}")
    check(size_of(led, b, "bank-a") == 6, "bank-b holds bank-a's 6 entries")
    rc, r, _ = pull(led, b, good)
    check(rc == 0 and r["blocks_held"] == 4 and r["checkpoints_held"] == 4 and
          r["blocks_new"] == 0, f"pulled again: all held ({r})")
    check(led.json(b, "verify")[0]["ok"], "bank-b verifies")

    # 6. a second head for a size held: a fork
    fork = [(REC_CHECKPOINT, checkpoint(key, origin, 6, other))]
    rc, r, err = pull(led, b, write_bundle(os.path.join(work, "fork.bundle"), cons, fork))
    check(rc == 4 and [(e["at"], e["problem"]) for e in r["evidence"]] == [(6, "fork")],
          f"fork of heads: exit {rc} {r}")
    check(any(e["problem"] == "fork" and e["at"] == 6 and len(e["signed"]) == 2
              for e in led.json(b, "evidence")), "fork kept with both heads")
    h = led.json(b, "head", "--member", "bank-a")[0]
    check(h["size"] == 6 and h["checkpoint_root"] == roots[6].hex(),
          f"the log held is unchanged: {h}")


if __name__ == "__main__":
    main_in_tmp("ledger-pull-", run)
