# SPDX-License-Identifier: BSD-3-Clause
"""Text that would reach the signed ledger, and messages that quote input.

usage: ledger_text.py BUILD_ROOT

  1. riskgate-ledger add and revoke with a card number as --reason are
     refused (exit 1) with the one refusal text; the log does not grow;
  2. import, CSV and JSONL: a reason holding a card number (or any run of
     8 or more digits) is a bad line with the same text;
  3. a card number in each other field of an `add` (list, kind, value,
     severity, expiry, --member) and of CSV and JSONL lines (list, kind,
     severity, expiry, a malformed JSON line that jansson quotes): the
     output (stdout and stderr) shows it masked, never raw;
  4. names: a member or consortium name holding a digit run is refused;
  5. riskgated (unprivileged, a config of its own): `riskgate-ctl add` and
     `revoke` with a card number as reason are refused with the same text,
     nothing is appended, and its log holds no raw card number.
"""
import json
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ctl_util import Ctl, own_config, start_daemon  # noqa: E402
from ledger_util import Ledger, check, done  # noqa: E402

PAN = "4111111111111111"
PAN_MASKED = "411111******1111"
RUN_WHY = ("reason holds a run of 8 or more digits, which could be a card or account "
           "number: use a code, not the number")
GOOD = "4761739001010119"  # Luhn-valid, the value being listed


def raw_free(text, what):
    check(PAN not in text and "1111111111" not in text, f"{what}: raw card number in '{text}'")


def size(led, d):
    return led.json(d, "head")[0]["size"]


def cli(led, a, work):
    # 1. add and revoke with a card number as reason
    led.run(a, "add", "txn_fraud", "PAN", GOOD, "--reason", "confirmed_fraud")
    before = size(led, a)
    for reason in (PAN, "case-12345678", "4111-1111-1111-1111"):
        p = led.run(a, "add", "txn_fraud", "PAN", "4000000000000002", "--reason", reason,
                    ok=(1,))
        check(RUN_WHY in p.stderr, f"add --reason {reason!r}: '{p.stderr.strip()}'")
        raw_free(p.stdout + p.stderr, f"add --reason {reason!r}")
        p = led.run(a, "revoke", "0", "--reason", reason, ok=(1,))
        check(RUN_WHY in p.stderr, f"revoke --reason {reason!r}: '{p.stderr.strip()}'")
    check(size(led, a) == before, "a refused reason appended nothing")
    check(all(PAN not in e["reason"] for e in led.json(a, "export")), "no card number exported")

    # 2. and 3. import lines, CSV and JSONL
    csv = os.path.join(work, "t.csv")
    with open(csv, "w") as f:
        f.write("list,kind,value,severity,expiry,reason\n"
                f"txn_fraud,PAN,{GOOD},high,,{PAN}\n"              # 2 reason
                f"txn_fraud,PAN,{GOOD},high,,case-12345678\n"      # 3 reason, 8 digits
                f"{PAN},PAN,{GOOD},high,,x\n"                      # 4 list
                f"txn_fraud,{PAN},{GOOD},high,,x\n"                # 5 kind
                f"txn_fraud,PAN,{GOOD},{PAN},,x\n"                 # 6 severity
                f"txn_fraud,PAN,{GOOD},high,{PAN},x\n")            # 7 expiry
    p = led.run(a, "import", csv, "--no-progress", ok=(3,))
    out = p.stdout + p.stderr
    raw_free(out, "CSV import")
    for line in (2, 3):
        check(f"line {line}: {RUN_WHY}" in p.stderr, f"CSV line {line}: '{p.stderr}'")
    for line, what in ((4, "unknown list"), (5, "unknown kind"), (6, "unknown severity"),
                       (7, "bad expiry")):
        check(f"line {line}: {what} '{PAN_MASKED}'" in p.stderr,
              f"CSV line {line} ({what}) masked: '{p.stderr}'")
    jl = os.path.join(work, "t.jsonl")
    with open(jl, "w") as f:
        base = {"list": "txn_fraud", "kind": "PAN", "value": GOOD}
        for k in ("reason", "list", "kind", "severity", "expiry"):
            f.write(json.dumps(dict(base, **{k: PAN})) + "\n")
        f.write('{"list": "txn_fraud", "kind": "PAN", ' + PAN + "}\n")
    p = led.run(a, "import", jl, "--no-progress", ok=(3,))
    raw_free(p.stdout + p.stderr, "JSONL import")
    check(f"line 1: {RUN_WHY}" in p.stderr, f"JSONL reason: '{p.stderr}'")
    for line, what in ((2, "unknown list"), (3, "unknown kind"), (4, "unknown severity"),
                       (5, "bad expiry")):
        check(f"line {line}: {what} '{PAN_MASKED}'" in p.stderr,
              f"JSONL line {line} ({what}) masked: '{p.stderr}'")
    check(f"line 6: not a JSON object" in p.stderr and PAN_MASKED in p.stderr,
          f"jansson's text masked: '{p.stderr}'")
    check(size(led, a) == before, "bad lines appended nothing")

    # 3. the other arguments of add, and --member
    for args, what in (([PAN, "PAN", GOOD], "unknown list"), (["txn_fraud", PAN, GOOD],
                                                              "unknown kind"),
                       (["txn_fraud", "PAN", GOOD, "--severity", PAN], "unknown severity"),
                       (["txn_fraud", "PAN", GOOD, "--expiry", PAN], "bad --expiry"),
                       (["marketing_cheat", "MERCHANT", "x" * 70 + PAN], "not a valid")):
        p = led.run(a, "add", *args, ok=(1,))
        check(what in p.stderr, f"add {what}: '{p.stderr.strip()}'")
        raw_free(p.stdout + p.stderr, f"add {what}")
    p = led.run(a, "add", "txn_fraud", "PAN", PAN + "A", ok=(1,))
    check("not a valid PAN" in p.stderr, f"add invalid PAN: {p.stderr}")
    raw_free(p.stdout + p.stderr, "add invalid PAN")
    p = led.run(a, "head", "--member", PAN, ok=(1,))
    check(f"unknown member '{PAN_MASKED}'" in p.stderr, f"head --member: '{p.stderr}'")

    # 4. names
    p = led.run(os.path.join(work, "x"), "init", "--member", PAN, ok=(1,))
    check("run of 8 or more digits" in p.stderr, f"member name: '{p.stderr}'")
    raw_free(p.stderr, "member name")
    p = led.run(None, "genesis", "--out", os.path.join(work, "g.json"), "--consortium",
                "c-" + PAN, a, ok=(1,))
    check("run of 8 or more digits" in p.stderr, f"consortium name: '{p.stderr}'")
    raw_free(p.stderr, "consortium name")


def daemon(build, led, work):
    ldir = os.path.join(work, "d")
    sock = os.path.join(work, "ctl.sock")
    cfg = os.path.join(work, "riskgated.cfg")
    led.run(ldir, "init", "--member", "bank-d")
    own_config(cfg, work, ldir, sock, table_capacity=4096)
    log_path = os.path.join(work, "riskgated.log")
    log = open(log_path, "w")
    d = start_daemon(os.path.join(build, "control", "riskgated"), cfg, log)
    ctl = Ctl(os.path.join(build, "control", "riskgate-ctl"), sock)
    try:
        ctl.wait_ready(20)
        rc, _, err = ctl.run("add", "txn_fraud", "PAN", GOOD, "--reason", "confirmed_fraud")
        check(rc == 0, f"riskgate-ctl add: {err}")
        for args in (("add", "telecom_fraud", "PHONE", "+44 7700 900123", "--reason", PAN),
                     ("revoke", "txn_fraud", "PAN", GOOD, "--reason", PAN)):
            rc, out, err = ctl.run(*args)
            text = json.dumps(out) + err
            check(rc != 0 and RUN_WHY in text,
                  f"riskgate-ctl {args[0]} with a card number as reason: {rc} '{text}'")
            raw_free(text, f"riskgate-ctl {args[0]}")
    finally:
        d.terminate()
        d.wait(timeout=30)
        log.close()
    check(size(led, ldir) == 1, "riskgated appended only the good entry")
    with open(log_path) as f:
        raw_free(f.read(), "riskgated's log")


def main():
    build = sys.argv[1]
    led = Ledger(os.path.join(build, "ledger", "riskgate-ledger"))
    work = tempfile.mkdtemp(prefix="ledger-text-")
    try:
        a = led.consortium(work, ["bank-a"])[0]
        cli(led, a, work)
        daemon(build, led, work)
    finally:
        shutil.rmtree(work)
    done()


if __name__ == "__main__":
    main()
