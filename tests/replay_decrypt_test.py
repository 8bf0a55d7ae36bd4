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


def pcap_parts(blob):
    """(global header, [(record header, data)]) of a classic pcap file."""
    le = blob[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1")
    order = "little" if le else "big"
    out, pos = [], 24
    while pos + 16 <= len(blob):
        caplen = int.from_bytes(blob[pos + 8:pos + 12], order)
        out.append((blob[pos:pos + 16], blob[pos + 16:pos + 16 + caplen]))
        pos += 16 + caplen
    return blob[:24], out, order


def replay_json(rl, keylog, cap, quiet=True):
    r = run([rl, "--json"] + (["--quiet"] if quiet else []) + ["--keylog", keylog, cap])
    return r, [json.loads(l) for l in r.stdout.splitlines() if l.strip()]


def ok_set(vs):
    """What each direction's application gets, whatever frame delivered it."""
    return sorted((v["dir"], v["epoch"], v["seq"], v["type"], v["sha256"]) for v in vs if v["status"] == "ok")


def tcp_payload_len(data, linktype_off=14):
    """TCP payload length of an Ethernet/IPv4 frame (0 if it is not one)."""
    if len(data) < linktype_off + 20 or data[linktype_off] >> 4 != 4 or data[linktype_off + 9] != 6:
        return 0
    ihl = (data[linktype_off] & 15) * 4
    tot = int.from_bytes(data[linktype_off + 2:linktype_off + 4], "big")
    doff = (data[linktype_off + ihl + 12] >> 4) * 4
    return tot - ihl - doff


def check_wire_disorder(rl, data, name):
    """What a real wire does to TCP: a segment retransmitted (an exact duplicate of a data
    frame, later), and two data segments of one direction delivered out of order. Every
    record still decrypts exactly once with the same plaintext (frame numbers move), none
    fails, exit status 0."""
    cap = os.path.join(data, name + ".pcap")
    keylog = os.path.join(data, name + ".keylog")
    _, base = replay_json(rl, keylog, cap)
    want = ok_set(base)
    blob = open(cap, "rb").read()
    ghdr, frames, _ = pcap_parts(blob)
    data_idx = [i for i, (_, d) in enumerate(frames) if tcp_payload_len(d) > 0]
    # Two consecutive data frames from the same sender (same source port), small enough
    # to be whole records or parts of one.
    sport = lambda d: d[14 + (d[14] & 15) * 4:14 + (d[14] & 15) * 4 + 2]
    pairs = [(a, b) for a, b in zip(data_idx, data_idx[1:]) if b == a + 1 and sport(frames[a][1]) == sport(frames[b][1])]
    if not pairs or len(data_idx) < 4:
        fail("%s: no data segments to disorder" % name)
        return
    with tempfile.TemporaryDirectory() as tmp:
        variants = {}
        dup = data_idx[len(data_idx) // 2]
        fr = list(frames)
        fr.insert(dup + 2, frames[dup])  # the same segment again, two frames later
        variants["a retransmitted segment (frame %d again)" % (dup + 1)] = fr
        a, b = pairs[len(pairs) // 2]
        fr = list(frames)
        fr[a], fr[b] = fr[b], fr[a]
        variants["two segments swapped (frames %d and %d)" % (a + 1, b + 1)] = fr
        a0, b0 = pairs[0]
        fr = list(frames)
        fr[a0], fr[b0] = fr[b0], fr[a0]
        fr.insert(b0 + 1, frames[a0])
        variants["out of order and retransmitted (frames %d, %d)" % (a0 + 1, b0 + 1)] = fr
        for label, fr in variants.items():
            path = os.path.join(tmp, "w.pcap")
            with open(path, "wb") as f:
                f.write(ghdr)
                for h, d in fr:
                    f.write(h + d)
            r, vs = replay_json(rl, keylog, path)
            bad = sorted({v["status"] for v in vs} - {"ok", "not_protected"})
            if r.returncode != 0 or bad or ok_set(vs) != want:
                fail("%s with %s: exit %d, statuses %s, %d of %d records as before; %s" % (
                    name, label, r.returncode, bad, len(set(ok_set(vs)) & set(want)), len(want), r.stderr[:300]))
            else:
                print("%s with %s: every record decrypts once, as before" % (name, label))


def check_snaplen(rl, data, name, snap):
    """A capture taken with a small snaplen (tcpdump -s): frames carry only their first
    `snap` bytes. rl-replay must say so clearly (the frame and the lengths), not decrypt
    or fail records whose bytes were never captured, not crash, and exit 2."""
    cap = os.path.join(data, name + ".pcap")
    keylog = os.path.join(data, name + ".keylog")
    ghdr, frames, order = pcap_parts(open(cap, "rb").read())
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "snap.pcap")
        with open(path, "wb") as f:
            f.write(ghdr[:16] + snap.to_bytes(4, order) + ghdr[20:])
            for h, d in frames:
                d = d[:snap]
                f.write(h[:8] + len(d).to_bytes(4, order) + h[12:] + d)
        r, vs = replay_json(rl, keylog, path, quiet=False)
    st = sorted({v["status"] for v in vs})
    if r.returncode < 0 or r.returncode not in (1, 2):
        fail("%s at snaplen %d: exit %d; %s" % (name, snap, r.returncode, r.stderr[:300]))
    elif "ok" in st or "auth_failed" in st:
        fail("%s at snaplen %d: statuses %s (nothing whole was captured)" % (name, snap, st))
    elif "snaplen" not in r.stderr:
        fail("%s at snaplen %d: no message about the snapshot length: %s" % (name, snap, r.stderr[:400]))
    else:
        print("%s at snaplen %d: exit %d, statuses %s, reported: %s" % (
            name, snap, r.returncode, st, [l for l in r.stderr.splitlines() if "snaplen" in l][0][:160]))


def check_mid_stream(rl, data, name):
    """A capture that starts in the middle of a TLS connection (no SYN, no hellos, the
    first segment begins inside a record): records are found again (resynchronised), each
    protected one is reported without keys, nothing fails or crashes."""
    cap = os.path.join(data, name + ".pcap")
    keylog = os.path.join(data, name + ".keylog")
    _, base = replay_json(rl, keylog, cap)
    ghdr, frames, _ = pcap_parts(open(cap, "rb").read())
    # Start with the second of a pair of data frames of one sender: the first one starts
    # a record that the second continues (the > 16 KiB message spans many segments).
    big = [v for v in base if v["status"] == "ok" and v["wire_len"] > 8000]
    if not big:
        fail("%s: no large record to cut into" % name)
        return
    first = big[0]["frame"] - 2  # 0-based index of a frame inside that record
    later = [v for v in base if v["frame"] > big[0]["frame"] + 1 and v["status"] == "ok"]
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "mid.pcap")
        with open(path, "wb") as f:
            f.write(ghdr)
            for h, d in frames[first:]:
                f.write(h + d)
        r, vs = replay_json(rl, keylog, path, quiet=False)
    st = sorted({v["status"] for v in vs})
    n_rec = len([v for v in vs if v["status"] == "no_key"])
    # The same records as in the whole capture, each from its own side (the side on the
    # lower port is the server when no SYN says), with the same lengths.
    got = [(v["dir"], v["wire_len"]) for v in vs if v["status"] == "no_key"][-len(later):]
    want = [(v["dir"], v["wire_len"]) for v in later]
    if got != want:
        fail("%s from frame %d: records found %s, in the whole capture %s" % (name, first + 1, got, want))
    if "middle of this TCP connection" not in r.stderr:
        fail("%s from frame %d: no message saying the capture starts mid-stream" % (name, first + 1))
    if r.returncode not in (0, 1) or set(st) - {"no_key", "not_protected"} or n_rec < len(later):
        fail("%s from frame %d: exit %d, statuses %s, %d records found again (%d after the cut); %s" % (
            name, first + 1, r.returncode, st, n_rec, len(later), r.stderr[:300]))
    else:
        print("%s from frame %d (mid-stream): exit %d, %d records found again and reported no_key" % (
            name, first + 1, r.returncode, n_rec))


def pcapng_merge(parts, out):
    """Writes one pcapng with one interface per (linktype, pcap path) in `parts`, the
    frames of all of them merged by timestamp (as dumpcap -i A -i B writes)."""
    def block(t, body):
        body += b"\0" * (-len(body) % 4)
        n = len(body) + 12
        return t.to_bytes(4, "little") + n.to_bytes(4, "little") + body + n.to_bytes(4, "little")
    pkts = []
    idbs = b""
    for iface, path in enumerate(parts):
        ghdr, frames, order = pcap_parts(open(path, "rb").read())
        link = int.from_bytes(ghdr[20:24], order)
        idbs += block(1, link.to_bytes(2, "little") + b"\0\0" + (262144).to_bytes(4, "little"))
        for h, d in frames:
            sec, usec = int.from_bytes(h[0:4], order), int.from_bytes(h[4:8], order)
            orig = int.from_bytes(h[12:16], order)
            pkts.append((sec * 1000000 + usec, iface, orig, d))
    pkts.sort(key=lambda p: (p[0], p[1]))
    with open(out, "wb") as f:
        f.write(block(0x0a0d0d0a, (0x1a2b3c4d).to_bytes(4, "little") + b"\1\0\0\0" + b"\xff" * 8))
        f.write(idbs)
        for ts, iface, orig, d in pkts:
            f.write(block(6, iface.to_bytes(4, "little") + (ts >> 32).to_bytes(4, "little") +
                          (ts & 0xffffffff).to_bytes(4, "little") + len(d).to_bytes(4, "little") +
                          orig.to_bytes(4, "little") + d))


def check_multi_interface(rl, data, names):
    """A pcapng with several interfaces of different link types (Ethernet lo, Linux
    cooked v2 "any", IPv6): every session decrypts exactly as in its own capture."""
    want = []
    keys = ""
    for n in names:
        _, vs = replay_json(rl, os.path.join(data, n + ".keylog"), os.path.join(data, n + ".pcap"))
        want += ok_set(vs)
        keys += open(os.path.join(data, n + ".keylog")).read()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "multi.pcapng")
        pcapng_merge([os.path.join(data, n + ".pcap") for n in names], path)
        kl = os.path.join(tmp, "all.keylog")
        open(kl, "w").write(keys)
        r, vs = replay_json(rl, kl, path)
    bad = sorted({v["status"] for v in vs} - {"ok", "not_protected"})
    if r.returncode != 0 or bad or ok_set(vs) != sorted(want):
        fail("pcapng with interfaces %s: exit %d, statuses %s, %d of %d records as in their own captures; %s" % (
            names, r.returncode, bad, len(set(ok_set(vs)) & set(want)), len(want), r.stderr[:300]))
    else:
        print("pcapng with %d interfaces (%s): all %d records as in their own captures" % (
            len(names), ", ".join(names), len(want)))


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
    for n in ("tls12_aes128gcm", "tls13_chacha20", "gnutls_tls12_chacha20"):
        check_wire_disorder(rl, data, n)
    check_snaplen(rl, data, "tls12_aes128gcm", 96)
    check_mid_stream(rl, data, "tls13_aes256gcm")
    check_mid_stream(rl, data, "gnutls_tls12_aes128gcm")
    check_multi_interface(rl, data, ["tls12_aes128gcm", "tls12_sll2", "tls13_ipv6", "dtls12_aes128gcm"])
    if failures:
        print("%d failure(s)" % len(failures))
        sys.exit(1)
    print("all %d captures match" % len(names))


if __name__ == "__main__":
    main()
