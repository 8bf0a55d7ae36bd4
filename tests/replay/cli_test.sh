#!/bin/bash
# rl-replay command line: options, exit statuses, --json/--expect round trip on the real
# TLS 1.3 capture. Usage: cli_test.sh RL_REPLAY DATA_DIR
set -u
BIN=$1
DATA=$2
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$BIN" --help | grep -q -- '--srtp-keys FILE' || fail "--help does not explain --srtp-keys"
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

head -c 20000 "$DATA/tls13.pcap" >"$T/cut.pcap"
"$BIN" "$T/cut.pcap" >"$T/o5.txt" 2>&1
[[ $? == 2 ]] || fail "truncated capture: exit status not 2"
grep -q 'cut.pcap: frame [0-9]*: error: capture cut short' "$T/o5.txt" || fail "truncation not reported with its frame"
echo "rl-replay CLI: all checks passed"
