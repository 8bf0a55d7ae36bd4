#!/usr/bin/env python3
"""rl-replay decryption against independent ground truth (tests/replay_decrypt.cmake).

usage: replay_decrypt_test.py RL_REPLAY DATA_DIR

For every capture NAME.pcap in DATA_DIR that has NAME.keylog and NAME.truth.txt (made by
extract_truth.py from tshark's own decryption; for dtls13_synthetic by its generator, an
RFC 9147 implementation over python3-cryptography), runs `rl-replay --json --keylog NAME.keylog
NAME.pcap` and checks, frame by frame:
  - the records completing in each frame: same count and same content types, in order;
  - every record tshark decrypted: our verdict at (frame, index) is ok with the same type,
    length and SHA-256 of the plaintext;
  - every protected record of ours decrypted ok (none failed, none without a key), and
    each one is in the ground truth unless the capture has NAME.sent.txt;
  - NAME.sent.txt (captures tshark 4.0 cannot decrypt, DTLS ChaCha20): the application
    records of each direction, in order, are exactly what that side handed its TLS library.
Each capture is also mutated (one tag byte of one application record flipped): exactly that
record fails, every other verdict is unchanged.
Then the bad-input cases: an unrelated key log, a key log line that does not parse, a
truncated capture, an unsupported cipher suite, a wrong master secret: clear messages,
exit status 1/2 as documented, no crash.
Any difference fails the test (exit 1).
"""
import json
import os
import subprocess
import sys
import tempfile

failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL: " + msg)


def run(cmd):
    return subprocess.run(cmd, capture_output=True, text=True)


def load_truth(path):
    frames, recs = {}, {}
    for line in open(path):
        p = line.split()
        if not p or p[0].startswith("#"):
            continue
        if p[0] == "frame":
            frames[int(p[1])] = [] if p[5] == "-" else [int(x) for x in p[5].split(",")]
        elif p[0] == "rec":
            recs[(int(p[1]), int(p[2]))] = (int(p[3]), int(p[4]), p[5])
    return frames, recs


def check_capture(rl, data, name):
    cap = os.path.join(data, name + ".pcap")
    keylog = os.path.join(data, name + ".keylog")
    frames, recs = load_truth(os.path.join(data, name + ".truth.txt"))
    sent_path = os.path.join(data, name + ".sent.txt")
    sent = None
    if os.path.exists(sent_path):
        sent = {"client": [], "server": []}
        for line in open(sent_path):
            p = line.split()
            if p and p[0] == "sent":
                sent[p[1]].append((int(p[2]), int(p[3]), p[4]))
    r = run([rl, "--json", "--quiet", "--keylog", keylog, cap])
    if r.returncode != 0:
        fail("%s: rl-replay exit %d: %s" % (name, r.returncode, r.stderr.strip()[:500]))
    verdicts = [json.loads(l) for l in r.stdout.splitlines() if l.strip()]
    by_frame = {}
    for v in verdicts:
        by_frame.setdefault(v["frame"], []).append(v)
    # Record counts and types per frame (TLS/DTLS only: every verdict here is one).
    for fr in sorted(set(frames) | set(by_frame)):
        ours = sorted(by_frame.get(fr, []), key=lambda v: v["index"])
        if [v["index"] for v in ours] != list(range(len(ours))):
            fail("%s frame %d: indexes %s" % (name, fr, [v["index"] for v in ours]))
        want = frames.get(fr, [])
        got = [v["type"] for v in ours]
        if got != want:
            fail("%s frame %d: record types %s, tshark %s" % (name, fr, got, want))
    n_ok = 0
    app = {"client": [], "server": []}
    for v in verdicts:
        key = (v["frame"], v["index"])
        if v["status"] == "not_protected":
            if key in recs:
                fail("%s frame %d index %d: tshark decrypted it, we call it not protected" % (name, *key))
            continue
        if v["status"] != "ok":
            fail("%s frame %d index %d: %s record status %s" % (name, *key, v["dir"], v["status"]))
            continue
        n_ok += 1
        if v["type"] == 23:
            app[v["dir"]].append((v["type"], v["len"], v["sha256"]))
        if key in recs:
            want = recs[key]
            got = (v["type"], v["len"], v["sha256"])
            if got != want:
                fail("%s frame %d index %d: got type/len/sha256 %s, tshark %s" % (name, *key, got, want))
        elif sent is None:
            fail("%s frame %d index %d: decrypted by us, not by tshark" % (name, *key))
    for key in recs:
        if not any((v["frame"], v["index"]) == key and v["status"] == "ok" for v in verdicts):
            fail("%s frame %d index %d: tshark decrypted it, we did not" % (name, *key))
    if sent is not None:
        for d in ("client", "server"):
            if app[d] != sent[d]:
                fail("%s %s application records %s, sent %s" % (name, d, app[d], sent[d]))
    if n_ok == 0:
        fail("%s: nothing decrypted" % name)
    print("%s: %d records, %d decrypted ok, %d checked against the ground truth%s" % (
        name, len(verdicts), n_ok, len(recs), ", application data against what was sent" if sent else ""))


def check_gap(rl, data, name):
    """Drops the frame of one small application record (a TCP segment never captured):
    the input layer reports the gap, and every later record of that direction still
    decrypts, at a sequence number one further on."""
    cap = os.path.join(data, name + ".pcap")
    keylog = os.path.join(data, name + ".keylog")
    base = run([rl, "--json", "--quiet", "--keylog", keylog, cap])
    vs = [json.loads(l) for l in base.stdout.splitlines() if l.strip()]
    per_frame = {}
    for v in vs:
        per_frame.setdefault(v["frame"], []).append(v)
    cands = [v for v in vs if v["status"] == "ok" and v["type"] == 23 and len(per_frame[v["frame"]]) == 1
             and v["wire_len"] < 200
             and any(w["dir"] == v["dir"] and w["frame"] > v["frame"] and w["status"] == "ok" for w in vs)]
    if not cands:
        fail("%s: no record to drop" % name)
        return
    lost = cands[0]
    blob = open(cap, "rb").read()
    fr = pcap_frames(blob)
    off, caplen = fr[lost["frame"] - 1]
    with tempfile.TemporaryDirectory() as tmp:
        gcap = os.path.join(tmp, "gap.pcap")
        open(gcap, "wb").write(blob[:off - 16] + blob[off + caplen:])
        r = run([rl, "--json", "--keylog", keylog, gcap])
    gs = [json.loads(l) for l in r.stdout.splitlines() if l.strip()]
    # Per direction, in order (the reassembler declares the hole only when it gives up
    # waiting for the missing segment, so the two directions may interleave differently).
    key = lambda w: (w["dir"], w["epoch"], w["seq"], w["sha256"])
    want = sorted((key(w) for w in vs if w["status"] == "ok"
                   and (w["frame"], w["index"]) != (lost["frame"], lost["index"])), key=lambda t: t[0])
    got = sorted((key(w) for w in gs if w["status"] == "ok"), key=lambda t: t[0])
    bad = [w["status"] for w in gs if w["status"] not in ("ok", "not_protected")]
    if got != want or bad or r.returncode != 0 or "never captured" not in r.stderr or "resume" not in r.stderr:
        fail("%s without frame %d: exit %d, other statuses %s, %d of %d records as before; %s" % (
            name, lost["frame"], r.returncode, bad, sum(a == b for a, b in zip(got, want)), len(want), r.stderr[:300]))
    else:
        print("%s: frame %d dropped: the gap is reported, later records resume at the next sequence number" % (name, lost["frame"]))


def check_bad_input(rl, data):
    cap = os.path.join(data, "tls12_aes128gcm.pcap")
    with tempfile.TemporaryDirectory() as tmp:
        # A key for a session that never appears: the records get no_key, a warning names it.
        other = os.path.join(tmp, "other.keylog")
        with open(other, "w") as f:
            f.write("CLIENT_RANDOM " + "11" * 32 + " " + "22" * 48 + "\n")
        r = run([rl, "--json", "--keylog", other, cap])
        st = [json.loads(l)["status"] for l in r.stdout.splitlines() if l.strip()]
        if r.returncode not in (0, 1) or "no_key" not in st or "ok" in st:
            fail("unrelated key: exit %d statuses %s" % (r.returncode, sorted(set(st))))
        if "matches no TLS/DTLS ClientHello" not in r.stderr or "other.keylog:1" not in r.stderr:
            fail("unrelated key: no message naming the file and line: " + r.stderr[:300])
        # A key log line that does not parse: named (file:line), exit 2, the rest still used.
        bad = os.path.join(tmp, "bad.keylog")
        with open(bad, "w") as f:
            f.write("CLIENT_RANDOM zz not-hex\n")
            f.write(open(os.path.join(data, "tls12_aes128gcm.keylog")).read())
        r = run([rl, "--json", "--keylog", bad, cap])
        st = [json.loads(l)["status"] for l in r.stdout.splitlines() if l.strip()]
        if r.returncode != 2 or "bad.keylog:1" not in r.stderr or "ok" not in st:
            fail("bad key line: exit %d, statuses %s, stderr %s" % (r.returncode, sorted(set(st)), r.stderr[:300]))
        # A truncated capture: a clear message, exit 2, the records before the cut decrypt.
        cut = os.path.join(tmp, "cut.pcap")
        blob = open(cap, "rb").read()
        with open(cut, "wb") as f:
            f.write(blob[:len(blob) * 2 // 3])
        r = run([rl, "--json", "--keylog", os.path.join(data, "tls12_aes128gcm.keylog"), cut])
        st = [json.loads(l)["status"] for l in r.stdout.splitlines() if l.strip()]
        if r.returncode != 2 or "ok" not in st or "cut short" not in r.stderr:
            fail("truncated capture: exit %d, statuses %s, stderr %s" % (r.returncode, sorted(set(st)), r.stderr[:300]))
        # The record the cut went through is reported malformed by the input layer.
        if any(s not in ("ok", "not_protected", "malformed") for s in st):
            fail("truncated capture: unexpected statuses %s" % sorted(set(st)))
        # A cipher suite the engine does not support (TLS 1.2 AES-CBC): every protected
        # record says unsupported, one message names the suite, exit 1, nothing else.
        cbc = os.path.join(data, "tls12_aes128cbc")
        r = run([rl, "--json", "--keylog", cbc + ".keylog", cbc + ".pcap"])
        st = [json.loads(l)["status"] for l in r.stdout.splitlines() if l.strip()]
        if (r.returncode != 1 or set(st) != {"not_protected", "unsupported"}
                or "cipher suite 0xc009 is not supported" not in r.stderr):
            fail("unsupported suite: exit %d, statuses %s, stderr %s" % (r.returncode, sorted(set(st)), r.stderr[:300]))
        # A wrong master secret for the right session: every protected record auth_failed, exit 1.
        wrong = os.path.join(tmp, "wrong.keylog")
        lines = open(os.path.join(data, "tls12_aes128gcm.keylog")).read().split("\n")
        with open(wrong, "w") as f:
            for l in lines:
                p = l.split()
                if len(p) == 3 and p[0] == "CLIENT_RANDOM":
                    l = "%s %s %s" % (p[0], p[1], ("%02x" % (int(p[2][:2], 16) ^ 1)) + p[2][2:])
                f.write(l + "\n")
        r = run([rl, "--json", "--keylog", wrong, cap])
        st = [json.loads(l)["status"] for l in r.stdout.splitlines() if l.strip()]
        if r.returncode != 1 or "ok" in st or "auth_failed" not in st:
            fail("wrong master secret: exit %d statuses %s" % (r.returncode, sorted(set(st))))


def pcap_frames(blob):
    """(offset, caplen) of each frame's data in a classic pcap file."""
    le = blob[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1")
    order = "little" if le else "big"
    out, pos = [], 24
    while pos + 16 <= len(blob):
        caplen = int.from_bytes(blob[pos + 8:pos + 12], order)
        out.append((pos + 16, caplen))
        pos += 16 + caplen
    return out


def check_mutation(rl, data, name):
    """Flips the last byte (the tag's last byte) of one application record that sits alone
    in its frame: exactly that record must fail authentication, every other verdict must be
    unchanged (one bad record does not hide the rest), and the exit status must be 1."""
    cap = os.path.join(data, name + ".pcap")
    keylog = os.path.join(data, name + ".keylog")
    base = run([rl, "--json", "--quiet", "--keylog", keylog, cap])
    vs = [json.loads(l) for l in base.stdout.splitlines() if l.strip()]
    per_frame = {}
    for v in vs:
        per_frame.setdefault(v["frame"], []).append(v)
    cands = [v for v in vs if v["status"] == "ok" and v["type"] == 23
             and len(per_frame[v["frame"]]) == 1 and v["wire_len"] < 200]
    # Small records, wholly inside the frame they end: the first and the last of them.
    if not cands:
        fail("%s: no application record to mutate" % name)
        return
    for target in {id(cands[0]): cands[0], id(cands[-1]): cands[-1]}.values():
        mutate_one(rl, cap, keylog, name, vs, target)


def mutate_one(rl, cap, keylog, name, vs, target):
    blob = bytearray(open(cap, "rb").read())
    off, caplen = pcap_frames(bytes(blob))[target["frame"] - 1]
    blob[off + caplen - 1] ^= 0x01
    with tempfile.TemporaryDirectory() as tmp:
        mcap = os.path.join(tmp, "m.pcap")
        open(mcap, "wb").write(blob)
        r = run([rl, "--json", "--quiet", "--keylog", keylog, mcap])
    ms = [json.loads(l) for l in r.stdout.splitlines() if l.strip()]
    if r.returncode != 1 or len(ms) != len(vs):
        fail("%s mutated: exit %d, %d verdicts (before %d)" % (name, r.returncode, len(ms), len(vs)))
        return
    for a, b in zip(vs, ms):
        if (a["frame"], a["index"]) == (target["frame"], target["index"]):
            if b["status"] != "auth_failed" or b["sha256"] is not None:
                fail("%s mutated frame %d: status %s" % (name, a["frame"], b["status"]))
        elif a != b:
            fail("%s mutated frame %d: frame %d index %d changed: %s -> %s" % (
                name, target["frame"], a["frame"], a["index"], a["status"], b["status"]))
    print("%s: flipping the tag's last byte in frame %d fails that record alone" % (name, target["frame"]))


def main():
    rl, data = sys.argv[1], sys.argv[2]
    names = sorted(f[:-len(".truth.txt")] for f in os.listdir(data) if f.endswith(".truth.txt"))
    names = [n for n in names if os.path.exists(os.path.join(data, n + ".pcap"))
             and os.path.exists(os.path.join(data, n + ".keylog"))]
    if not names:
        fail("no captures with ground truth in " + data)
    for n in names:
        check_capture(rl, data, n)
    for n in names:
        check_mutation(rl, data, n)
    for n in ("tls12_aes128gcm", "tls13_chacha20", "gnutls_tls13"):
        check_gap(rl, data, n)
    check_bad_input(rl, data)
    if failures:
        print("%d failure(s)" % len(failures))
        sys.exit(1)
    print("all %d captures match" % len(names))


if __name__ == "__main__":
    main()
