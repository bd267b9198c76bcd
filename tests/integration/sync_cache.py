# SPDX-License-Identifier: BSD-3-Clause
"""A member's log read through a caching reverse proxy (nginx) in front of
riskgated's sync service.

usage: sync_cache.py BUILD_DIR TLOGCHECK [NGINX]

bank-a's riskgated serves its log (70 000 entries: full hash tiles at
levels 0 and 1, full entry bundles, partial tiles at the right edge) over
HTTPS with mutual TLS 1.3.  nginx, run as the test user with a prefix of
its own in a temporary directory, proxies it with proxy_cache and serves
plain HTTP on loopback.  Towards riskgated nginx shows bank-b's TLS key
and certificate as its client certificate, TLS 1.3 only; there is no CA
to check riskgated's self-signed certificate against and nginx cannot pin
a key, so proxy_ssl_verify is off: what nginx caches is authenticated by
the log's signatures, which the verifier checks, not by the hop.  The
cache follows riskgated's Cache-Control (full tiles immutable, partial
tiles 60 s); the checkpoint, which riskgated sends no-cache, is kept by
nginx for 1 s (nginx counts whole seconds: under 2 s) and served stale
only while riskgated cannot be reached (a signed note: a stale one is old,
never wrong).

The Go verifier (tests/interop/tlogcheck, golang.org/x/mod/sumdb) reads
through nginx:
  1. a first pass verifies the checkpoint, every tile, every entry and
     proofs; nginx fetched each tile from riskgated once (X-Cache-Status
     MISS, riskgated's tile counter grew by as many);
  2. a second pass 2 s later is served from the cache: every tile a HIT
     (riskgated served no tile), the checkpoint not a HIT (asked again);
     a full tile's response carries X-Cache-Status: HIT and riskgated's
     immutable Cache-Control; a checkpoint 2 s old is asked for again;
  3. an add at bank-a: the next pass sees the new size, the new right edge
     fetched, the full tiles still HITs;
  4. riskgated stopped: a pass still verifies, every tile from the cache,
     the checkpoint STALE; a full tile read alone is a HIT;
  5. nginx stops when asked (SIGQUIT) and leaves nothing running.
Exit 77 (skipped) when nginx is not installed (scripts/deps.sh installs it).
"""
import grp
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ctl_util import Member, free_port, loopback_accepts, main_in_work  # noqa: E402
from dp_util import check, failures, skip  # noqa: E402
from ledger_util import Ledger, merchant_csv  # noqa: E402

BUILD = sys.argv[1]
TLOGCHECK = sys.argv[2]
NGINX = sys.argv[3] if len(sys.argv) > 3 else (
    shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin"))
LED = Ledger(os.path.join(BUILD, "ledger", "riskgate-ledger"))
ENTRIES = 70000
ORIGIN = "riskgate/cache/bank-a"

NGINX_CONF = """\
{user}
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log info;
events {{ worker_connections 256; }}
http {{
    log_format cache '$request_uri $status $upstream_cache_status';
    access_log {d}/access.log cache;
    client_body_temp_path {d}/tmp/client;
    proxy_temp_path {d}/tmp/proxy;
    fastcgi_temp_path {d}/tmp/fastcgi;
    uwsgi_temp_path {d}/tmp/uwsgi;
    scgi_temp_path {d}/tmp/scgi;
    proxy_cache_path {d}/cache levels=1:2 keys_zone=tiles:10m max_size=1g inactive=7d
                     use_temp_path=off;

    upstream riskgated {{
        server 127.0.0.1:{upstream};
        keepalive 8;
    }}

    server {{
        listen 127.0.0.1:{port};

        # towards riskgated: bank-b's TLS key as client certificate, TLS 1.3;
        # no CA signs member certificates and nginx cannot pin a key, so the
        # hop is not verified: the verifier checks the log's signatures
        proxy_ssl_certificate     {cert};
        proxy_ssl_certificate_key {key};
        proxy_ssl_protocols       TLSv1.3;
        proxy_ssl_verify          off;
        proxy_http_version 1.1;
        proxy_set_header Connection "";

        proxy_cache tiles;
        proxy_cache_lock on;
        add_header X-Cache-Status $upstream_cache_status always;

        # tiles and entry bundles: as riskgated's Cache-Control says
        # (full ones immutable, partial ones 60 s)
        location / {{
            proxy_pass https://riskgated;
        }}

        # the checkpoint (riskgated: no-cache): 1 s at most, and the last
        # one while riskgated is unreachable
        location ~ /checkpoint$ {{
            proxy_pass https://riskgated;
            proxy_ignore_headers Cache-Control Expires;
            proxy_cache_valid 200 1s;
            proxy_cache_use_stale error timeout http_502 http_503 http_504;
        }}
    }}
}}
"""


class Nginx:
    """nginx with its own prefix, configuration, cache and logs in d, run
    in the foreground as a child of the test."""

    def __init__(self, d, port, upstream, cert, key):
        self.d, self.port = d, port
        for sub in ("tmp", "cache"):
            os.makedirs(os.path.join(d, sub))
        user = ""
        if os.geteuid() == 0:
            # workers would switch to nobody, who cannot use this directory
            user = (f"user {pwd.getpwuid(os.getuid()).pw_name} "
                    f"{grp.getgrgid(os.getgid()).gr_name};")
        self.conf = os.path.join(d, "nginx.conf")
        with open(self.conf, "w") as f:
            f.write(NGINX_CONF.format(user=user, d=d, port=port, upstream=upstream, cert=cert,
                                      key=key))
        self.log_pos = 0
        self.stderr = open(os.path.join(d, "stderr.log"), "w")
        self.p = subprocess.Popen([NGINX, "-p", d + "/", "-c", self.conf,
                                   "-e", os.path.join(d, "error.log"), "-g", "daemon off;"],
                                  stdout=self.stderr, stderr=self.stderr)
        if not loopback_accepts(port, 10):
            self.stop()
            raise SystemExit(f"nginx did not start: {self.error_log()}")

    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def access(self):
        """The access log lines written since the last call: (uri, status,
        cache status)."""
        with open(os.path.join(self.d, "access.log")) as f:
            f.seek(self.log_pos)
            text = f.read()
            self.log_pos = f.tell()
        return [tuple(line.split(" ")) for line in text.splitlines() if line]

    def error_log(self):
        try:
            with open(os.path.join(self.d, "error.log")) as f:
                return f.read()[-2000:]
        except OSError:
            return ""

    def stop(self):
        if self.p is None:
            return None
        self.p.send_signal(signal.SIGQUIT)  # graceful: workers finish, then exit
        try:
            rc = self.p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.p.kill()
            rc = self.p.wait()
        self.p = None
        self.stderr.close()
        return rc


def get(url):
    """(status, headers, body) of a GET."""
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def tlogcheck(ngx, vkey, size):
    """A verifier pass through nginx: (exit status, summary), and the
    access log lines it made."""
    last = size - 1
    p = subprocess.run([TLOGCHECK, "-url", ngx.url(), "-origin", ORIGIN, "-vkey", vkey,
                        "-entries", "-prove", f"0,{last // 2},{last}"],
                       capture_output=True, text=True, timeout=300)
    out = [json.loads(x) for x in p.stdout.splitlines() if x.startswith("{")]
    if p.returncode != 0:
        sys.stderr.write(p.stderr[-1500:])
    return p.returncode, (out[-1] if out else {}), ngx.access()


def first_seen(lines):
    """The first access log line of each URI."""
    seen = {}
    for x in lines:
        seen.setdefault(x[0], x)
    return list(seen.values())


def kinds(lines):
    """Access log lines split: checkpoint, full tiles (hash and entry
    bundles), partial tiles."""
    cp = [x for x in lines if x[0].endswith("/checkpoint")]
    tiles = [x for x in lines if "/tile/" in x[0]]
    return cp, [x for x in tiles if ".p/" not in x[0]], [x for x in tiles if ".p/" in x[0]]


def served(a):
    """riskgated's serving counters (riskgate-ctl peers)."""
    return a.ctl.ok("peers")["serving"]


def passes(a, ngx, vkey):
    # 1. cold cache
    s0 = served(a)
    rc, out, lines = tlogcheck(ngx, vkey, ENTRIES)
    s1 = served(a)
    cp, full, part = kinds(lines)
    check(rc == 0 and out.get("size") == ENTRIES and out.get("entries_verified") == ENTRIES and
          out.get("proofs_verified") == 3,
          f"first pass through nginx verifies {ENTRIES} entries: exit {rc} {out}")
    first = first_seen(full + part)
    check(full and all(x[1] == "200" and x[2] == "MISS" for x in first),
          f"first pass: {len(first)} tiles fetched from riskgated (MISS), "
          f"{len(full) + len(part) - len(first)} asked for again (HIT)")
    check(s1["tiles"] - s0["tiles"] == len(first),
          f"riskgated served each once: {s1['tiles'] - s0['tiles']} tiles")
    print(f"first pass: {out.get('tiles_verified')} hash tiles, "
          f"{out.get('entries_verified')} entries verified through the cache")

    # 2. warm cache
    time.sleep(2.1)
    s0 = served(a)
    rc, out, lines = tlogcheck(ngx, vkey, ENTRIES)
    s1 = served(a)
    cp, full2, part2 = kinds(lines)
    check(rc == 0 and out.get("entries_verified") == ENTRIES,
          f"second pass verifies: exit {rc} {out}")
    check(len(full2) == len(full) and all(x[2] == "HIT" for x in full2 + part2),
          f"second pass: every tile from the cache (HIT): "
          f"{[x for x in full2 + part2 if x[2] != 'HIT'][:3]}")
    check(s1["tiles"] == s0["tiles"], f"riskgated served no tile: {s1['tiles'] - s0['tiles']}")
    check(cp and all(x[2] != "HIT" for x in cp) and s1["checkpoints"] > s0["checkpoints"],
          f"the checkpoint is not served from the cache 2 s later: {cp}")
    t = full[0][0]
    st, h1, body1 = get(ngx.url() + t)
    check(st == 200 and h1.get("X-Cache-Status") == "HIT" and
          "immutable" in (h1.get("Cache-Control") or ""),
          f"GET {t}: {st} X-Cache-Status {h1.get('X-Cache-Status')} "
          f"Cache-Control {h1.get('Cache-Control')}")
    st, h, _ = get(ngx.url() + "/" + ORIGIN + "/checkpoint")
    check(st == 200 and h.get("Cache-Control") == "no-cache",
          f"GET checkpoint: {st}, riskgated's Cache-Control passed on: "
          f"{h.get('Cache-Control')}")
    time.sleep(2.1)
    st, h, _ = get(ngx.url() + "/" + ORIGIN + "/checkpoint")
    check(st == 200 and h.get("X-Cache-Status") == "EXPIRED",
          f"a checkpoint 2 s old is asked for again: {h.get('X-Cache-Status')}")

    # 3. the log grows
    a.ctl.ok("add", "marketing_cheat", "MERCHANT", "cache-new")
    time.sleep(2.1)
    rc, out, lines = tlogcheck(ngx, vkey, ENTRIES + 1)
    cp, full3, part3 = kinds(lines)
    check(rc == 0 and out.get("size") == ENTRIES + 1,
          f"after an add the verifier sees {ENTRIES + 1} entries: exit {rc} {out}")
    check(all(x[2] == "HIT" for x in full3) and any(x[2] == "MISS" for x in part3),
          f"full tiles still HITs, the new right edge fetched: {part3}")
    ngx.access()

    # 4. riskgated stopped: the cache alone, its checkpoint out of date
    a.stop()
    time.sleep(2.1)
    rc, out, lines = tlogcheck(ngx, vkey, ENTRIES + 1)
    cp, full4, part4 = kinds(lines)
    check(rc == 0 and out.get("size") == ENTRIES + 1 and
          out.get("entries_verified") == ENTRIES + 1,
          f"riskgated stopped: the verifier still passes from the cache: exit {rc} {out}")
    check(full4 and all(x[1] == "200" and x[2] == "HIT" for x in full4 + part4),
          f"riskgated stopped: {len(full4)} full tiles from the cache (HIT)")
    check(cp and all(x[2] == "STALE" for x in cp), f"the last checkpoint, STALE: {cp}")
    st, h, body = get(ngx.url() + t)
    check(st == 200 and h.get("X-Cache-Status") == "HIT" and body == body1,
          f"GET {t} with riskgated stopped: {st} {h.get('X-Cache-Status')}, same bytes")


def run(work):
    a = Member(BUILD, work, "bank-a", free_port())
    b_dir = os.path.join(work, "bank-b")
    LED.run(a.ldir, "init", "--member", "bank-a")
    LED.run(b_dir, "init", "--member", "bank-b", "--fp-key", os.path.join(a.ldir, "fp.key"))
    LED.run(None, "genesis", "--out", os.path.join(work, "genesis.json"), "--consortium",
            "cache", "--install", a.ldir, b_dir)
    LED.run(a.ldir, "import", merchant_csv(os.path.join(work, "l.csv"), "m", ENTRIES))
    vkey = LED.json(a.ldir, "head")[0]["vkey"]
    a.configure({})
    ngx = None
    try:
        a.start()
        ngx = Nginx(os.path.join(work, "nginx"), free_port(), a.port,
                    os.path.join(b_dir, "tls.crt"), os.path.join(b_dir, "tls.key"))
        passes(a, ngx, vkey)
    finally:
        if ngx is not None:
            rc = ngx.stop()
            check(rc == 0, f"nginx stopped (SIGQUIT): exit {rc}")
            pid = os.path.join(ngx.d, "nginx.pid")
            check(not os.path.exists(pid), "nginx removed its pid file")
            if failures:
                sys.stderr.write(f"--- nginx error.log ---\n{ngx.error_log()}\n")
        a.stop()
        if failures:
            sys.stderr.write(f"--- bank-a's log ---\n{a.log_tail()}\n")


def main():
    if NGINX is None:
        skip("nginx is not installed (scripts/deps.sh)")
    main_in_work("rg-cache-", run)


if __name__ == "__main__":
    main()
