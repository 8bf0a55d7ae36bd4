#!/bin/bash
# Regenerates quic_<name>.pcap + quic_<name>.keylog + quic_<name>.tshark.txt: QUIC sessions
# between Debian's ngtcp2 examples (gtlsserver / gtlsclient, ngtcp2 over GnuTLS, HTTP/3) on
# loopback inside a private network namespace with offloads off. The client fetches a
# 6000-byte file with --key-update (10 ms after the handshake;
# the request waits 100 ms) so that a 1-RTT key phase flip is in the capture. (Debian's
# ngtcp2 speaks QUIC v1 and the v2 *draft* only, so v2 is covered by the unit tests.)
#   quic_aes128   QUIC v1, TLS_AES_128_GCM_SHA256
#   quic_chacha   QUIC v1, TLS_CHACHA20_POLY1305_SHA256
#   quic_aes256   QUIC v1, TLS_AES_256_GCM_SHA384 (SHA-384 key schedule, AES-256 header
#                 protection), the file fetched on 3 concurrent streams (-n 3), key update
#   quic_0rtt     QUIC v1 0-RTT, TLS_AES_128_GCM_SHA256: a first connection (not captured)
#                 saves the session and transport parameters (--session-file, --tp-file),
#                 the captured second one to the same server resumes and sends its request
#                 in 0-RTT packets (CLIENT_EARLY_TRAFFIC_SECRET)
#   quic_migrate  QUIC v1 AES-128-GCM, the client migrates to a new local port
#                 (--change-local-addr) with NAT rebinding: the connection on two UDP flows
# Variants that rl-replay decrypted exactly like tshark and that are not committed (run them
# by name with OUT=DIR to check a change): gso, gso256, gsochacha (server GSO on: packet
# trains sent with UDP_SEGMENT, a 60000-byte file on 2-4 streams, key update), lossy (-t/-r
# 10% loss: packet-number gaps, retransmissions), shortcid (10-byte DCID, 2-byte SCID),
# sll2 (captured with `tcpdump -i any`: Linux cooked v2 link layer, ChaCha20).
# Ground truth: tshark_quic.sh (tshark's own QUIC decryption with the same key log).
# Run as root: ./make_quic.sh [aes128|chacha|aes256|0rtt...]   (default: all, into this folder)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-$HERE}
NS=rlquic$$
TMP=$(mktemp -d)
chmod 755 "$TMP"  # tcpdump drops to its own user to write the capture
cleanup() {
  [[ -n "${SRV:-}" ]] && kill "$SRV" 2>/dev/null || true
  [[ -n "${CAP:-}" ]] && kill -INT "$CAP" 2>/dev/null || true
  sleep 1
  ip netns del "$NS" 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
  -subj /CN=rl-replay-test -keyout "$TMP/key.pem" -out "$TMP/cert.pem" 2>/dev/null
mkdir -p "$TMP/www"
head -c 6000 /dev/zero | tr '\0' 'Q' >"$TMP/www/file"
head -c 60000 /dev/zero | tr '\0' 'G' >"$TMP/www/big"

ip netns add "$NS"
ip netns exec "$NS" ip link set lo up
ip netns exec "$NS" ip link set lo mtu 1500
ip netns exec "$NS" ethtool -K lo tso off gso off gro off tx-udp-segmentation off >/dev/null 2>&1 || true

run() {  # name port ciphers [client options...]   ($SRV_GSO: server GSO option, $FILE: path)
  local name=$1 port=$2 ciphers=$3 gso=${SRV_GSO---max-gso-dgrams=1} file=${FILE:-file}
  shift 3
  rm -f "$TMP/keys.log" "$TMP/cap.pcap"; touch "$TMP/cap.pcap"; chmod 666 "$TMP/cap.pcap"
  ip netns exec "$NS" tcpdump ${CAPIF:--i lo} -s 0 -U --immediate-mode -w "$TMP/cap.pcap" "udp port $port" 2>"$TMP/tcpdump.err" &
  CAP=$!
  sleep 1
  SSLKEYLOGFILE="$TMP/srv.log" ip netns exec "$NS" gtlsserver --quiet $gso \
    --ciphers="$ciphers" -d "$TMP/www" 127.0.0.1 "$port" "$TMP/key.pem" "$TMP/cert.pem" \
    >/dev/null 2>&1 &
  SRV=$!
  sleep 0.5
  SSLKEYLOGFILE="$TMP/keys.log" timeout 10 ip netns exec "$NS" gtlsclient --quiet \
    --ciphers="$ciphers" --key-update=10ms --delay-stream=100ms --exit-on-all-streams-close "$@" \
    127.0.0.1 "$port" "https://127.0.0.1:$port/$file" >/dev/null 2>&1 || true
  sleep 1
  kill "$SRV" 2>/dev/null || true; wait "$SRV" 2>/dev/null || true; SRV=
  kill -INT "$CAP"; wait "$CAP" 2>/dev/null || true; CAP=
  cat "$TMP/tcpdump.err" >&2
  cp "$TMP/cap.pcap" "$OUT/quic_$name.pcap"
  cp "$TMP/keys.log" "$OUT/quic_$name.keylog"
  "$HERE/tshark_quic.sh" "$OUT/quic_$name.pcap" "$OUT/quic_$name.keylog" >"$OUT/quic_$name.tshark.txt"
  echo "quic_$name: $(wc -l <"$OUT/quic_$name.tshark.txt") packets decrypted by tshark"
}

run_0rtt() {  # name port ciphers
  local name=$1 port=$2 ciphers=$3
  rm -f "$TMP/keys.log" "$TMP/cap.pcap" "$TMP/sess" "$TMP/tp"
  SSLKEYLOGFILE="$TMP/srv.log" ip netns exec "$NS" gtlsserver --quiet --max-gso-dgrams=1 \
    --ciphers="$ciphers" -d "$TMP/www" 127.0.0.1 "$port" "$TMP/key.pem" "$TMP/cert.pem" \
    >/dev/null 2>&1 &
  SRV=$!
  sleep 0.5
  timeout 10 ip netns exec "$NS" gtlsclient --quiet --ciphers="$ciphers" \
    --session-file="$TMP/sess" --tp-file="$TMP/tp" --exit-on-all-streams-close \
    127.0.0.1 "$port" "https://127.0.0.1:$port/small" >/dev/null 2>&1 || true
  [[ -s "$TMP/sess" && -s "$TMP/tp" ]] || { echo "no session/transport parameters saved" >&2; exit 1; }
  touch "$TMP/cap.pcap"; chmod 666 "$TMP/cap.pcap"
  ip netns exec "$NS" tcpdump -i lo -s 0 -U --immediate-mode -w "$TMP/cap.pcap" "udp port $port" 2>"$TMP/tcpdump.err" &
  CAP=$!
  sleep 1
  SSLKEYLOGFILE="$TMP/keys.log" timeout 10 ip netns exec "$NS" gtlsclient --quiet \
    --ciphers="$ciphers" --session-file="$TMP/sess" --tp-file="$TMP/tp" \
    --exit-on-all-streams-close 127.0.0.1 "$port" "https://127.0.0.1:$port/small" \
    >"$TMP/client0.out" 2>&1 || true
  sleep 1
  kill "$SRV" 2>/dev/null || true; wait "$SRV" 2>/dev/null || true; SRV=
  kill -INT "$CAP"; wait "$CAP" 2>/dev/null || true; CAP=
  grep -q CLIENT_EARLY_TRAFFIC_SECRET "$TMP/keys.log" || { echo "no 0-RTT in the second connection" >&2; exit 1; }
  cp "$TMP/cap.pcap" "$OUT/quic_$name.pcap"
  cp "$TMP/keys.log" "$OUT/quic_$name.keylog"
  "$HERE/tshark_quic.sh" "$OUT/quic_$name.pcap" "$OUT/quic_$name.keylog" >"$OUT/quic_$name.tshark.txt"
  echo "quic_$name: $(wc -l <"$OUT/quic_$name.tshark.txt") packets decrypted by tshark"
}

V13='NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL'
head -c 300 /dev/zero | tr '\0' 'z' >"$TMP/www/small"
for which in ${@:-aes128 chacha aes256 0rtt migrate}; do
  case $which in
    aes128) run aes128 4433 "$V13:+AES-128-GCM" ;;
    chacha) run chacha 4434 "$V13:+CHACHA20-POLY1305" ;;
    aes256) run aes256 4436 "$V13:+AES-256-GCM" -n 3 ;;
    0rtt) run_0rtt 0rtt 4435 "$V13:+AES-128-GCM" ;;
    gso) SRV_GSO= FILE=big run gso 4437 "$V13:+AES-128-GCM" -n 4 ;;
    gso256) SRV_GSO= FILE=big run gso256 4438 "$V13:+AES-256-GCM" -n 2 ;;
    migrate) SRV_GSO= run migrate 4440 "$V13:+AES-128-GCM" --change-local-addr=50ms --nat-rebinding ;;
    lossy) SRV_GSO= FILE=big run lossy 4441 "$V13:+AES-128-GCM" -t 0.1 -r 0.1 ;;
    sll2) CAPIF="-i any -y LINUX_SLL2" run sll2 4443 "$V13:+CHACHA20-POLY1305" ;;
    shortcid) run shortcid 4442 "$V13:+AES-256-GCM" --dcid=0102030405060708090a --scid=a1a2 ;;
    gsochacha) SRV_GSO= FILE=big run gsochacha 4439 "$V13:+CHACHA20-POLY1305" -n 3 ;;
    *) echo "unknown capture $which (aes128 chacha aes256 0rtt migrate gso gso256 gsochacha lossy shortcid sll2)" >&2; exit 2 ;;
  esac
done
