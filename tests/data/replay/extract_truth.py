#!/usr/bin/env python3
"""Independent ground truth for rl-replay's decryption tests, from tshark (Wireshark's
dissectors and its own TLS/DTLS decryption), not from rl-replay.

usage: extract_truth.py CAPTURE KEYLOG > CAPTURE.truth.txt

Two tshark passes with the same key log:
  1. -T fields: per frame, the content type of every TLS/DTLS record that completes in the
     frame (after decryption tshark gives the real type; for TLS 1.3 the inner type).
  2. -P -x: per frame, the "Decrypted TLS/DTLS (N bytes)" data sources, one per decrypted
     record in record order (TLS 1.3: without inner type and padding).
Within one frame the protected records follow the cleartext ones (one direction per frame,
and a side protects everything after its ChangeCipherSpec / ServerHello), so the k-th of
D decrypted blocks in a frame of R records is record R - D + k. DTLS 1.2 is matched by
length instead (each block goes to the next record whose length is the block's plus 16 or
24, the AEAD overhead): tshark does not follow a renegotiation's new epoch, so a frame can
hold a record it decrypted (the encrypted ChangeCipherSpec) before one it did not.

Output lines:
  frame N records R types T1,T2,...        every frame with a record (count + types)
  rec N INDEX TYPE LEN SHA256              every record tshark decrypted
"""
import hashlib
import re
import subprocess
import sys


def tshark(args):
    r = subprocess.run(["tshark"] + args, capture_output=True, text=True, check=True)
    return r.stdout


def main():
    cap, keylog = sys.argv[1], sys.argv[2]
    common = ["-r", cap, "-o", "tls.keylog_file:" + keylog]
    types, dtls_lens = {}, {}
    for line in tshark(common + ["-T", "fields", "-e", "frame.number", "-e", "tls.record.content_type",
                                 "-e", "dtls.record.content_type", "-e", "dtls.record.length"]).splitlines():
        parts = line.split("\t") + ["", "", ""]
        t = ",".join(p for p in parts[1:3] if p)
        if t:
            types[int(parts[0])] = [int(x) for x in t.split(",")]
        if parts[3]:
            dtls_lens[int(parts[0])] = [int(x) for x in parts[3].split(",")]

    decrypted = {}  # frame -> [bytes]
    frame = None
    block = None  # [expected_len, bytearray]
    summary = re.compile(r"^\s*(\d+)\s+\d+\.\d+\s")
    label = re.compile(r"^(Decrypted (?:D?TLS)) \((\d+) bytes?\):$")
    hexline = re.compile(r"^[0-9a-f]{4}  ")
    for line in tshark(common + ["-P", "-x"]).splitlines():
        m = summary.match(line)
        if m and not hexline.match(line):
            frame = int(m.group(1))
            block = None
            continue
        m = label.match(line)
        if m:
            block = [int(m.group(2)), bytearray()]
            decrypted.setdefault(frame, []).append(block)
            continue
        if hexline.match(line):
            if block is not None and len(block[1]) < block[0]:
                cols = line[6:6 + 16 * 3].split()
                need = block[0] - len(block[1])
                block[1].extend(bytes.fromhex("".join(cols[:need])))
            continue
        if line.strip():
            block = None  # another data source (Frame, Reassembled TCP...)

    print("# ground truth for %s from tshark (extract_truth.py)" % cap.split("/")[-1])
    for n in sorted(set(types) | set(decrypted)):
        t = types.get(n, [])
        d = decrypted.get(n, [])
        print("frame %d records %d types %s" % (n, len(t), ",".join(map(str, t)) or "-"))
        if len(d) > len(t):
            sys.exit("frame %d: %d decrypted blocks but %d records" % (n, len(d), len(t)))
        idxs = [len(t) - len(d) + k for k in range(len(d))]
        lens = dtls_lens.get(n)
        if lens and len(lens) == len(t):
            at, by_len = 0, []
            for ln, _ in d:
                while at < len(lens) and lens[at] - ln not in (16, 24):
                    at += 1
                by_len.append(at)
                at += 1
            if at <= len(lens):
                idxs = by_len
        for k, (ln, data) in enumerate(d):
            if len(data) != ln:
                sys.exit("frame %d: decrypted block %d has %d of %d bytes" % (n, k, len(data), ln))
            idx = idxs[k]
            print("rec %d %d %d %d %s" % (n, idx, t[idx], ln, hashlib.sha256(data).hexdigest()))


if __name__ == "__main__":
    main()
