#!/bin/bash
# Independent ground truth for the AES-GCM ESP SAs without ESN of an ESP capture: tshark
# decrypts them with an esp_sa table (private WIRESHARK_CONFIG_DIR) built from the xfrm key
# file, and prints each "Decrypted Data" hex dump (-x). tshark 4.0 cannot decrypt ChaCha20
# or ESN SAs, so those are skipped here (make_esp.py's esp.plain.txt covers them). Prints
#   <frame> <payload length> <sha256 of the payload data>
# where the payload data is the decrypted data without padding, pad length and next header
# (RFC 4303 §2.4), i.e. the inner IP packet in tunnel mode.
# Usage: tshark_esp.sh CAPTURE XFRM
set -euo pipefail
CFG=$(mktemp -d)
trap 'rm -rf "$CFG"' EXIT
/usr/bin/python3 - "$2" >"$CFG/esp_sa" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
for block in re.split(r"(?m)^(?=src )", text):
    m = re.match(r"src (\S+) dst (\S+)", block)
    spi = re.search(r"spi (0x[0-9a-f]+)", block)
    aead = re.search(r"aead rfc4106\(gcm\(aes\)\) (0x[0-9a-f]+) (\d+)", block)
    if not (m and spi and aead) or re.search(r"flag[^\n]* esn", block):
        continue
    icv = int(aead.group(2)) // 8
    fam = "IPv6" if ":" in m.group(1) else "IPv4"
    print('"%s","%s","%s","%s","AES-GCM with %d octet ICV [RFC4106]","%s","NULL",""'
          % (fam, m.group(1), m.group(2), spi.group(1), icv, aead.group(1)))
PY
HERE=$(cd "$(dirname "$0")" && pwd)
WIRESHARK_CONFIG_DIR="$CFG" tshark -r "$1" -o esp.enable_encryption_decode:TRUE -x 2>/dev/null |
  "$HERE/tshark_x.py" "Decrypted Data" | /usr/bin/python3 -c '
import hashlib, sys
for line in sys.stdin:
    f, i, h = line.split()
    b = bytes.fromhex(h)
    body = b[:len(b) - 2 - b[-2]]
    print(f, len(body), hashlib.sha256(body).hexdigest())
'
