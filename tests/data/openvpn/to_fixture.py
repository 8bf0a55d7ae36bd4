#!/usr/bin/env python3
"""Writes NAME.keys for tests/openvpn_capture_test.cc from what
make_capture.sh recorded (stdlib only; no decryption here: the test does it),
and checks that both captures hold what the test expects.

usage: to_fixture.py CIPHER EKM_SERVER_LOG EKM_CLIENT_LOG LINK_PCAP TUN_PCAP > NAME.keys

Lines:
  cipher <OpenVPN cipher name>
  peer_id <6 hex digits>         p2p mode: both ends send the exported peer-id
  key <key_id> <512 hex digits>  EXPORTER-OpenVPN-datakeys, in the order OpenVPN
                                 derived them (key_id 0, 1, 2, ...)
"""
import struct
import sys

CLIENT_TUN_ADDR = bytes([10, 8, 0, 2])
SERVER_PORT = 1194


def frames(path):
    data = open(path, "rb").read()
    magic, = struct.unpack("<I", data[:4])
    assert magic == 0xA1B2C3D4, f"{path}: not a little-endian microsecond pcap"
    linktype, = struct.unpack("<I", data[20:24])
    off, n = 24, 0
    while off + 16 <= len(data):
        _, _, incl, _ = struct.unpack("<IIII", data[off:off + 16])
        off += 16
        n += 1
        yield n, linktype, data[off:off + incl]
        off += incl


def ekm(path, label):
    out = []
    for line in open(path):
        parts = line.split()
        if len(parts) == 2 and parts[0] == label:
            out.append(parts[1])
    return out


def main():
    cipher, srv_log, cli_log, link, tun = sys.argv[1:6]
    keys = ekm(srv_log, "EXPORTER-OpenVPN-datakeys")
    assert keys and keys == ekm(cli_log, "EXPORTER-OpenVPN-datakeys"), "the two ends disagree on the keys"
    peer = ekm(srv_log, "EXPORTER-OpenVPN-p2p-peerid")
    assert peer, "no p2p peer-id export"
    print(f"# make_capture.sh: Debian openvpn 2.6 p2p TLS mode, {cipher}, --reneg-sec 3")
    print(f"cipher {cipher}")
    print(f"peer_id {peer[0]}")
    for i, k in enumerate(keys):
        # ssl.c: key_id 0 for the first negotiation only, then 1..7 over and over.
        print(f"key {0 if i == 0 else (i - 1) % 7 + 1} {k}")
    data = tun_ip = 0
    for n, lt, f in frames(link):
        assert lt == 1, "link capture: Ethernet expected"
        ip = f[14:]
        if len(ip) >= 20 and ip[0] >> 4 == 4 and ip[9] == 17:
            udp = ip[(ip[0] & 15) * 4:]
            data += len(udp) > 8 and udp[8] >> 3 in (6, 9)
    for n, lt, f in frames(tun):
        assert lt in (12, 101), f"tun capture: raw IP expected, link type {lt}"
        tun_ip += 1
    assert data > 0 and tun_ip > 0, "nothing captured"
    sys.stderr.write(f"{data} data-channel datagrams, {tun_ip} tun packets\n")

if __name__ == "__main__":
    main()
