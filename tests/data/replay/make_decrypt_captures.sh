#!/bin/bash
# Regenerates the decryption test captures of rl-replay (tests/replay_decrypt.cmake), each
# with its key log and its independent ground truth (extract_truth.py over tshark, or for
# DTLS ChaCha20, which tshark 4.0 cannot decrypt, the application data handed to the peer):
#
#   tls12_aes128gcm   OpenSSL TLS 1.2 ECDHE-ECDSA-AES128-GCM-SHA256 (0xc02b)
#   tls12_aes256gcm   OpenSSL TLS 1.2 ECDHE-ECDSA-AES256-GCM-SHA384 (0xc02c, SHA-384 PRF)
#   tls12_chacha20    OpenSSL TLS 1.2 ECDHE-ECDSA-CHACHA20-POLY1305 (0xcca9)
#   tls13_aes256gcm   OpenSSL TLS 1.3 TLS_AES_256_GCM_SHA384, KeyUpdate, > 16 KiB message
#   tls13_chacha20    OpenSSL TLS 1.3 TLS_CHACHA20_POLY1305_SHA256, KeyUpdates both ways
#                     (one with update_requested), record padding, > 16 KiB message
#   gnutls_tls13      GnuTLS gnutls-cli <-> gnutls-serv --echo, TLS 1.3 AES-128-GCM, KeyUpdate
#   dtls12_aes128gcm  OpenSSL DTLS 1.2 ECDHE-ECDSA-AES128-GCM-SHA256 (cookie exchange)
#   dtls12_chacha20   OpenSSL DTLS 1.2 ECDHE-ECDSA-CHACHA20-POLY1305
#   gnutls_dtls12     GnuTLS gnutls-cli --udp <-> gnutls-serv --udp --echo, DTLS 1.2 AES-256-GCM
#   tls13_early       OpenSSL TLS 1.3 0-RTT: a first session saves its ticket (-sess_out, not
#                     captured), the captured second one resumes it (-sess_in) and sends
#                     early data (-early_data FILE) under CLIENT_EARLY_TRAFFIC_SECRET, then
#                     EndOfEarlyData, then 1-RTT lines both ways (TLS_AES_128_GCM_SHA256)
#   tls12_aes128cbc   OpenSSL TLS 1.2 ECDHE-ECDSA-AES128-SHA (0xc009, CBC): a suite the engine
#                     does not support; no truth file, rl-replay must say `unsupported`
#   gnutls_tls13_chacha20  GnuTLS TLS 1.3 TLS_CHACHA20_POLY1305_SHA256, > 16 KiB message, KeyUpdate
#   gnutls_tls12_chacha20  GnuTLS TLS 1.2 ECDHE-ECDSA-CHACHA20-POLY1305 (0xcca9)
#   gnutls_tls12_aes128gcm GnuTLS TLS 1.2 ECDHE-ECDSA-AES128-GCM-SHA256 (0xc02b), > 16 KiB message
#   gnutls_dtls12_chacha20 GnuTLS DTLS 1.2 ECDHE-ECDSA-CHACHA20-POLY1305 (tshark 4.0 cannot
#                     decrypt it: the truth is what the client sent and the echo server returned)
#   tls13_ipv6        OpenSSL TLS 1.3 AES-128-GCM over [::1] (IPv6 loopback), KeyUpdate
#   tls12_sll2        OpenSSL TLS 1.2 AES-128-GCM captured with `tcpdump -i any`: Linux cooked
#                     v2 (SLL2) link layer, as captures "on any interface" are
#   tls12_reneg       OpenSSL TLS 1.2 ECDHE-ECDSA-AES256-GCM-SHA384 with a renegotiation the
#                     server starts (R: HelloRequest): the second handshake, its
#                     ChangeCipherSpecs included, is encrypted under the first key block, the
#                     key log has two CLIENT_RANDOM lines
#   gnutls_tls12_reneg GnuTLS TLS 1.2 AES-256-GCM, > 16 KiB message, a renegotiation the
#                     client starts (^renegotiate^ on TLS 1.2)
#   gnutls_dtls12_reneg GnuTLS DTLS 1.2 AES-128-GCM with a renegotiation the client starts:
#                     GnuTLS keeps the client random, so the key log has two CLIENT_RANDOM
#                     lines for it (the second is the renegotiation's master secret);
#                     tshark 4.0 decrypts none of it: truth is the echoed lines ($name.sent.txt)
#   dtls12_reneg      OpenSSL DTLS 1.2 ECDHE-ECDSA-AES128-GCM-SHA256 with a renegotiation the
#                     server starts (R): the second handshake under epoch 1, the application
#                     lines after it under epoch 2 (tshark 4.0 does not follow it: the truth
#                     of those records is what each side handed OpenSSL, $name.sent.txt)
# Variants that rl-replay decrypted exactly like tshark and that are not committed (run them
# by name with OUT=DIR to check a change): tls12_rsa_chacha20, tls12_rsakx_aes256 (RSA key
# exchange), tls12_dhe_aes128 (RSA certificate), tls13_kk (KeyUpdate with update_requested from
# both sides, padding), tls13_hrr (HelloRetryRequest), tls12_resume (abbreviated handshake),
# tls12_smallfrag (-max_send_frag 512), dtls12_aes256gcm (OpenSSL, -mtu 500),
# gnutls_tls13_aes256.
#
# Every session runs on loopback inside a network namespace made here, segmentation
# offloads off, captured with tcpdump (see /work/shared/CAPTURES.md).
# Run as root: ./make_decrypt_captures.sh [NAME...]   (default: all of them)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-$HERE}
PY=/usr/bin/python3
ALL="tls12_aes128gcm tls12_aes256gcm tls12_chacha20 tls13_aes256gcm tls13_chacha20 tls13_early gnutls_tls13 dtls12_aes128gcm dtls12_chacha20 gnutls_dtls12 tls12_aes128cbc gnutls_tls13_chacha20 gnutls_tls12_chacha20 gnutls_tls12_aes128gcm gnutls_dtls12_chacha20 tls13_ipv6 tls12_sll2 tls12_reneg gnutls_tls12_reneg dtls12_reneg gnutls_dtls12_reneg"
NS=rlreplay$$
TMP=$(mktemp -d)
SRV= CAP=
cleanup() {
  [[ -n "$SRV" ]] && kill "$SRV" 2>/dev/null || true
  [[ -n "$CAP" ]] && kill -INT "$CAP" 2>/dev/null || true
  sleep 0.3
  ip netns del "$NS" 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
  -subj /CN=rl-replay-test -keyout "$TMP/key.pem" -out "$TMP/cert.pem" 2>/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -days 30 \
  -subj /CN=rl-replay-test -keyout "$TMP/rsakey.pem" -out "$TMP/rsacert.pem" 2>/dev/null
CERT=cert KEY=key
ip netns add "$NS"
ip netns exec "$NS" ip link set lo up
ip netns exec "$NS" ip link set lo mtu 1500
ip netns exec "$NS" ethtool -K lo tso off gso off gro off tx-udp-segmentation off >/dev/null 2>&1 || true

CAPIF="-i lo" HOST=127.0.0.1
start_capture() {  # FILTER   (interface and link type: $CAPIF)
  rm -f "$TMP/cap.pcap"
  # shellcheck disable=SC2086
  ip netns exec "$NS" tcpdump $CAPIF -s 0 -U -w "$TMP/cap.pcap" "$1" 2>/dev/null &
  CAP=$!
  sleep 1
}
stop_capture() {  # NAME
  sleep 0.5
  [[ -n "$SRV" ]] && { kill "$SRV" 2>/dev/null || true; wait "$SRV" 2>/dev/null || true; SRV=; }
  kill -INT "$CAP"; wait "$CAP" 2>/dev/null || true; CAP=
  cp "$TMP/cap.pcap" "$OUT/$1.pcap"
}

# OpenSSL s_server/s_client. $1 name, $2 port, $3 "tcp"/"udp", $4 server+client options,
# $5 function writing the client's stdin lines (the server's lines go to fd 3).
openssl_session() {
  local name=$1 port=$2 l4=$3 opts=$4 feed=$5
  start_capture "$l4 port $port"
  rm -f "$TMP/srv_in" "$TMP/server.keylog" "$TMP/client.keylog"
  mkfifo "$TMP/srv_in"
  # shellcheck disable=SC2086
  ip netns exec "$NS" openssl s_server -accept $HOST:$port -naccept 1 $opts \
    -cert "$TMP/$CERT.pem" -key "$TMP/$KEY.pem" -keylogfile "$TMP/server.keylog" \
    <"$TMP/srv_in" >"$TMP/server.out" 2>&1 &
  SRV=$!
  exec 3>"$TMP/srv_in"
  sleep 0.5
  # shellcheck disable=SC2086
  $feed | ip netns exec "$NS" openssl s_client -connect $HOST:$port $opts -no_ign_eof \
    -keylogfile "$TMP/client.keylog" >"$TMP/client.out" 2>&1 || true
  exec 3>&-
  stop_capture "$name"
  cp "$TMP/client.keylog" "$OUT/$name.keylog"
}

big_line() { head -c "$1" /dev/zero | tr '\0' "$2"; echo; }

feed_tls12() {
  sleep 0.5
  big_line 20000 A; sleep 0.2
  echo "tls 1.2 line one"; sleep 0.2
  printf 'server line one\n' >&3; sleep 0.2
  echo "tls 1.2 line two"; sleep 0.2
  big_line 3000 s >&3; sleep 0.5
}
feed_short() {
  sleep 0.5
  echo "a short line"; sleep 0.2
  printf 'a short answer\n' >&3; sleep 0.5
}
feed_tls13_aes() {
  sleep 0.5
  big_line 20000 B; sleep 0.2
  echo "before the key update"; sleep 0.2
  echo k; sleep 0.2
  echo "after the key update"; sleep 0.2
  printf 'server says hello\n' >&3; sleep 0.5
}
feed_tls13_chacha() {
  sleep 0.5
  big_line 17000 C; sleep 0.2
  echo "line one"; sleep 0.2
  echo K; sleep 0.3
  echo "after K"; sleep 0.2
  printf 'server before its own update\n' >&3; sleep 0.2
  printf 'k\n' >&3; sleep 0.3
  printf 'server after its own update\n' >&3; sleep 0.2
  big_line 18000 d >&3; sleep 0.5
}
feed_tls13_kk() {  # KeyUpdates with update_requested from both sides
  sleep 0.5
  echo "client before K"; sleep 0.2
  echo K; sleep 0.3
  printf 'server after the client K\n' >&3; sleep 0.2
  printf 'K\n' >&3; sleep 0.3
  echo "client after the server K"; sleep 0.2
  big_line 5000 k; sleep 0.2
  printf 'server after its K\n' >&3; sleep 0.5
}
feed_tls12_reneg() {  # TLS 1.2 renegotiation (R on the server: HelloRequest), a second handshake under the first keys
  sleep 0.5
  echo "before renegotiation"; sleep 0.2
  printf 'server before\n' >&3; sleep 0.2
  printf 'R\n' >&3; sleep 0.8
  echo "after renegotiation"; sleep 0.2
  big_line 3000 r >&3; sleep 0.5
}
# DTLS: one record per line; the lines are also the ground truth of what each side sent.
DTLS_CLIENT_LINES=("dtls client line one" "dtls client line two" "$(head -c 1000 /dev/zero | tr '\0' E)")
DTLS_SERVER_LINES=("dtls server line one" "$(head -c 900 /dev/zero | tr '\0' f)")
feed_dtls() {
  sleep 0.8
  for l in "${DTLS_CLIENT_LINES[@]}"; do echo "$l"; sleep 0.2; done
  for l in "${DTLS_SERVER_LINES[@]}"; do echo "$l" >&3; sleep 0.2; done
  sleep 0.5
}
feed_dtls_reneg() {  # as feed_dtls, with a renegotiation the server starts in between
  sleep 0.8
  echo "${DTLS_CLIENT_LINES[0]}"; sleep 0.2
  printf 'R\n' >&3; sleep 1
  for l in "${DTLS_CLIENT_LINES[@]:1}"; do echo "$l"; sleep 0.2; done
  for l in "${DTLS_SERVER_LINES[@]}"; do echo "$l" >&3; sleep 0.2; done
  sleep 0.5
}
dtls_sent_truth() {  # NAME: sha256 of each application record each side sent, in order
  {
    echo "# application data each side handed to OpenSSL (one DTLS record per line)"
    echo "# dir type len sha256"
    for l in "${DTLS_CLIENT_LINES[@]}"; do
      printf 'sent client 23 %d %s\n' $((${#l} + 1)) "$(printf '%s\n' "$l" | sha256sum | cut -d' ' -f1)"
    done
    for l in "${DTLS_SERVER_LINES[@]}"; do
      printf 'sent server 23 %d %s\n' $((${#l} + 1)) "$(printf '%s\n' "$l" | sha256sum | cut -d' ' -f1)"
    done
  } >"$OUT/$1.sent.txt"
}

# GnuTLS DTLS: gnutls-cli sends each line as one record, gnutls-serv --echo returns it.
GNUTLS_DTLS_LINES=("gnutls line one" "gnutls after key update")
gnutls_echo_truth() {  # NAME
  {
    echo "# application data the client handed to GnuTLS, and the echo server returned"
    echo "# dir type len sha256"
    for d in client server; do
      for l in "${GNUTLS_DTLS_LINES[@]}"; do
        printf 'sent %s 23 %d %s\n' $d $((${#l} + 1)) "$(printf '%s\n' "$l" | sha256sum | cut -d' ' -f1)"
      done
    done
  } >"$OUT/$1.sent.txt"
}

# TLS 1.3 0-RTT: one s_server accepting two connections with -early_data; the first
# client only fetches a ticket, the second (captured) resumes with early data.
early_session() {  # NAME PORT
  local name=$1 port=$2 opts="-tls1_3 -ciphersuites TLS_AES_128_GCM_SHA256"
  rm -f "$TMP/srv_in" "$TMP/sess.pem" "$TMP/client.keylog" "$TMP/first.keylog"
  mkfifo "$TMP/srv_in"
  # shellcheck disable=SC2086
  ip netns exec "$NS" openssl s_server -accept 127.0.0.1:$port -naccept 2 -early_data $opts \
    -cert "$TMP/cert.pem" -key "$TMP/key.pem" <"$TMP/srv_in" >"$TMP/server.out" 2>&1 &
  SRV=$!
  exec 3>"$TMP/srv_in"
  sleep 0.5
  # shellcheck disable=SC2086
  { sleep 0.8; } | ip netns exec "$NS" openssl s_client -connect 127.0.0.1:$port $opts \
    -sess_out "$TMP/sess.pem" -keylogfile "$TMP/first.keylog" >"$TMP/first.out" 2>&1 || true
  [[ -s "$TMP/sess.pem" ]] || { echo "no session ticket from the first connection" >&2; exit 1; }
  printf 'early data line one\nearly data line two\n' >"$TMP/early.txt"
  start_capture "tcp port $port"
  # shellcheck disable=SC2086
  {
    sleep 0.6
    echo "after the handshake"; sleep 0.2
    printf 'server answers\n' >&3; sleep 0.5
  } | ip netns exec "$NS" openssl s_client -connect 127.0.0.1:$port $opts -no_ign_eof \
      -sess_in "$TMP/sess.pem" -early_data "$TMP/early.txt" -keylogfile "$TMP/client.keylog" \
      >"$TMP/client.out" 2>&1 || true
  exec 3>&-
  grep -q "Early data was accepted" "$TMP/client.out" ||
    { echo "the server did not accept the early data:" >&2; cat "$TMP/client.out" >&2; exit 1; }
  stop_capture "$name"
  cp "$TMP/client.keylog" "$OUT/$name.keylog"
}

# TLS 1.2 resumption: a first session (not captured) saves its session, the captured second
# one resumes it (abbreviated handshake: the server's CCS and Finished come first).
resume_session() {  # NAME PORT OPTIONS
  local name=$1 port=$2 opts=$3
  rm -f "$TMP/srv_in" "$TMP/sess.pem" "$TMP/client.keylog"
  mkfifo "$TMP/srv_in"
  # shellcheck disable=SC2086
  ip netns exec "$NS" openssl s_server -accept 127.0.0.1:$port -naccept 2 $opts \
    -cert "$TMP/cert.pem" -key "$TMP/key.pem" <"$TMP/srv_in" >"$TMP/server.out" 2>&1 &
  SRV=$!
  exec 3>"$TMP/srv_in"
  sleep 0.5
  # shellcheck disable=SC2086
  { sleep 0.8; } | ip netns exec "$NS" openssl s_client -connect 127.0.0.1:$port $opts \
    -sess_out "$TMP/sess.pem" >"$TMP/first.out" 2>&1 || true
  [[ -s "$TMP/sess.pem" ]] || { echo "no session from the first connection" >&2; exit 1; }
  start_capture "tcp port $port"
  # shellcheck disable=SC2086
  {
    sleep 0.6
    echo "resumed session line"; sleep 0.2
    printf 'server answers the resumed session\n' >&3; sleep 0.5
  } | ip netns exec "$NS" openssl s_client -connect 127.0.0.1:$port $opts -no_ign_eof \
      -sess_in "$TMP/sess.pem" -keylogfile "$TMP/client.keylog" >"$TMP/client.out" 2>&1 || true
  exec 3>&-
  grep -q "^Reused" "$TMP/client.out" || { echo "the session was not resumed" >&2; exit 1; }
  stop_capture "$name"
  cp "$TMP/client.keylog" "$OUT/$name.keylog"
}

gnutls_session() {  # NAME PORT [udp] [PRIORITY] [rekey: yes (TLS only) / no / force]
  local name=$1 port=$2 udp=${3:-} rekey=${5:-yes}
  local prio="NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+AES-128-GCM" l4=tcp sflags= cflags=
  if [[ -n "$udp" ]]; then
    prio="NORMAL:-VERS-ALL:+VERS-DTLS1.2:-CIPHER-ALL:+AES-256-GCM" l4=udp
    sflags="--udp --mtu 1400" cflags="--udp"
  fi
  [[ -n "${4:-}" ]] && prio=$4
  start_capture "$l4 port $port"
  # shellcheck disable=SC2086
  ip netns exec "$NS" gnutls-serv --echo $sflags -p "$port" --x509certfile "$TMP/cert.pem" \
    --x509keyfile "$TMP/key.pem" >"$TMP/gserver.out" 2>&1 &
  SRV=$!
  sleep 1
  rm -f "$TMP/gnutls.keylog"
  {
    sleep 0.5
    if [[ -z "$udp" ]]; then big_line 17000 G; sleep 0.3; fi
    echo "gnutls line one"; sleep 0.3
    if [[ $rekey == force || ( -z "$udp" && $rekey == yes ) ]]; then echo "^renegotiate^"; sleep 0.5; fi
    echo "gnutls after key update"; sleep 0.5
  } | SSLKEYLOGFILE="$TMP/gnutls.keylog" ip netns exec "$NS" gnutls-cli --insecure $cflags \
      --inline-commands -p "$port" --priority "$prio" 127.0.0.1 >"$TMP/gclient.out" 2>&1 || true
  stop_capture "$name"
  cp "$TMP/gnutls.keylog" "$OUT/$name.keylog"
}

for name in ${@:-$ALL}; do
  case $name in
    tls12_aes128gcm) openssl_session "$name" 4441 tcp "-tls1_2 -cipher ECDHE-ECDSA-AES128-GCM-SHA256" feed_tls12 ;;
    tls12_aes256gcm) openssl_session "$name" 4442 tcp "-tls1_2 -cipher ECDHE-ECDSA-AES256-GCM-SHA384" feed_tls12 ;;
    tls12_chacha20) openssl_session "$name" 4443 tcp "-tls1_2 -cipher ECDHE-ECDSA-CHACHA20-POLY1305" feed_tls12 ;;
    tls13_aes256gcm) openssl_session "$name" 4444 tcp "-tls1_3 -ciphersuites TLS_AES_256_GCM_SHA384" feed_tls13_aes ;;
    tls13_chacha20) openssl_session "$name" 4445 tcp "-tls1_3 -ciphersuites TLS_CHACHA20_POLY1305_SHA256 -record_padding 64" feed_tls13_chacha ;;
    tls13_early) early_session "$name" 4451 ;;
    gnutls_tls13) gnutls_session "$name" 4446 ;;
    gnutls_dtls12) gnutls_session "$name" 4450 udp ;;
    dtls12_aes128gcm) openssl_session "$name" 4447 udp "-dtls1_2 -cipher ECDHE-ECDSA-AES128-GCM-SHA256" feed_dtls ;;
    dtls12_chacha20) openssl_session "$name" 4448 udp "-dtls1_2 -cipher ECDHE-ECDSA-CHACHA20-POLY1305" feed_dtls
                     dtls_sent_truth "$name" ;;
    gnutls_tls13_chacha20) gnutls_session "$name" 4452 "" "NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+CHACHA20-POLY1305" ;;
    gnutls_tls12_chacha20) gnutls_session "$name" 4453 "" "NORMAL:-VERS-ALL:+VERS-TLS1.2:-CIPHER-ALL:+CHACHA20-POLY1305" no ;;
    gnutls_tls12_aes128gcm) gnutls_session "$name" 4454 "" "NORMAL:-VERS-ALL:+VERS-TLS1.2:-CIPHER-ALL:+AES-128-GCM" no ;;
    gnutls_dtls12_chacha20) gnutls_session "$name" 4455 udp "NORMAL:-VERS-ALL:+VERS-DTLS1.2:-CIPHER-ALL:+CHACHA20-POLY1305"
                     gnutls_echo_truth "$name" ;;
    tls13_ipv6) HOST="[::1]" openssl_session "$name" 4456 tcp "-tls1_3 -ciphersuites TLS_AES_128_GCM_SHA256" feed_tls13_aes ;;
    tls12_sll2) CAPIF="-i any -y LINUX_SLL2" openssl_session "$name" 4457 tcp "-tls1_2 -cipher ECDHE-ECDSA-AES128-GCM-SHA256" feed_tls12 ;;
    tls13_kk) openssl_session "$name" 4460 tcp "-tls1_3 -ciphersuites TLS_AES_128_GCM_SHA256 -record_padding 100" feed_tls13_kk ;;
    tls13_hrr) openssl_session "$name" 4461 tcp "-tls1_3 -ciphersuites TLS_AES_256_GCM_SHA384 -groups P-384:X25519" feed_tls13_aes ;;
    tls12_reneg) openssl_session "$name" 4462 tcp "-tls1_2 -cipher ECDHE-ECDSA-AES256-GCM-SHA384" feed_tls12_reneg ;;
    tls12_resume) resume_session "$name" 4463 "-tls1_2 -cipher ECDHE-ECDSA-CHACHA20-POLY1305" ;;
    tls12_smallfrag) openssl_session "$name" 4464 tcp "-tls1_2 -cipher ECDHE-ECDSA-AES128-GCM-SHA256 -max_send_frag 512" feed_tls12 ;;
    dtls12_aes256gcm) openssl_session "$name" 4465 udp "-dtls1_2 -cipher ECDHE-ECDSA-AES256-GCM-SHA384 -mtu 500" feed_dtls ;;
    gnutls_tls13_aes256) gnutls_session "$name" 4466 "" "NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+AES-256-GCM" ;;
    tls12_rsa_chacha20) CERT=rsacert KEY=rsakey openssl_session "$name" 4468 tcp "-tls1_2 -cipher ECDHE-RSA-CHACHA20-POLY1305" feed_tls12 ;;
    tls12_rsakx_aes256) CERT=rsacert KEY=rsakey openssl_session "$name" 4469 tcp "-tls1_2 -cipher AES256-GCM-SHA384" feed_tls12 ;;
    tls12_dhe_aes128) CERT=rsacert KEY=rsakey openssl_session "$name" 4470 tcp "-tls1_2 -cipher DHE-RSA-AES128-GCM-SHA256" feed_tls12 ;;
    gnutls_tls12_reneg) gnutls_session "$name" 4471 "" "NORMAL:-VERS-ALL:+VERS-TLS1.2:-CIPHER-ALL:+AES-256-GCM" ;;
    gnutls_dtls12_reneg) gnutls_session "$name" 4472 udp "NORMAL:-VERS-ALL:+VERS-DTLS1.2:-CIPHER-ALL:+AES-128-GCM" force
                 gnutls_echo_truth "$name" ;;
    dtls12_reneg) openssl_session "$name" 4467 udp "-dtls1_2 -cipher ECDHE-ECDSA-AES128-GCM-SHA256" feed_dtls_reneg
                 dtls_sent_truth "$name" ;;
    tls12_aes128cbc) openssl_session "$name" 4449 tcp "-tls1_2 -cipher ECDHE-ECDSA-AES128-SHA" feed_short
                     echo "wrote $name.pcap, $name.keylog"; continue ;;
    *) echo "unknown capture $name (known: $ALL)" >&2; exit 2 ;;
  esac
  "$PY" "$HERE/extract_truth.py" "$OUT/$name.pcap" "$OUT/$name.keylog" >"$OUT/$name.truth.txt"
  echo "wrote $name.pcap ($(stat -c %s "$OUT/$name.pcap") bytes), $name.keylog, $name.truth.txt"
done
