#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""`lookup` over riskgated's control socket: a right of its own, a rate
bound per uid, and every lookup that hits audited as an event.

usage: ctl_lookup.py BUILD_ROOT

riskgated on a ledger of its own (ctl_util.Daemon), the socket open to
nobody (group nogroup), an admin and a lookup group made for the test, one
card listed by root:
  1. nobody in neither group may not look up (permission_denied, counted);
     it may still read `status`;
  2. reloaded with the lookup group, lookup_rate_per_min 1, lookup_burst 3:
     nobody in the lookup group looks the listed card up: listed, masked;
     the hit is an event with source "lookup", its uid and user, in the
     event file, in `hits` and streamed to a follower; a miss is no event;
  3. its fourth lookup within the minute is refused with rate_limited,
     and so is one from a new connection of the same uid with the admin
     group (the bucket is the uid's); root is not limited;
  4. `stats` and the metrics count lookups, hits, events and refusals;
     no raw PAN in the reply, the event file or the log.
Needs root (setpriv, groupadd); skips (77) otherwise.
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ctl_util import NOBODY, Conn, Daemon, TempGroup, free_port, metrics  # noqa: E402
from dp_util import build_arg_as_root, check, result  # noqa: E402

LISTED = "4532015112830366"
UNLISTED = "4111111111111111"


def lookup_events(d):
    with open(d.events) as f:
        return [e for e in map(json.loads, f) if e.get("source") == "lookup"]


def main():
    build = build_arg_as_root(__doc__)
    admin, looker = TempGroup("adm"), TempGroup("lkp")
    port = free_port()
    d = Daemon(build, "lookup", groups=[admin, looker], admin_group=admin.name,
               metrics=f"127.0.0.1:{port}")
    follower = None
    try:
        d.start()
        ctl = d.ctl
        masked = ctl.ok("add", "txn_fraud", "PAN", LISTED)["masked"]

        # 1. no right, no lookup
        rc, _, err = ctl.run("lookup", "PAN", LISTED, user=NOBODY)
        check(rc == 1 and "permission_denied" in err and "lookup" in err,
              f"nobody outside the groups may not look up (exit {rc}: {err.strip()})")
        rc, _, _ = ctl.run("status", user=NOBODY)
        check(rc == 0, "nobody may still read status")

        # 2. the lookup group
        d.configure(admin_group=admin.name, metrics=f"127.0.0.1:{port}",
                    lookup_group=looker.name, lookup_rate_per_min=1, lookup_burst=3)
        rc, _, err = ctl.run("reload")
        check(rc == 0, f"reload with the lookup settings (exit {rc}: {err.strip()})")
        follower = Conn(d.sock)
        follower.send({"cmd": "hits", "args": {"n": 0, "follow": True}})
        check((follower.line() or {}).get("ok"), "a follower")
        rc, out, err = ctl.run("lookup", "PAN", LISTED, user=NOBODY, groups=[looker.gid])
        check(rc == 0 and out and out["in_table"] and out["lists"] == ["txn_fraud"] and
              out["masked"] == masked, f"nobody in the lookup group looks up (exit {rc}: "
              f"{err.strip()}, {out})")
        evs = lookup_events(d)
        want = {"source": "lookup", "uid": NOBODY, "user": "nobody", "list": "txn_fraud",
                "kind": "PAN", "masked": masked, "contributor": "bank-a"}
        check(len(evs) == 1 and all(evs[0].get(k) == v for k, v in want.items()),
              f"the hit is an event in the event file ({evs})")
        hs = [h for h in ctl.hits() if h.get("source") == "lookup"]
        check(len(hs) == 1 and hs[0] == evs[0], f"and in `hits` ({hs})")
        ev = (follower.line() or {}).get("event")
        check(ev == evs[0], f"and streamed to the follower ({ev})")
        rc, out, _ = ctl.run("lookup", "PAN", UNLISTED, user=NOBODY, groups=[looker.gid])
        check(rc == 0 and out and not out["in_table"] and len(lookup_events(d)) == 1,
              "a lookup that misses is no event")

        # 3. the rate bound, per uid
        rc, _, _ = ctl.run("lookup", "PAN", UNLISTED, user=NOBODY, groups=[looker.gid])
        check(rc == 0, "the third lookup (the burst is 3)")
        rc, _, err = ctl.run("lookup", "PAN", LISTED, user=NOBODY, groups=[looker.gid])
        check(rc == 1 and "rate_limited" in err and "1 a minute" in err,
              f"the fourth within the minute is refused (exit {rc}: {err.strip()})")
        rc, _, err = ctl.run("lookup", "PAN", LISTED, user=NOBODY, groups=[admin.gid])
        check(rc == 1 and "rate_limited" in err,
              f"so is the same uid on a new connection, in the admin group (exit {rc})")
        for _ in range(5):
            rc, _, err = ctl.run("lookup", "PAN", UNLISTED)
        check(rc == 0, f"root is not limited (exit {rc}: {err.strip()})")
        check(len(lookup_events(d)) == 1, "refused lookups make no event")

        # 4. counted, and no raw PAN anywhere
        st = ctl.ok("stats")
        c = st["control"]
        check(c.get("lookups") == 8 and c.get("lookup_hits") == 1 and
              c.get("lookups_denied") == 1 and c.get("lookups_rate_limited") == 2 and
              st["events"].get("lookup_events") == 1, f"stats count lookups ({c})")
        m = metrics(port)
        check(m.get('riskgate_lookups_total{result="hit"}') == "1" and
              m.get('riskgate_lookups_refused_total{reason="rate"}') == "2" and
              m.get('riskgate_lookups_refused_total{reason="denied"}') == "1" and
              m.get("riskgate_lookup_events_total") == "1", "and the metrics")
        helps = {c["name"]: c for c in ctl.ok("help")["commands"]}
        check(helps["lookup"].get("right") == "lookup" and not helps["lookup"]["admin"],
              f"help names lookup's right ({helps['lookup']})")
        with open(d.events) as f:
            text = f.read()
        check(LISTED not in text and LISTED not in d.log_text(),
              "no raw PAN in the event file or the log")
    except (RuntimeError, OSError, ValueError, KeyError, TypeError) as e:
        check(False, f"{type(e).__name__}: {e}")
    finally:
        if follower is not None:
            follower.close()
        d.close()
    return result()


if __name__ == "__main__":
    sys.exit(main())
