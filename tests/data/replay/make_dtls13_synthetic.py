#!/usr/bin/python3
"""Writes dtls13_synthetic.{pcap,keylog,truth.txt}: DTLS 1.3 associations protected by an
implementation independent of the engine (RFC 9147 written out here over
python3-cryptography), because no peer on this machine speaks DTLS 1.3 (OpenSSL 3.0 and
GnuTLS 3.7 do not). The truth file lists what was sealed, in extract_truth.py's format.

Three associations, one per TLS 1.3 suite (0x1301, 0x1302, 0x1303), each:
  client ClientHello (plaintext, epoch 0)
  server ServerHello (plaintext) + EncryptedExtensions + Finished (epoch 2, one datagram;
         the last record without a length field)
  client Finished (epoch 2); application data (epoch 3), one record padded
  server application data (epoch 3) and an ACK (type 26)
  client KeyUpdate (epoch 3) then application data under epoch 4, one with an 8-bit
         sequence number
Secrets are fixed (derived from the suite number), so the output is deterministic.
Run with Debian's python3 (python3-cryptography): ./make_dtls13_synthetic.py [OUTDIR]
"""
import hashlib
import hmac
import os
import struct
import sys

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

SUITES = {0x1301: ("sha256", 16, "aes"), 0x1302: ("sha384", 32, "aes"), 0x1303: ("sha256", 32, "chacha")}


def hkdf_expand_label(hname, secret, label, length):
    # RFC 8446 §7.1 with the DTLS 1.3 prefix "dtls13" (RFC 9147 §5.9).
    full = b"dtls13" + label
    info = struct.pack(">H", length) + bytes([len(full)]) + full + b"\x00"
    out, t, i = b"", b"", 1
    while len(out) < length:
        t = hmac.new(secret, t + info + bytes([i]), hname).digest()
        out += t
        i += 1
    return out[:length]


class Sender:
    """One direction's record protection (RFC 9147 §4)."""

    def __init__(self, suite, secret):
        self.suite = suite
        self.hname, self.klen, self.kind = SUITES[suite]
        self.secret = secret
        self.set_epoch_keys()
        self.seq = 0

    def set_epoch_keys(self):
        h, k = self.hname, self.klen
        self.key = hkdf_expand_label(h, self.secret, b"key", k)
        self.iv = hkdf_expand_label(h, self.secret, b"iv", 12)
        self.sn = hkdf_expand_label(h, self.secret, b"sn", k)

    def key_update(self):
        hl = hashlib.new(self.hname).digest_size
        self.secret = hkdf_expand_label(self.hname, self.secret, b"traffic upd", hl)
        self.set_epoch_keys()
        self.seq = 0

    def seal(self, epoch, ctype, content, padding=0, with_length=True, seq16=True):
        seq = self.seq
        self.seq += 1
        inner = content + bytes([ctype]) + b"\x00" * padding
        ct_len = len(inner) + 16
        b0 = 0x20 | (0x08 if seq16 else 0) | (0x04 if with_length else 0) | (epoch & 3)
        hdr = bytes([b0]) + (struct.pack(">H", seq & 0xFFFF) if seq16 else bytes([seq & 0xFF]))
        if with_length:
            hdr += struct.pack(">H", ct_len)
        nonce = bytes(a ^ b for a, b in zip(self.iv, seq.to_bytes(12, "big")))
        aead = AESGCM(self.key) if self.kind == "aes" else ChaCha20Poly1305(self.key)
        ct = aead.encrypt(nonce, inner, hdr)  # AAD: header with the sequence number in clear
        sample = ct[:16]
        if self.kind == "aes":
            enc = Cipher(algorithms.AES(self.sn), modes.ECB()).encryptor()
            mask = enc.update(sample) + enc.finalize()
        else:
            enc = Cipher(algorithms.ChaCha20(self.sn, sample), mode=None).encryptor()
            mask = enc.update(b"\x00" * 16)
        n = 2 if seq16 else 1
        hdr = bytearray(hdr)
        for i in range(n):
            hdr[1 + i] ^= mask[i]
        return bytes(hdr) + ct, (epoch, seq, ctype, content)


def hs_msg(mtype, body, msg_seq):
    # DTLS handshake header (RFC 9147 §5.2): type, length, message_seq, fragment offset/length.
    n = len(body)
    return bytes([mtype]) + n.to_bytes(3, "big") + struct.pack(">H", msg_seq) + b"\x00\x00\x00" + n.to_bytes(3, "big") + body


def plain_record(ctype, seq, content):
    return bytes([ctype]) + b"\xfe\xfd" + b"\x00\x00" + seq.to_bytes(6, "big") + struct.pack(">H", len(content)) + content


def client_hello(random, suite):
    ext = struct.pack(">HHB", 0x002B, 3, 2) + b"\xfe\xfc"  # supported_versions: DTLS 1.3
    body = b"\xfe\xfd" + random + b"\x00" + b"\x00" + struct.pack(">HH", 2, suite) + b"\x01\x00"
    body += struct.pack(">H", len(ext)) + ext
    return hs_msg(1, body, 0)


def server_hello(random, suite):
    ext = struct.pack(">HH", 0x002B, 2) + b"\xfe\xfc"
    body = b"\xfe\xfd" + random + b"\x00" + struct.pack(">H", suite) + b"\x00"
    body += struct.pack(">H", len(ext)) + ext
    return hs_msg(2, body, 0)


def ip_checksum(h):
    s = sum(struct.unpack(">%dH" % (len(h) // 2), h))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def udp_frame(src_port, dst_port, payload, client_to_server):
    src, dst = (b"\x7f\x00\x00\x01", b"\x7f\x00\x00\x02") if client_to_server else (b"\x7f\x00\x00\x02", b"\x7f\x00\x00\x01")
    udp = struct.pack(">HHHH", src_port, dst_port, 8 + len(payload), 0) + payload
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0x4000, 64, 17, 0, src, dst)
    ip = ip[:10] + struct.pack(">H", ip_checksum(ip)) + ip[12:]
    return b"\x00" * 12 + b"\x08\x00" + ip + udp


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    frames = []  # (bytes, [(type, content or None if plaintext record, plain content)])
    keylog = ["# DTLS 1.3 secrets for dtls13_synthetic.pcap (make_dtls13_synthetic.py)"]
    for n, suite in enumerate(sorted(SUITES)):
        hname = SUITES[suite][0]
        hl = hashlib.new(hname).digest_size
        seed = lambda label: hashlib.sha512(b"%d %s" % (suite, label)).digest()
        cr, sr = seed(b"client random")[:32], seed(b"server random")[:32]
        sec = {lab: seed(lab.encode())[:hl] for lab in (
            "CLIENT_HANDSHAKE_TRAFFIC_SECRET", "SERVER_HANDSHAKE_TRAFFIC_SECRET",
            "CLIENT_TRAFFIC_SECRET_0", "SERVER_TRAFFIC_SECRET_0")}
        for lab, v in sec.items():
            keylog.append("%s %s %s" % (lab, cr.hex(), v.hex()))
        cport, sport = 50000 + n, 4433 + n
        c_hs = Sender(suite, sec["CLIENT_HANDSHAKE_TRAFFIC_SECRET"])
        s_hs = Sender(suite, sec["SERVER_HANDSHAKE_TRAFFIC_SECRET"])
        c_ap = Sender(suite, sec["CLIENT_TRAFFIC_SECRET_0"])
        s_ap = Sender(suite, sec["SERVER_TRAFFIC_SECRET_0"])

        def emit(c2s, parts):
            payload = b"".join(p[0] for p in parts)
            frames.append((udp_frame(cport if c2s else sport, sport if c2s else cport, payload, c2s),
                           [p[1] for p in parts]))

        ch = client_hello(cr, suite)
        emit(True, [(plain_record(22, 0, ch), (22, None, ch))])
        sh = server_hello(sr, suite)
        ee = hs_msg(8, b"\x00\x00", 1)
        fin_s = hs_msg(20, seed(b"server finished")[:hl], 2)
        emit(False, [(plain_record(22, 0, sh), (22, None, sh)),
                     s_hs.seal(2, 22, ee),
                     s_hs.seal(2, 22, fin_s, with_length=False)])
        emit(True, [c_hs.seal(2, 22, hs_msg(20, seed(b"client finished")[:hl], 1))])
        emit(True, [c_ap.seal(3, 23, b"dtls 1.3 client says hello\n")])
        emit(True, [c_ap.seal(3, 23, b"padded record\n", padding=40)])
        emit(False, [s_ap.seal(3, 23, b"server reply\n" * 20),
                     s_ap.seal(3, 26, b"\x00\x10" + b"\x00" * 8 + b"\x00" * 8)])
        emit(True, [c_ap.seal(3, 22, hs_msg(24, b"\x00", 2))])  # KeyUpdate, update_not_requested
        c_ap.key_update()
        emit(True, [c_ap.seal(4, 23, b"after the key update\n")])
        emit(True, [c_ap.seal(4, 23, b"eight-bit sequence number\n", seq16=False)])
        emit(False, [s_ap.seal(3, 23, b"server still on epoch 3\n")])

    with open(os.path.join(out, "dtls13_synthetic.pcap"), "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for i, (fr, _) in enumerate(frames):
            f.write(struct.pack("<IIII", 1700000000 + i, 0, len(fr), len(fr)) + fr)
    with open(os.path.join(out, "dtls13_synthetic.keylog"), "w") as f:
        f.write("\n".join(keylog) + "\n")
    with open(os.path.join(out, "dtls13_synthetic.truth.txt"), "w") as f:
        f.write("# ground truth for dtls13_synthetic.pcap: what make_dtls13_synthetic.py sealed\n")
        for i, (_, recs) in enumerate(frames):
            num = i + 1
            f.write("frame %d records %d types %s\n" % (num, len(recs), ",".join(str(r[0] if r[1] is None else r[2]) for r in recs)))
            for k, r in enumerate(recs):
                if r[1] is None:
                    continue  # plaintext record
                content = r[3]
                f.write("rec %d %d %d %d %s\n" % (num, k, r[2], len(content), hashlib.sha256(content).hexdigest()))
    print("wrote dtls13_synthetic.pcap (%d frames), .keylog, .truth.txt" % len(frames))


if __name__ == "__main__":
    main()
