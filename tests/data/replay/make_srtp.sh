#!/bin/bash
# Regenerates srtp{,_mki}.pcap + .keys + .plain.txt: compiles make_srtp.c against libsrtp2
# and libpcap (pkg-config), runs it, and turns its plaintext dump into the ground truth
#   <frame> <srtp|srtcp> <0xssrc> <len> <sha256 of the unprotected packet>
# (tshark 4.0 cannot decrypt SRTP: the truth is what was handed to libsrtp).
# Usage: ./make_srtp.sh [OUTDIR]   (default: this script's folder)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=$(cd "${1:-$HERE}" && pwd)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
cc -O1 -Wall -o "$TMP/make_srtp" "$HERE/make_srtp.c" $(pkg-config --cflags --libs libsrtp2 libpcap)
for name in srtp srtp_mki; do  # srtp_mki: MKIs, two master keys, RTP header extensions
  variant=; [[ $name == srtp_mki ]] && variant=mki
  "$TMP/make_srtp" "$OUT/$name.pcap" "$OUT/$name.keys" "$TMP/plain.txt" $variant
  /usr/bin/python3 - "$TMP/plain.txt" >"$OUT/$name.plain.txt" <<'PY'
import hashlib, sys
for line in open(sys.argv[1]):
    f, kind, ssrc, h = line.split()
    b = bytes.fromhex(h)
    print(f, "srtp" if kind == "rtp" else "srtcp", ssrc, len(b), hashlib.sha256(b).hexdigest())
PY
  echo "$name.pcap: $(wc -l <"$OUT/$name.plain.txt") packets"
done
