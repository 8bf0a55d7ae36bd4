#!/usr/bin/python3
"""Generate the WireGuard transport-data fixture and check it with tshark.

Run from anywhere:  /usr/bin/python3 tests/data/wireguard/make_capture.py

Writes, next to this script:
  transport.pcap    Ethernet/IPv4/UDP capture: two Noise IKpsk2 handshakes and
                    type-4 transport data messages in both directions
  transport.keylog  Wireshark WireGuard key log (wg.keylog_file format)
  transport.txt     line-oriented fixture (grammar in the header it writes)

Everything is deterministic: static and ephemeral private keys, sender
indices, TAI64N timestamps, pcap times and inner packets are fixed, so a re-run
reproduces the files byte for byte.

The protocol is implemented here from the WireGuard whitepaper (J. A.
Donenfeld, "WireGuard: Next Generation Kernel Network Tunnel"), section 5.4.
Section numbers in comments refer to that paper.

Exit status is non-zero if the handshake does not verify on the receiving
side, if tshark is missing, if tshark decrypts no transport message, or if any
plaintext tshark reports differs from the one this script encrypted.
"""

import base64
import hashlib
import hmac
import os
import re
import struct
import subprocess
import sys
import tempfile

from cryptography.hazmat.primitives.asymmetric.x25519 import (
    X25519PrivateKey, X25519PublicKey)
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

# scapy is only used to build the inner IPv4/IPv6 packets and the outer
# Ethernet/IPv4/UDP frames (it fills in lengths and checksums).
import logging
logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
from scapy.layers.inet import ICMP, IP, UDP  # noqa: E402
from scapy.layers.inet6 import ICMPv6EchoReply, ICMPv6EchoRequest, IPv6  # noqa: E402
from scapy.layers.l2 import Ether  # noqa: E402
from scapy.packet import Raw  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
PCAP = os.path.join(HERE, "transport.pcap")
KEYLOG = os.path.join(HERE, "transport.keylog")
FIXTURE = os.path.join(HERE, "transport.txt")
TSHARK = os.environ.get("TSHARK", "tshark")


def die(msg):
    print("make_capture.py: FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


# ---------------------------------------------------------------------------
# 5.4 Protocol constants and primitives
# ---------------------------------------------------------------------------

CONSTRUCTION = b"Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s"
IDENTIFIER = b"WireGuard v1 zx2c4 Jason@zx2c4.com"
LABEL_MAC1 = b"mac1----"

MSG_INITIATION = 1
MSG_RESPONSE = 2
MSG_TRANSPORT = 4

MTU = 1420          # Linux default wg interface MTU; padding is capped at it
PAD_MULTIPLE = 16   # 5.4.6: plaintext is zero-padded to a multiple of 16


def HASH(data):
    """5.4: HASH(input) = BLAKE2s(input, 32)."""
    return hashlib.blake2s(data, digest_size=32).digest()


def MAC(key, data):
    """5.4: MAC(key, input) = Keyed-BLAKE2s(key, input, 16)."""
    return hashlib.blake2s(data, key=key, digest_size=16).digest()


def HMAC(key, data):
    """5.4: HMAC(key, input) = HMAC-BLAKE2s(key, input, 32)."""
    return hmac.new(key, data, hashlib.blake2s).digest()


def KDF(n, key, data):
    """5.4: KDF_n(key, input): HKDF with HMAC-BLAKE2s.

    tau0 = HMAC(key, input); tau1 = HMAC(tau0, 0x1);
    tau_i = HMAC(tau0, tau_{i-1} || i).  Returns (tau1, ..., tau_n).
    """
    tau0 = HMAC(key, data)
    out, prev = [], b""
    for i in range(1, n + 1):
        prev = HMAC(tau0, prev + bytes([i]))
        out.append(prev)
    return out


def KDF1(key, data):
    return KDF(1, key, data)[0]


def KDF2(key, data):
    return KDF(2, key, data)


def KDF3(key, data):
    return KDF(3, key, data)


def clamp(priv):
    """Curve25519 private-key clamping (what `wg genkey` outputs)."""
    b = bytearray(priv)
    b[0] &= 248
    b[31] = (b[31] & 127) | 64
    return bytes(b)


def DH_PUB(priv):
    """5.4: public half of a Curve25519 key pair."""
    return X25519PrivateKey.from_private_bytes(priv).public_key().public_bytes(
        Encoding.Raw, PublicFormat.Raw)


def DH(priv, pub):
    """5.4: DH(private, public) = Curve25519 point multiplication."""
    return X25519PrivateKey.from_private_bytes(priv).exchange(
        X25519PublicKey.from_public_bytes(pub))


def AEAD_NONCE(counter):
    """5.4: nonce = 32 zero bits || 64-bit little-endian counter."""
    return b"\x00" * 4 + struct.pack("<Q", counter)


def AEAD(key, counter, plaintext, aad):
    """5.4: ChaCha20Poly1305 (RFC 7539) with the nonce above."""
    return ChaCha20Poly1305(key).encrypt(AEAD_NONCE(counter), plaintext, aad)


def AEAD_OPEN(key, counter, ciphertext, aad):
    return ChaCha20Poly1305(key).decrypt(AEAD_NONCE(counter), ciphertext, aad)


def TAI64N(seconds, nanoseconds):
    """5.4: TAI64N timestamp, 12 bytes: big-endian (2^62 + seconds) || ns."""
    return struct.pack(">QI", (1 << 62) + seconds, nanoseconds)


def fixed_key(label):
    """Deterministic, clamped test private key derived from a label."""
    return clamp(hashlib.blake2s(b"wg-fixture " + label.encode()).digest())


def b64(b):
    return base64.b64encode(b).decode()


# ---------------------------------------------------------------------------
# 5.4.2 First message: initiator to responder
# ---------------------------------------------------------------------------

def initiator_begin(s_priv, r_static_pub, e_priv, sender_index, timestamp):
    """Build the 148-byte handshake initiation. Returns (msg, state)."""
    s_pub = DH_PUB(s_priv)
    C = HASH(CONSTRUCTION)                                  # Ci = HASH(CONSTRUCTION)
    H = HASH(C + IDENTIFIER)                                # Hi = HASH(Ci || IDENTIFIER)
    H = HASH(H + r_static_pub)                              # Hi = HASH(Hi || Sr_pub)
    e_pub = DH_PUB(e_priv)
    C = KDF1(C, e_pub)                                      # Ci = KDF1(Ci, Ei_pub)
    H = HASH(H + e_pub)                                     # Hi = HASH(Hi || ephemeral)
    C, k = KDF2(C, DH(e_priv, r_static_pub))                # (Ci, k) = KDF2(Ci, DH(Ei_priv, Sr_pub))
    enc_static = AEAD(k, 0, s_pub, H)                       # static = AEAD(k, 0, Si_pub, Hi)
    H = HASH(H + enc_static)
    C, k = KDF2(C, DH(s_priv, r_static_pub))                # (Ci, k) = KDF2(Ci, DH(Si_priv, Sr_pub))
    enc_ts = AEAD(k, 0, timestamp, H)                       # timestamp = AEAD(k, 0, TAI64N(), Hi)
    H = HASH(H + enc_ts)

    body = (struct.pack("<B3xI", MSG_INITIATION, sender_index)
            + e_pub + enc_static + enc_ts)
    msg = add_macs(body, r_static_pub)
    assert len(msg) == 148
    state = dict(C=C, H=H, s_priv=s_priv, e_priv=e_priv, e_pub=e_pub,
                 r_static_pub=r_static_pub, index=sender_index)
    return msg, state


def add_macs(body, receiver_static_pub):
    """5.4.4: mac1 = MAC(HASH(LABEL_MAC1 || Sm'_pub), msg_alpha); mac2 = 0
    (no cookie has been received, so mac2 is all zeros)."""
    mac1 = MAC(HASH(LABEL_MAC1 + receiver_static_pub), body)
    return body + mac1 + b"\x00" * 16


def check_mac1(msg, receiver_static_pub):
    mac1 = MAC(HASH(LABEL_MAC1 + receiver_static_pub), msg[:-32])
    if mac1 != msg[-32:-16] or msg[-16:] != b"\x00" * 16:
        die("mac1/mac2 check failed")


def responder_consume_initiation(s_priv, msg):
    """Responder side of 5.4.2: verify mac1, decrypt static and timestamp."""
    s_pub = DH_PUB(s_priv)
    check_mac1(msg, s_pub)
    mtype, sender_index = struct.unpack_from("<B3xI", msg, 0)
    assert mtype == MSG_INITIATION
    e_pub, enc_static, enc_ts = msg[8:40], msg[40:88], msg[88:116]
    C = HASH(CONSTRUCTION)
    H = HASH(C + IDENTIFIER)
    H = HASH(H + s_pub)
    C = KDF1(C, e_pub)
    H = HASH(H + e_pub)
    C, k = KDF2(C, DH(s_priv, e_pub))
    i_static_pub = AEAD_OPEN(k, 0, enc_static, H)
    H = HASH(H + enc_static)
    C, k = KDF2(C, DH(s_priv, i_static_pub))
    timestamp = AEAD_OPEN(k, 0, enc_ts, H)
    H = HASH(H + enc_ts)
    return dict(C=C, H=H, s_priv=s_priv, i_e_pub=e_pub,
                i_static_pub=i_static_pub, i_index=sender_index,
                timestamp=timestamp)


# ---------------------------------------------------------------------------
# 5.4.3 Second message: responder to initiator
# ---------------------------------------------------------------------------

def responder_reply(st, e_priv, sender_index, psk):
    """Build the 92-byte handshake response. Updates st with C and H."""
    C, H = st["C"], st["H"]
    e_pub = DH_PUB(e_priv)
    C = KDF1(C, e_pub)                                      # Cr = KDF1(Cr, Er_pub)
    H = HASH(H + e_pub)                                     # Hr = HASH(Hr || ephemeral)
    C = KDF1(C, DH(e_priv, st["i_e_pub"]))                  # Cr = KDF1(Cr, DH(Er_priv, Ei_pub))
    C = KDF1(C, DH(e_priv, st["i_static_pub"]))             # Cr = KDF1(Cr, DH(Er_priv, Si_pub))
    C, tau, k = KDF3(C, psk)                                # (Cr, tau, k) = KDF3(Cr, Q)
    H = HASH(H + tau)                                       # Hr = HASH(Hr || tau)
    enc_empty = AEAD(k, 0, b"", H)                          # empty = AEAD(k, 0, e, Hr)
    H = HASH(H + enc_empty)
    body = (struct.pack("<B3xII", MSG_RESPONSE, sender_index, st["i_index"])
            + e_pub + enc_empty)
    msg = add_macs(body, st["i_static_pub"])
    assert len(msg) == 92
    st.update(C=C, H=H, index=sender_index)
    return msg


def initiator_consume_response(st, msg, psk):
    """Initiator side of 5.4.3: verify mac1 and the empty AEAD."""
    check_mac1(msg, DH_PUB(st["s_priv"]))
    mtype, r_index, i_index = struct.unpack_from("<B3xII", msg, 0)
    assert mtype == MSG_RESPONSE and i_index == st["index"]
    e_pub, enc_empty = msg[12:44], msg[44:60]
    C, H = st["C"], st["H"]
    C = KDF1(C, e_pub)
    H = HASH(H + e_pub)
    C = KDF1(C, DH(st["e_priv"], e_pub))
    C = KDF1(C, DH(st["s_priv"], e_pub))
    C, tau, k = KDF3(C, psk)
    H = HASH(H + tau)
    if AEAD_OPEN(k, 0, enc_empty, H) != b"":
        die("response empty payload not empty")
    H = HASH(H + enc_empty)
    st.update(C=C, H=H, r_index=r_index)


# ---------------------------------------------------------------------------
# 5.4.5 Transport data key derivation
# ---------------------------------------------------------------------------

def derive_transport_keys(C):
    """(T_send_i = T_recv_r, T_recv_i = T_send_r) = KDF2(Ci = Cr, e)."""
    t_i_send, t_i_recv = KDF2(C, b"")
    return t_i_send, t_i_recv


# ---------------------------------------------------------------------------
# 5.4.6 Subsequent messages: transport data
# ---------------------------------------------------------------------------

def pad(packet):
    """Zero-pad to a multiple of 16, capped at the MTU (as Linux does)."""
    padded = min(-(-len(packet) // PAD_MULTIPLE) * PAD_MULTIPLE, MTU)
    padded = max(padded, len(packet))
    return packet + b"\x00" * (padded - len(packet))


def transport_message(receiver_index, counter, key, padded_plaintext):
    """type 4 || 3 reserved zero bytes || receiver LE32 || counter LE64 ||
    AEAD(T_send, counter, P, e)."""
    return (struct.pack("<B3xIQ", MSG_TRANSPORT, receiver_index, counter)
            + AEAD(key, counter, padded_plaintext, b""))


# ---------------------------------------------------------------------------
# Inner packets (what goes through the tunnel)
# ---------------------------------------------------------------------------

IN4_A, IN4_B = "192.168.77.1", "192.168.77.2"   # tunnel addresses of peers A, B
IN6_A, IN6_B = "fd00:77::1", "fd00:77::2"


def filler(n, seed):
    return bytes((seed + 7 * i) & 0xFF for i in range(n))


def udp4(src, dst, total_len, seed):
    """IPv4/UDP packet of exactly total_len bytes (20 + 8 + payload)."""
    p = bytes(IP(src=src, dst=dst, id=0x1000 + seed, flags="DF", ttl=64)
              / UDP(sport=40000 + seed, dport=9)
              / Raw(filler(total_len - 28, seed)))
    assert len(p) == total_len
    return p


def udp6(src, dst, total_len, seed):
    """IPv6/UDP packet of exactly total_len bytes (40 + 8 + payload)."""
    p = bytes(IPv6(src=src, dst=dst, hlim=64)
              / UDP(sport=40000 + seed, dport=9)
              / Raw(filler(total_len - 48, seed)))
    assert len(p) == total_len
    return p


def icmp4(src, dst, total_len, seed, reply=False):
    """IPv4 ICMP echo request/reply of exactly total_len bytes."""
    p = bytes(IP(src=src, dst=dst, id=0x2000 + seed, flags="DF", ttl=64)
              / ICMP(type=0 if reply else 8, id=0x77, seq=seed)
              / Raw(filler(total_len - 28, seed)))
    assert len(p) == total_len
    return p


def icmp6(src, dst, total_len, seed, reply=False):
    """IPv6 ICMPv6 echo request/reply of exactly total_len bytes."""
    cls = ICMPv6EchoReply if reply else ICMPv6EchoRequest
    p = bytes(IPv6(src=src, dst=dst, hlim=64)
              / cls(id=0x77, seq=seed, data=filler(total_len - 48, seed)))
    assert len(p) == total_len
    return p


# ---------------------------------------------------------------------------
# pcap output (classic libpcap format, Ethernet link type)
# ---------------------------------------------------------------------------

OUT_A = dict(mac="02:00:00:00:00:01", ip="10.0.0.1", port=51820)
OUT_B = dict(mac="02:00:00:00:00:02", ip="10.0.0.2", port=51821)


def frame(src, dst, udp_payload):
    return bytes(Ether(src=src["mac"], dst=dst["mac"])
                 / IP(src=src["ip"], dst=dst["ip"], id=0, flags="DF", ttl=64)
                 / UDP(sport=src["port"], dport=dst["port"])
                 / Raw(udp_payload))


def write_pcap(path, frames):
    """frames: list of (time_usec, bytes)."""
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    for t_usec, data in frames:
        out.append(struct.pack("<IIII", t_usec // 1000000, t_usec % 1000000,
                               len(data), len(data)))
        out.append(data)
    with open(path, "wb") as f:
        f.write(b"".join(out))


# ---------------------------------------------------------------------------
# The scenario
# ---------------------------------------------------------------------------

BASE_TIME = 1700000000  # pcap and TAI64N seconds (2023-11-14)


class Session:
    """One completed handshake: who initiated, indices and transport keys."""

    def __init__(self, n, init_peer, resp_peer, i_index, r_index,
                 i2r_key, r2i_key, psk):
        self.n = n
        self.init_peer, self.resp_peer = init_peer, resp_peer
        self.i_index, self.r_index = i_index, r_index
        self.i2r_key, self.r2i_key = i2r_key, r2i_key
        self.psk = psk
        self.counter = {"i2r": 0, "r2i": 0}


def handshake(n, init_peer, resp_peer, i_eph, r_eph, i_index, r_index, psk,
              ts):
    """Run 5.4.2 and 5.4.3 on both sides and check that they agree.
    Returns (initiation, response, Session)."""
    init, ist = initiator_begin(init_peer["priv"], resp_peer["pub"], i_eph,
                                i_index, ts)
    rst = responder_consume_initiation(resp_peer["priv"], init)
    if rst["i_static_pub"] != init_peer["pub"] or rst["timestamp"] != ts:
        die("responder decrypted wrong static key or timestamp")
    resp = responder_reply(rst, r_eph, r_index, psk)
    initiator_consume_response(ist, resp, psk)
    if ist["C"] != rst["C"] or ist["H"] != rst["H"]:
        die("initiator and responder disagree on chaining key / hash")
    # 5.4.5: both sides derive the transport keys from the same Ci = Cr.
    i_send, i_recv = derive_transport_keys(ist["C"])
    r_recv, r_send = derive_transport_keys(rst["C"])
    assert (i_send, i_recv) == (r_recv, r_send)
    sess = Session(n, init_peer, resp_peer, i_index, r_index, i_send, i_recv,
                   psk)
    sess.i_eph = i_eph  # for the key log
    return init, resp, sess


def main():
    if os.path.exists(FIXTURE):
        os.remove(FIXTURE)  # never leave a stale fixture behind a failed run
    A = dict(name="A", out=OUT_A, priv=fixed_key("static A"))
    B = dict(name="B", out=OUT_B, priv=fixed_key("static B"))
    for p in (A, B):
        p["pub"] = DH_PUB(p["priv"])

    frames = []     # (time_usec, ethernet frame)
    msgs = []       # transport messages, for the fixture
    clock = [BASE_TIME * 1000000]

    def emit(src, dst, payload, gap_usec=1000):
        clock[0] += gap_usec
        frames.append((clock[0], frame(src["out"], dst["out"], payload)))
        return len(frames)  # 1-based frame number, as tshark counts

    def send(sess, direction, inner, counter=None, gap_usec=1000):
        """Encrypt one transport message; counter=None takes the next one."""
        if counter is None:
            counter = sess.counter[direction]
            sess.counter[direction] += 1
        if direction == "i2r":
            src, dst, key, recv_idx = (sess.init_peer, sess.resp_peer,
                                       sess.i2r_key, sess.r_index)
        else:
            src, dst, key, recv_idx = (sess.resp_peer, sess.init_peer,
                                       sess.r2i_key, sess.i_index)
        padded = pad(inner)
        payload = transport_message(recv_idx, counter, key, padded)
        fno = emit(src, dst, payload, gap_usec)
        msgs.append(dict(frame=fno, session=sess.n, dir=direction,
                         counter=counter, receiver=recv_idx, payload=payload,
                         padded=padded, inner_len=len(inner)))

    # -- Session 1: A initiates, zero preshared key (5.4.3: Q = 0^32). -------
    psk1 = b"\x00" * 32
    init1, resp1, s1 = handshake(
        1, A, B, fixed_key("ephemeral A session 1"),
        fixed_key("ephemeral B session 1"),
        0xA1B2C3D4, 0x0F1E2D3C, psk1, TAI64N(BASE_TIME + 1, 123456789))
    # (frame number, public key of the static key the message is for)
    hs_frames = [(emit(A, B, init1), B["pub"]), (emit(B, A, resp1), A["pub"])]

    # A -> B (i2r); B may only send on the new keys after it received one.
    send(s1, "i2r", icmp4(IN4_A, IN4_B, 84, 1))             # 84 -> 96
    send(s1, "r2i", icmp4(IN4_B, IN4_A, 84, 1, reply=True))  # 84 -> 96
    send(s1, "i2r", udp4(IN4_A, IN4_B, 96, 2))              # multiple of 16
    # Out of order: counter 3 is captured before counter 2 (i2r).
    c2 = s1.counter["i2r"]
    s1.counter["i2r"] += 2
    send(s1, "i2r", udp4(IN4_A, IN4_B, 95, 4), counter=c2 + 1)  # 16n-1 -> 96
    send(s1, "i2r", udp4(IN4_A, IN4_B, 97, 3), counter=c2)      # 16n+1 -> 112
    send(s1, "r2i", icmp6(IN6_B, IN6_A, 104, 2, reply=True))  # ~100 -> 112
    send(s1, "i2r", udp6(IN6_A, IN6_B, 100, 5))             # ~100 -> 112
    send(s1, "i2r", udp6(IN6_A, IN6_B, 1280, 6))            # IPv6 min MTU
    send(s1, "r2i", udp4(IN4_B, IN4_A, 1419, 3))            # -> 1420 (capped)
    send(s1, "i2r", udp4(IN4_A, IN4_B, 1420, 7))            # 1420 (capped)
    send(s1, "r2i", icmp6(IN6_B, IN6_A, 1420, 4, reply=True))  # 1420 capped
    send(s1, "i2r", b"")                                    # keepalive
    send(s1, "r2i", b"", gap_usec=10000000)                 # keepalive

    # -- Session 2: rekey, initiated by B (the other peer), non-zero psk. ----
    psk2 = hashlib.blake2s(b"wg-fixture preshared key session 2").digest()
    clock[0] += 120000000  # REKEY_AFTER_TIME later
    init2, resp2, s2 = handshake(
        2, B, A, fixed_key("ephemeral B session 2"),
        fixed_key("ephemeral A session 2"),
        0x5A6B7C8D, 0xE1D2C3B4, psk2, TAI64N(BASE_TIME + 132, 987654321))
    hs_frames += [(emit(B, A, init2), A["pub"]), (emit(A, B, resp2), B["pub"])]
    # A is the responder of session 2 and may not send on its new keys until
    # B's first session-2 message arrives, so it still uses session 1 here.
    send(s1, "i2r", udp4(IN4_A, IN4_B, 64, 8))              # 64 -> 64
    send(s2, "i2r", udp6(IN6_B, IN6_A, 48, 11))             # 48 -> 48
    send(s2, "r2i", udp6(IN6_A, IN6_B, 49, 12))             # 49 -> 64
    send(s2, "i2r", udp4(IN4_B, IN4_A, 1280, 13))           # 1280
    send(s2, "r2i", icmp4(IN4_A, IN4_B, 47, 14))            # 47 -> 48
    send(s2, "i2r", icmp6(IN6_B, IN6_A, 1420, 15))          # 1420 capped
    send(s2, "r2i", udp4(IN4_A, IN4_B, 1000, 16))           # 1000 -> 1008
    send(s2, "i2r", b"")                                    # keepalive
    send(s2, "r2i", udp6(IN6_A, IN6_B, 111, 17))            # 111 -> 112

    write_pcap(PCAP, frames)

    # -- Key log, in the per-handshake layout of extract-handshakes.sh: the
    # initiator's view of each session.  A PRESHARED_KEY line belongs to the
    # preceding LOCAL_EPHEMERAL_PRIVATE_KEY line (Wireshark wiki).
    lines = []
    for s in (s1, s2):
        lines += ["LOCAL_STATIC_PRIVATE_KEY = " + b64(s.init_peer["priv"]),
                  "REMOTE_STATIC_PUBLIC_KEY = " + b64(s.resp_peer["pub"]),
                  "LOCAL_EPHEMERAL_PRIVATE_KEY = " + b64(s.i_eph),
                  "PRESHARED_KEY = " + b64(s.psk)]
    with open(KEYLOG, "w") as f:
        f.write("\n".join(lines) + "\n")

    tshark_version = check_with_tshark(frames, msgs,
                                       init_frames=hs_frames[0::2],
                                       resp_frames=hs_frames[1::2])
    write_fixture(s1, s2, msgs, tshark_version)
    counts = {}
    for m in msgs:
        k = "session %d %s" % (m["session"], m["dir"])
        counts[k] = counts.get(k, 0) + 1
    print("ok: %s verified all %d transport messages (%s) and the 4 "
          "handshake messages" % (tshark_version, len(msgs),
                                  ", ".join("%s: %d" % kv
                                            for kv in sorted(counts.items()))))


# ---------------------------------------------------------------------------
# tshark cross-check
# ---------------------------------------------------------------------------

def tshark(pcap, dissect_inner, fields, extra=()):
    """Run tshark with the key log; return {frame number: {field: value}}.

    wg.dissect_packet:FALSE leaves the decrypted transport data as one
    "data" item (data.data), i.e. the whole padded plaintext.  With TRUE the
    IP dissector takes it and trims the decrypted data source to the inner
    packet's IP length, so the padding is no longer visible.
    """
    cmd = [TSHARK, "-r", pcap, "-n",
           "-o", "wg.keylog_file:" + KEYLOG,
           "-o", "wg.dissect_packet:" + ("TRUE" if dissect_inner else "FALSE"),
           "-d", "udp.port==51820,wg",
           "-T", "fields", "-E", "separator=|", "-E", "occurrence=a"]
    cmd += list(extra)
    for f in ("frame.number",) + tuple(fields):
        cmd += ["-e", f]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True)
    except OSError as e:
        die("cannot run tshark: %s" % e)
    if out.returncode != 0:
        die("tshark failed (%d): %s" % (out.returncode, out.stderr))
    rows = {}
    for line in out.stdout.splitlines():
        v = line.split("|")
        rows[int(v[0])] = dict(zip(fields, v[1:]))
    return rows


def corrupt_tags(frames, msgs):
    """Copy of the capture with one bit of every transport message's
    Poly1305 tag flipped (the negative control)."""
    bad = [list(f) for f in frames]
    for m in msgs:
        data = bytearray(bad[m["frame"] - 1][1])
        data[-1] ^= 0x01
        bad[m["frame"] - 1][1] = bytes(data)
    return [tuple(f) for f in bad]


def check_with_tshark(frames, msgs, init_frames, resp_frames):
    try:
        version = subprocess.run([TSHARK, "--version"], capture_output=True,
                                 text=True, check=True).stdout.splitlines()[0]
        version = version.rstrip(".")
    except (OSError, subprocess.CalledProcessError) as e:
        die("cannot run tshark: %s" % e)
    errors = []

    # 1. Handshake: the initiations' static key and timestamp decrypted
    #    (needs the ephemeral and static secrets), the responses report
    #    "Handshake decryption successful" (transport keys derived).
    #    tshark finds the receiver's static key by trying mac1 with each
    #    known key, so a correct wg.receiver_pubkey also means mac1 matched.
    hs = tshark(PCAP, False, ["wg.type", "wg.receiver_pubkey", "wg.static",
                              "wg.timestamp.nanoseconds", "wg.handshake_ok"])
    for f, receiver_pub in init_frames:
        r = hs.get(f, {})
        if r.get("wg.type") != "1" or not r.get("wg.static") \
                or not r.get("wg.timestamp.nanoseconds") \
                or r.get("wg.receiver_pubkey") != b64(receiver_pub):
            errors.append("frame %d: tshark did not decrypt the initiation "
                          "(%r)" % (f, r))
    for f, receiver_pub in resp_frames:
        r = hs.get(f, {})
        if r.get("wg.type") != "2" \
                or r.get("wg.handshake_ok") not in ("1", "True") \
                or r.get("wg.receiver_pubkey") != b64(receiver_pub):
            errors.append("frame %d: tshark did not verify the response "
                          "(%r)" % (f, r))

    # 2. Transport data, inner dissection off: data.data is the whole
    #    decrypted (padded) plaintext. A keepalive has no data item; tshark
    #    flags it wg.keepalive (from its length alone) and reports
    #    wg.decryption_error if the tag does not verify (see 4.).
    fields = ["wg.type", "wg.receiver", "wg.counter", "wg.keepalive",
              "wg.decryption_error", "data.data"]
    rows = tshark(PCAP, False, fields)
    for m in msgs:
        f, r = m["frame"], rows.get(m["frame"], {})
        m["tshark"] = None
        if r.get("wg.type") != "4" or r.get("wg.counter") != str(m["counter"]) \
                or int(r.get("wg.receiver") or "0", 16) != m["receiver"]:
            errors.append("frame %d: tshark header fields differ: %r" % (f, r))
            continue
        if r.get("wg.decryption_error"):
            pass
        elif r.get("data.data"):
            m["tshark"] = bytes.fromhex(r["data.data"].replace(":", ""))
        elif r.get("wg.keepalive"):
            m["tshark"] = b""
        if m["tshark"] is None:
            errors.append("frame %d: tshark did not decrypt (session %d %s "
                          "counter %d)" % (f, m["session"], m["dir"],
                                           m["counter"]))
        elif m["tshark"] != m["padded"]:
            errors.append("frame %d: tshark plaintext differs:\n  tshark %s"
                          "\n  ours   %s" % (f, m["tshark"].hex(),
                                             m["padded"].hex()))
    if not any(m["tshark"] for m in msgs):
        errors.append("tshark decrypted no transport message")

    # 3. Inner dissection on, with IP/UDP checksum validation: every inner
    #    packet must parse as IPv4/IPv6 of the generated length, with no
    #    malformed or bad-checksum expert item.
    rows = tshark(PCAP, True, ["ip.len", "ipv6.plen", "_ws.malformed",
                               "_ws.expert.message", "ip.checksum.status",
                               "udp.checksum.status", "icmp.checksum.status",
                               "icmpv6.checksum.status"],
                  extra=["-o", "ip.check_checksum:TRUE",
                         "-o", "udp.check_checksum:TRUE"])
    for m in msgs:
        if m["inner_len"] == 0:
            continue
        f, r = m["frame"], rows.get(m["frame"], {})
        inner = m["padded"][:m["inner_len"]]
        if inner[0] >> 4 == 4:
            got = int(r.get("ip.len", "").split(",")[-1] or -1)
        else:
            got = int(r.get("ipv6.plen", "").split(",")[-1] or -1) + 40
        bad = [e for e in r.get("_ws.expert.message", "").split(",")
               if re.search(r"(?i)malformed|incorrect|bad|error", e)]
        # checksum.status 1 = "Good" (IP, UDP, ICMP, ICMPv6; outer and inner)
        sums = [v for k in ("ip.checksum.status", "udp.checksum.status",
                            "icmp.checksum.status", "icmpv6.checksum.status")
                for v in r.get(k, "").split(",") if v]
        if got != m["inner_len"] or r.get("_ws.malformed") or bad \
                or len(sums) < 3 or set(sums) != {"1"}:
            errors.append("frame %d: inner packet dissection: %r" % (f, r))

    # 4. Negative control: with every tag corrupted, tshark must report a
    #    decryption error on every transport message (this is what shows a
    #    keepalive above was authenticated, not just recognised by length).
    with tempfile.TemporaryDirectory() as tmp:
        bad_pcap = os.path.join(tmp, "corrupt.pcap")
        write_pcap(bad_pcap, corrupt_tags(frames, msgs))
        rows = tshark(bad_pcap, False, ["wg.decryption_error", "data.data"])
    for m in msgs:
        r = rows.get(m["frame"], {})
        if not r.get("wg.decryption_error") or r.get("data.data"):
            errors.append("frame %d: corrupted tag not rejected by tshark: %r"
                          % (m["frame"], r))

    if errors:
        die("%d problem(s) with %s:\n" % (len(errors), version)
            + "\n".join(errors))
    return version


def write_fixture(s1, s2, msgs, tshark_version):
    def hx(b):
        if b is None:
            return "-"
        return b.hex() if b else "empty"

    out = [
        "# WireGuard transport data (type 4) fixture, generated by",
        "# make_capture.py from Noise IKpsk2 handshakes written from the",
        "# WireGuard whitepaper (5.4). Frame numbers refer to transport.pcap.",
        "# Do not edit; regenerate with",
        "#   /usr/bin/python3 tests/data/wireguard/make_capture.py",
        "#",
        "# session <n> initiator_index <hex8> responder_index <hex8>"
        " i2r_key <hex64> r2i_key <hex64>",
        "#   indices are the integers (on the wire they are little-endian).",
        "#   i2r_key = initiator's T_send = responder's T_recv (5.4.5).",
        "# msg <frame> <session> <i2r|r2i> <counter> <udp payload hex>"
        " <tshark plaintext hex|empty|-> <generator padded plaintext hex|empty>",
        "#",
        "# Checked with %s:" % tshark_version,
        "# tshark decrypted all %d transport messages with transport.keylog;"
        % len(msgs),
        "# its plaintext column is tshark's data.data with",
        "# wg.dissect_packet:FALSE (the full padded plaintext) and equals the",
        "# generator column on every line. A keepalive gives tshark no data",
        "# item: 'empty' means wg.keepalive and no wg.decryption_error, while",
        "# the same frame with one tag bit flipped gives",
        "# wg.decryption_error (negative control run by make_capture.py).",
        "#",
        "# Peers: A = 10.0.0.1:51820, B = 10.0.0.2:51821.",
        "# Session 1: A initiates, zero preshared key.",
        "# Session 2: rekey initiated by B (the other peer), non-zero preshared",
        "#   key, new ephemerals and indices; so in session 2 i2r is B -> A.",
        "# Session 1 i2r counter 3 is captured before counter 2 (out of",
        "# order). One session-1 i2r message (counter 8) follows the session-2",
        "# handshake: A, the session-2 responder, may not use the new keys",
        "# until B's first session-2 message arrives.",
        "# Plaintexts are IPv4/IPv6 packets zero-padded to a multiple of 16,",
        "# capped at MTU 1420 (1419- and 1420-byte packets pad to 1420).",
        "# Keepalives have an empty plaintext (32-byte message).",
    ]
    for s in (s1, s2):
        out.append("session %d initiator_index %08x responder_index %08x "
                   "i2r_key %s r2i_key %s" % (s.n, s.i_index, s.r_index,
                                              s.i2r_key.hex(), s.r2i_key.hex()))
    for m in msgs:
        out.append("msg %d %d %s %d %s %s %s" % (
            m["frame"], m["session"], m["dir"], m["counter"],
            m["payload"].hex(), hx(m.get("tshark")), hx(m["padded"])))
    with open(FIXTURE, "w") as f:
        f.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
