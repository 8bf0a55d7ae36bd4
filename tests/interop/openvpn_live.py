#!/usr/bin/python3
"""OpenVPN data channel, live against openvpn 2.6 (Debian's openvpn).

recordlayer does no handshakes. Here two real openvpn processes (p2p TLS mode,
NCP, tls-ekm) run in two network namespaces joined by a veth pair, and the
LD_PRELOAD shim tests/data/openvpn/ekm_shim.c takes the data-channel keys and
the p2p peer-id from the client process as OpenVPN exports them. Then the
client openvpn is killed before it sent a single data packet (--disable-occ, no
IPv6, no traffic), and rl-pipe --proto openvpn takes its place on the same
address and port with those keys: every data packet from then on is sealed or
opened by our engine, and the server openvpn is the real peer.

For each AEAD (AES-128-GCM, AES-256-GCM, CHACHA20-POLY1305): Python sends IPv4
UDP packets of 1..1400 bytes of payload into rl-pipe's plain side; rl-pipe seals
them to the server; the server's kernel delivers them, through its tun device,
to a UDP echo socket, which answers with the payload reversed; the server
openvpn seals the answer back to us; rl-pipe opens it and hands the IP packet
to Python, which checks the payload and the addresses. rl-pipe's exit counters
must show every packet opened and none failed.

Exit: 0 passed, 1 an interop check failed, 2 harness error, 77 the machine
cannot run it (not root, no /dev/net/tun, no openvpn / ip / gcc / openssl, no
network namespaces).
"""
import argparse
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SHIM = os.path.join(HERE, "..", "data", "openvpn", "ekm_shim.c")
SKIP, FAIL, HARNESS = 77, 1, 2
CIPHERS = ["AES-128-GCM", "AES-256-GCM", "CHACHA20-POLY1305"]
SIZES = [1, 15, 16, 17, 100, 511, 1000, 1400]
PLAIN_IN, PLAIN_OUT = 6000, 6001


def log(msg):
    print(f"openvpn_live: {msg}", flush=True)


def run(*cmd, check=True, **kw):
    return subprocess.run(cmd, check=check, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)


def checksum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def ipv4_udp(src, dst, sport, dport, payload, ident):
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload  # checksum 0: none (IPv4)
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), ident, 0, 64, 17, 0,
                      socket.inet_aton(src), socket.inet_aton(dst))
    hdr = hdr[:10] + struct.pack("!H", checksum(hdr)) + hdr[12:]
    return hdr + udp


def inner():
    """Inside the client's namespace: the plain side of rl-pipe."""
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", PLAIN_OUT))
    rx.settimeout(3)
    ok = 0
    for i, n in enumerate(SIZES * 3):
        payload = bytes((i * 7 + k) & 0xFF for k in range(n))
        tx.sendto(ipv4_udp("10.8.0.2", "10.8.0.1", 4000, 7000, payload, i), ("127.0.0.1", PLAIN_IN))
        while True:
            try:
                got, _ = rx.recvfrom(2048)
            except socket.timeout:
                log(f"no answer to datagram {i} ({n} bytes)")
                return FAIL
            if len(got) < 28 or got[0] >> 4 != 4:
                continue  # not an IPv4 packet (an OpenVPN message of its own): not ours
            src, dst = socket.inet_ntoa(got[12:16]), socket.inet_ntoa(got[16:20])
            sport, dport = struct.unpack("!HH", got[20:24])
            if (src, dst, sport, dport) != ("10.8.0.1", "10.8.0.2", 7000, 4000):
                continue
            if got[28:] != payload[::-1]:
                log(f"datagram {i}: the answer is not the payload reversed")
                return FAIL
            ok += 1
            break
    log(f"{ok} round trips through openvpn")
    return 0


def wait_for(path, text, seconds):
    end = time.time() + seconds
    while time.time() < end:
        try:
            with open(path, errors="replace") as f:
                if text in f.read():
                    return True
        except FileNotFoundError:
            pass
        time.sleep(0.1)
    return False


def session(cipher, pipe, tmp, ns_s, ns_c, shim):
    """One openvpn session and rl-pipe in place of its client; returns an exit code."""
    for f in os.listdir(tmp):
        if f.endswith((".log", ".pid", ".keys")):
            os.unlink(os.path.join(tmp, f))
    common = ["openvpn", "--proto", "udp", "--dev", "tun0", "--data-ciphers", cipher, "--verb", "3",
              "--ca", f"{tmp}/ca.crt", "--disable-occ", "--script-security", "0", "--daemon"]
    env = dict(os.environ, LD_PRELOAD=shim)
    env_s = dict(env, RL_EKM_LOG=f"{tmp}/ekm.server.log")
    env_c = dict(env, RL_EKM_LOG=f"{tmp}/ekm.client.log")
    run("ip", "netns", "exec", ns_s, *common, "--tls-server", "--dh", "none", "--cert", f"{tmp}/server.crt",
        "--key", f"{tmp}/server.key", "--local", "10.77.0.1", "--lport", "1194", "--ifconfig", "10.8.0.1",
        "10.8.0.2", "--log", f"{tmp}/server.log", "--writepid", f"{tmp}/server.pid", env=env_s)
    run("ip", "netns", "exec", ns_c, *common, "--tls-client", "--cert", f"{tmp}/client.crt", "--key",
        f"{tmp}/client.key", "--remote", "10.77.0.1", "1194", "--local", "10.77.0.2", "--lport", "1195",
        "--ifconfig", "10.8.0.2", "10.8.0.1", "--log", f"{tmp}/client.log", "--writepid",
        f"{tmp}/client.pid", env=env_c)
    for side in ("server", "client"):
        if not wait_for(f"{tmp}/{side}.log", "Initialization Sequence Completed", 20):
            log(f"{cipher}: the openvpn {side} did not come up")
            return HARNESS
    # The client's keys as it exported them, then the client goes: rl-pipe takes
    # its address and port. It sent no data packet (no traffic, no OCC, no IPv6),
    # so the server expects packet ID 1 next, which rl-pipe sends first.
    exports = {}
    keys = []
    with open(f"{tmp}/ekm.client.log") as f:
        for line in f:
            label, value = line.split()
            exports[label] = value
            if label == "EXPORTER-OpenVPN-datakeys":
                keys.append(value)
    if len(keys) != 1 or "EXPORTER-OpenVPN-p2p-peerid" not in exports:
        log(f"{cipher}: expected one key and a peer-id in the client's exports, got {len(keys)}")
        return HARNESS
    with open(f"{tmp}/client.pid") as f:
        os.kill(int(f.read()), signal.SIGKILL)
    time.sleep(0.5)
    with open(f"{tmp}/ovpn.keys", "w") as f:
        f.write(f"cipher {cipher}\npeer_id {exports['EXPORTER-OpenVPN-p2p-peerid']}\nkey 0 {keys[0]}\n")
    echo = subprocess.Popen(["ip", "netns", "exec", ns_s, "/usr/bin/python3", "-c", (
        "import socket\n"
        "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
        "s.bind(('10.8.0.1', 7000)); s.settimeout(20)\n"
        "try:\n"
        "    while True:\n"
        "        d, a = s.recvfrom(2048); s.sendto(d[::-1], a)\n"
        "except OSError:\n"
        "    pass\n")])
    pipe_log = open(f"{tmp}/pipe.log", "w")
    pipe_proc = subprocess.Popen(
        ["ip", "netns", "exec", ns_c, pipe, "--proto", "openvpn", "--ovpn-keys", f"{tmp}/ovpn.keys",
         "--role", "client", "--listen", "10.77.0.2:1195", "--peer", "10.77.0.1:1194",
         "--plain-listen", f"127.0.0.1:{PLAIN_IN}", "--plain-peer", f"127.0.0.1:{PLAIN_OUT}",
         "--workers", "1", "--symmetric"], stderr=pipe_log)
    try:
        if not wait_for(f"{tmp}/pipe.log", "ready", 10):
            log(f"{cipher}: rl-pipe did not start:\n" + open(f"{tmp}/pipe.log").read())
            return HARNESS
        time.sleep(0.3)
        r = subprocess.run(["ip", "netns", "exec", ns_c, "/usr/bin/python3", os.path.abspath(__file__),
                            "--inner"], timeout=60)
        if r.returncode != 0:
            log(f"{cipher}: round trips failed; rl-pipe said:\n" + open(f"{tmp}/pipe.log").read())
            log("openvpn server said:\n" + "".join(open(f"{tmp}/server.log").readlines()[-15:]))
            return FAIL
    finally:
        pipe_proc.send_signal(signal.SIGTERM)
        try:
            pipe_proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pipe_proc.kill()
        pipe_log.close()
        echo.kill()
        with open(f"{tmp}/server.pid") as f:
            try:
                os.kill(int(f.read()), signal.SIGTERM)
            except ProcessLookupError:
                pass
        time.sleep(0.5)
    text = open(f"{tmp}/pipe.log").read()
    exit_line = [l for l in text.splitlines() if "exit unprotect" in l]
    if not exit_line or " failed=0" not in exit_line[-1]:
        log(f"{cipher}: rl-pipe's open side counted failures: {exit_line}")
        return FAIL
    log(f"{cipher}: ok ({exit_line[-1].strip()})")
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pipe")
    ap.add_argument("--inner", action="store_true")
    a = ap.parse_args()
    if a.inner:
        return inner()
    if os.geteuid() != 0:
        log("skipped: needs root (network namespaces, tun devices)")
        return SKIP
    for tool in ("openvpn", "ip", "gcc", "openssl"):
        if shutil.which(tool) is None:
            log(f"skipped: {tool} not found")
            return SKIP
    if not os.path.exists("/dev/net/tun"):
        log("skipped: no /dev/net/tun")
        return SKIP
    tmp = tempfile.mkdtemp(prefix="rl-ovpn-live-")
    os.chmod(tmp, 0o755)
    ns_s, ns_c = f"rlovs{os.getpid()}", f"rlovc{os.getpid()}"
    veth_a, veth_b = f"rlova{os.getpid() % 100000}", f"rlovb{os.getpid() % 100000}"
    try:
        shim = f"{tmp}/ekm_shim.so"
        run("gcc", "-shared", "-fPIC", "-O2", "-o", shim, SHIM, "-ldl")
        run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-days", "2", "-subj", "/CN=rl-ca", "-keyout", f"{tmp}/ca.key", "-out", f"{tmp}/ca.crt")
        for n in ("server", "client"):
            run("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj",
                f"/CN={n}", "-keyout", f"{tmp}/{n}.key", "-out", f"{tmp}/{n}.csr")
            run("openssl", "x509", "-req", "-in", f"{tmp}/{n}.csr", "-CA", f"{tmp}/ca.crt", "-CAkey",
                f"{tmp}/ca.key", "-CAcreateserial", "-days", "2", "-out", f"{tmp}/{n}.crt")
        if run("ip", "netns", "add", ns_s, check=False).returncode != 0:
            log("skipped: cannot create a network namespace")
            return SKIP
        run("ip", "netns", "add", ns_c)
        run("ip", "link", "add", veth_a, "type", "veth", "peer", "name", veth_b)
        run("ip", "link", "set", veth_a, "netns", ns_s)
        run("ip", "link", "set", veth_b, "netns", ns_c)
        run("ip", "netns", "exec", ns_s, "ip", "addr", "add", "10.77.0.1/24", "dev", veth_a)
        run("ip", "netns", "exec", ns_c, "ip", "addr", "add", "10.77.0.2/24", "dev", veth_b)
        for ns, dev in ((ns_s, veth_a), (ns_c, veth_b)):
            run("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
            run("ip", "netns", "exec", ns, "ip", "link", "set", dev, "up")
            run("ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
                "net.ipv6.conf.default.disable_ipv6=1")
        for cipher in CIPHERS:
            rc = session(cipher, a.pipe, tmp, ns_s, ns_c, shim)
            if rc != 0:
                return rc
        return 0
    except subprocess.CalledProcessError as e:
        log(f"harness: {' '.join(e.cmd)} failed: {e.stdout}")
        return HARNESS
    finally:
        subprocess.run(["pkill", "-f", f"openvpn .*{tmp}"], check=False)
        for ns in (ns_s, ns_c):
            subprocess.run(["ip", "netns", "del", ns], check=False, stderr=subprocess.DEVNULL)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
