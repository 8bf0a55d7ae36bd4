#!/bin/bash
# Independent ground truth for a QUIC capture: tshark decrypts it with the same NSS key log
# and prints each decrypted packet payload as a "Decrypted QUIC (N bytes)" hex dump (-x), in
# the order of the packets inside each datagram. Prints one line per decrypted packet:
#   <frame> <index in datagram> <payload length> <sha256 of the payload (all frames)>
# Usage: tshark_quic.sh CAPTURE KEYLOG
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
tshark -r "$1" -o "tls.keylog_file:$2" -x 2>/dev/null | "$HERE/tshark_x.py" "Decrypted QUIC" |
  /usr/bin/python3 -c '
import hashlib, sys
for line in sys.stdin:
    f, i, h = line.split()
    b = bytes.fromhex(h)
    print(f, i, len(b), hashlib.sha256(b).hexdigest())
'
