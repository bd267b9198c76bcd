#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""riskgate-dissect against tshark's ISO 8583 dissector and against the
ground truth of the captures this test writes.

usage: dissect_vs_tshark.py PATH/riskgate-dissect PATH/riskgate-gen

1. A capture built here (isogen_iso8583: independent ascii87 builder, scapy
   TCP conversations: several flows, IPv4/IPv6, 802.1Q and QinQ, two service
   ports, several messages per segment, messages cut at odd offsets, 1-byte
   segments, a 2-byte length header split in two) is decoded by
   riskgate-dissect --show-pan and by tshark; every field of every message is
   compared, and both are compared with what the builder sent (MTI, fields,
   frame numbers, flow, direction).
2. Captures tshark does not reassemble the way we do (out-of-order segments,
   retransmissions, a conflicting overlap, a gap, an oversized frame,
   malformed and foreign packets, Linux cooked and raw-IP link types) are
   checked against the ground truth and the expected anomaly and drop counts.
3. Masking, --list hits, --summary --json and the CLI's errors.
4. A riskgate-gen capture against tshark (skipped with a message when
   riskgate-gen is not usable).

Exit 0 pass, 1 fail (every difference printed), 77 skip (no scapy/tshark).
"""

import collections
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # leave the source tree as it was

import logging  # noqa: E402

logging.getLogger("scapy.runtime").setLevel(logging.ERROR)

try:
    import scapy.all as scapy
except ImportError:
    # meson may pick a python without scapy while the system one has it
    if os.path.exists("/usr/bin/python3") and os.path.realpath(sys.executable) != \
            os.path.realpath("/usr/bin/python3") and not os.environ.get("RG_REEXEC"):
        os.environ["RG_REEXEC"] = "1"
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    print("SKIP: python module scapy not available")
    sys.exit(77)

from isogen_iso8583 import Capture, Conn, MsgFactory, build  # noqa: E402

failures = []
stats = collections.Counter()


def fail(msg):
    failures.append(msg)
    print("FAIL: " + msg)


def run_dissect(dissect, pcap, *args, ok=(0,)):
    p = subprocess.run([dissect, *args, pcap], capture_output=True, text=True)
    if p.returncode not in ok:
        fail("riskgate-dissect %s %s: exit %d: %s" % (" ".join(args), pcap, p.returncode,
                                                       p.stderr.strip()))
    return p


def dissect_lines(dissect, pcap, *args):
    p = run_dissect(dissect, pcap, *args)
    out = []
    for n, line in enumerate(p.stdout.splitlines(), 1):
        try:
            out.append(json.loads(line))
        except ValueError as e:
            fail("%s: output line %d is not JSON (%s)" % (pcap, n, e))
    return out


# ---- tshark ---------------------------------------------------------------

def _pairs(pairs):
    """tshark -T json repeats a key (one "iso8583" per PDU in a packet):
    keep every value."""
    d = {}
    for k, v in pairs:
        if k in d:
            if not isinstance(d[k], list) or not getattr(d[k], "_multi", False):
                d[k] = _Multi([d[k]])
            d[k].append(v)
        else:
            d[k] = v
    return d


class _Multi(list):
    _multi = True


def tshark_messages(pcap, ports):
    args = ["tshark", "-r", pcap, "-o", "iso8583.len_endian:bigendian",
            "-o", "tcp.desegment_tcp_streams:TRUE", "-T", "json"]
    for p in ports:
        args += ["-d", "tcp.port==%d,iso8583" % p]
    p = subprocess.run(args, capture_output=True, text=True)
    if p.returncode != 0:
        fail("tshark on %s: exit %d: %s" % (pcap, p.returncode, p.stderr.strip()))
        return []
    msgs = []
    for pkt in json.loads(p.stdout, object_pairs_hook=_pairs):
        layers = pkt["_source"]["layers"]
        isos = layers.get("iso8583")
        if isos is None:
            continue
        if not isinstance(isos, _Multi):
            isos = [isos]
        frame = int(layers["frame"]["frame.number"])
        ip = layers.get("ip") or layers.get("ipv6")
        tcp = layers["tcp"]
        if "ip" in layers:
            src, dst = ip["ip.src"], ip["ip.dst"]
        else:
            src, dst = "[%s]" % ip["ipv6.src"], "[%s]" % ip["ipv6.dst"]
        flow = "%s:%s>%s:%s" % (src, tcp["tcp.srcport"], dst, tcp["tcp.dstport"])
        for iso in isos:
            fields = {}
            for k, v in iso.items():
                if k.startswith("iso8583.bit"):
                    fields[k[len("iso8583.bit"):]] = v
            msgs.append({"frame": frame, "flow": flow, "mti": iso.get("iso8583.mti"),
                         "fields": fields})
    return msgs


# DEs whose tshark rendering differs from the wire text on purpose; none so
# far for ascii87 (docs/dissect.md lists what was checked).
TSHARK_EXCLUDED = {}


def compare_with_tshark(name, ours, theirs):
    ours = [m for m in ours if m.get("mti") is not None]
    if len(ours) != len(theirs):
        fail("%s: riskgate-dissect found %d messages, tshark %d" % (name, len(ours), len(theirs)))
    for i, (a, b) in enumerate(zip(ours, theirs)):
        where = "%s: message %d (frame %s)" % (name, i + 1, a["frame"])
        if a["frame"] != b["frame"]:
            fail("%s: frame %s, tshark %s" % (where, a["frame"], b["frame"]))
        if a["flow"] != b["flow"]:
            fail("%s: flow %s, tshark %s" % (where, a["flow"], b["flow"]))
        if a["mti"] != b["mti"]:
            fail("%s: mti %s, tshark %s" % (where, a["mti"], b["mti"]))
        stats[name + " messages"] += 1
        keys = sorted(set(a["fields"]) | set(b["fields"]), key=int)
        for de in keys:
            if de in TSHARK_EXCLUDED:
                continue
            va, vb = a["fields"].get(de), b["fields"].get(de)
            if va != vb:
                fail("%s: DE %s: dissect %r, tshark %r" % (where, de, va, vb))
            stats[name + " fields"] += 1


def compare_with_truth(name, ours, truth, check_frames=True):
    msgs = [m for m in ours if m.get("mti") is not None]
    # per flow direction, in order
    got = collections.defaultdict(list)
    for m in msgs:
        got[m["flow"]].append(m)
    want = collections.defaultdict(list)
    for t in truth:
        want[t["flow"]].append(t)
    for flow in sorted(set(got) | set(want)):
        g, w = got[flow], want[flow]
        if len(g) != len(w):
            fail("%s: flow %s: %d messages decoded, %d sent" % (name, flow, len(g), len(w)))
        for i, (a, t) in enumerate(zip(g, w)):
            where = "%s: flow %s message %d" % (name, flow, i + 1)
            exp = {str(k): v for k, v in t["fields"].items()}
            if a["mti"] != t["mti"]:
                fail("%s: mti %s, sent %s" % (where, a["mti"], t["mti"]))
            if a["fields"] != exp:
                for de in sorted(set(a["fields"]) | set(exp), key=int):
                    if a["fields"].get(de) != exp.get(de):
                        fail("%s: DE %s: decoded %r, sent %r" % (where, de, a["fields"].get(de),
                                                                exp.get(de)))
            if a["dir"] != t["dir"]:
                fail("%s: dir %s, want %s" % (where, a["dir"], t["dir"]))
            if check_frames and t.get("first") is not None and \
                    a["frames"] != [t["first"], t["last"]]:
                fail("%s: frames %s, want %s" % (where, a["frames"], [t["first"], t["last"]]))
            if check_frames and t.get("last") is not None and a["frame"] != t["last"]:
                fail("%s: frame %s, want %s" % (where, a["frame"], t["last"]))
            if a["anomaly"] is not None and not t.get("anomaly"):
                fail("%s: anomaly %s" % (where, a["anomaly"]))
            stats["truth messages"] += 1
            stats["truth fields"] += len(exp)


# ---- captures ---------------------------------------------------------------

def capture_main(path):
    """The tshark-comparable capture."""
    cap = Capture(scapy)
    f = MsgFactory(20261129)
    conns = [
        Conn(cap, "10.1.0.7", "10.2.0.1", 40001),
        Conn(cap, "10.1.0.8", "10.2.0.1", 40002),
        Conn(cap, "2001:db8::7", "2001:db8::1", 40003, v6=True),
        Conn(cap, "10.1.0.9", "10.2.0.1", 40004, vlans=(101,)),
        Conn(cap, "10.1.0.10", "10.2.0.2", 40005, vlans=(200, 300)),
        Conn(cap, "10.1.0.11", "10.2.0.3", 40006, sport=5001),
    ]
    for c in conns:
        c.handshake()
    cuts = [None, [1], [2], [3, 5, 7], [1, 1, 1, 1, 1, 1, 1, 1, 1, 1], [13, 29, 31],
            [97], [250, 3], [5] * 40]
    for rnd in range(9):
        for ci, c in enumerate(conns):
            reqs = []
            nb = 1 + (rnd + ci) % 3  # 1..3 messages in one flush
            for k in range(nb):
                if ci == 1 and k == 0 and rnd % 3 == 0:
                    mti, fl = f.netmgmt()
                elif ci == 1 and k == 1:
                    mti, fl = f.reversal_advice()
                else:
                    mti, fl = f.request(big=(rnd == 4 and k == 0))
                c.send(0, mti, fl)
                reqs.append((mti, fl))
            c.flush(0, cuts[(rnd + ci) % len(cuts)])
            for mti, fl in reqs:
                c.send(1, *f.response(mti, fl))
            c.flush(1, cuts[(rnd + 2 * ci) % len(cuts)] if rnd % 2 else None)
    for c in conns:
        c.close()
    cap.write(path)
    return cap.msgs


def capture_tricky(path):
    """Reassembly cases and junk: ground truth only."""
    s = scapy
    cap = Capture(s)
    f = MsgFactory(7)
    truth = []

    # out of order: second half first, then first half; then a duplicate
    c = Conn(cap, "10.3.0.1", "10.2.0.1", 41001)
    c.handshake()
    mti, fl = f.request()
    wire = len(build(mti, fl)).to_bytes(2, "big") + build(mti, fl)
    half = len(wire) // 2 + 1
    c.raw_segment(0, wire[half:], seq_off=half)
    last = c.raw_segment(0, wire[:half])
    c.seq[0] += len(wire)
    c.raw_segment(0, wire[:half], seq_off=-len(wire))  # retransmission, same bytes
    truth.append({"flow": c.flow(0), "mti": mti, "fields": fl, "dir": "request",
                  "first": last, "last": last})
    # a second message in order after it
    mti, fl = f.request()
    rec = c.send(0, mti, fl)
    c.flush(0, [4])
    truth.append(rec)
    # overlap with different bytes: held copy wins, anomaly reported
    mti, fl = f.request()
    wire = len(build(mti, fl)).to_bytes(2, "big") + build(mti, fl)
    c.raw_segment(0, wire[20:], seq_off=20)
    bad = bytearray(wire[20:40])
    bad[3] ^= 0x01
    c.raw_segment(0, bytes(bad), seq_off=20)
    last = c.raw_segment(0, wire[:20])
    c.seq[0] += len(wire)
    truth.append({"flow": c.flow(0), "mti": mti, "fields": fl, "dir": "request",
                  "first": last, "last": last})
    # a gap never filled: the message after the hole is found again at the end
    mti, fl = f.request()
    lost = len(build(mti, fl)) + 2
    c.seq[0] += lost  # these bytes never appear
    mti, fl = f.request()
    wire = len(build(mti, fl)).to_bytes(2, "big") + build(mti, fl)
    c.raw_segment(0, wire)
    c.seq[0] += len(wire)
    truth.append({"flow": c.flow(0), "mti": mti, "fields": fl, "dir": "request"})
    c.close()

    # a frame far above --max-msg: frame_too_long, the rest of that
    # direction is not framed
    c2 = Conn(cap, "10.3.0.2", "10.2.0.1", 41002)
    c2.handshake()
    c2.pending[0] = b"\xff\xf0" + b"0100" + b"0" * 64
    c2.flush(0)
    c2.close()

    # junk between the flows
    ether = s.Ether(src="02:00:00:00:00:09", dst="02:00:00:00:00:0a")
    junk = [
        ether / s.ARP(),                                                  # not_ip
        ether / s.IP(src="10.3.0.3", dst="10.2.0.1") / s.UDP(dport=5000),  # not_tcp
        ether / s.IP(src="10.3.0.3", dst="10.2.0.1", flags="MF") /
        s.TCP(dport=5000) / s.Raw(b"x" * 40),                             # ip_fragment
        ether / s.IP(src="10.3.0.3", dst="10.2.0.1", frag=3) / s.Raw(b"y" * 40),
        ether / s.IP(src="10.3.0.3", dst="10.2.0.1") / s.TCP(sport=1234, dport=80),  # other_port
        ether / s.IPv6(src="2001:db8::9", dst="2001:db8::1") / s.IPv6ExtHdrFragment(m=1) /
        s.TCP(dport=5000),                                                 # ip_fragment
        ether / s.IPv6(src="2001:db8::9", dst="2001:db8::1", nh=50) / s.Raw(b"z" * 24),  # ipv6_ext
    ]
    for p in junk:
        cap._add(p)
    # malformed ones, as raw bytes
    good = bytes(ether / s.IP(src="10.3.0.3", dst="10.2.0.1") /
                 s.TCP(sport=41003, dport=5000, flags="PA") / s.Raw(b"\x00\x10" + b"0800"))
    cap._add(s.Raw(good[:14 + 30]))                        # ip_truncated
    bad_doff = bytearray(good)
    bad_doff[14 + 20 + 12] = 0xf0                           # data offset 60 > segment
    cap._add(s.Raw(bytes(bad_doff)))                        # tcp_malformed
    bad_ihl = bytearray(good)
    bad_ihl[14] = 0x43                                      # IHL 3
    cap._add(s.Raw(bytes(bad_ihl)))                         # ip_malformed
    cap._add(s.Raw(good[:10]))                              # link_truncated

    # IPv6 with a hop-by-hop and a destination options header
    c3 = Conn(cap, "2001:db8::20", "2001:db8::1", 41004, v6=True)
    c3.handshake()
    mti, fl = f.request()
    body = len(build(mti, fl)).to_bytes(2, "big") + build(mti, fl)
    pkt = s.Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / \
        s.IPv6(src="2001:db8::20", dst="2001:db8::1") / \
        s.IPv6ExtHdrHopByHop() / s.IPv6ExtHdrDestOpt() / \
        s.TCP(sport=41004, dport=5000, flags="PA", seq=c3.seq[0], ack=c3.seq[1]) / s.Raw(body)
    n = cap._add(pkt)
    c3.seq[0] += len(body)
    truth.append({"flow": c3.flow(0), "mti": mti, "fields": fl, "dir": "request",
                  "first": n, "last": n})
    c3.close()
    cap.write(path, linktype=1)
    expect_drops = {"not_ip": 1, "not_tcp": 1, "ip_fragment": 3, "other_port": 1,
                    "ipv6_ext": 1, "ip_truncated": 1, "tcp_malformed": 1,
                    "ip_malformed": 1, "link_truncated": 1}
    expect_anomalies = {"stream_overlap": 1, "stream_gap": 1, "frame_too_long": 1}
    return truth, expect_drops, expect_anomalies


def capture_link(path, link):
    cap = Capture(scapy)
    f = MsgFactory(99 if link == "sll" else 98)
    c = Conn(cap, "10.4.0.1", "10.2.0.1", 42001, link=link)
    c.handshake()
    for i in range(4):
        mti, fl = f.request()
        c.send(0, mti, fl)
        c.flush(0, [3, 17])
        c.send(1, *f.response(mti, fl))
        c.flush(1)
    c.close()
    cap.write(path, linktype=113 if link == "sll" else 101)
    return cap.msgs


# ---- checks -----------------------------------------------------------------

def mask_pan(p):
    if len(p) < 12:
        return "*" * len(p)
    return p[:6] + "*" * (len(p) - 10) + p[-4:]


def check_masking(dissect, pcap, truth):
    p = run_dissect(dissect, pcap)
    out = p.stdout + p.stderr
    pans = {t["fields"][2] for t in truth if 2 in t["fields"]}
    leaked = [x for x in pans if x in out]
    if leaked:
        fail("masking: %d raw PANs appear in the output without --show-pan" % len(leaked))
    msgs = [json.loads(line) for line in p.stdout.splitlines()]
    msgs = [m for m in msgs if m["mti"]]
    byflow = collections.defaultdict(list)
    for t in truth:
        byflow[t["flow"]].append(t)
    seen = collections.Counter()
    for m in msgs:
        t = byflow[m["flow"]][seen[m["flow"]]]
        seen[m["flow"]] += 1
        tf = t["fields"]
        if 2 in tf:
            want = mask_pan(tf[2])
            if m["fields"].get("2") != want:
                fail("masking DE 2: %r, want %r" % (m["fields"].get("2"), want))
            ids = [i for i in m["identifiers"] if i["kind"] == "PAN"]
            if not ids or ids[0]["value"] != want:
                fail("masking: PAN identifier %r, want %r" % (ids, want))
            stats["masked PANs checked"] += 1
        if 35 in tf:
            pan, rest = tf[35].split("=", 1)
            want = mask_pan(pan) + "=" + "*" * len(rest)
            if m["fields"].get("35") != want:
                fail("masking DE 35: %r, want %r" % (m["fields"].get("35"), want))
        if 45 in tf:
            body = tf[45][1:]
            pan, rest = body.split("^", 1)
            want = tf[45][0] + mask_pan(pan) + "^" + "*" * len(rest)
            if m["fields"].get("45") != want:
                fail("masking DE 45: %r, want %r" % (m["fields"].get("45"), want))
            stats["masked track 1 checked"] += 1


def check_lists(dissect, pcap, truth, tmp):
    reqs = [t for t in truth if t["dir"] == "request" and 2 in t["fields"]]
    listed_pan = reqs[0]["fields"][2]
    listed_merchant = reqs[1]["fields"][42]
    path = os.path.join(tmp, "lists.csv")
    with open(path, "w") as fp:
        fp.write("list,kind,value,severity,expiry,reason\n")
        fp.write("txn_fraud,PAN,%s,high,2027-01-01,\"stolen, reported\"\n" %
                 "-".join([listed_pan[:4], listed_pan[4:]]))
        fp.write("high_risk_account,PAN,%s\n" % listed_pan)
        fp.write("txn_fraud,PAN,%s\n" % listed_pan)  # duplicate: one hit
        fp.write("marketing_cheat,MERCHANT,  %s  \n" % listed_merchant.strip())
    want = collections.Counter()
    for t in truth:
        if t["fields"].get(2) == listed_pan:
            want["txn_fraud"] += 1
            want["high_risk_account"] += 1
        if 42 in t["fields"] and t["fields"][42].strip() == listed_merchant.strip():
            want["marketing_cheat"] += 1
    got = collections.Counter()
    for m in dissect_lines(dissect, pcap, "--list", path):
        for h in m.get("hits", []):
            got[h["list"]] += 1
            if h["kind"] == "PAN" and h["value"] != mask_pan(listed_pan):
                fail("hits: PAN value %r not masked as %r" % (h["value"], mask_pan(listed_pan)))
    if got != want:
        fail("hits: %s, want %s" % (dict(got), dict(want)))
    stats["list hits checked"] += sum(want.values())
    p = run_dissect(dissect, pcap, "--summary", "--json", "--list", path)
    try:
        summ = json.loads(p.stdout)
    except ValueError:
        fail("--summary --json: not one JSON object: %r" % p.stdout[:200])
        return
    if summ.get("hits_by_list") != dict(want):
        fail("--summary hits_by_list %s, want %s" % (summ.get("hits_by_list"), dict(want)))
    if summ.get("messages") != len(truth):
        fail("--summary messages %s, want %d" % (summ.get("messages"), len(truth)))
    by_mti = collections.Counter(t["mti"] for t in truth)
    if summ.get("by_mti") != dict(by_mti):
        fail("--summary by_mti %s, want %s" % (summ.get("by_mti"), dict(by_mti)))
    # a bad line is an error that names the line and not the value
    bad = os.path.join(tmp, "bad.csv")
    with open(bad, "w") as fp:
        fp.write("list,kind,value\ntxn_fraud,PAN,%s\ntxn_fraud,PAN,12345X\n" % listed_pan)
    p = run_dissect(dissect, pcap, "--list", bad, ok=(2,))
    if ":3:" not in p.stderr or "12345X" in p.stderr:
        fail("--list with a bad line 3: stderr %r" % p.stderr)


def check_cli(dissect, pcap, tmp):
    cases = [
        (["--dialect", "nosuch"], "nosuch"),
        (["--framing", "len7"], "len7"),
        (["--port", "0"], "--port"),
        (["--max-msg", "x"], "--max-msg"),
    ]
    for args, word in cases:
        p = subprocess.run([dissect, *args, pcap], capture_output=True, text=True)
        if p.returncode != 2 or word not in p.stderr:
            fail("cli %s: exit %d, stderr %r" % (args, p.returncode, p.stderr))
    missing = os.path.join(tmp, "missing.pcap")
    p = subprocess.run([dissect, missing], capture_output=True, text=True)
    if p.returncode != 2 or missing not in p.stderr or "No such file" not in p.stderr:
        fail("missing file: exit %d, stderr %r" % (p.returncode, p.stderr))
    notpcap = os.path.join(tmp, "not.pcap")
    with open(notpcap, "w") as fp:
        fp.write("hello, this is not a capture\n")
    p = subprocess.run([dissect, notpcap], capture_output=True, text=True)
    if p.returncode != 2 or notpcap not in p.stderr:
        fail("not a capture: exit %d, stderr %r" % (p.returncode, p.stderr))
    # a capture cut in the middle of a packet: what came before is printed
    with open(pcap, "rb") as fp:
        data = fp.read()
    cut = os.path.join(tmp, "cut.pcap")
    with open(cut, "wb") as fp:
        fp.write(data[:len(data) * 2 // 3])
    p = subprocess.run([dissect, cut], capture_output=True, text=True)
    if p.returncode not in (0, 1) or not p.stdout:
        fail("cut capture: exit %d, stderr %r" % (p.returncode, p.stderr))
    # --key: an 8-byte fingerprint prefix per identifier, the same for the
    # same identifier wherever it appears; a key readable by others is refused
    key = os.path.join(tmp, "fp.key")
    with open(key, "w") as fp:
        fp.write("riskgate-fp-key 1\nepoch 1\nkey 000102030405060708090a0b0c0d0e0f\n")
    os.chmod(key, 0o600)
    fps = collections.defaultdict(set)
    for m in dissect_lines(dissect, pcap, "--key", key, "--show-pan"):
        for i in m["identifiers"]:
            fpv = i.get("fp", "")
            if len(fpv) != 16 or fpv.strip("0123456789abcdef"):
                fail("--key: fp %r is not 16 lower-case hex digits" % fpv)
            fps[(i["kind"], i["value"])].add(fpv)
    if not fps or any(len(v) != 1 for v in fps.values()):
        fail("--key: an identifier got several fingerprints (or none at all)")
    os.chmod(key, 0o644)
    p = subprocess.run([dissect, "--key", key, pcap], capture_output=True, text=True)
    if p.returncode != 2 or key not in p.stderr:
        fail("--key with mode 0644: exit %d, stderr %r" % (p.returncode, p.stderr))
    p = subprocess.run([dissect, "--help"], capture_output=True, text=True)
    if p.returncode != 0 or "--framing" not in p.stdout:
        fail("--help: exit %d" % p.returncode)


def check_gen(dissect, gen, tmp):
    out = os.path.join(tmp, "gen.pcap")
    args = [gen, "--out", out, "--lists", os.path.join(tmp, "gen.csv"),
            "--truth", os.path.join(tmp, "gen.jsonl"), "--dialect", "ascii87",
            "--seed", "7"]
    try:
        p = subprocess.run(args, capture_output=True, text=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired) as e:
        print("SKIP riskgate-gen part: %s" % e)
        return
    if p.returncode != 0 or not os.path.exists(out):
        print("SKIP riskgate-gen part: riskgate-gen exit %d %s" % (p.returncode,
                                                                 p.stderr.strip()[:200]))
        return
    ours = dissect_lines(dissect, out, "--show-pan")
    compare_with_tshark("riskgate-gen", ours, tshark_messages(out, [5000]))
    # every hit riskgate-gen planted is found from its list file, no more.
    # Its truth names a response by the connection's request-direction flow,
    # so connections are compared without their orientation, plus "dir".
    def conn(flow):
        return tuple(sorted(flow.split(">")))

    want = collections.Counter()
    with open(os.path.join(tmp, "gen.jsonl")) as fp:
        for line in fp:
            if line.strip():
                t = json.loads(line)
                want[(conn(t["flow"]), t["dir"], t["mti"], t["list"], t["kind"], t["de"])] += 1
    got = collections.Counter()
    for m in dissect_lines(dissect, out, "--list", os.path.join(tmp, "gen.csv")):
        for h in m.get("hits", []):
            got[(conn(m["flow"]), m["dir"], m["mti"], h["list"], h["kind"], h["de"])] += 1
    if got != want:
        fail("riskgate-gen hits: %d found, %d in its truth; first differences %s" %
             (sum(got.values()), sum(want.values()), list((got - want) + (want - got))[:5]))
    stats["riskgate-gen hits"] += sum(got.values())


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    dissect, gen = sys.argv[1], sys.argv[2]
    if shutil.which("tshark") is None:
        print("SKIP: tshark not installed")
        return 77
    with tempfile.TemporaryDirectory(prefix="rg-dissect-") as tmp:
        main_pcap = os.path.join(tmp, "main.pcap")
        truth = capture_main(main_pcap)
        ports = ["--port", "5000", "--port", "5001"]
        ours = dissect_lines(dissect, main_pcap, "--show-pan", *ports)
        compare_with_tshark("generated", ours, tshark_messages(main_pcap, [5000, 5001]))
        compare_with_truth("generated", ours, truth)
        for m in ours:
            if m["anomaly"] is not None:
                fail("generated: unexpected anomaly %s at frame %s" % (m["anomaly"], m["frame"]))

        for link in ("sll", "raw"):
            path = os.path.join(tmp, link + ".pcap")
            t = capture_link(path, link)
            o = dissect_lines(dissect, path, "--show-pan")
            compare_with_truth(link, o, t)
            compare_with_tshark(link, o, tshark_messages(path, [5000]))

        tricky = os.path.join(tmp, "tricky.pcap")
        t, drops, anomalies = capture_tricky(tricky)
        o = dissect_lines(dissect, tricky, "--show-pan", "--max-msg", "4096")
        compare_with_truth("tricky", o, t, check_frames=True)
        got = collections.Counter(m["anomaly"] for m in o if m["mti"] is None)
        if dict(got) != anomalies:
            fail("tricky: anomalies %s, want %s" % (dict(got), anomalies))
        p = run_dissect(dissect, tricky, "--summary", "--json", "--max-msg", "4096")
        summ = json.loads(p.stdout or "{}")
        if summ.get("packets_not_used") != drops:
            fail("tricky: packets_not_used %s, want %s" % (summ.get("packets_not_used"), drops))

        check_masking(dissect, main_pcap, [x for x in truth if x["flow"].endswith(":5000") or
                                           x["flow"].split(">")[0].endswith(":5000")])
        check_lists(dissect, main_pcap, [x for x in truth if ":5001" not in x["flow"]], tmp)
        check_cli(dissect, main_pcap, tmp)
        check_gen(dissect, gen, tmp)

    for k in sorted(stats):
        print("%-36s %d" % (k, stats[k]))
    print("%d passed, %d failed" % (1 if not failures else 0, 1 if failures else 0))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
