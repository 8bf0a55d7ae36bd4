#!/bin/bash
# Regenerates <name>.pcap, <name>.tun.pcap and <name>.txt: OpenVPN 2.6 data
# channel traffic between two real openvpn processes (Debian's openvpn, p2p
# TLS mode, NCP, tls-ekm key derivation) in two network namespaces joined by
# a veth pair:
#   <name>.pcap      the UDP datagrams on the link (control and data channel)
#   <name>.tun.pcap  the server's tun device: the tunnel's plaintext IP packets,
#                    both ways, as the kernel saw them (the ground truth)
#   <name>.keys      the cipher, and the peer-id and data-channel key material
#                    OpenVPN exported (ekm_shim.c, an LD_PRELOAD shim that logs
#                    SSL_export_keying_material; to_fixture.py writes the file)
# tests/openvpn_capture_test.cc opens every data-channel datagram of <name>.pcap
# with those keys and compares the plaintexts with <name>.tun.pcap.
# --reneg-sec 3 makes the session renegotiate twice while the client sends UDP
# datagrams of 1..1400 bytes through the tunnel to an echo server behind the
# server's tun (replies reversed), so key_ids 0, 1 and 2 appear, with late
# packets under the previous key. IPv6 is off on the tun devices (no router
# solicitations in the truth). Needs root, openvpn, tcpdump, gcc, python3.
#   ./make_capture.sh [aes128gcm|aes256gcm|chacha20]   (default: all three)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-$HERE}
TMP=$(mktemp -d)
chmod 755 "$TMP"
NS=rlovpn$$
cleanup() {
  pkill -f "openvpn .*$TMP" 2>/dev/null || true
  [[ -n "${CAP1:-}" ]] && kill -INT "$CAP1" 2>/dev/null || true
  [[ -n "${CAP2:-}" ]] && kill -INT "$CAP2" 2>/dev/null || true
  sleep 1
  ip netns del "${NS}s" 2>/dev/null || true
  ip netns del "${NS}c" 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT

gcc -shared -fPIC -O2 -o "$TMP/ekm_shim.so" "$HERE/ekm_shim.c" -ldl
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj /CN=rl-ca \
  -keyout "$TMP/ca.key" -out "$TMP/ca.crt" 2>/dev/null
for n in server client; do
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$n" \
    -keyout "$TMP/$n.key" -out "$TMP/$n.csr" 2>/dev/null
  openssl x509 -req -in "$TMP/$n.csr" -CA "$TMP/ca.crt" -CAkey "$TMP/ca.key" -CAcreateserial \
    -days 30 -out "$TMP/$n.crt" 2>/dev/null
done

ip netns add "${NS}s"
ip netns add "${NS}c"
ip link add "${NS}a" type veth peer name "${NS}b"
ip link set "${NS}a" netns "${NS}s"
ip link set "${NS}b" netns "${NS}c"
ip netns exec "${NS}s" ip addr add 10.77.0.1/24 dev "${NS}a"
ip netns exec "${NS}c" ip addr add 10.77.0.2/24 dev "${NS}b"
for s in s c; do
  ip netns exec "$NS$s" ip link set lo up
  ip netns exec "$NS$s" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
done
ip netns exec "${NS}s" ip link set "${NS}a" up
ip netns exec "${NS}c" ip link set "${NS}b" up

run() {  # name openvpn-cipher
  local name=$1 cipher=$2
  rm -f "$TMP"/*.pcap "$TMP"/ekm.*.log
  touch "$TMP/link.pcap" "$TMP/tun.pcap"; chmod 666 "$TMP/link.pcap" "$TMP/tun.pcap"
  ip netns exec "${NS}s" tcpdump -i "${NS}a" -s 0 -U -w "$TMP/link.pcap" udp port 1194 2>/dev/null &
  CAP1=$!
  sleep 1
  local common=(--proto udp --dev tun0 --data-ciphers "$cipher" --reneg-sec 3 --verb 3
    --ca "$TMP/ca.crt" --script-security 0)
  RL_EKM_LOG="$TMP/ekm.server.log" LD_PRELOAD="$TMP/ekm_shim.so" ip netns exec "${NS}s" \
    openvpn "${common[@]}" --tls-server --dh none --cert "$TMP/server.crt" --key "$TMP/server.key" \
    --local 10.77.0.1 --lport 1194 --ifconfig 10.8.0.1 10.8.0.2 --log "$TMP/server.log" \
    --writepid "$TMP/server.pid" --daemon
  RL_EKM_LOG="$TMP/ekm.client.log" LD_PRELOAD="$TMP/ekm_shim.so" ip netns exec "${NS}c" \
    openvpn "${common[@]}" --tls-client --cert "$TMP/client.crt" --key "$TMP/client.key" \
    --remote 10.77.0.1 1194 --nobind --ifconfig 10.8.0.2 10.8.0.1 --log "$TMP/client.log" \
    --writepid "$TMP/client.pid" --daemon
  for _ in $(seq 50); do
    grep -q "Initialization Sequence Completed" "$TMP/server.log" 2>/dev/null &&
      grep -q "Initialization Sequence Completed" "$TMP/client.log" 2>/dev/null && break
    sleep 0.2
  done
  ip netns exec "${NS}s" tcpdump -i tun0 -s 0 -U -w "$TMP/tun.pcap" 2>/dev/null &
  CAP2=$!
  sleep 1
  ip netns exec "${NS}s" /usr/bin/python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("10.8.0.1", 7000)); s.settimeout(10)
try:
    while True:
        d, a = s.recvfrom(2000); s.sendto(d[::-1], a)
except OSError:
    pass' &
  local echo=$!
  sleep 0.5
  ip netns exec "${NS}c" /usr/bin/python3 -c '
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(1)
sizes = [1, 15, 16, 17, 100, 511, 1000, 1400]  # 1400: the outer datagram stays under the link MTU
for i in range(24):
    n = sizes[i % len(sizes)]
    s.sendto(bytes((i * 7 + k) & 0xff for k in range(n)), ("10.8.0.1", 7000))
    try: s.recvfrom(2000)
    except OSError: pass
    time.sleep(0.3)'
  sleep 1
  kill "$(cat "$TMP/client.pid")" "$(cat "$TMP/server.pid")" 2>/dev/null || true
  kill "$echo" 2>/dev/null || true
  sleep 1
  kill -INT "$CAP1" "$CAP2" 2>/dev/null || true
  wait "$CAP1" "$CAP2" 2>/dev/null || true
  CAP1=; CAP2=
  cp "$TMP/link.pcap" "$OUT/$name.pcap"
  cp "$TMP/tun.pcap" "$OUT/$name.tun.pcap"
  /usr/bin/python3 "$HERE/to_fixture.py" "$cipher" "$TMP/ekm.server.log" "$TMP/ekm.client.log" \
    "$OUT/$name.pcap" "$OUT/$name.tun.pcap" >"$OUT/$name.keys" 2>"$TMP/counts"
  echo "$name: $(grep -c '^key' "$OUT/$name.keys") keys, $(cat "$TMP/counts")"
}

want=${1:-all}
[[ $want == all || $want == aes128gcm ]] && run aes128gcm AES-128-GCM
[[ $want == all || $want == aes256gcm ]] && run aes256gcm AES-256-GCM
[[ $want == all || $want == chacha20 ]] && run chacha20 CHACHA20-POLY1305
exit 0
