#!/bin/bash
# Regenerates tls13.pcap + tls13.keylog (+ tls13.tshark.txt, the independent framing
# ground truth): an OpenSSL 3 TLS 1.3 session (TLS_AES_128_GCM_SHA256) on loopback inside a
# private network namespace with segmentation offloads off, so records span TCP segments and
# several records share one segment. The client sends a 20000-byte message (> 16 KiB: more
# than one record), a few short lines and a KeyUpdate ('k'); the server answers with a line.
# Run as root from anywhere: ./make_tls13.sh [OUTDIR]   (default: this script's folder)
set -euo pipefail
OUT=$(cd "${1:-$(dirname "$0")}" && pwd)
PORT=4433
NS=rlreplay$$
TMP=$(mktemp -d)
cleanup() {
  [[ -n "${SRV:-}" ]] && kill "$SRV" 2>/dev/null || true
  [[ -n "${CAP:-}" ]] && kill -INT "$CAP" 2>/dev/null || true
  sleep 0.3
  ip netns del "$NS" 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
  -subj /CN=rl-replay-test -keyout "$TMP/key.pem" -out "$TMP/cert.pem" 2>/dev/null

ip netns add "$NS"
ip netns exec "$NS" ip link set lo up
ip netns exec "$NS" ip link set lo mtu 1500
ip netns exec "$NS" ethtool -K lo tso off gso off gro off tx-udp-segmentation off >/dev/null 2>&1 || true

ip netns exec "$NS" tcpdump -i lo -s 0 -U -w "$TMP/cap.pcap" "tcp port $PORT" 2>/dev/null &
CAP=$!
sleep 1

mkfifo "$TMP/srv_in"
ip netns exec "$NS" openssl s_server -accept 127.0.0.1:$PORT -naccept 1 -tls1_3 \
  -ciphersuites TLS_AES_128_GCM_SHA256 -cert "$TMP/cert.pem" -key "$TMP/key.pem" \
  -keylogfile "$TMP/server.keylog" <"$TMP/srv_in" >"$TMP/server.out" 2>&1 &
SRV=$!
exec 3>"$TMP/srv_in"
sleep 0.5

{
  sleep 0.5
  head -c 20000 /dev/zero | tr '\0' 'A'; echo
  sleep 0.2
  echo "short line one"
  sleep 0.2
  echo k
  sleep 0.2
  echo "after key update"
  sleep 0.3
  printf 'server says hello\n' >&3
  sleep 0.5
} | ip netns exec "$NS" openssl s_client -connect 127.0.0.1:$PORT -tls1_3 -no_ign_eof \
      -keylogfile "$TMP/client.keylog" >"$TMP/client.out" 2>&1 || true
exec 3>&-
sleep 0.5
kill "$SRV" 2>/dev/null || true; wait "$SRV" 2>/dev/null || true; SRV=
kill -INT "$CAP"; wait "$CAP" 2>/dev/null || true; CAP=

cp "$TMP/cap.pcap" "$OUT/tls13.pcap"
cp "$TMP/client.keylog" "$OUT/tls13.keylog"
# Ground truth for framing, independent of rl-replay: frame number and record length of
# every TLS record, as Wireshark dissects them (one line per frame, lengths comma-separated).
tshark -r "$OUT/tls13.pcap" -Y tls -T fields -e frame.number -e tls.record.length \
  >"$OUT/tls13.tshark.txt" 2>/dev/null
echo "wrote $OUT/tls13.pcap ($(stat -c %s "$OUT/tls13.pcap") bytes), tls13.keylog, tls13.tshark.txt"
