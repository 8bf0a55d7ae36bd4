#!/usr/bin/python3
# Regenerates esp.pcap + esp.xfrm + esp.plain.txt: ESP packets built by Scapy's
# SecurityAssociation (an implementation independent of the engine), Ethernet + IPv4, in
# tunnel mode, with fixed keys and IVs so the output is deterministic:
#   0x00001001  AES-128-GCM (rfc4106, ICV 128), no ESN, IP protocol 50
#   0x00001002  AES-256-GCM, ESN, IP protocol 50, crossing the 2^32 boundary (the key file
#               carries the anti-replay esn context of a capture starting mid-stream)
#   0x00001003  ChaCha20-Poly1305 (rfc7539esp), no ESN, UDP-encapsulated (RFC 3948, 4500)
#   0x00001004  AES-128-GCM, ESN, UDP-encapsulated, starting mid-stream
#   0x00001005  AES-256-GCM, no ESN, IPv6 outer and inner headers (2001:db8::/32)
#   0x00001006  AES-128-GCM, no ESN, inner packets of 2-4 KB: the outer IPv4 packet is
#               fragmented (Scapy fragment(), 1400-byte fragments), every other one with its
#               fragments sent last first; the ESP packet completes at its last fragment's frame
# esp.xfrm is written by hand in the form `ip xfrm state` prints (the kernel here has no
# AEAD for xfrm). esp.plain.txt is the ground truth: for every ESP frame, what the
# generator handed Scapy before protection: "<frame> <spi> <seq> <len> <sha256>".
# Scapy 2.5 writes the outer UDP length of a port-4500 packet before the ESP trailer is
# added: the length and checksums are recomputed here.
# Run: /usr/bin/python3 make_esp.py [OUTDIR]
import hashlib
import os
import sys

from scapy.all import IP, IPv6, UDP, Ether, Raw, fragment, wrpcap
from scapy.layers.ipsec import ESP, SecurityAssociation

out = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
LEFT, RIGHT = "192.0.2.1", "192.0.2.2"
LEFT6, RIGHT6 = "2001:db8::1", "2001:db8::2"


def key(n, base):
    return bytes((base + i) & 0xff for i in range(n))


SAS = [
    # spi, scapy algo, key, salt, esn, udp, first seq, count, xfrm alg text
    (0x1001, "AES-GCM", key(16, 0x10), bytes.fromhex("a0a1a2a3"), False, False, 1, 6, "rfc4106(gcm(aes))"),
    (0x1002, "AES-GCM", key(32, 0x40), bytes.fromhex("b0b1b2b3"), True, False, 0xfffffffd, 6, "rfc4106(gcm(aes))"),
    (0x1003, "CHACHA20-POLY1305", key(32, 0x70), bytes.fromhex("c0c1c2c3"), False, True, 1, 6,
     "rfc7539esp(chacha20,poly1305)"),
    (0x1004, "AES-GCM", key(16, 0x90), bytes.fromhex("d0d1d2d3"), True, True, (3 << 32) | 0xfffffff0, 4,
     "rfc4106(gcm(aes))"),
    (0x1005, "AES-GCM", key(32, 0x20), bytes.fromhex("e0e1e2e3"), False, False, 1, 5, "rfc4106(gcm(aes))"),
    (0x1006, "AES-GCM", key(16, 0x60), bytes.fromhex("f0f1f2f3"), False, False, 1, 4, "rfc4106(gcm(aes))"),
]
FRAG = {0x1006}
V6 = {0x1005}

frames, plain, xfrm = [], [], []
for spi, algo, k, salt, esn, udp, first, count, xalg in SAS:
    v6 = spi in V6
    sa = SecurityAssociation(ESP, spi=spi, crypt_algo=algo, crypt_key=k + salt,
                             tunnel_header=IPv6(src=LEFT6, dst=RIGHT6) if v6 else IP(src=LEFT, dst=RIGHT),
                             nat_t_header=UDP(sport=4500, dport=4500) if udp else None,
                             esn_en=esn, esn=(first >> 32) if esn else 0)
    for i in range(count):
        seq = first + i
        size = 2000 + 700 * i if spi in FRAG else 40 + 97 * i
        payload = Raw(bytes((seq * 7 + j) & 0xff for j in range(size)))
        if v6:
            inner = IPv6(bytes(IPv6(src="2001:db8:1::1", dst="2001:db8:2::1") / UDP(sport=1000 + i, dport=53) / payload))
        else:
            inner = IP(src="10.1.0.1", dst="10.2.0.1", id=spi & 0xffff ^ i) / UDP(sport=1000 + i, dport=53) / payload
            inner = IP(bytes(inner))
        iv = (seq * 0x9e3779b97f4a7c15 & 0xffffffffffffffff).to_bytes(8, "big")
        # Scapy reads seq_num=0 as "not given": set its counter instead (ESN wraps through 0).
        sa.seq_num = seq & 0xffffffff
        p = sa.encrypt(inner, iv=iv, esn=(seq >> 32) if esn else None)
        if udp:  # Scapy 2.5's UDP length bug for port 4500: recompute lengths and checksums
            u = p[UDP]
            u.len = 8 + len(bytes(u.payload))
            u.chksum = None
            p.len = None
            p.chksum = None
            p = IP(bytes(p))
        if spi in FRAG:
            p.id = 0x4000 + i
            p.flags = 0
            frags = fragment(IP(bytes(p)), fragsize=1400)
            for fr in (frags[::-1] if i % 2 else frags):
                frames.append(Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / fr)
        else:
            frames.append(Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / p)
        data = bytes(inner)
        plain.append("%d 0x%08x %d %d %s" % (len(frames), spi, seq, len(data), hashlib.sha256(data).hexdigest()))
    # The receiving side's state as `ip xfrm state` would print it right before the capture.
    top = first - 1
    lines = ["src %s dst %s" % ((LEFT6, RIGHT6) if v6 else (LEFT, RIGHT)),
             "\tproto esp spi 0x%08x reqid %d mode tunnel" % (spi, spi & 0xff),
             "\treplay-window %d flag af-unspec%s" % (0 if esn else 32, " esn" if esn else ""),
             "\taead %s 0x%s 128" % (xalg, (k + salt).hex())]
    if udp:
        lines.append("\tencap type espinudp sport 4500 dport 4500 addr 0.0.0.0")
    if esn:
        lines += ["\tanti-replay esn context:",
                  "\t seq-hi 0x%x, seq 0x%x, oseq-hi 0x0, oseq 0x0" % (top >> 32, top & 0xffffffff),
                  "\t replay_window 128, bitmap-length 4",
                  "\t 00000000 00000000 00000000 00000000 "]
    else:
        lines.append("\tanti-replay context: seq 0x%x, oseq 0x0, bitmap 0x00000000" % top)
    lines.append("\tsel src 0.0.0.0/0 dst 0.0.0.0/0 ")
    xfrm += lines

wrpcap(os.path.join(out, "esp.pcap"), frames)
with open(os.path.join(out, "esp.xfrm"), "w") as f:
    f.write("\n".join(xfrm) + "\n")
with open(os.path.join(out, "esp.plain.txt"), "w") as f:
    f.write("\n".join(plain) + "\n")
print("esp.pcap: %d frames" % len(frames))
# tshark (esp_sa table) for the SAs it can decrypt: AES-GCM without ESN.
os.system("%s %s %s > %s" % (os.path.join(os.path.dirname(os.path.abspath(__file__)), "tshark_esp.sh"),
          os.path.join(out, "esp.pcap"), os.path.join(out, "esp.xfrm"), os.path.join(out, "esp.tshark.txt")))
