#!/usr/bin/python3
"""Writes dtls12_cid.{pcap,keylog,truth.txt}: a DTLS 1.2 association with RFC 9146
Connection IDs, protected by an implementation independent of the engine (RFC 9146 §5 and
RFC 5246/6347 written out here over python3-cryptography), because no peer on this machine
negotiates DTLS 1.2 CIDs (OpenSSL 3.0 and GnuTLS 3.7 do not). The truth file lists what was
sealed, in extract_truth.py's format.

  client ClientHello (epoch 0) with connection_id(54) = its CID (4 bytes)
  server ServerHello (epoch 0, TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256) with
         connection_id = its CID (3 bytes), then ChangeCipherSpec and its Finished as a
         tls12_cid record (type 25) carrying the client's CID
  client ChangeCipherSpec + Finished (type 25, the server's CID), then application data,
         one record padded (RFC 9146 DTLSInnerPlaintext zeros), two in one datagram
  server application data
Records sent to a side carry the CID that side asked for. The master secret is fixed, so
the output is deterministic. Run with Debian's python3: ./make_dtls12_cid.py [OUTDIR]
"""
import hashlib
import hmac
import os
import struct
import sys

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

SUITE = 0xC02B
CID_EXT = 54  # RFC 9146 §3 (IANA "connection_id")


def prf(secret, label, seed, n):
    # RFC 5246 §5: P_SHA256(secret, label + seed)
    s, out, a = label + seed, b"", label + seed
    while len(out) < n:
        a = hmac.new(secret, a, "sha256").digest()
        out += hmac.new(secret, a + s, "sha256").digest()
    return out[:n]


class Sender:
    def __init__(self, key, salt, cid):
        self.aead, self.salt, self.cid, self.seq = AESGCM(key), salt, cid, 0

    def seal(self, ctype, content, padding=0):
        # RFC 9146 §4: DTLSInnerPlaintext = content, real type, zeros; header type 25 with
        # the CID between sequence number and length; §5 AEAD additional data.
        epoch, seq = 1, self.seq
        self.seq += 1
        inner = content + bytes([ctype]) + b"\x00" * padding
        explicit = epoch.to_bytes(2, "big") + seq.to_bytes(6, "big")
        aad = (b"\xff" * 8 + bytes([25, len(self.cid), 25]) + b"\xfe\xfd" + explicit + self.cid +
               struct.pack(">H", len(inner)))
        nonce = self.salt + explicit  # RFC 5288 §3: salt || explicit nonce (epoch + seq)
        body = explicit + self.aead.encrypt(nonce, inner, aad)
        rec = bytes([25]) + b"\xfe\xfd" + explicit + self.cid + struct.pack(">H", len(body)) + body
        return rec, (25, True, ctype, content)


def hs_msg(mtype, body, msg_seq):
    n = len(body)
    return bytes([mtype]) + n.to_bytes(3, "big") + struct.pack(">H", msg_seq) + b"\x00\x00\x00" + n.to_bytes(3, "big") + body


def plain_record(ctype, seq, content):
    rec = bytes([ctype]) + b"\xfe\xfd" + b"\x00\x00" + seq.to_bytes(6, "big") + struct.pack(">H", len(content)) + content
    return rec, (ctype, None, ctype, content)


def cid_ext(cid):
    return struct.pack(">HHB", CID_EXT, 1 + len(cid), len(cid)) + cid


def client_hello(random, cid):
    ext = cid_ext(cid) + struct.pack(">HH", 0x0017, 0)  # + extended_master_secret
    body = b"\xfe\xfd" + random + b"\x00" + b"\x00" + struct.pack(">HH", 2, SUITE) + b"\x01\x00"
    body += struct.pack(">H", len(ext)) + ext
    return hs_msg(1, body, 0)


def server_hello(random, cid):
    ext = cid_ext(cid) + struct.pack(">HH", 0x0017, 0)
    body = b"\xfe\xfd" + random + b"\x00" + struct.pack(">H", SUITE) + b"\x00"
    body += struct.pack(">H", len(ext)) + ext
    return hs_msg(2, body, 0)


def ip_checksum(h):
    s = sum(struct.unpack(">%dH" % (len(h) // 2), h))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def udp_frame(payload, c2s, cport=50100, sport=4460):
    src, dst = (b"\x7f\x00\x00\x01", b"\x7f\x00\x00\x02") if c2s else (b"\x7f\x00\x00\x02", b"\x7f\x00\x00\x01")
    sp, dp = (cport, sport) if c2s else (sport, cport)
    udp = struct.pack(">HHHH", sp, dp, 8 + len(payload), 0) + payload
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0x4000, 64, 17, 0, src, dst)
    ip = ip[:10] + struct.pack(">H", ip_checksum(ip)) + ip[12:]
    return b"\x00" * 12 + b"\x08\x00" + ip + udp


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    seed = lambda label: hashlib.sha512(b"dtls12 cid " + label).digest()
    cr, sr, ms = seed(b"client random")[:32], seed(b"server random")[:32], seed(b"master")[:48]
    client_cid, server_cid = bytes.fromhex("c1c2c3c4"), bytes.fromhex("5e5f50")
    kb = prf(ms, b"key expansion", sr + cr, 2 * 16 + 2 * 4)
    ckey, skey, civ, siv = kb[0:16], kb[16:32], kb[32:36], kb[36:40]
    # The client sends with the server's CID, the server with the client's (RFC 9146 §3).
    c = Sender(ckey, civ, server_cid)
    s = Sender(skey, siv, client_cid)
    frames = []

    def emit(c2s, parts):
        frames.append((udp_frame(b"".join(p[0] for p in parts), c2s), [p[1] for p in parts]))

    emit(True, [plain_record(22, 0, client_hello(cr, client_cid))])
    emit(False, [plain_record(22, 0, server_hello(sr, server_cid)),
                 plain_record(20, 1, b"\x01"),
                 s.seal(22, hs_msg(20, seed(b"server finished")[:12], 1))])
    emit(True, [plain_record(20, 1, b"\x01"), c.seal(22, hs_msg(20, seed(b"client finished")[:12], 1))])
    emit(True, [c.seal(23, b"dtls 1.2 with a connection id\n")])
    emit(True, [c.seal(23, b"padded record\n", padding=23), c.seal(23, b"second in the datagram\n")])
    emit(False, [s.seal(23, b"server reply\n" * 10)])
    emit(False, [s.seal(21, b"\x01\x00")])  # close_notify alert

    with open(os.path.join(out, "dtls12_cid.pcap"), "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for i, (fr, _) in enumerate(frames):
            f.write(struct.pack("<IIII", 1700000000 + i, 0, len(fr), len(fr)) + fr)
    with open(os.path.join(out, "dtls12_cid.keylog"), "w") as f:
        f.write("# DTLS 1.2 master secret for dtls12_cid.pcap (make_dtls12_cid.py)\n")
        f.write("CLIENT_RANDOM %s %s\n" % (cr.hex(), ms.hex()))
    with open(os.path.join(out, "dtls12_cid.truth.txt"), "w") as f:
        f.write("# ground truth for dtls12_cid.pcap: what make_dtls12_cid.py sealed\n")
        for i, (_, recs) in enumerate(frames):
            num = i + 1
            f.write("frame %d records %d types %s\n" % (num, len(recs), ",".join(str(r[2]) for r in recs)))
            for k, r in enumerate(recs):
                if r[1] is None:
                    continue
                f.write("rec %d %d %d %d %s\n" % (num, k, r[2], len(r[3]), hashlib.sha256(r[3]).hexdigest()))
    print("wrote dtls12_cid.pcap (%d frames), .keylog, .truth.txt" % len(frames))
    # tshark decrypts RFC 9146 records on its own: its ground truth must be ours.
    import shutil
    import subprocess
    if shutil.which("tshark"):
        here = os.path.dirname(os.path.abspath(__file__))
        t = subprocess.run([sys.executable, os.path.join(here, "extract_truth.py"),
                            os.path.join(out, "dtls12_cid.pcap"), os.path.join(out, "dtls12_cid.keylog")],
                           capture_output=True, text=True, check=True).stdout
        mine = open(os.path.join(out, "dtls12_cid.truth.txt")).read()
        strip = lambda x: [l for l in x.splitlines() if not l.startswith("#")]
        if strip(t) != strip(mine):
            sys.exit("tshark's decryption of dtls12_cid.pcap differs from what was sealed:\n" + t)
        print("tshark decrypts every record to what was sealed")


if __name__ == "__main__":
    main()
