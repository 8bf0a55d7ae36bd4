#!/bin/bash
# Independent ground truth for a QUIC capture: tshark decrypts it with the same NSS key log
# and prints each decrypted packet payload as a "Decrypted QUIC (N bytes)" hex dump (-x), in
# the order of the packets inside each datagram. Prints one line per decrypted packet:
#   <frame> <index in datagram> <payload length> <sha256 of the payload (all frames)>
# Usage: tshark_quic.sh CAPTURE KEYLOG
set -euo pipefail
tshark -r "$1" -o "tls.keylog_file:$2" -x 2>/dev/null | /usr/bin/python3 -c '
import hashlib, re, sys
frame, idx, cur, want = 0, 0, None, 0
def flush():
    global cur
    if cur is not None:
        if len(cur) != want:
            sys.exit("frame %d: dump has %d bytes, header said %d" % (frame, len(cur), want))
        print(frame, idx, len(cur), hashlib.sha256(bytes(cur)).hexdigest())
    cur = None
for line in sys.stdin:
    m = re.match(r"^Frame \((\d+) bytes\):", line)
    if m or re.match(r"^\S.*\(\d+ bytes\):", line):
        if cur is not None:
            flush(); idx += 1
        if m:
            frame += 1; idx = 0
        d = re.match(r"^Decrypted QUIC \((\d+) bytes\):", line)
        if d:
            cur, want = bytearray(), int(d.group(1))
        continue
    h = re.match(r"^[0-9a-f]{4}  ((?:[0-9a-f]{2} ){1,16})", line)
    if h and cur is not None:
        cur += bytes.fromhex(h.group(1).replace(" ", ""))
if cur is not None:
    flush()
'
