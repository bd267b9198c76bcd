# SPDX-License-Identifier: BSD-3-Clause
"""riskgated against a hostile peer: a peer that speaks the sync protocol
(docs/sync.md) but lies.

usage: sync_hostile.py BUILD_DIR

A consortium of bank-a, bank-b and bank-c.  bank-a's and bank-b's ledgers
are made offline (`riskgate-ledger import/add`, then `bundle`): bank-a's
log holds 603 entries in six blocks ending at 200, 400, 600, 601, 602 and
603, bank-b's one entry.  One riskgated runs as bank-c (sync_poll_ms 100);
its only peer, bank-b, is a server written here (Python's ssl, TLS 1.3,
bank-b's real TLS key so the pin passes, bank-c's client certificate
required) that serves genuine data from those bundles, as much of bank-a's
log as a case wants, or tampered variants of it.  For each case the daemon
must refuse, say why (`peers[0].last_error` names the problem), count it
(`errors`), write nothing of the bad data (`ledger head` of bank-a's log at
bank-c: the size before, or the genuine prefix), answer its control socket,
and take the genuine log from the same peer afterwards:
  1. checkpoints: signed by another key; a flipped signature byte; bank-b's
     genuine note at bank-a's path; malformed notes that bank-a's real key
     signed (no blank line, an extension line, a leading zero); a note over
     8 KiB; an endless answer (the body cap cuts it).  While one lie is
     served, the peer is asked again after a backoff, not every poll, also
     when its feed says "behind" again and again;
  2. catch-up: block headers of another log, heights out of order, an entry
     bundle with a changed entry (nothing written), block 2 with a broken
     signature (blocks 0 and 1 stay), a checkpoint ahead of the blocks
     served (the genuine prefix stays);
  3. holding 601: genuine older checkpoints are no error and rewind
     nothing; a second head for 601 signed with bank-a's real key is a
     FORK, a head for 300 (inside a block) is not its log, a second block
     at height 3 on the feed is a FORK: evidence kept;
  4. replay on the push feed: block 4 twice and block 0 again: taken once,
     no error, the ledger verifies;
  5. slow peers: a checkpoint sent at 1 byte/s is cut after the low-speed
     limit (10 s), a silent feed after 45 s; the control socket answers
     within 1 s meanwhile;
  6. malformed feed events: not base64, a block of another log, an event
     type too long, an event over 24 MiB;
  7. TLS: the server shows another member's TLS key: the pin fails, and
     failed handshakes back off.
Then the genuine log to 603 (verify, lookup); after the stop (exit 0, no
sanitizer report in the log) `riskgate-ledger evidence` at bank-c lists
the two forks and the bad head.  Last, with a daemon of its own:
  8. five members: bank-c's four feeds to its one peer stay open, as feeds
     do; its checkpoints must still be asked for.

Each fork freezes bank-a's log at bank-c (riskgate-ctl forks); the test
clears it as an operator would (fork-clear) before the next case.
Regression cases for faults this test found: one lie among genuine
answers backs a peer off (it did not); "behind" events and gaps do not
cut a backoff short; a feed the reader refuses counts as the peer's error;
a 24 MiB event costs its length once, not once per chunk (the loop stalled
for seconds); four feeds to one peer leave room for its checkpoints and
catch-up (they took every connection).
"""
import base64
import hashlib
import http.server
import os
import select
import socketserver
import ssl
import struct
import subprocess
import sys
import threading
import time

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ctl_util import Member, free_port, main_in_work  # noqa: E402
from dp_util import check, failures, wait_for  # noqa: E402
from sync_members import listed_by  # noqa: E402
from ledger_util import (REC_BLOCK, REC_CHECKPOINT, Ledger, checkpoint, member_key,  # noqa: E402
                         merchant_csv, note_size_root, read_bundle, sign_note)

BUILD = sys.argv[1]
LED = Ledger(os.path.join(BUILD, "ledger", "riskgate-ledger"))
CONSORTIUM = "hostile"
TILE = 256              # entries per bundle, headers per group (tlog-tiles)
HDR = 201               # block header bytes (docs/ledger.md)
CHECKPOINT_MAX = 8192   # what a peer may send for a checkpoint (docs/sync.md)
EVENT_MAX = 24 << 20    # bytes of one feed event


def origin(member):
    return f"riskgate/{CONSORTIUM}/{member}"


def tile_index(text):
    """(index, width or None) of a tlog-tiles index path: x001/x234/067.p/5."""
    path, _, width = text.partition(".p/")
    return int("".join(g.lstrip("x") for g in path.split("/"))), int(width) if width else None


class Log:
    """One member's log as its bundle holds it: blocks (header and entries as
    a bundle's block record: header | (len u16 | entry)*), entries, and the
    checkpoint notes by size."""

    def __init__(self, path):
        _, recs = read_bundle(path)
        self.blocks, self.entries, self.notes, self.ends = [], [], {}, []
        for typ, body in recs:
            if typ == REC_BLOCK:
                self.blocks.append(body)
                off = HDR
                while off < len(body):
                    n = struct.unpack(">H", body[off:off + 2])[0]
                    self.entries.append(body[off + 2:off + 2 + n])
                    off += 2 + n
                self.ends.append(len(self.entries))
            elif typ == REC_CHECKPOINT:
                self.notes[note_size_root(body)[0]] = body

    def header(self, i):
        return self.blocks[i][:HDR]

    def headers(self, size):
        """The headers of the blocks that end within size."""
        return b"".join(self.header(i) for i, e in enumerate(self.ends) if e <= size)

    def bundle(self, index, width, entries=None):
        es = (entries or self.entries)[index * TILE:index * TILE + width]
        return b"".join(struct.pack(">H", len(e)) + e for e in es)

    def block_event(self, i):
        return block_event(self.blocks[i])

    def checkpoint_event(self, size):
        lines = self.notes[size].decode().rstrip("\n").split("\n")
        return ("event: checkpoint\n" + "".join(f"data: {x}\n" for x in lines) + "\n").encode()


def block_event(body):
    """The feed event of a block (header | (len u16 | entry)*)."""
    first, nb = struct.unpack(">QI", body[21:33])
    return (f"id: {first + nb}\nevent: block\ndata: ".encode() + base64.b64encode(body) +
            b"\n\n")


def tls_context(crt, key, client_crt):
    """TLS 1.3 server context with crt/key, requiring the client certificate
    client_crt (self-signed: it is its own trust anchor)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_cert_chain(crt, key)
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(cafile=client_crt)
    return ctx


# ---- the hostile peer ----

def reply(h, code, body, ctype="text/plain", length=True):
    head = f"HTTP/1.1 {code} {'OK' if code == 200 else 'Not Found'}\r\nContent-Type: {ctype}\r\n"
    if length:
        head += f"Content-Length: {len(body)}\r\n"
    h.wfile.write((head + "Connection: close\r\n\r\n").encode() + body)


def feed_head(h):
    reply(h, 200, b": riskgate feed\n\n", "text/event-stream", length=False)


def feed_hold(h, beat=10.0, plan_bound=True, limit=120.0):
    """Keep a feed open, a beat every beat s (none when beat is None), until
    the client leaves ("client"), the plan changes ("plan", when
    plan_bound) or limit s pass.  Returns why it ended."""
    start = last = time.time()
    while time.time() - start < limit:
        if plan_bound and h.server.gen != h.gen:
            return "plan"
        if select.select([h.connection], [], [], 0.1)[0]:
            return "client"  # nothing more is sent on a feed: the client left
        if beat is not None and time.time() - last >= beat:
            h.wfile.write(b": beat\n\n")
            last = time.time()
    return "limit"


def honest(h, member, kind, rest):
    """What a genuine bank-b serves of member's log at the size the case set."""
    log, size = h.server.logs[member], h.server.size[member]
    if kind == "checkpoint":
        return reply(h, 200, log.notes[size]) if size else reply(h, 404, b"not held\n")
    if kind == "blocks":
        idx, _ = tile_index(rest[len("blocks/"):])
        hdrs = log.headers(size)[idx * TILE * HDR:(idx + 1) * TILE * HDR]
        return reply(h, 200, hdrs) if hdrs else reply(h, 404, b"beyond\n")
    if kind == "entries":
        idx, width = tile_index(rest[len("tile/entries/"):])
        width = width or TILE
        if idx * TILE + width > size:
            return reply(h, 404, b"beyond\n")
        return reply(h, 200, log.bundle(idx, width))
    if kind == "feed":
        feed_head(h)
        return feed_hold(h)
    return reply(h, 404, b"not served here\n")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        srv = self.server
        self.close_connection = True
        parts = self.path.split("/", 4)  # "", "riskgate", consortium, member, rest
        if len(parts) != 5 or "/".join(parts[1:3]) != f"riskgate/{CONSORTIUM}" or \
                parts[3] not in srv.logs:
            return reply(self, 404, b"no such log\n")
        member, rest = parts[3], parts[4]
        kind = "entries" if rest.startswith("tile/entries/") else rest.split("/")[0].split("?")[0]
        with srv.lock:
            self.gen = srv.gen
            lie = srv.plan.get((member, kind))
            srv.reqs.append((time.time(), member, kind, rest))
        try:
            if lie is None:
                honest(self, member, kind, rest)
            elif callable(lie):
                lie(self, member, kind, rest)
            else:
                reply(self, 200, lie)
        except (OSError, ssl.SSLError):
            pass  # the client left


class HostilePeer(socketserver.ThreadingTCPServer):
    """bank-b's sync service as a liar would run it: genuine logs (Log) served
    up to size[member], unless plan[(member, kind)] (kind: checkpoint,
    blocks, entries, feed) says otherwise: bytes to answer, or a function
    (handler, member, kind, rest) that answers.  Each connection serves one
    request (so every request is a new TLS handshake with ctx as it is)."""
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port, ctx, logs):
        self.ctx, self.logs = ctx, logs
        self.size = {m: 0 for m in logs}
        self.plan, self.gen = {}, 0
        self.lock = threading.Lock()
        self.reqs, self.handshakes, self.marks = [], [], {}
        super().__init__(("127.0.0.1", port), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def set(self, plan=None, **sizes):
        """A new plan (open feeds of the old one end) and sizes served."""
        with self.lock:
            self.plan = dict(plan or {})
            self.size.update({k.replace("_", "-"): v for k, v in sizes.items()})
            self.gen += 1

    def mark(self, what, value=None):
        """Record when (or what) something happened at the server."""
        with self.lock:
            self.marks.setdefault(what, []).append(value if value is not None else time.time())

    def count(self, member, kind, since):
        with self.lock:
            return [t for t, m, k, _ in self.reqs if m == member and k == kind and t >= since]

    def finish_request(self, sock, addr):
        sock.settimeout(10)
        try:
            tls = self.ctx.wrap_socket(sock, server_side=True)
        except (ssl.SSLError, OSError):
            with self.lock:
                self.handshakes.append((time.time(), False))
            return
        with self.lock:
            self.handshakes.append((time.time(), True))
        try:
            Handler(tls, addr, self)
        except (OSError, ssl.SSLError):
            pass
        try:
            tls.settimeout(1)
            tls.unwrap()  # close_notify: a body read to the close ends cleanly
        except (OSError, ssl.SSLError, ValueError):
            pass

    def shutdown_request(self, request):
        try:
            request.close()
        except OSError:
            pass


# ---- what the daemon says ----

def peer_state(c):
    return c.ctl.ok("peers")["peers"][0]


def held(c, member="bank-a"):
    return (c.head(member) or {}).get("size", 0)


def status_s(c):
    """How long `riskgate-ctl status` takes, in s (inf when it fails)."""
    t0 = time.monotonic()
    try:
        rc = c.ctl.run("status", timeout=60)[0]
    except subprocess.TimeoutExpired:
        rc = -1
    return time.monotonic() - t0 if rc == 0 else float("inf")


def wait_error(c, before, needle, secs=40):
    """(whether the peer's errors passed before with needle in its last
    error within secs, its last state)."""
    st = {}

    def seen():
        st.update(peer_state(c))
        return st["errors"] > before and needle in st["last_error"]
    return bool(wait_for(seen, secs)), st


def refused(c, srv, what, plan, needle, held_want, **sizes):
    """Serve plan until the daemon names needle in its last error; then the
    checks every lie gets: counted, nothing written, socket answers; then
    settle at held_want."""
    before = peer_state(c)["errors"]
    srv.set(plan, **sizes)
    ok, st = wait_error(c, before, needle)
    check(ok, f"{what}: refused, last_error names it ({needle!r}): "
              f"{st.get('last_error')!r}, errors {before} -> {st.get('errors')}")
    got = held(c)
    check(got == held_want, f"{what}: bank-a's log held at bank-c is {got}, want {held_want}")
    t = status_s(c)
    check(t < 1.0, f"{what}: control socket answers ({t:.3f} s)")
    settle(srv, held_want)
    return st


def settle(srv, size, quiet=0.6):
    """Serve bank-a's log genuinely at size (nothing to catch up) until no
    request of a catch-up begun under the last plan has come for quiet s:
    the next case's lie is then all the daemon sees."""
    srv.set({}, bank_a=size)
    t0 = time.time()
    while time.time() - t0 < 40:
        recent = srv.count("bank-a", "blocks", time.time() - quiet) + \
            srv.count("bank-a", "entries", time.time() - quiet)
        # two polling rounds on the genuine log: after a clean round the
        # daemon stops backing the peer off, so the next lie meets no backoff
        rounds = len(srv.count("bank-a", "checkpoint", t0))
        if not recent and time.time() - t0 >= quiet and rounds >= 2:
            return
        time.sleep(0.1)


def genuine(c, srv, size, what):
    """Serve bank-a's genuine log to size: the daemon takes it in."""
    srv.set({}, bank_a=size)
    ok = wait_for(lambda: held(c) == size and peer_state(c)["connected"], 40)
    check(ok, f"{what}: bank-c takes bank-a's genuine log to {size} from the same peer "
              f"(holds {held(c)}, peer {peer_state(c)})")


# ---- the cases ----

def case_checkpoints(c, srv, a, b, key_a):
    """1. Bad checkpoints of bank-a's log, bank-c holding nothing of it."""
    o = origin("bank-a")
    top = a.notes[603]
    size, root = note_size_root(top)
    text, sig = top.split(b"\n\n")
    other = Ed25519PrivateKey.generate()
    flipped = bytearray(base64.b64decode(sig.split(b" ")[-1]))
    flipped[10] ^= 0x01
    sig_flipped = b" ".join(sig.split(b" ")[:-1] + [base64.b64encode(bytes(flipped))]) + b"\n"
    b64 = base64.b64encode(root).decode()
    cases = [
        ("checkpoint signed by another key", checkpoint(other, o, size, root),
         "not signed by bank-a's key"),
        ("checkpoint with a flipped signature byte", text + b"\n\n" + sig_flipped,
         "not signed by bank-a's key"),
        ("bank-b's genuine checkpoint at bank-a's path", b.notes[1],
         "not signed by bank-a's key"),
        ("checkpoint without the blank line", top.replace(b"\n\n", b"\n"),
         "not a checkpoint"),
        ("checkpoint with an extension line (signed by bank-a's key)",
         sign_note(key_a, o, f"{o}\n{size}\n{b64}\nextension\n".encode()), "not a checkpoint"),
        ("checkpoint size with a leading zero (signed by bank-a's key)",
         sign_note(key_a, o, f"{o}\n0{size}\n{b64}\n".encode()), "not a checkpoint"),
        ("checkpoint over 8 KiB", top + b"".join(
            f"\u2014 witness-{i} ".encode() + base64.b64encode(os.urandom(76)) + b"\n"
            for i in range(CHECKPOINT_MAX // 100)), "answer larger than allowed"),
    ]
    check(len(cases[-1][1]) > CHECKPOINT_MAX, "the oversized note is over 8 KiB")
    for what, note, needle in cases:
        refused(c, srv, what, {("bank-a", "checkpoint"): note}, needle, 0)

    def endless(h, member, kind, rest):
        reply(h, 200, b"", length=False)
        sent, chunk = 0, b"A" * 16384
        try:
            while sent < (256 << 20):
                h.wfile.write(chunk)
                sent += len(chunk)
        except (OSError, ssl.SSLError):
            pass
        srv.mark("endless", (time.time(), sent))
    t0 = time.time()
    refused(c, srv, "endless checkpoint answer", {("bank-a", "checkpoint"): endless},
            "answer larger than allowed", 0)
    wait_for(lambda: srv.marks.get("endless"), 10)
    ends = srv.marks.get("endless") or [(float("inf"), -1)]
    check(ends[0][0] - t0 < 5 and 0 <= ends[0][1] < (16 << 20),
          f"endless answer: the daemon hung up after {ends[0][1]} bytes, "
          f"{ends[0][0] - t0:.1f} s")

    # backoff: a peer that keeps lying about bank-a's log is asked again after
    # 0.5 s, then 1, 2, 4 s (docs/sync.md, "Fetching"), not every 100 ms poll
    srv.set({("bank-a", "checkpoint"): cases[0][1]})
    t0 = time.time()
    time.sleep(5)
    asked = srv.count("bank-a", "checkpoint", t0)
    check(len(asked) <= 12, f"a lying peer is not asked every poll: {len(asked)} checkpoint "
                            f"requests in 5 s (50 without a backoff)")
    gaps = [round(y - x, 2) for x, y in zip(asked, asked[1:])]
    # peer_ok() for bank-b's own (genuine) checkpoint, answered in
    # the same round, resets the peer's backoff, so it never doubles: the
    # liar is asked every 0.5 s for ever (more often than the default
    # sync_poll_ms of 1 s), each lie logged.
    check(len(asked) <= 5 and gaps and max(gaps) >= 1.5,
          f"the backoff doubles while the peer lies about one log and answers "
          f"another: gaps between requests {gaps}")

    def behind(h, member, kind, rest):
        feed_head(h)
        while h.server.gen == h.gen:
            h.wfile.write(b"event: behind\n\n")
            time.sleep(0.01)
    srv.set({("bank-a", "checkpoint"): cases[0][1], ("bank-a", "feed"): behind})
    time.sleep(1)
    t0 = time.time()
    time.sleep(3)
    asked = srv.count("bank-a", "checkpoint", t0)
    # feed_event() sets next_poll_ns = 0 on "behind" (and on a
    # block or checkpoint beyond what is held) even for a peer in error, so
    # its own feed cuts its backoff short: asked (and each lie logged) at
    # every round trip.
    check(len(asked) <= 12, f"\"behind\" events on the feed do not cut the backoff "
                            f"short: {len(asked)} checkpoint requests in 3 s")
    genuine(c, srv, 0, "after the bad checkpoints")


def case_catchup(c, srv, a, b):
    """2. A genuine checkpoint (600, then 601), bad blocks behind it."""
    hdrs = a.headers(600)
    swapped = hdrs[HDR:2 * HDR] + hdrs[:HDR] + hdrs[2 * HDR:]
    sig2 = bytearray(hdrs)
    sig2[2 * HDR + 150] ^= 0x01   # in block 2's signature (bytes 137..200)
    changed = list(a.entries)
    e = bytearray(changed[5])
    e[4] ^= 0x01                  # a fingerprint byte: still canonical, another leaf
    changed[5] = bytes(e)

    def bad_bundle(h, member, kind, rest):
        idx, width = tile_index(rest[len("tile/entries/"):])
        if idx != 0:
            return honest(h, member, kind, rest)
        reply(h, 200, a.bundle(0, width or TILE, changed))

    refused(c, srv, "block headers of another log (bank-b's block 0 as bank-a's)",
            {("bank-a", "blocks"): b.header(0) + hdrs[HDR:]},
            "header 0 is malformed or not of block 0 of this log", 0, bank_a=600)
    refused(c, srv, "block headers out of order (1, 0, 2)", {("bank-a", "blocks"): swapped},
            "header 0 is malformed or not of block 0 of this log", 0, bank_a=600)
    refused(c, srv, "an entry changed in entry bundle 0", {("bank-a", "entries"): bad_bundle},
            "block 0: entries do not match the signed roots", 0, bank_a=600)
    refused(c, srv, "block 2's signature broken", {("bank-a", "blocks"): bytes(sig2)},
            "block 2: bad signature", 400, bank_a=600)
    refused(c, srv, "a checkpoint (601) ahead of the blocks served (to 600)",
            {("bank-a", "blocks"): hdrs}, "serves no block from position 600", 600,
            bank_a=601)
    genuine(c, srv, 601, "after the bad catch-ups")
    h = c.head("bank-a")
    check(h["checkpoint_size"] == 601 and h["root"] == note_size_root(a.notes[601])[1].hex(),
          f"bank-c holds bank-a's checkpoint at 601 and its root: {h}")


def unfreeze(c, what):
    """A fork froze bank-a's log at bank-c: say so, then clear it as an
    operator would (the evidence stays), so the next case can go on."""
    f = c.ctl.ok("forks")
    check("bank-a" in f["frozen"], f"{what}: bank-a's log frozen at bank-c: {f['frozen']}")
    c.ctl.ok("fork-clear", "bank-a")


def case_rollback_fork(c, srv, a, key_a):
    """3. Older genuine heads, then forks signed with bank-a's real key."""
    before = peer_state(c)["errors"]
    h601 = c.head("bank-a")
    for old in (400, 200):
        srv.set({("bank-a", "checkpoint"): a.notes[old]}, bank_a=601)
        t0 = time.time()
        time.sleep(1)
        seen = [x["peer_size"] for x in peer_state(c)["logs"] if x["member"] == "bank-a"]
        asked = len(srv.count("bank-a", "checkpoint", t0))
        check(asked >= 3 and seen == [old],
              f"older checkpoint {old} served ({asked} times), seen as the peer's: {seen}")
    st = peer_state(c)
    h = c.head("bank-a")
    check(st["errors"] == before and st["connected"],
          f"genuine older checkpoints are no error: errors {before} -> {st['errors']}, "
          f"{st['last_error']!r}")
    check(h["size"] == 601 and h["root"] == h601["root"] and h["checkpoint_size"] == 601,
          f"genuine older checkpoints rewind nothing: {h}")
    other = hashlib.sha256(b"another history").digest()
    refused(c, srv, "a second head for size 601 (bank-a's key, another root)",
            {("bank-a", "checkpoint"): checkpoint(key_a, origin("bank-a"), 601, other)},
            "FORK: member bank-a signed two different heads for size 601", 601, bank_a=601)
    unfreeze(c, "a second head for size 601")
    refused(c, srv, "a head for size 300 (inside block 1; bank-a's key)",
            {("bank-a", "checkpoint"): checkpoint(key_a, origin("bank-a"), 300, other)},
            "signed a head for size 300 that is not its log", 601, bank_a=601)
    unfreeze(c, "a head for size 300")
    # a second block at height 3 (another time, signed again with bank-a's key)
    hdr = bytearray(a.header(3))
    hdr[129:137] = (struct.unpack(">Q", hdr[129:137])[0] + 1).to_bytes(8, "big")
    hdr[137:] = key_a.sign(bytes(hdr[:137]))
    event = block_event(bytes(hdr) + a.blocks[3][HDR:])

    def fork_feed(h, member, kind, rest):
        feed_head(h)
        h.wfile.write(event)
        feed_hold(h)
    refused(c, srv, "a second block at height 3 on the feed (bank-a's key)",
            {("bank-a", "feed"): fork_feed},
            "FORK: member bank-a signed two different blocks at height 3", 601, bank_a=601)
    unfreeze(c, "a second block at height 3")
    h = c.head("bank-a")
    check(h["root"] == h601["root"] and h["checkpoint_size"] == 601 and h["blocks"] == 4,
          f"the log held is unchanged by the forks: {h}")
    genuine(c, srv, 601, "after the forks")


def case_replay(c, srv, a):
    """4. Blocks held, sent again on the feed."""
    def replay(h, member, kind, rest):
        feed_head(h)
        if rest.endswith("from=601"):
            h.wfile.write(a.block_event(4) + a.block_event(4) + a.block_event(0) +
                          a.checkpoint_event(602))
            srv.mark("replayed")
        feed_hold(h)
    before = peer_state(c)["errors"]
    srv.set({("bank-a", "feed"): replay}, bank_a=601)  # its checkpoint stays at 601
    ok = wait_for(lambda: held(c) == 602, 20)
    check(ok and srv.marks.get("replayed"),
          f"the feed's block 4 is taken in (holds {held(c)}, replayed "
          f"{srv.marks.get('replayed')})")
    time.sleep(0.5)
    st = peer_state(c)
    check(st["errors"] == before, f"replayed blocks are no error: errors {before} -> "
                                  f"{st['errors']}, {st['last_error']!r}")
    h = c.head("bank-a")
    check(h["size"] == 602 and h["blocks"] == 5 and h["checkpoint_size"] == 602 and
          h["root"] == note_size_root(a.notes[602])[1].hex(),
          f"block 4 once, the feed's checkpoint stored: {h}")
    v = c.ctl.run("ledger", "verify")
    check(v[0] == 0 and v[1] and v[1].get("ok"), f"bank-c verifies after the replay: {v}")
    genuine(c, srv, 602, "after the replay")


def case_slow(c, srv, a):
    """5. A checkpoint at 1 byte/s; a feed that says nothing."""
    def dribble(h, member, kind, rest):
        note = a.notes[602]
        h.wfile.write((f"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: "
                       f"{len(note)}\r\nConnection: close\r\n\r\n").encode())
        srv.mark("dribble")
        for x in note:
            h.wfile.write(bytes([x]))
            time.sleep(1)

    def silent(h, member, kind, rest):
        """The first feed of bank-b's log: not a byte after the headers."""
        with srv.lock:
            first = "silent" not in srv.marks
            srv.marks["silent"] = [time.time()]
        if not first:
            return honest(h, member, kind, rest)
        feed_head(h)
        srv.mark("silent_end", (feed_hold(h, beat=None, plan_bound=False, limit=70),
                                time.time()))
    before = peer_state(c)["errors"]
    srv.set({("bank-a", "checkpoint"): dribble, ("bank-b", "feed"): silent}, bank_a=602)
    worst, ok, st = 0.0, False, {}
    end = time.time() + 25
    while time.time() < end and not ok:
        worst = max(worst, status_s(c))
        st = peer_state(c)
        ok = st["errors"] > before and "checkpoint: Timeout" in st["last_error"]
        time.sleep(0.2)
    t_err = time.time()
    started = (srv.marks.get("dribble") or [t_err])[0]
    check(ok, f"a checkpoint at 1 byte/s is cut: {st.get('last_error')!r}")
    check(8 <= t_err - started <= 16,
          f"cut after the low-speed limit (10 s): {t_err - started:.1f} s")
    check(worst < 1.0, f"the control socket answers while the peer dribbles: worst "
                       f"{worst:.3f} s")
    check(held(c) == 602, f"nothing taken from the slow peer: holds {held(c)}")
    # the silent feed (bank-b's log): cut after 45 s without a byte
    first_silent = (srv.marks.get("silent") or [time.time()])[0]
    before = peer_state(c)["errors"]
    srv.set({("bank-b", "feed"): silent}, bank_a=602)
    while time.time() < first_silent + 65 and not srv.marks.get("silent_end"):
        worst = max(worst, status_s(c))
        time.sleep(0.5)
    got = (srv.marks.get("silent_end") or [("never", float("inf"))])[0]
    took = got[1] - first_silent
    check(got[0] == "client" and 40 <= took <= 60,
          f"a silent feed is dropped after 45 s: {got[0]} after {took:.1f} s")
    ok, st = wait_error(c, before, "bank-b/feed?from=1: Timeout", 5)
    check(ok, f"the dropped feed is named: {st.get('last_error')!r}")
    check(worst < 1.0, f"the control socket answers while the feed is silent: worst "
                       f"{worst:.3f} s")
    genuine(c, srv, 602, "after the slow peers")


def case_feed_events(c, srv, a, b):
    """6. Malformed feed events on bank-a's feed."""
    def events(data, big=0, tag="feed"):
        """A feed that sends data, then big bytes of base64 text, then holds:
        marks tag with how it ended.  Once: a feed opened again is genuine."""
        sent = []

        def feed(h, member, kind, rest):
            with srv.lock:
                again = bool(sent)
                sent.append(time.time())
            if again:
                return honest(h, member, kind, rest)
            feed_head(h)
            try:
                h.wfile.write(data)
                for _ in range(big // (1 << 20)):
                    h.wfile.write(b"A" * (1 << 20))
            except (OSError, ssl.SSLError):
                return srv.mark(tag, ("cut", time.time()))
            srv.mark(tag, (feed_hold(h), time.time()))
        return feed

    refused(c, srv, "a block event that is not base64",
            {("bank-a", "feed"): events(b"event: block\ndata: %%%not-base64%%%\n\n")},
            "block event is not base64", 602, bank_a=602)
    refused(c, srv, "a block of bank-b's log on bank-a's feed",
            {("bank-a", "feed"): events(b.block_event(0))}, "a block of another log", 602,
            bank_a=602)
    for what, data, big in (("an event type of 40 bytes", b"event: " + b"x" * 40 +
                             b"\ndata: x\n\n", 0),
                            ("an event over 24 MiB", b"event: block\ndata: ",
                             EVENT_MAX + (1 << 20))):
        before = peer_state(c)["errors"]
        srv.set({("bank-a", "feed"): events(data, big, what)}, bank_a=602)
        worst = 0.0
        end = time.time() + 20
        while time.time() < end and not srv.marks.get(what):
            worst = max(worst, status_s(c))
            time.sleep(0.1)
        how = (srv.marks.get(what) or [(None, 0)])[0][0]
        check(how in ("client", "cut"), f"{what}: the daemon drops the feed ({how})")
        check(c.proc.poll() is None, f"{what}: riskgated runs")
        # an event over 24 MiB: its end is searched for in the new bytes
        # only, so the loop does not stall (it did, for seconds)
        check(worst < 1.0, f"{what}: the control socket "
                           f"answers while the feed sends it (worst {worst:.3f} s)")
        # a feed that on_feed_body() refuses ends in
        # CURLE_WRITE_ERROR, which on_done() does not count: no error, no
        # last_error, no backoff; the feed is opened again every second.
        ok, st = wait_error(c, before, "bank-a/feed", 3)
        check(ok, f"{what}: counted as the peer's error, named in last_error: "
                  f"errors {before} -> {st.get('errors')}, {st.get('last_error')!r}")
        check(held(c) == 602, f"{what}: nothing written (holds {held(c)})")
        srv.set({}, bank_a=602)
        check(wait_for(lambda: status_s(c) < 1.0, 30), f"{what}: control socket answers after")
    genuine(c, srv, 602, "after the malformed feeds")


def case_tls(c, srv, a_tls, good_ctx):
    """7. The server shows a_tls's key (another member's) instead of bank-b's."""
    before = peer_state(c)["errors"]
    srv.ctx = a_tls
    t0 = time.time()
    ok, st = wait_error(c, before, "pinned public key")
    check(ok, f"another member's TLS key in the server: the pin fails: "
              f"{st.get('last_error')!r}")
    check(held(c) == 602 and status_s(c) < 1.0, "TLS: nothing written, socket answers")
    time.sleep(max(0.0, t0 + 3 - time.time()))
    with srv.lock:
        tries = [t for t, _ in srv.handshakes if t >= t0]
    # a round asks two checkpoints and /forks; a failed round doubles the
    # backoff: rounds at 0, 0.5 and 1.5 s
    check(len(tries) <= 9, f"failed handshakes back off: {len(tries)} in 3 s")
    srv.ctx = good_ctx


def consortium(work, sub, names, fill):
    """Ledgers work/sub/NAME of one consortium (the names), fill(name, dir)
    writing each one's entries offline; the logs of the members that hold
    entries (Log, from their bundles) and the directories, by name."""
    top = os.path.join(work, sub)
    os.makedirs(top)
    dirs = dict(zip(names, LED.consortium(top, names, name=CONSORTIUM)))
    logs = {}
    for m, d in dirs.items():
        if fill(m, d):
            path = os.path.join(top, f"{m}.bundle")
            LED.run(d, "bundle", "--out", path)
            logs[m] = Log(path)
    return logs, dirs


class Fetcher:
    """bank-c's riskgated (sync_poll_ms 100) whose only peer, bank-b, is a
    HostilePeer holding bank-b's TLS key and serving logs."""

    def __init__(self, work, tag, logs, dirs):
        self.ctx = tls_context(os.path.join(dirs["bank-b"], "tls.crt"),
                               os.path.join(dirs["bank-b"], "tls.key"),
                               os.path.join(dirs["bank-c"], "tls.crt"))
        port = free_port()
        self.srv = HostilePeer(port, self.ctx, logs)
        self.c = Member(BUILD, work, tag, free_port())
        self.c.ldir = dirs["bank-c"]
        self.c.configure({"bank-b": port}, sync_poll_ms=100)

    def start(self, **sizes):
        self.srv.set({}, **sizes)
        self.c.start()

    def close(self):
        """Stop both; check the daemon's exit and its log (sanitizers)."""
        c = self.c
        died = c.proc is not None and c.proc.poll() is not None
        check(not died, f"{c.name}'s riskgated ran until it was stopped")
        c.stop()
        self.srv.shutdown()
        self.srv.server_close()
        text = c.log_text()
        check("runtime error" not in text and "Sanitizer" not in text,
              f"{c.name}'s log holds no sanitizer report")
        if failures:
            sys.stderr.write(f"--- {c.name} log ---\n{text[-3000:]}\n")


def fill_main(work):
    def fill(m, d):
        if m == "bank-a":
            LED.run(d, "import", merchant_csv(os.path.join(work, "a.csv"), "h", 600),
                    "--block", 200)
            for i in range(3):
                LED.run(d, "add", "marketing_cheat", "MERCHANT", f"late{i}")
        elif m == "bank-b":
            LED.run(d, "add", "telecom_fraud", "PHONE", "+8613800138000")
        return m != "bank-c"
    return fill


def case_many_logs(work):
    """8. Five members: bank-c opens a feed per log to its one peer, four
    feeds that never end; its checkpoints must still be asked for."""
    def fill(m, d):
        for i in range(2 if m == "bank-a" else 1 if m != "bank-c" else 0):
            LED.run(d, "add", "marketing_cheat", "MERCHANT", f"{m}-{i}")
        return m != "bank-c"
    logs, dirs = consortium(work, "wide", [f"bank-{x}" for x in "abcde"], fill)
    f = Fetcher(work, "bank-c-wide", logs, dirs)
    try:
        f.start(**{m.replace("-", "_"): 1 for m in logs})
        c, srv = f.c, f.srv
        check(wait_for(lambda: all(held(c, m) == 1 for m in logs), 30),
              f"five members: bank-c holds the four other logs: {peer_state(c)}")
        check(wait_for(lambda: all(srv.count(m, "feed", 0) for m in logs), 10),
              "five members: a feed opened per log")
        time.sleep(1)
        t0 = time.time()
        time.sleep(2)
        asked = sum(len(srv.count(m, "checkpoint", t0)) for m in logs)
        # syncpeer.c caps curl at 4 connections per host
        # (CURLMOPT_MAX_HOST_CONNECTIONS) and a feed holds one for good: with
        # four other logs at one peer, every checkpoint poll and catch-up
        # request to it waits for ever (no error, no timeout), so a log that
        # grows while its feed is down is never found (with six members a
        # fifth feed never opens either).
        check(asked >= 8, f"five members: checkpoints polled while four feeds are "
                          f"open to the peer: {asked} requests in 2 s (about 80 expected)")
        with srv.lock:
            srv.size["bank-a"] = 2
        check(wait_for(lambda: held(c) == 2, 5),
              f"five members: bank-a's grown log taken from its checkpoint "
              f"(holds {held(c)})")
    finally:
        f.close()


def run(work):
    t_start = time.time()
    logs, dirs = consortium(work, "ledgers", ["bank-a", "bank-b", "bank-c"], fill_main(work))
    a, b = logs["bank-a"], logs["bank-b"]
    da, dc = dirs["bank-a"], dirs["bank-c"]
    check(a.ends == [200, 400, 600, 601, 602, 603] and sorted(a.notes) == a.ends,
          f"bank-a's log: blocks ending at {a.ends}, checkpoints {sorted(a.notes)}")
    # the entry bundles served here are the ledger's own tiles
    www = os.path.join(work, "www")
    LED.run(da, "tiles", "--out", www)
    tdir = os.path.join(www, origin("bank-a"), "tile", "entries")
    for name, idx, width in (("000", 0, 256), ("001", 1, 256), ("002.p/91", 2, 91)):
        with open(os.path.join(tdir, name), "rb") as f:
            check(f.read() == a.bundle(idx, width), f"entry bundle {name} as `tiles` writes it")

    f = Fetcher(work, "bank-c", logs, dirs)
    c, srv = f.c, f.srv
    try:
        f.start(bank_b=1)
        check(wait_for(lambda: held(c, "bank-b") == 1 and peer_state(c)["connected"], 30),
              f"bank-c takes bank-b's genuine log from the peer: {peer_state(c)}")
        key_a = member_key(da)
        other_tls = tls_context(os.path.join(da, "tls.crt"), os.path.join(da, "tls.key"),
                                os.path.join(dc, "tls.crt"))
        steps = [("1. checkpoints", lambda: case_checkpoints(c, srv, a, b, key_a)),
                 ("2. catch-up", lambda: case_catchup(c, srv, a, b)),
                 ("3. rollback and fork", lambda: case_rollback_fork(c, srv, a, key_a)),
                 ("4. replay", lambda: case_replay(c, srv, a)),
                 ("5. slow peers", lambda: case_slow(c, srv, a)),
                 ("6. feed events", lambda: case_feed_events(c, srv, a, b)),
                 ("7. TLS", lambda: case_tls(c, srv, other_tls, f.ctx))]
        for name, step in steps:
            t0 = time.time()
            step()
            print(f"case {name}: {time.time() - t0:.1f} s", flush=True)
        genuine(c, srv, 603, "at the end")
        v = c.ctl.run("ledger", "verify")
        check(v[0] == 0 and v[1] and v[1].get("ok"), f"bank-c verifies: {v}")
        check(listed_by(c, "MERCHANT", "late2", "bank-a"), "bank-a's last entry listed at bank-c")
        check(c.head("bank-a")["root"] == note_size_root(a.notes[603])[1].hex(),
              "bank-a's root at 603 at bank-c")
    finally:
        f.close()
    ev = LED.json(dc, "evidence")
    got = sorted((e["member"], e["problem"], e["at"]) for e in ev)
    check(("bank-a", "fork", 601) in got and ("bank-a", "root", 300) in got and
          ("bank-a", "fork", 3) in got, f"evidence kept at bank-c: {got}")
    for e in ev:
        if e["problem"] == "fork":
            want = "checkpoint" if e["at"] == 601 else "block"
            check(e["object"] == want and len(e["signed"]) == 2,
                  f"the fork at {e['at']} holds both signed {want}s: {e}")
    check(LED.json(dc, "verify")[-1].get("ok"), "bank-c's ledger verifies offline")
    t0 = time.time()
    case_many_logs(work)
    print(f"case 8. many logs at one peer: {time.time() - t0:.1f} s", flush=True)
    print(f"sync_hostile took {time.time() - t_start:.0f} s")


if __name__ == "__main__":
    main_in_work("rg-hostile-", run)
