#!/usr/bin/python3
"""ESP interop between recordlayer (rl-esp-tool) and Scapy's IPsec.

For every combination of suite (AES-GCM-128/256 with ICV 16, ChaCha20-Poly1305),
ESN on/off, tunnel/transport and plain/UDP-encapsulated (RFC 3948):
  1. Scapy encrypts packets with IV = sequence number; our engine seals the same
     payloads with the same sequence numbers: the ESP bytes must be identical.
  2. Scapy encrypts with random IVs; our engine opens them (out of order, across
     the 2^32 boundary with ESN) and must return Scapy's payload and next header.
  3. Scapy decrypts what our engine sealed and must get the original packet back.
  4. A flipped byte must make both sides refuse the packet.
Scapy 2.5 writes a UDP length of 8 for NAT-T encapsulated packets; it is fixed
here (and the fix is checked) before the packets are used.

Exit 0 = all passed, 1 = a mismatch, 2 = harness error, 77 = scapy missing (skip).
Run with /usr/bin/python3 (the Debian python that sees python3-scapy).
"""
import argparse
import os
import struct
import subprocess
import sys
import warnings

warnings.filterwarnings("ignore")
try:
    from scapy.all import ICMP, IP, UDP, IPv6, Raw, raw
    from scapy.layers.ipsec import ESP, SecurityAssociation
except Exception as exc:  # pragma: no cover - depends on the machine
    print(f"SKIP: scapy is not importable by {sys.executable}: {exc}")
    sys.exit(77)

SUITES = [
    # (our name, Scapy's name, key length)
    ("aes128gcm", "AES-GCM", 16),
    ("aes256gcm", "AES-GCM", 32),
    ("chacha20poly1305", "CHACHA20-POLY1305", 32),
]
OUTER_SRC, OUTER_DST = "198.51.100.1", "203.0.113.2"
SPI = 0x0A0B0C0D

failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL:", msg)


def run_tool(tool, op, suite, keymat, esn, mode, seq, lines, udp=False, nh=None):
    args = [tool, op, "--suite", suite, "--keymat", keymat.hex(), "--spi", str(SPI),
            "--seq", str(seq)]
    if esn:
        args.append("--esn")
    if mode == "transport":
        args.append("--transport")
    if nh is not None:
        args += ["--nh", str(nh)]
    if udp:
        args.append("--udp")
    out = subprocess.run(args, input="".join(l.hex() + "\n" for l in lines),
                         capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        print("rl-esp-tool failed:", " ".join(args), out.stderr)
        sys.exit(2)
    return out.stdout.splitlines()


def inner_packets(mode, n):
    """Payloads to protect: inner IP packets (tunnel) or IP/UDP packets (transport)."""
    sizes = [0, 1, 2, 3, 100, 1300][:n]
    pkts = []
    for i, size in enumerate(sizes):
        data = bytes((i * 7 + j) & 0xFF for j in range(size))
        if mode == "tunnel" and i == 3:
            pkts.append(IPv6(src="2001:db8::1", dst="2001:db8::2") / ICMP() / Raw(data))
        elif mode == "tunnel":
            pkts.append(IP(src="192.0.2.10", dst="192.0.2.20", id=i + 1) / ICMP(seq=i) / Raw(data))
        else:
            pkts.append(IP(src=OUTER_SRC, dst=OUTER_DST, id=i + 1) /
                        UDP(sport=1000 + i, dport=2000) / Raw(data))
    return [p.__class__(raw(p)) for p in pkts]


def expected_payload(mode, pkt):
    """What ESP carries: the whole inner packet, or the IP payload in transport mode."""
    return raw(pkt) if mode == "tunnel" else raw(pkt[IP].payload)


def scapy_sa(algo, key, salt, esn, mode, udp):
    kw = {}
    if mode == "tunnel":
        kw["tunnel_header"] = IP(src=OUTER_SRC, dst=OUTER_DST)
    if udp:
        kw["nat_t_header"] = UDP(sport=4500, dport=4500)
    return SecurityAssociation(ESP, spi=SPI, crypt_algo=algo, crypt_key=key + salt,
                               esn_en=esn, **kw)


def scapy_encrypt(sa, pkt, seq, iv, udp):
    """Encrypts with Scapy; returns (whole IP packet bytes, ESP bytes)."""
    sa.seq_num = seq & 0xFFFFFFFF  # Scapy treats 0 as "use the SA's counter"
    sa.esn = seq >> 32
    e = sa.encrypt(pkt, iv=iv) if iv is not None else sa.encrypt(pkt)
    if udp:
        # Scapy 2.5 froze the UDP length at 8 (header only): recompute it.
        del e[UDP].len
        e[UDP].chksum = 0
        e = IP(raw(e))
        if e[UDP].len != len(raw(e[UDP])) or e.len != len(raw(e)):
            fail(f"UDP/IP length still wrong after fix: {e[UDP].len} {e.len}")
        if not e.haslayer(ESP):
            fail("fixed UDP-encapsulated packet does not dissect as ESP")
        return raw(e), raw(e[UDP].payload)
    return raw(e), raw(e[ESP])


def wrap_ours(esp_bytes, udp):
    """Puts an ESP packet from our engine on an outer IPv4 header for Scapy."""
    if udp:
        p = IP(src=OUTER_SRC, dst=OUTER_DST) / UDP(sport=4500, dport=4500, chksum=0) / Raw(esp_bytes)
    else:
        p = IP(src=OUTER_SRC, dst=OUTER_DST, proto=50) / Raw(esp_bytes)
    return IP(raw(p))


def check_combo(tool, suite, algo, klen, esn, mode, udp):
    name = f"{suite} esn={int(esn)} {mode} {'udp' if udp else 'plain'}"
    key = bytes((0x40 + i * 3) & 0xFF for i in range(klen))
    salt = bytes([0xA0, 0xA1, 0xA2, 0xA3])
    keymat = key + salt
    first = 0xFFFFFFFE if esn else 1  # ESN packets cross into Seqh = 1
    pkts = inner_packets(mode, 6 if mode == "tunnel" else 5)
    seqs = [first + i for i in range(len(pkts))]
    payloads = [expected_payload(mode, p) for p in pkts]
    nh = None if mode == "tunnel" else 17
    sa = scapy_sa(algo, key, salt, esn, mode, udp)

    # 1. Byte-exact: Scapy with IV = seq vs our seal.
    scapy_det = [scapy_encrypt(sa, p, s, struct.pack("!Q", s), udp)[1] for p, s in zip(pkts, seqs)]
    ours = run_tool(tool, "seal", suite, keymat, esn, mode, first, payloads, nh=nh)
    for i, (a, b) in enumerate(zip(scapy_det, ours)):
        if a.hex() != b:
            fail(f"{name}: packet {i} seq {seqs[i]:#x}: our ESP bytes differ from Scapy's\n"
                 f"  scapy {a.hex()}\n  ours  {b}")

    # 2. Scapy (random IVs) → our open, out of order.
    scapy_rand = [scapy_encrypt(sa, p, s, None, udp)[1] for p, s in zip(pkts, seqs)]
    order = [1, 0, 3, 2] + list(range(4, len(pkts)))
    lines = [scapy_rand[i] for i in order]
    extra = []
    if udp:
        ike = b"\x00\x00\x00\x00" + b"IKEv2 message from the peer"
        extra = [ike, b"\xff"]
    # A fresh sequence number (not a replay), one bit flipped.
    tampered = bytearray(scapy_encrypt(sa, pkts[4], seqs[-1] + 1, None, udp)[1])
    tampered[len(tampered) // 2] ^= 0x20
    out = run_tool(tool, "open", suite, keymat, esn, mode, first - 1,
                   lines + extra + [bytes(tampered)], udp=udp)
    for k, i in enumerate(order):
        status, got_nh, data = (out[k].split(" ") + ["", ""])[:3]
        want_nh = (41 if i == 3 else 4) if mode == "tunnel" else 17
        if status != "ok" or data != payloads[i].hex() or int(got_nh) != want_nh:
            fail(f"{name}: Scapy packet {i} (seq {seqs[i]:#x}) opened as {status} nh {got_nh}\n"
                 f"  want {payloads[i].hex()}\n  got  {data}")
    k = len(order)
    if udp:
        if out[k].split(" ")[0] != "not_protected" or out[k].split(" ")[2] != extra[0][4:].hex():
            fail(f"{name}: non-ESP marker not recognised: {out[k]}")
        if out[k + 1].split(" ")[0] != "keepalive":
            fail(f"{name}: NAT-keepalive not recognised: {out[k + 1]}")
        k += 2
    if out[k].split(" ")[0] != "auth_failed":
        fail(f"{name}: a tampered Scapy packet was not refused: {out[k]}")

    # 3. Our seal → Scapy decrypt.
    for i, hexpkt in enumerate(ours):
        wire = wrap_ours(bytes.fromhex(hexpkt), udp)
        sa.esn = seqs[i] >> 32  # Scapy reads esn=0 as "use the SA's value"
        try:
            d = sa.decrypt(wire, esn=seqs[i] >> 32)
        except Exception as exc:
            fail(f"{name}: Scapy could not decrypt our packet {i}: {exc}")
            continue
        got = raw(d) if mode == "tunnel" else raw(d[IP].payload)
        if got != payloads[i] or (mode == "transport" and d[IP].proto != 17):
            fail(f"{name}: Scapy decrypted our packet {i} to something else\n"
                 f"  want {payloads[i].hex()}\n  got  {got.hex()}")
    # 4. And Scapy refuses our packet with one byte flipped.
    bad = bytearray(bytes.fromhex(ours[0]))
    bad[-5] ^= 1
    sa.esn = seqs[0] >> 32
    try:
        sa.decrypt(wrap_ours(bytes(bad), udp), esn=seqs[0] >> 32)
        fail(f"{name}: Scapy accepted a tampered packet of ours")
    except Exception:
        pass
    return name


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tool", required=True)
    args = ap.parse_args()
    if not os.access(args.tool, os.X_OK):
        print("rl-esp-tool not found:", args.tool)
        return 2
    done = 0
    for suite, algo, klen in SUITES:
        for esn in (False, True):
            for mode in ("tunnel", "transport"):
                for udp in (False, True):
                    before = len(failures)
                    name = check_combo(args.tool, suite, algo, klen, esn, mode, udp)
                    print(("ok   " if len(failures) == before else "FAIL ") + name)
                    done += 1
    print(f"{done} combinations, {len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
