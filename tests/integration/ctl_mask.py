#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""No raw PAN leaves riskgated through an error text: parser errors,
command errors, configuration errors and `remote` log lines quote the input
masked (rg_mask_text, common/ident.h).

usage: ctl_mask.py BUILD_ROOT

riskgated on a ledger of its own (ctl_util.Daemon), then, over the socket:
  1. the unterminated request {"v":1,"cmd":"lookup","args":{"kind":"PAN",
     "value":"4532015112830366}} (jansson quotes the input near the error);
  2. a PAN as the kind, as the command name, as a list name (policy-set,
     add), in an import path;
  3. `reload` of a configuration with a setting named after a PAN, and
     with a PAN in a value the error quotes (metrics), and the same by
     SIGHUP (the error goes to the log only);
  4. riskgated started on such configurations, and with such values on its
     command line (--metrics, --socket-group): exit 2 or 1, the error on
     stderr;
each time the PAN appears in neither the reply nor stderr nor the log,
and its masked form 453201******0366 does.
Needs root (ctl_util.Daemon); skips (77) otherwise.
"""
import os
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ctl_util import Conn, Daemon  # noqa: E402
from dp_util import build_arg_as_root, check, result, stop, wait_for  # noqa: E402

PAN = "4532015112830366"
MASKED = "453201******0366"


def masked_only(text):
    return PAN not in text and MASKED in text


def main():
    d = Daemon(build_arg_as_root(__doc__), "mask")
    try:
        d.start()
        c = Conn(d.sock)
        requests = [
            ("the unterminated value", '{"v":1,"cmd":"lookup","args":{"kind":"PAN","value":"'
             + PAN + '}}', "bad_json"),
            ("a PAN as the kind", '{"v":1,"cmd":"lookup","args":{"kind":"' + PAN +
             '","value":"1"}}', "bad_args"),
            ("a PAN as a list (policy-set)", '{"cmd":"policy-set","args":{"list":"' + PAN +
             '","action":"off"}}', "bad_args"),
            ("a PAN as a list (add)", '{"cmd":"add","args":{"list":"' + PAN +
             '","kind":"PAN","value":"' + PAN + '"}}', "bad_args"),
            ("a PAN in an import path", '{"cmd":"import","args":{"path":"/nonexistent/' + PAN +
             '.csv"}}', "failed"),
        ]
        for what, line, code in requests:
            c.send_raw(line.encode() + b"\n")
            r = c.line()
            text = str(r)
            check(r and r["error"]["code"] == code and masked_only(text),
                  f"{what}: {code}, masked in the reply ({r})")
        # a command name holds no digit: refused without quoting it
        c.send_raw(b'{"v":1,"cmd":"lookup' + PAN.encode() + b'"}\n')
        r = c.line()
        check(r and r["error"]["code"] == "bad_request" and PAN not in str(r),
              f"a PAN in the command name: bad_request, not quoted ({r})")
        c.close()

        # 3. reload of a configuration with a PAN in it
        good = open(d.cfg).read()
        bad = {"metrics": good.replace('metrics = "";', f'metrics = "{PAN}:9464";'),
               "a setting named after a PAN": good + f"x{PAN} = 1;\n"}
        for what, text in bad.items():
            with open(d.cfg, "w") as f:
                f.write(text)
            rc, _, err = d.ctl.run("reload")
            check(rc == 1 and "riskgated.cfg:" in err and masked_only(err),
                  f"reload refused, masked ({what}: {err.strip()})")
        before = d.log_text().count("reload refused")
        d.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: d.log_text().count("reload refused") > before, 10)
        tail = d.log_text().split("\n")[-3:]
        check(any("reload refused" in ln and MASKED in ln for ln in tail),
              f"SIGHUP reload refused, masked in the log ({tail})")
        with open(d.cfg, "w") as f:
            f.write(good)
        log = d.log_text()
        check(masked_only(log), "the log: the masked form only (the bad request line)")

        # 4. the same at start (the ledger is free once the daemon stopped)
        stop(d.proc, timeout=30)
        for what, text in bad.items():
            cfg = os.path.join(d.work, "start.cfg")
            with open(cfg, "w") as f:
                f.write(text)
            p = subprocess.run([d.riskgated, "--config", cfg], capture_output=True, text=True,
                               timeout=60)
            check(p.returncode == 2 and masked_only(p.stderr),
                  f"start on {what}: exit {p.returncode}, masked ({p.stderr.strip()})")
        for what, args in (("--metrics", ["--metrics", f"{PAN}:9464"]),
                           ("--socket-group", ["--socket-group", PAN, "--metrics", ""])):
            p = subprocess.run([d.riskgated, "--ledger", d.ldir, "--socket", d.sock + "3",
                                "--table", os.path.join(d.work, "t3"), "--segment",
                                os.path.join(d.work, "s3"), "--events", ""] + args,
                               capture_output=True, text=True, timeout=60)
            check(p.returncode in (1, 2) and masked_only(p.stderr),
                  f"start with {what} holding a PAN: exit {p.returncode}, masked "
                  f"({p.stderr.strip()[-200:]})")
    except (RuntimeError, OSError, ValueError, KeyError, TypeError) as e:
        check(False, f"{type(e).__name__}: {e}")
    finally:
        d.close()
    return result()


if __name__ == "__main__":
    sys.exit(main())
