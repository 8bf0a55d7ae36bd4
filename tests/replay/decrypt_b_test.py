#!/usr/bin/python3
"""rl-replay decrypts QUIC, ESP and SRTP/SRTCP captures exactly as independent decoders do.

For each capture in tests/data/replay (made by make_quic.sh, make_esp.py, make_srtp.sh):
  - run `rl-replay --json` with its key file; exit status must be 0;
  - every protected packet must come out `ok` (none no_key / skipped / failed);
  - frame by frame, (frame, index) -> length and SHA-256 of the plaintext must equal the
    ground truth: tshark's decryption (QUIC; ESP AES-GCM without ESN) and the plaintexts
    the generator handed to the protecting peer (ESP, SRTP/SRTCP), and the packet sets
    must be the same (nothing missing, nothing extra);
  - a copy of the capture with one byte of one protected packet flipped must make exactly
    that packet fail (auth_failed), the exit status 1, and the comparison notice it.
Usage: decrypt_b_test.py RL_REPLAY DATA_DIR
"""
import json
import os
import struct
import subprocess
import sys
import tempfile

RL, DATA = sys.argv[1], sys.argv[2]
failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL:", msg)


def replay(cap, keyopt, keyfile):
    r = subprocess.run([RL, "--json", "--quiet", keyopt, os.path.join(DATA, keyfile), cap],
                       capture_output=True, text=True)
    out = [json.loads(l) for l in r.stdout.splitlines() if l.strip()]
    return r.returncode, out, r.stderr


def truth_quic(name):
    t = {}
    for line in open(os.path.join(DATA, name)):
        f, i, n, h = line.split()
        t[(int(f), int(i))] = (int(n), h)
    return t


def truth_plain(name):
    # make_esp.py: frame spi seq len sha ; make_srtp.sh: frame kind ssrc len sha
    t = {}
    for line in open(os.path.join(DATA, name)):
        p = line.split()
        t[(int(p[0]), 0)] = (int(p[3]), p[4])
    return t


def truth_tshark_esp(name):
    t = {}
    for line in open(os.path.join(DATA, name)):
        f, n, h = line.split()
        t[(int(f), 0)] = (int(n), h)
    return t


def compare(label, out, truth, exact=True):
    got = {(v["frame"], v["index"]): v for v in out}
    for k, (n, h) in truth.items():
        v = got.get(k)
        if v is None:
            fail("%s: frame %d index %d: no verdict" % (label, k[0], k[1]))
        elif v["status"] != "ok" or v["len"] != n or v["sha256"] != h:
            fail("%s: frame %d index %d: %s len %s sha %s, truth len %d sha %s"
                 % (label, k[0], k[1], v["status"], v["len"], v["sha256"], n, h))
    if exact:
        for k in got:
            if k not in truth:
                fail("%s: frame %d index %d: verdict with no ground truth" % (label, *k))
    return len(truth)


def flip_byte(src, dst, frame_no, from_end=1):
    """Copies a pcap, flipping the byte `from_end` bytes before the end of frame `frame_no`."""
    b = bytearray(open(src, "rb").read())
    magic = struct.unpack("<I", b[:4])[0]
    end = "<" if magic in (0xa1b2c3d4, 0xa1b23c4d) else ">"
    pos, n = 24, 0
    while pos < len(b):
        incl = struct.unpack(end + "I", b[pos + 8:pos + 12])[0]
        n += 1
        if n == frame_no:
            b[pos + 16 + incl - from_end] ^= 0x01
            break
        pos += 16 + incl
    open(dst, "wb").write(b)


CASES = [
    # capture, key option, key file, [(ground truth, must cover every verdict)]
    ("quic_aes128.pcap", "--keylog", "quic_aes128.keylog", [(truth_quic("quic_aes128.tshark.txt"), True)]),
    ("quic_chacha.pcap", "--keylog", "quic_chacha.keylog", [(truth_quic("quic_chacha.tshark.txt"), True)]),
    # AES-256-GCM (SHA-384 key schedule), three concurrent streams, a key update, coalesced
    # Initial/Handshake/1-RTT packets in one datagram
    ("quic_aes256.pcap", "--keylog", "quic_aes256.keylog", [(truth_quic("quic_aes256.tshark.txt"), True)]),
    # 0-RTT: the client's 0-RTT packet rides behind its Initial, before the server named
    # the suite (CLIENT_EARLY_TRAFFIC_SECRET)
    ("quic_0rtt.pcap", "--keylog", "quic_0rtt.keylog", [(truth_quic("quic_0rtt.tshark.txt"), True)]),
    ("esp.pcap", "--xfrm", "esp.xfrm", [(truth_plain("esp.plain.txt"), True),
                                        (truth_tshark_esp("esp.tshark.txt"), False)]),
    ("srtp.pcap", "--srtp-keys", "srtp.keys", [(truth_plain("srtp.plain.txt"), True)]),
    # connection migration: the client moves to a new local port (--change-local-addr)
    # and NAT-rebinds, so the connection's 1-RTT packets come on two UDP flows
    ("quic_migrate.pcap", "--keylog", "quic_migrate.keylog", [(truth_quic("quic_migrate.tshark.txt"), True)]),
    # two master keys told apart by their MKI (4-byte and 1-byte), RTP header extensions
    # (one- and two-byte forms), CSRCs, padding, AES_CM_128_HMAC_SHA1_32 with its 80-bit
    # SRTCP tag, SRTCP under each key
    ("srtp_mki.pcap", "--srtp-keys", "srtp_mki.keys", [(truth_plain("srtp_mki.plain.txt"), True)]),
]

def pcap_rewrite(src, dst, edit):
    """Copies a classic pcap, passing its list of (record header, data) through edit()."""
    b = open(src, "rb").read()
    end = "<" if struct.unpack("<I", b[:4])[0] in (0xa1b2c3d4, 0xa1b23c4d) else ">"
    frames, pos = [], 24
    while pos + 16 <= len(b):
        incl = struct.unpack(end + "I", b[pos + 8:pos + 12])[0]
        frames.append((b[pos:pos + 16], b[pos + 16:pos + 16 + incl]))
        pos += 16 + incl
    with open(dst, "wb") as f:
        f.write(b[:24])
        for h, d in edit(frames):
            f.write(h + d)


def check_quic_disorder(tmp, cap, keys):
    """A datagram the network duplicated and two 1-RTT datagrams delivered out of order:
    the copy is reported `replayed` (a receiver discards it, RFC 9000 §12.3), every other
    packet decrypts as before (same plaintext per direction, epoch and packet number)."""
    path = os.path.join(DATA, cap)
    _, base, _ = replay(path, "--keylog", keys)
    one_rtt = sorted({v["frame"] for v in base if v["epoch"] == 3})
    if len(one_rtt) < 6:
        fail("%s: too few 1-RTT datagrams to disorder" % cap)
        return
    dup, a = one_rtt[len(one_rtt) // 2], one_rtt[-3]

    def edit(frames):
        fr = list(frames)
        fr[a - 1], fr[a] = fr[a], fr[a - 1]      # frames a and a+1 swapped
        fr.insert(dup, frames[dup - 1])          # frame dup again, right after itself
        return fr
    dst = os.path.join(tmp, "disorder_" + cap)
    pcap_rewrite(path, dst, edit)
    rc, out, err = replay(dst, "--keylog", keys)
    key = lambda v: (v["dir"], v["epoch"], v["seq"], v["sha256"])
    got = sorted(key(v) for v in out if v["status"] == "ok")
    want = sorted(key(v) for v in base if v["status"] == "ok")
    bad = [(v["frame"], v["status"]) for v in out if v["status"] != "ok"]
    n_dup = sum(1 for v in base if v["frame"] == dup)
    if got != want or [s for _, s in bad] != ["replayed"] * n_dup or any(f != dup + 1 for f, _ in bad):
        fail("%s with frame %d duplicated and frames %d/%d swapped: %d of %d packets as before, not ok: %s"
             % (cap, dup, a, a + 1, len(set(got) & set(want)), len(want), bad))
    else:
        print("%s: frame %d duplicated -> the copy is `replayed`; frames %d/%d swapped -> all decrypt as before"
              % (cap, dup, a, a + 1))


with tempfile.TemporaryDirectory() as tmp:
    for cap in ("quic_aes128.pcap", "quic_chacha.pcap", "quic_aes256.pcap"):
        check_quic_disorder(tmp, cap, cap.replace(".pcap", ".keylog"))
    for cap, opt, keys, truths in CASES:
        path = os.path.join(DATA, cap)
        rc, out, err = replay(path, opt, keys)
        if rc != 0:
            fail("%s: exit status %d: %s" % (cap, rc, err.strip()[:500]))
        bad = [v for v in out if v["status"] != "ok"]
        for v in bad:
            fail("%s: frame %d index %d (%s %s): %s" % (cap, v["frame"], v["index"], v["proto"],
                                                       v["dir"], v["status"]))
        n = sum(compare(cap, out, t, exact) for t, exact in truths)
        protos = sorted({v["proto"] for v in out})
        print("%s: %d verdicts (%s), %d ground-truth entries checked" % (cap, len(out), ",".join(protos), n))
        if len(out) < 10:
            fail("%s: only %d verdicts" % (cap, len(out)))
        if cap == "quic_0rtt.pcap":
            early = [v for v in out if v["epoch"] == 1]
            if not early:
                fail("%s: no 0-RTT packet (epoch 1) decrypted" % cap)
            else:
                print("%s: %d 0-RTT packet(s) decrypted (epoch 1)" % (cap, len(early)))
            # The 0-RTT packet ends frame 1 (behind the Initial): a flipped tag byte fails
            # it alone (all the trial suites refuse it), the handshake goes on.
            f0 = early[0]["frame"]
            mut0 = os.path.join(tmp, "mut0_" + cap)
            flip_byte(path, mut0, f0)
            _, out0, _ = replay(mut0, opt, keys)
            failed0 = [(v["frame"], v["index"], v["status"]) for v in out0 if v["status"] != "ok"]
            if failed0 != [(f0, early[0]["index"], "auth_failed")]:
                fail("%s: a flipped 0-RTT tag byte gave failures %s" % (cap, failed0))
            else:
                print("%s: flipped 0-RTT tag byte -> that packet alone auth_failed" % cap)
        # One flipped byte in the last frame's tag: that packet, and only it, fails.
        last = max(v["frame"] for v in out)
        mutated = os.path.join(tmp, "mut_" + cap)
        # srtp_mki.pcap ends with an AEAD SRTCP packet: ... tag | E+index | MKI (RFC 7714
        # §17): its last byte is the MKI, so the tag byte is one further in.
        flip_byte(path, mutated, last, 2 if cap == "srtp_mki.pcap" else 1)
        rc2, out2, _ = replay(mutated, opt, keys)
        failed = [(v["frame"], v["index"]) for v in out2 if v["status"] != "ok"]
        last_idx = max(v["index"] for v in out if v["frame"] == last)
        if rc2 != 1 or failed != [(last, last_idx)]:
            fail("%s: a flipped tag byte in frame %d gave exit %d, failures %s" % (cap, last, rc2, failed))
        elif [v for v in out2 if v["frame"] == last and v["index"] == last_idx][0]["status"] != "auth_failed":
            fail("%s: flipped tag byte not reported as auth_failed" % cap)
        else:
            print("%s: flipped tag byte in frame %d -> auth_failed, exit 1" % (cap, last))
        if cap == "srtp_mki.pcap":  # an MKI that names no key: that packet alone, no key
            flip_byte(path, mutated, last, 1)
            rc3, out3, _ = replay(mutated, opt, keys)
            failed = [(v["frame"], v["index"], v["status"]) for v in out3 if v["status"] != "ok"]
            if rc3 != 1 or failed != [(last, last_idx, "unknown_epoch")]:
                fail("%s: a flipped MKI byte in frame %d gave exit %d, failures %s" % (cap, last, rc3, failed))
            else:
                print("%s: flipped MKI byte in frame %d -> unknown_epoch, exit 1" % (cap, last))

print("%d failure(s)" % len(failures))
sys.exit(1 if failures else 0)
