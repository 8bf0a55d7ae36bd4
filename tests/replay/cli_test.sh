#!/bin/bash
# rl-replay command line: options, exit statuses, --json/--expect round trip on the real
# TLS 1.3 capture, and the WireGuard fixture with and without its key log. Usage:
# cli_test.sh RL_REPLAY DATA_DIR (data/replay; the WireGuard fixture is ../wireguard)
set -u
BIN=$1
DATA=$2
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$BIN" --help | grep -q -- '--srtp-keys FILE' || fail "--help does not explain --srtp-keys"
"$BIN" --help | grep -q -- '--wg-keylog FILE' || fail "--help does not explain --wg-keylog"
"$BIN" >/dev/null 2>&1; [[ $? == 2 ]] || fail "no capture: exit status not 2"
"$BIN" --bogus "$DATA/tls13.pcap" >/dev/null 2>&1; [[ $? == 2 ]] || fail "unknown option: not 2"
"$BIN" --proto udp/x=srtp "$DATA/tls13.pcap" >/dev/null 2>&1; [[ $? == 2 ]] || fail "bad --proto: not 2"

"$BIN" --json --keylog "$DATA/tls13.keylog" "$DATA/tls13.pcap" >"$T/out.jsonl" 2>"$T/err.txt"
[[ $? == 0 ]] || fail "clean run: exit status not 0: $(cat "$T/err.txt")"
n=$(wc -l <"$T/out.jsonl")
w=$(awk -F'\t' '$2 != "" { n += split($2, a, ",") } END { print n }' "$DATA/tls13.tshark.txt")
[[ $n == "$w" ]] || fail "$n JSON lines, tshark sees $w records"
grep -q '"status":"ok"' "$T/out.jsonl" || fail "no decrypted record with the key log"
grep -q '^proto ' "$T/err.txt" || fail "summary not on stderr with --json"

"$BIN" --expect "$T/out.jsonl" --keylog "$DATA/tls13.keylog" "$DATA/tls13.pcap" >"$T/sum.txt" 2>&1
[[ $? == 0 ]] || fail "--expect of its own output differs: $(cat "$T/sum.txt")"
grep -q -- '--expect: 0 difference' "$T/sum.txt" || fail "--expect summary missing"
sed '4s/"status":"ok"/"status":"auth_failed"/' "$T/out.jsonl" >"$T/bad.jsonl"
"$BIN" --expect "$T/bad.jsonl" --keylog "$DATA/tls13.keylog" "$DATA/tls13.pcap" >"$T/sum2.txt" 2>&1
[[ $? == 1 ]] || fail "--expect with a difference: exit status not 1"
grep -q 'status expected auth_failed, got ok' "$T/sum2.txt" || fail "difference not reported"

printf 'CLIENT_RANDOM zz 00\n' >"$T/bad.keylog"
"$BIN" --keylog "$T/bad.keylog" "$DATA/tls13.pcap" >"$T/o3.txt" 2>&1
[[ $? == 2 ]] || fail "bad key line: exit status not 2"
grep -q "bad.keylog:1: error:" "$T/o3.txt" || fail "bad key line not named"
grep -q '^tls13 ' "$T/o3.txt" || fail "did not go on after a bad key line"
"$BIN" --fail-fast --keylog "$T/bad.keylog" "$DATA/tls13.pcap" >"$T/o4.txt" 2>&1
[[ $? == 2 ]] || fail "--fail-fast: exit status not 2"
grep -q '^tls13 ' "$T/o4.txt" && fail "--fail-fast went on"

# WireGuard (tests/data/wireguard): every transport message opens, exit 0; a bad key log
# line is named and exits 2; without keys a --proto rule gives no_key (exit 0).
WG="$DATA/../wireguard"
"$BIN" --json --wg-keylog "$WG/transport.keylog" "$WG/transport.pcap" >"$T/wg.jsonl" 2>"$T/wg.err"
[[ $? == 0 ]] || fail "WireGuard with its key log: exit status not 0: $(cat "$T/wg.err")"
n=$(grep -c '"proto":"wireguard".*"status":"ok"' "$T/wg.jsonl")
[[ $n == 22 ]] || fail "WireGuard: $n transport messages ok, want 22"
printf 'LOCAL_STATIC_PRIVATE_KEY = zz\n' >"$T/bad.wg"
"$BIN" --wg-keylog "$T/bad.wg" "$WG/transport.pcap" >"$T/o6.txt" 2>&1
[[ $? == 2 ]] || fail "bad WireGuard key line: exit status not 2"
grep -q "bad.wg:1: error:" "$T/o6.txt" || fail "bad WireGuard key line not named"
"$BIN" --json --proto udp/51820=wireguard "$WG/transport.pcap" >"$T/wg2.jsonl" 2>/dev/null
[[ $? == 0 ]] || fail "WireGuard without keys: exit status not 0"
n=$(grep -c '"status":"no_key"' "$T/wg2.jsonl")
[[ $n == 22 ]] || fail "WireGuard without keys: $n no_key, want 22"

head -c 20000 "$DATA/tls13.pcap" >"$T/cut.pcap"
"$BIN" "$T/cut.pcap" >"$T/o5.txt" 2>&1
[[ $? == 2 ]] || fail "truncated capture: exit status not 2"
grep -q 'cut.pcap: frame [0-9]*: error: capture cut short' "$T/o5.txt" || fail "truncation not reported with its frame"
echo "rl-replay CLI: all checks passed"
