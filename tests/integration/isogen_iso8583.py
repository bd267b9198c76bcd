# SPDX-License-Identifier: BSD-3-Clause
"""ISO 8583 (1987, ASCII numerics, ASCII-hex bitmap) message builder and
TCP capture writer for the integration tests.

Written from the ISO 8583 field table, independently of the C codec in
common/, so the two can be checked against each other (and both against
tshark).  Messages are built from {de: text}; binary fields are given and
sent as upper-case hex characters, as the ascii87 dialect carries them.

The capture writer lays out real TCP conversations with scapy: handshake,
data segments cut where the test says, ACKs, FIN; frame numbers of every
message's first and last byte are recorded so a test can check them.
"""

import random

# de: (kind, length, prefix digits)   kind: n numeric, an text, z track 2,
# b binary (length in bytes, sent as 2 hex characters per byte)
FIELDS = {
    2: ("n", 19, 2), 3: ("n", 6, 0), 4: ("n", 12, 0), 5: ("n", 12, 0),
    7: ("n", 10, 0), 11: ("n", 6, 0), 12: ("n", 6, 0), 13: ("n", 4, 0),
    14: ("n", 4, 0), 15: ("n", 4, 0), 18: ("n", 4, 0), 19: ("n", 3, 0),
    22: ("n", 3, 0), 23: ("n", 3, 0), 25: ("n", 2, 0), 32: ("n", 11, 2),
    33: ("n", 11, 2), 35: ("z", 37, 2), 37: ("an", 12, 0), 38: ("an", 6, 0),
    39: ("an", 2, 0), 41: ("an", 8, 0), 42: ("an", 15, 0), 43: ("an", 40, 0),
    44: ("an", 25, 2), 45: ("an", 76, 2), 48: ("an", 999, 3), 49: ("an", 3, 0),
    52: ("b", 8, 0), 54: ("an", 120, 3), 60: ("an", 999, 3),
    61: ("an", 999, 3), 62: ("an", 999, 3), 63: ("an", 999, 3),
    70: ("n", 3, 0), 90: ("n", 42, 0), 100: ("n", 11, 2), 102: ("an", 28, 2),
    103: ("an", 28, 2), 128: ("b", 8, 0),
}


def encode_field(de, text):
    kind, length, prefix = FIELDS[de]
    units = len(text)
    if kind == "b":
        if len(text) != 2 * length and prefix == 0:
            raise ValueError("DE %d: want %d hex chars" % (de, 2 * length))
        units = len(text) // 2
    if prefix == 0 and kind != "b" and units != length:
        raise ValueError("DE %d: fixed length %d, got %d" % (de, length, units))
    if prefix and units > length:
        raise ValueError("DE %d: %d over max %d" % (de, units, length))
    if kind == "n" and not text.isdigit():
        raise ValueError("DE %d: not numeric" % de)
    body = text.encode("latin-1")
    if prefix:
        return ("%0*d" % (prefix, units)).encode() + body
    return body


def build(mti, fields):
    """Bytes of one message: MTI, hex bitmap(s), fields in DE order."""
    des = sorted(fields)
    bits = [0, 0]
    if any(de > 64 for de in des):
        bits[0] |= 1 << 63
    for de in des:
        if de < 2 or de > 128:
            raise ValueError("DE %d" % de)
        bits[(de - 1) // 64] |= 1 << (63 - (de - 1) % 64)
    out = mti.encode() + ("%016X" % bits[0]).encode()
    if bits[0] >> 63:
        out += ("%016X" % bits[1]).encode()
    for de in des:
        out += encode_field(de, fields[de])
    return out


def frame_len2(msg):
    return len(msg).to_bytes(2, "big") + msg


def luhn_complete(body):
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return body + str((10 - total % 10) % 10)


class MsgFactory:
    """Realistic-looking authorisation traffic from a seeded generator."""

    BINS = ["476173", "541333", "371449", "601100", "622126"]

    def __init__(self, seed):
        self.r = random.Random(seed)
        self.stan = self.r.randrange(1, 900000)

    def digits(self, n):
        return "".join(self.r.choice("0123456789") for _ in range(n))

    def pan(self):
        n = self.r.choice([13, 15, 16, 16, 16, 19])
        b = self.r.choice(self.BINS)
        return luhn_complete(b + self.digits(n - len(b) - 1))

    def text(self, n, alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 -./"):
        return "".join(self.r.choice(alphabet) for _ in range(n))

    def phone(self):
        return self.r.choice(["1", "44", "86"]) + self.digits(10)

    def tlv48(self, filler=0):
        """DE 48 as ASCII TLV: 2-character tag, 3-digit length, value."""
        out = ""
        if self.r.random() < 0.7:
            p = self.phone()
            out += "PH%03d%s" % (len(p), p)
        if filler:
            out += "ZZ%03d%s" % (filler, self.text(filler))
        if self.r.random() < 0.5 or not out:
            d = self.text(self.r.randrange(8, 20), "0123456789ABCDEF")
            out += "DV%03d%s" % (len(d), d)
        return out

    def request(self, big=False):
        self.stan = self.stan % 999999 + 1
        pan = self.pan()
        exp = "%02d%02d" % (self.r.randrange(26, 32), self.r.randrange(1, 13))
        f = {
            2: pan,
            3: self.r.choice(["000000", "003000", "200000", "310000"]),
            4: "%012d" % self.r.randrange(1, 10 ** 8),
            7: "1129%06d" % self.r.randrange(0, 235959),
            11: "%06d" % self.stan,
            12: "%06d" % self.r.randrange(0, 235959),
            13: "1129",
            14: exp,
            18: self.r.choice(["5411", "5812", "5999", "6011"]),
            22: self.r.choice(["051", "071", "901", "010"]),
            25: "00",
            32: self.digits(self.r.randrange(6, 12)),
            37: self.digits(12),
            41: self.text(8, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"),
            42: self.text(15, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 "),
            43: self.text(40),
            49: self.r.choice(["840", "978", "156", "826"]),
        }
        if self.r.random() < 0.6:
            f[35] = pan + "=" + exp + "101" + self.digits(self.r.randrange(5, 37 - len(pan) - 7))
        if self.r.random() < 0.5:
            f[52] = "".join(self.r.choice("0123456789ABCDEF") for _ in range(16))
        if self.r.random() < 0.4:
            f[48] = self.tlv48()
        if self.r.random() < 0.2:
            f[45] = "B" + pan + "^" + self.text(self.r.randrange(2, 26), "ABCDEFGHIJKLMNOPQRSTUVWXYZ /") + \
                "^" + exp + "101" + self.digits(self.r.randrange(0, 20))
        if self.r.random() < 0.3:
            f[54] = "0001840C%012d" % self.r.randrange(0, 10 ** 6)
        if self.r.random() < 0.3:
            f[60] = self.text(self.r.randrange(1, 30))
        if self.r.random() < 0.2:
            f[61] = self.text(self.r.randrange(10, 26))
        if self.r.random() < 0.2:
            f[62] = self.text(self.r.randrange(1, 20))
        if self.r.random() < 0.2:
            f[63] = self.text(self.r.randrange(1, 20))
        if big or self.r.random() < 0.3:
            f[100] = self.digits(self.r.randrange(1, 12))
            f[102] = self.text(self.r.randrange(5, 29), "0123456789")
            if self.r.random() < 0.5:
                f[103] = self.text(self.r.randrange(1, 29), "ABCDEF0123456789")
            if self.r.random() < 0.5:
                f[128] = "".join(self.r.choice("0123456789ABCDEF") for _ in range(16))
        if big:
            f[48] = self.tlv48(filler=self.r.randrange(300, 800))
        mti = self.r.choice(["0100", "0100", "0200", "0420"])
        return mti, f

    def response(self, mti, req):
        f = {de: req[de] for de in (2, 3, 4, 7, 11, 12, 13, 32, 37, 41, 42, 49) if de in req}
        f[38] = self.text(6, "0123456789ABCDEF")
        f[39] = self.r.choice(["00", "00", "05", "51", "59"])
        if 102 in req:
            f[102] = req[102]
        return "%04d" % (int(mti) + 10), f

    def netmgmt(self):
        self.stan = self.stan % 999999 + 1
        return "0800", {7: "1129090000", 11: "%06d" % self.stan, 70: "301"}

    def reversal_advice(self):
        mti, f = self.request()
        f[90] = "0100" + "%06d" % self.stan + "1129090000" + "%011d" % 12345 + "%011d" % 0
        return "0420", f


class Capture:
    """TCP conversations laid out packet by packet with scapy.

    Each message sent is recorded as a dict: flow text, mti, fields, first
    and last frame number (1-based) of the packets that carry its bytes.
    """

    def __init__(self, scapy, start=1795942800.0):
        self.s = scapy
        self.pkts = []
        self.t = start
        self.msgs = []

    def _add(self, pkt):
        self.t += 0.000137
        pkt.time = self.t
        self.pkts.append(pkt)
        return len(self.pkts)

    def write(self, path, linktype=1):
        self.s.wrpcap(path, self.pkts, linktype=linktype)


class Conn:
    """One TCP connection; side 0 is the client, 1 the server."""

    def __init__(self, cap, cli, srv, cport, sport=5000, v6=False, vlans=(),
                 link="ether"):
        self.cap = cap
        self.ends = [(cli, cport), (srv, sport)]
        self.v6 = v6
        self.vlans = vlans
        self.link = link
        r = random.Random(hash((cli, srv, cport)) & 0xffffffff)
        self.seq = [r.randrange(0, 2 ** 32), r.randrange(0, 2 ** 32)]
        self.pending = [b"", b""]
        self.queue = [[], []]  # per side: [msg record, bytes left to send]

    def flow(self, side):
        (a, ap), (b, bp) = self.ends[side], self.ends[1 - side]
        if self.v6:
            return "[%s]:%d>[%s]:%d" % (a, ap, b, bp)
        return "%s:%d>%s:%d" % (a, ap, b, bp)

    def _pkt(self, side, flags, payload=b"", seq=None):
        s = self.cap.s
        (a, ap), (b, bp) = self.ends[side], self.ends[1 - side]
        ip = s.IPv6(src=a, dst=b) if self.v6 else s.IP(src=a, dst=b)
        tcp = s.TCP(sport=ap, dport=bp, flags=flags,
                    seq=(self.seq[side] if seq is None else seq) % 2 ** 32,
                    ack=self.seq[1 - side] % 2 ** 32, window=65535)
        if self.link == "sll":
            l2 = s.CookedLinux(pkttype=0 if side else 4, lladdrtype=1, lladdrlen=6,
                               src=b"\x02\x00\x00\x00\x00\x01\x00\x00",
                               proto=0x86DD if self.v6 else 0x0800)
            pkt = l2 / ip / tcp
        elif self.link == "raw":
            pkt = ip / tcp
        else:
            pkt = s.Ether(src="02:00:00:00:00:0%d" % (side + 1),
                          dst="02:00:00:00:00:0%d" % (2 - side))
            if len(self.vlans) > 1:
                pkt.type = 0x88A8  # 802.1ad outer tag (QinQ)
            for vid in self.vlans:
                pkt = pkt / s.Dot1Q(vlan=vid)
            pkt = pkt / ip / tcp
        if payload:
            pkt = pkt / s.Raw(load=payload)
        return pkt

    def handshake(self):
        self.cap._add(self._pkt(0, "S"))
        self.seq[0] += 1
        self.cap._add(self._pkt(1, "SA"))
        self.seq[1] += 1
        self.cap._add(self._pkt(0, "A"))

    def send(self, side, mti, fields, wire=None):
        """Queue a message; it goes out with the next flush() calls."""
        body = build(mti, fields)
        rec = {"flow": self.flow(side), "mti": mti, "fields": dict(fields),
               "first": None, "last": None, "dir": "request" if side == 0 else "response"}
        data = wire if wire is not None else frame_len2(body)
        self.queue[side].append([rec, len(data)])
        self.pending[side] += data
        self.cap.msgs.append(rec)
        return rec

    def flush(self, side, cuts=None, ack=True):
        """Send the pending bytes of side as segments of the sizes in cuts
        (the rest in one segment)."""
        data = self.pending[side]
        self.pending[side] = b""
        sizes = list(cuts or [])
        off = 0
        while off < len(data):
            n = sizes.pop(0) if sizes else len(data) - off
            n = min(n, len(data) - off)
            frame = self.cap._add(self._pkt(side, "PA", data[off:off + n]))
            self.seq[side] += n
            self._account(side, n, frame)
            off += n
            if ack:
                self.cap._add(self._pkt(1 - side, "A"))

    def _account(self, side, n, frame):
        q = self.queue[side]
        while n and q:
            rec, left = q[0]
            if rec["first"] is None:
                rec["first"] = frame
            take = min(n, left)
            q[0][1] -= take
            n -= take
            if q[0][1] == 0:
                rec["last"] = frame
                q.pop(0)

    def raw_segment(self, side, payload, seq_off=0, flags="PA"):
        """A segment outside the normal flow (retransmission, out of order):
        seq relative to the current next sequence number; no accounting."""
        return self.cap._add(self._pkt(side, flags, payload, seq=self.seq[side] + seq_off))

    def close(self):
        self.cap._add(self._pkt(0, "FA"))
        self.seq[0] += 1
        self.cap._add(self._pkt(1, "FA"))
        self.seq[1] += 1
        self.cap._add(self._pkt(0, "A"))
