# SPDX-License-Identifier: BSD-3-Clause
"""Helpers shared by the riskgate-dp integration tests: classic pcap
reading and writing, hand-built Ethernet/IP/TCP frames, and running the
generator, the table fixture and riskgate-dp."""

import json
import os
import struct
import subprocess


def read_pcap(path):
    """Packet bytes of a classic pcap file, in order."""
    with open(path, "rb") as fp:
        data = fp.read()
    if len(data) < 24:
        return []
    magic = struct.unpack("<I", data[:4])[0]
    endian = "<" if magic in (0xa1b2c3d4, 0xa1b23c4d) else ">"
    off, out = 24, []
    while off + 16 <= len(data):
        _, _, incl, _ = struct.unpack(endian + "IIII", data[off:off + 16])
        out.append(data[off + 16:off + 16 + incl])
        off += 16 + incl
    return out


def write_pcap(path, frames):
    with open(path, "wb") as fp:
        fp.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
        for i, f in enumerate(frames):
            fp.write(struct.pack("<IIII", 1700000000 + i // 1000, (i % 1000) * 1000,
                                 len(f), len(f)))
            fp.write(f)


MAC = bytes.fromhex("020000000001") + bytes.fromhex("020000000002")


def tcp_frame(src, dst, sport, dport, seq, flags, payload=b"", ack=0, vlan=None):
    """Ethernet + IPv4 + TCP (checksums left zero: nothing on the path checks them)."""
    tcp = struct.pack(">HHIIBBHHH", sport, dport, seq & 0xffffffff, ack, 5 << 4, flags,
                      65535, 0, 0) + payload
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 1, 0x4000, 64, 6, 0,
                     bytes(map(int, src.split("."))), bytes(map(int, dst.split(".")))) + tcp
    eth = MAC
    if vlan is not None:
        eth += struct.pack(">HH", 0x8100, vlan)
    return eth + struct.pack(">H", 0x0800) + ip


FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def summary(proc):
    """The JSON summary line of a replay (last non-empty stdout line)."""
    lines = [l for l in proc.stdout.splitlines() if l.strip().startswith("{")]
    return json.loads(lines[-1]) if lines else None


def make_table(lists_table, tmp, csvs, name="table"):
    key = os.path.join(tmp, "fp.key")
    if not os.path.exists(key):
        r = run([lists_table, "genkey", key])
        if r.returncode != 0:
            raise RuntimeError("genkey: " + r.stderr)
    table = os.path.join(tmp, name)
    r = run([lists_table, "build", "--key", key, "--out", table] + list(csvs))
    if r.returncode != 0:
        raise RuntimeError("build table: " + r.stderr)
    return key, table
