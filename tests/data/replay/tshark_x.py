#!/usr/bin/python3
# Reads `tshark -x` output on stdin: one block per frame (blank-line separated); a frame
# with more than one data source heads each hex dump with "<source> (<n> bytes):". Prints,
# for every data source whose name is argv[1] (e.g. "Decrypted QUIC"), one line:
#   <frame> <index among those sources in the frame> <hex of the bytes>
import re
import sys

name = sys.argv[1]
blocks = sys.stdin.read().split("\n\n")
frame = 0
for block in blocks:
    lines = [l for l in block.split("\n") if l.strip()]
    if not lines:
        continue
    frame += 1
    idx, cur, want = 0, None, 0

    def flush():
        global idx
        if cur is not None:
            if len(cur) != want:
                sys.exit("frame %d: %s dump has %d bytes, header says %d" % (frame, name, len(cur), want))
            print(frame, idx, bytes(cur).hex())
            idx += 1

    for line in lines:
        m = re.match(r"^(\S.*) \((\d+) bytes\):", line)
        if m:
            flush()
            cur, want = (bytearray(), int(m.group(2))) if m.group(1) == name else (None, 0)
            continue
        h = re.match(r"^[0-9a-f]{4,}  ((?:[0-9a-f]{2} ){1,16})", line)
        if h and cur is not None:
            cur += bytes.fromhex(h.group(1).replace(" ", ""))
    flush()
