#!/usr/bin/python3
"""Known-answer values for WireGuard cookie replies (tests/wireguard_cookie_test.cc).

Run from anywhere:  /usr/bin/python3 tests/data/wireguard/make_cookie_vector.py

Prints the values that tests/wireguard_cookie_test.cc has typed in; it writes
no file. Written from the WireGuard whitepaper (J. A. Donenfeld, "WireGuard:
Next Generation Kernel Network Tunnel"), section 5.4.4 (mac1, mac2) and 5.4.7
(cookie reply), independently of the C++ code:

  mac1 key          = HASH(LABEL_MAC1 || S_pub)        HASH = BLAKE2s-256
  cookie key        = HASH(LABEL_COOKIE || S_pub)      (S: the responder, who sends the reply)
  cookie tau        = MAC(R_m, A_m')                   MAC = keyed BLAKE2s-128
  cookie reply      = 03 00 00 00 || LE32(sender index of the answered message)
                      || nonce (24) || XAEAD(cookie key, nonce, tau, mac1 of the answered message)
  mac2 (initiator)  = MAC(tau, msg up to mac2)

The message answered is the first handshake initiation in transport.pcap
(session 1: A -> B, so S = peer B's static key, from make_capture.py's
fixed_key("static B")). R_m, the nonce and the source address A_m' are fixed
below. A_m' is A's outer address and port as the responder sees them,
10.0.0.1:51820, in network byte order (IPv4 address || UDP port).

XAEAD is AEAD_XChaCha20_Poly1305 from draft-irtf-cfrg-xchacha-03. Python's
`cryptography` has ChaCha20-Poly1305 but no XChaCha20, so HChaCha20 (draft
section 2.2) is written out here and XChaCha20-Poly1305 is built from it as
the draft says (section 2.3.1): subkey = HChaCha20(key, nonce[0:16]),
then ChaCha20-Poly1305(subkey, 00 00 00 00 || nonce[16:24]). Both are first
checked against the draft's test vectors (section 2.2.1 and appendix A.3.1).
"""

import importlib.util
import os
import struct
import sys

from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

HERE = os.path.dirname(os.path.abspath(__file__))
LABEL_MAC1 = b"mac1----"
LABEL_COOKIE = b"cookie--"

R_M = bytes(range(0xA0, 0xC0))                  # the responder's secret, 32 bytes
NONCE = bytes(range(0x60, 0x78))                # 24 bytes
SOURCE = bytes([10, 0, 0, 1]) + struct.pack(">H", 51820)


# HASH, MAC and the fixture's keys are make_capture.py's (the generator that
# tshark checked); only the cookie parts are written here.
_spec = importlib.util.spec_from_file_location("wg_make_capture", os.path.join(HERE, "make_capture.py"))
_capture = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_capture)
HASH, MAC, fixed_key, public_of = _capture.HASH, _capture.MAC, _capture.fixed_key, _capture.DH_PUB


# --- draft-irtf-cfrg-xchacha-03 section 2.2: HChaCha20 ---------------------

def _rotl(v, n):
    return ((v << n) & 0xFFFFFFFF) | (v >> (32 - n))


def _quarter(s, a, b, c, d):
    s[a] = (s[a] + s[b]) & 0xFFFFFFFF; s[d] = _rotl(s[d] ^ s[a], 16)
    s[c] = (s[c] + s[d]) & 0xFFFFFFFF; s[b] = _rotl(s[b] ^ s[c], 12)
    s[a] = (s[a] + s[b]) & 0xFFFFFFFF; s[d] = _rotl(s[d] ^ s[a], 8)
    s[c] = (s[c] + s[d]) & 0xFFFFFFFF; s[b] = _rotl(s[b] ^ s[c], 7)


def hchacha20(key, nonce16):
    """The ChaCha20 block function's state set up with the key and the 16-byte
    nonce in place of counter || nonce, 20 rounds, no final addition; the
    output is state words 0..3 and 12..15, little-endian."""
    assert len(key) == 32 and len(nonce16) == 16
    s = [0x61707865, 0x3320646E, 0x79622D32, 0x6B206574]
    s += list(struct.unpack("<8I", key)) + list(struct.unpack("<4I", nonce16))
    for _ in range(10):
        _quarter(s, 0, 4, 8, 12); _quarter(s, 1, 5, 9, 13)
        _quarter(s, 2, 6, 10, 14); _quarter(s, 3, 7, 11, 15)
        _quarter(s, 0, 5, 10, 15); _quarter(s, 1, 6, 11, 12)
        _quarter(s, 2, 7, 8, 13); _quarter(s, 3, 4, 9, 14)
    return struct.pack("<8I", *(s[0:4] + s[12:16]))


def xchacha20poly1305_seal(key, nonce24, plaintext, aad):
    subkey = hchacha20(key, nonce24[:16])
    return ChaCha20Poly1305(subkey).encrypt(b"\0" * 4 + nonce24[16:], plaintext, aad)


def check_draft_vectors():
    # Section 2.2.1.
    got = hchacha20(bytes(range(32)), bytes.fromhex("000000090000004a0000000031415927"))
    want = "82413b4227b27bfed30e42508a877d73a0f9e4d58a74a853c12ec41326d3ecdc"
    if got.hex() != want:
        sys.exit("HChaCha20 does not match draft section 2.2.1: " + got.hex())
    # Appendix A.3.1.
    pt = (b"Ladies and Gentlemen of the class of '99: If I could offer you only "
          b"one tip for the future, sunscreen would be it.")
    got = xchacha20poly1305_seal(bytes(range(0x80, 0xA0)), bytes(range(0x40, 0x58)), pt,
                                 bytes.fromhex("50515253c0c1c2c3c4c5c6c7"))
    want = ("bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb"
            "731c7f1b0b4aa6440bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b452"
            "2f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff9"
            "21f9664c97637da9768812f615c68b13b52e"
            "c0875924c1c7987947deafd8780acf49")
    if got.hex() != want:
        sys.exit("XChaCha20-Poly1305 does not match draft appendix A.3.1: " + got.hex())


# --- the fixture ------------------------------------------------------------

def first_initiation(path):
    """The UDP payload of the first 148-byte type-1 message in a classic
    Ethernet/IPv4/UDP pcap."""
    data = open(path, "rb").read()
    assert struct.unpack_from("<I", data, 0)[0] == 0xA1B2C3D4
    off = 24
    while off + 16 <= len(data):
        incl = struct.unpack_from("<I", data, off + 8)[0]
        frame = data[off + 16:off + 16 + incl]
        off += 16 + incl
        ip = frame[14:]
        if frame[12:14] != b"\x08\x00" or ip[9] != 17:
            continue
        udp = ip[(ip[0] & 15) * 4:]
        payload = udp[8:struct.unpack_from(">H", udp, 4)[0]]
        if len(payload) == 148 and payload[:4] == b"\x01\x00\x00\x00":
            return payload
    sys.exit("no initiation in " + path)


def main():
    check_draft_vectors()
    s_pub = public_of(fixed_key("static B"))
    msg = first_initiation(os.path.join(HERE, "transport.pcap"))
    if MAC(HASH(LABEL_MAC1 + s_pub), msg[:116]) != msg[116:132]:
        sys.exit("mac1 of the initiation does not match B's key")
    mac1 = msg[116:132]
    tau = MAC(R_M, SOURCE)
    reply = (b"\x03\x00\x00\x00" + msg[4:8] + NONCE
             + xchacha20poly1305_seal(HASH(LABEL_COOKIE + s_pub), NONCE, tau, mac1))
    assert len(reply) == 64
    mac2 = MAC(tau, msg[:132])
    print("responder static public (B) %s" % s_pub.hex())
    print("initiation sender index     %s" % msg[4:8].hex())
    print("initiation mac1             %s" % mac1.hex())
    print("R_m                         %s" % R_M.hex())
    print("nonce                       %s" % NONCE.hex())
    print("source address              %s" % SOURCE.hex())
    print("cookie tau                  %s" % tau.hex())
    print("cookie reply                %s" % reply.hex())
    print("mac2 of the initiation      %s" % mac2.hex())


if __name__ == "__main__":
    main()
