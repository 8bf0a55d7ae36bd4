#!/usr/bin/python3
"""WireGuard transport data, live against wireguard-go.

recordlayer does no handshakes: here Python does the Noise IKpsk2 handshakes
(tests/data/wireguard/make_capture.py, imported) and the UDP, while every
type-4 message that goes to wireguard-go is sealed by our engine and every one
that comes back is opened by it (rl-wg-tool, a line protocol on a pipe; see
tests/interop/wg_tool.cc). Python only cross-checks what we sealed.

wireguard-go runs on a TUN device (wg0-like, named per run) in a network
namespace of its own, 10.9.0.1/24 on its side; we are the peer 10.9.0.2/32
and talk to it over the namespace's loopback. The kernel of that namespace
answers what we tunnel to it (ICMP echo, a UDP echo socket) and, in scenario
2, starts the conversation.

  1  We initiate. A burst of ICMP echo requests (sizes that need padding, one
     of exactly MTU 1420) sealed in one call, answered by the kernel, opened in
     one call, trimmed, matched; then a burst of UDP datagrams to a UDP echo
     socket and back. Negative checks on a real reply: a flipped bit in the
     ciphertext or in the tag is auth_failed and leaves the bytes unchanged,
     the original still opens afterwards, a second copy is replayed.
  3  Rekey while that session is current: a second handshake we initiate.
     wireguard-go keeps sending under the old keypair until our first packet
     under the new one arrives; those packets (and one held back from before
     the rekey, opened last) open under our previous keypair.
  2  wireguard-go initiates, for a fresh peer with a preshared key: the kernel
     sends a datagram to 10.9.0.2, wireguard-go queues it and sends us an
     initiation; Python answers; our keypair goes in as responder (next);
     sealing is refused (key_expired) until wireguard-go's first transport
     message opens, which promotes the keypair (peer_updated); then our
     replies reach the kernel's socket.

Exit: 0 passed, 1 an interop check failed, 2 harness error, 77 the machine
cannot run it (not root, no /dev/net/tun, no wireguard-go / wg / ip, no
network namespaces, no TUN device for wireguard-go, no python3-cryptography).
The outer process (root namespace) creates the namespace, starts and stops
wireguard-go and deletes the namespace on every exit path; it re-runs this
file inside the namespace (--inner) for the test itself.
"""
import argparse
import base64
import importlib.util
import os
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CAPTURE_PY = os.path.join(HERE, "..", "data", "wireguard", "make_capture.py")

SKIP, FAIL, HARNESS = 77, 1, 2
OUTER_DEADLINE = 95   # seconds; CTest's TIMEOUT is 110
INNER_DEADLINE = 75

WG_ADDR, OUR_ADDR = "10.9.0.1", "10.9.0.2"
WG_LISTEN_PORT = 51820
MTU = 1420            # wireguard-go's default TUN MTU
ECHO_PORT = 7000      # kernel-side UDP echo socket
KSEND_PORT = 7001     # kernel-side socket that starts conversations
ZERO_PSK = bytes(32)


class Failure(Exception):
    pass


class Harness(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Failure(msg)


def note(msg):
    print(msg, flush=True)


def skip(msg):
    print("SKIP: " + msg, flush=True)
    sys.exit(SKIP)


def load_capture_module():
    spec = importlib.util.spec_from_file_location("wg_make_capture", CAPTURE_PY)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)  # its main() only runs as __main__
    return mod


def run(args, **kw):
    r = subprocess.run(args, capture_output=True, text=True, timeout=15, **kw)
    if r.returncode != 0:
        raise Harness("%s failed (%d): %s" % (" ".join(args), r.returncode,
                                               r.stderr.strip()))
    return r.stdout


# ---------------------------------------------------------------------------
# Outer: namespace and wireguard-go lifecycle (root namespace)
# ---------------------------------------------------------------------------

class Deadline(Exception):
    pass


def on_alarm(signum, frame):
    raise Deadline("deadline reached")


def on_term(signum, frame):
    raise SystemExit(FAIL)


def outer(args):
    if os.geteuid() != 0:
        skip("needs root (network namespace, TUN device)")
    if not os.path.exists("/dev/net/tun"):
        skip("/dev/net/tun is missing")
    for prog in ("wireguard-go", "wg", "ip"):
        if shutil.which(prog) is None:
            skip("%s is not installed" % prog)
    try:
        load_capture_module()
    except ImportError as exc:
        skip("make_capture.py cannot be imported by %s: %s"
             % (sys.executable, exc))
    if not os.access(args.tool, os.X_OK):
        print("rl-wg-tool not found: %s" % args.tool)
        return HARNESS

    ns = "rlwgi%d" % os.getpid()
    iface = "rlwg%d" % (os.getpid() % 10000000)
    uapi = "/var/run/wireguard/%s.sock" % iface
    r = subprocess.run(["ip", "netns", "add", ns], capture_output=True, text=True)
    if r.returncode != 0:
        skip("cannot create a network namespace: " + r.stderr.strip())

    signal.signal(signal.SIGALRM, on_alarm)
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    signal.alarm(OUTER_DEADLINE)
    tmp = tempfile.mkdtemp(prefix="rl-wgi-")
    wg_proc = inner = None
    log_path = os.path.join(tmp, "wireguard-go.log")
    rc = HARNESS
    try:
        r = subprocess.run(["ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up"],
                           capture_output=True, text=True)
        if r.returncode != 0:
            skip("cannot enter the network namespace: " + r.stderr.strip())

        mc = load_capture_module()
        wg_priv = mc.clamp(os.urandom(32))
        key_file = os.path.join(tmp, "wg.key")
        with open(os.open(key_file, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
            f.write(mc.b64(wg_priv) + "\n")

        env = dict(os.environ, WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD="1",
                   LOG_LEVEL="verbose")
        log = open(log_path, "w")
        wg_proc = subprocess.Popen(["ip", "netns", "exec", ns, "wireguard-go", "-f", iface],
                                   stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env)
        log.close()
        t_end = time.monotonic() + 10
        while not os.path.exists(uapi):
            if wg_proc.poll() is not None:
                text = open(log_path).read()
                if "Failed to create TUN device" in text:
                    skip("wireguard-go could not create its TUN device:\n" + text)
                raise Harness("wireguard-go exited (%d):\n%s" % (wg_proc.returncode, text))
            if time.monotonic() > t_end:
                raise Harness("wireguard-go did not open %s" % uapi)
            time.sleep(0.05)

        in_ns = ["ip", "netns", "exec", ns]
        run(["wg", "set", iface, "private-key", key_file, "listen-port", str(WG_LISTEN_PORT)])
        run(in_ns + ["ip", "addr", "add", WG_ADDR + "/24", "dev", iface])
        run(in_ns + ["ip", "link", "set", iface, "up"])
        mtu = int(run(in_ns + ["cat", "/sys/class/net/%s/mtu" % iface]))
        if mtu != MTU:
            raise Harness("%s has MTU %d; this test expects wireguard-go's default %d"
                          % (iface, mtu, MTU))
        note("wireguard-go %s on %s (%s/24, MTU %d) in namespace %s" % (
            run(["wireguard-go", "--version"]).split()[1], iface, WG_ADDR, mtu, ns))

        inner = subprocess.Popen(in_ns + [sys.executable, os.path.abspath(__file__), "--inner",
                                          "--tool", args.tool, "--iface", iface,
                                          "--wg-pub", mc.b64(mc.DH_PUB(wg_priv)),
                                          "--tmp", tmp])
        rc = inner.wait()
        inner = None
    except SystemExit as exc:  # skip() or SIGTERM / SIGINT
        rc = exc.code
        raise
    except Deadline:
        print("FAIL: outer deadline (%d s) reached" % OUTER_DEADLINE, flush=True)
        rc = FAIL
    except Harness as exc:
        print("HARNESS: %s" % exc, flush=True)
        rc = HARNESS
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if inner is not None and inner.poll() is None:
            inner.kill()
            inner.wait()
        if wg_proc is not None and wg_proc.poll() is None:
            wg_proc.terminate()
            try:
                wg_proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                wg_proc.kill()
                wg_proc.wait()
        if os.path.exists(uapi):
            os.unlink(uapi)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        if rc not in (0, SKIP) and os.path.exists(log_path):
            lines = open(log_path).read().splitlines()
            print("---- wireguard-go log (last 60 lines) ----")
            print("\n".join(lines[-60:]))
        shutil.rmtree(tmp, ignore_errors=True)
    return rc


# ---------------------------------------------------------------------------
# Inner packets: IPv4 / ICMP / UDP built and checked here
# ---------------------------------------------------------------------------

def csum(data):
    if len(data) % 2:
        data += b"\x00"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ip4(src, dst, proto, payload, ident):
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident, 0, 64,
                      proto, 0, socket.inet_aton(src), socket.inet_aton(dst))
    hdr = hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:]
    return hdr + payload


def icmp_echo(src, dst, ident, seq, data, ip_id):
    body = struct.pack("!BBHHH", 8, 0, 0, ident, seq) + data
    body = body[:2] + struct.pack("!H", csum(body)) + body[4:]
    return ip4(src, dst, 1, body, ip_id)


def udp_pseudo(src, dst, udp):
    return (socket.inet_aton(src) + socket.inet_aton(dst)
            + struct.pack("!BBH", 0, 17, len(udp)) + udp)


def udp4(src, sport, dst, dport, data, ip_id):
    udp = struct.pack("!HHHH", sport, dport, 8 + len(data), 0) + data
    c = csum(udp_pseudo(src, dst, udp)) or 0xFFFF
    udp = udp[:6] + struct.pack("!H", c) + udp[8:]
    return ip4(src, dst, 17, udp, ip_id)


def parse_ip4(pkt, what):
    """Checks the IPv4 header; returns (src, dst, proto, payload)."""
    check(len(pkt) >= 20 and pkt[0] == 0x45, "%s: not a plain IPv4 header: %s" % (what, pkt[:20].hex()))
    total = struct.unpack_from("!H", pkt, 2)[0]
    check(total == len(pkt), "%s: IPv4 total length %d, trimmed packet %d" % (what, total, len(pkt)))
    check(csum(pkt[:20]) == 0, "%s: bad IPv4 header checksum" % what)
    return (socket.inet_ntoa(pkt[12:16]), socket.inet_ntoa(pkt[16:20]), pkt[9], pkt[20:])


def padded_length(n, mtu=MTU):
    """wireguard-go's and Linux's padding: the last MTU-sized unit is padded
    to a multiple of 16, never past the MTU."""
    last = n % mtu if n > mtu else n
    return n - last + min((last + 15) & ~15, mtu)


# ---------------------------------------------------------------------------
# rl-wg-tool
# ---------------------------------------------------------------------------

class Tool:
    def __init__(self, path, name):
        self.name = name
        self.p = subprocess.Popen([path], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  text=True, bufsize=1)
        check(self.cmd("mtu %d" % MTU) == "ok", "%s: mtu refused" % name)

    def cmd(self, line):
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()
        out = self.p.stdout.readline()
        if not out:
            raise Harness("%s: rl-wg-tool exited (%s)" % (self.name, self.p.poll()))
        out = out.rstrip("\n")
        if out.startswith("error"):
            raise Harness("%s: rl-wg-tool said %r to %r" % (self.name, out, line[:80]))
        return out

    def install(self, local, remote, send_key, recv_key, initiator):
        return self.cmd("install %d %d %s %s %d" % (local, remote, send_key.hex(),
                                                    recv_key.hex(), 1 if initiator else 0))

    def seal(self, plaintexts):
        """One burst. Returns [(status, message bytes)]."""
        words = self.cmd("seal " + " ".join(p.hex() or "-" for p in plaintexts)).split()
        out = []
        for w in words[1:]:
            st, h = w.split(":")
            out.append((st, bytes.fromhex(h)))
        check(len(out) == len(plaintexts) and int(words[0]) == sum(s == "ok" for s, _ in out),
              "%s: seal answer malformed: %r" % (self.name, words[:3]))
        return out

    def open(self, messages):
        """One burst. Returns [(status, padded or untouched bytes, trim status, trimmed)]."""
        words = self.cmd("open " + " ".join(m.hex() for m in messages)).split()
        out = []
        for w in words[1:]:
            st, h, tst, th = w.split(":")
            out.append((st, bytes.fromhex(h), tst, bytes.fromhex(th)))
        check(len(out) == len(messages) and int(words[0]) == sum(o[0] == "ok" for o in out),
              "%s: open answer malformed: %r" % (self.name, words[:3]))
        return out

    def state(self):
        return dict(kv.split("=") for kv in self.cmd("state").split())

    def events(self):
        return self.cmd("events").split()[1:]

    def close(self):
        if self.p.poll() is None:
            try:
                self.p.stdin.write("quit\n")
                self.p.stdin.flush()
                self.p.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                self.p.kill()
                self.p.wait()


# ---------------------------------------------------------------------------
# Inner: the test, inside the namespace
# ---------------------------------------------------------------------------

class Link:
    """Our UDP socket on the namespace's loopback, facing wireguard-go."""

    def __init__(self):
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.s.bind(("127.0.0.1", 0))
        self.port = self.s.getsockname()[1]
        self.wg = ("127.0.0.1", WG_LISTEN_PORT)
        self.pending = []        # received, not yet taken
        self.keepalives = 0      # 32-byte transport messages seen (opened by the caller)
        self.last_initiation = 0.0

    def send(self, msg):
        self.s.sendto(msg, self.wg)

    def _pump(self, timeout):
        r, _, _ = select.select([self.s], [], [], timeout)
        if r:
            data, addr = self.s.recvfrom(65535)
            check(addr == self.wg, "datagram from %r, not wireguard-go" % (addr,))
            self.pending.append(data)
            return True
        return False

    def drain(self, quiet=0.2):
        while self._pump(quiet):
            pass
        got, self.pending = self.pending, []
        return got

    def take(self, mtype, count, timeout, what, min_len=0):
        """The first `count` messages of type `mtype` at least `min_len`
        long, waiting at most `timeout` seconds for them."""
        end = time.monotonic() + timeout
        while True:
            hits = [m for m in self.pending
                    if len(m) >= 4 and struct.unpack_from("<I", m)[0] == mtype and len(m) >= min_len]
            if len(hits) >= count:
                hits = hits[:count]
                for m in hits:
                    self.pending.remove(m)
                return hits
            left = end - time.monotonic()
            check(left > 0, "%s: %d of %d type-%d messages from wireguard-go in %.0f s"
                  % (what, len(hits), count, mtype, timeout))
            self._pump(left)


def receiver_of(msg):
    return struct.unpack_from("<I", msg, 4)[0]


def counter_of(msg):
    return struct.unpack_from("<Q", msg, 8)[0]


def new_index(used):
    while True:
        i = struct.unpack("<I", os.urandom(4))[0]
        if i not in used:
            used.add(i)
            return i


class Tai64n:
    """Strictly increasing TAI64N timestamps from the current time (a real
    peer refuses an initiation whose timestamp is not past the last one)."""

    def __init__(self, mc):
        self.mc, self.last = mc, 0

    def __call__(self):
        ns = max(time.time_ns(), self.last + 1)
        self.last = ns
        return self.mc.TAI64N(ns // 10**9, ns % 10**9)


def echo_server(sock, stop):
    sock.settimeout(0.1)
    while not stop.is_set():
        try:
            data, addr = sock.recvfrom(65535)
        except socket.timeout:
            continue
        except OSError:
            return
        sock.sendto(data, addr)


def seal_and_check(tool, plaintexts, key, remote, first_counter, mc, what):
    """Seals a burst; checks every message's header and (cross-check only)
    that Python's ChaCha20-Poly1305 opens it to the padded plaintext."""
    sealed = tool.seal(plaintexts)
    msgs = []
    for i, ((st, m), p) in enumerate(zip(sealed, plaintexts)):
        check(st == "ok", "%s: seal #%d: %s" % (what, i, st))
        plen = padded_length(len(p))
        check(len(m) == 16 + plen + 16, "%s: sealed #%d is %d bytes, want %d"
              % (what, i, len(m), 32 + plen))
        typ, rcv, ctr = struct.unpack_from("<IIQ", m)
        check((typ, rcv, ctr) == (4, remote, first_counter + i),
              "%s: sealed #%d header %d/%08x/%d, want 4/%08x/%d"
              % (what, i, typ, rcv, ctr, remote, first_counter + i))
        pt = mc.AEAD_OPEN(key, ctr, m[16:], b"")
        check(pt == p + bytes(plen - len(p)), "%s: cross-check of sealed #%d failed" % (what, i))
        msgs.append(m)
    return msgs


def open_burst(tool, msgs, what, local=None):
    """Opens a burst that must all open; returns the trimmed plaintexts (a
    keepalive gives b"")."""
    res = tool.open(msgs)
    out = []
    for i, ((st, padded, tst, trimmed), m) in enumerate(zip(res, msgs)):
        check(st == "ok", "%s: open #%d (receiver %08x counter %d, %d bytes): %s"
              % (what, i, receiver_of(m), counter_of(m), len(m), st))
        if local is not None:
            check(receiver_of(m) == local, "%s: #%d under receiver index %08x, want %08x"
                  % (what, i, receiver_of(m), local))
        check(len(padded) == len(m) - 32, "%s: open #%d gave %d bytes" % (what, i, len(padded)))
        check(tst == "ok", "%s: trim_padding #%d: %s" % (what, i, tst))
        check(padded[len(trimmed):] == bytes(len(padded) - len(trimmed)),
              "%s: #%d padding not zero" % (what, i))
        check(len(padded) == padded_length(len(trimmed)),
              "%s: #%d: wireguard-go padded %d to %d, we would pad to %d"
              % (what, i, len(trimmed), len(padded), padded_length(len(trimmed))))
        out.append(trimmed)
    return out


def take_data(link, tool, count, timeout, what):
    """`count` non-keepalive transport messages; keepalives that arrive on
    the way are opened (they must authenticate and be empty) and counted."""
    msgs = link.take(4, count, timeout, what, min_len=48)
    kas = [m for m in link.pending if len(m) == 32 and struct.unpack_from("<I", m)[0] == 4]
    for m in kas:
        link.pending.remove(m)
    if kas:
        check(open_burst(tool, kas, what + " keepalives") == [b""] * len(kas),
              "%s: keepalive not empty" % what)
        link.keepalives += len(kas)
    return msgs


def initiate(link, mc, tai, s_priv, wg_pub, local, psk, what):
    """We initiate (Python's Noise IK): returns (remote index, T_send, T_recv)."""
    # wireguard-go drops an initiation that comes within HandshakeInitationRate
    # (20 ms) of the last one it consumed from the same peer ("handshake flood").
    wait = link.last_initiation + 0.1 - time.monotonic()
    if wait > 0:
        time.sleep(wait)
    link.last_initiation = time.monotonic()
    init, st = mc.initiator_begin(s_priv, wg_pub, mc.clamp(os.urandom(32)), local, tai())
    link.send(init)
    resp = link.take(2, 1, 5, what + " handshake response")[0]
    check(len(resp) == 92, "%s: response is %d bytes" % (what, len(resp)))
    mc.initiator_consume_response(st, resp, psk)  # exits non-zero if it does not verify
    send, recv = mc.derive_transport_keys(st["C"])
    return st["r_index"], send, recv


def inner(args):
    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(INNER_DEADLINE)
    mc = load_capture_module()
    wg_pub = base64.b64decode(args.wg_pub)
    tai = Tai64n(mc)
    used = set()
    link = Link()

    echo = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    echo.bind((WG_ADDR, ECHO_PORT))
    ksock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    ksock.bind((WG_ADDR, KSEND_PORT))
    stop = threading.Event()
    t = threading.Thread(target=echo_server, args=(echo, stop), daemon=True)
    t.start()

    tools = []

    def wg(*a):
        return run(["wg", "set", args.iface] + list(a))

    try:
        # ---- Scenario 1: we initiate ------------------------------------
        s1_priv = mc.clamp(os.urandom(32))
        s1_pub = mc.DH_PUB(s1_priv)
        wg("peer", mc.b64(s1_pub), "allowed-ips", OUR_ADDR + "/32")
        tool = Tool(args.tool, "session 1")
        tools.append(tool)
        idx1 = new_index(used)
        remote1, send1, recv1 = initiate(link, mc, tai, s1_priv, wg_pub, idx1, ZERO_PSK, "S1")
        check(tool.install(idx1, remote1, send1, recv1, True) == "ok", "S1: install refused")
        st = tool.state()
        check(st["current"] == str(idx1) and st["next"] == "-" and st["send_counter"] == "0",
              "S1: state after install: %r" % st)
        check(tool.events() == ["installed/%d/seal" % idx1], "S1: install events")
        note("S1: handshake ok (our index %08x, wireguard-go's %08x), installed as initiator"
             % (idx1, remote1))

        # ICMP echo requests: total lengths 29 (pads to 32), 84 (96), 96 (no
        # padding), 100 (112), 555 (560), 1419 (1420: capped) and 1420 (= MTU).
        sizes = [29, 84, 96, 100, 555, 1419, 1420]
        ident = os.getpid() & 0xFFFF
        reqs = []
        for seq, total in enumerate(sizes, start=1):
            data = bytes((seq * 31 + j) & 0xFF for j in range(total - 28))
            reqs.append(icmp_echo(OUR_ADDR, WG_ADDR, ident, seq, data, 0x100 + seq))
        msgs = seal_and_check(tool, reqs, send1, remote1, 0, mc, "S1 ICMP")
        for m in msgs:
            link.send(m)
        replies = take_data(link, tool, len(reqs), 5, "S1 ICMP replies")
        check(all(receiver_of(m) == idx1 for m in replies), "S1: replies not under our index")
        plains = open_burst(tool, replies, "S1 ICMP replies", idx1)
        by_seq = {}
        for p in plains:
            src, dst, proto, icmp = parse_ip4(p, "S1 ICMP reply")
            check((src, dst, proto) == (WG_ADDR, OUR_ADDR, 1),
                  "S1: reply %s -> %s proto %d" % (src, dst, proto))
            check(csum(icmp) == 0, "S1: bad ICMP checksum in reply")
            typ, code, _, rid, rseq = struct.unpack_from("!BBHHH", icmp)
            check((typ, code, rid) == (0, 0, ident), "S1: not our echo reply: %d/%d/%d" % (typ, code, rid))
            by_seq[rseq] = icmp[8:]
        for seq, req in enumerate(reqs, start=1):
            check(by_seq.get(seq) == req[28:], "S1: echo reply %d missing or different" % seq)
        note("S1: %d ICMP echo requests (IPv4 %s bytes) sealed in one burst; %d echo replies "
             "opened in one burst, trimmed and matched; wireguard-go's padding = ours (MTU %d)"
             % (len(reqs), "/".join(map(str, sizes)), len(plains), MTU))

        # UDP through the tunnel to the kernel's echo socket and back.
        udp_data = [b"rl-wg udp %d " % i + bytes(range(i * 40 % 256)) for i in range(4)]
        dgrams = [udp4(OUR_ADDR, 40000, WG_ADDR, ECHO_PORT, d, 0x200 + i)
                  for i, d in enumerate(udp_data)]
        msgs = seal_and_check(tool, dgrams, send1, remote1, len(reqs), mc, "S1 UDP")
        for m in msgs:
            link.send(m)
        replies = take_data(link, tool, len(dgrams), 5, "S1 UDP replies")

        # Negative checks on a real message before it is opened.
        victim = replies[0]
        bad_ct = bytearray(victim)
        bad_ct[20] ^= 0x04
        bad_tag = bytearray(victim)
        bad_tag[-1] ^= 0x80
        res = tool.open([bytes(bad_ct), bytes(bad_tag)])
        for (st_, left, _, _), sent, name in ((res[0], bad_ct, "ciphertext"),
                                               (res[1], bad_tag, "tag")):
            check(st_ == "auth_failed", "S1: bit flipped in the %s: %s, want auth_failed" % (name, st_))
            check(left == bytes(sent), "S1: refused message (%s) changed by open" % name)
        plains = open_burst(tool, replies, "S1 UDP replies", idx1)
        got = []
        for p in plains:
            src, dst, proto, udp = parse_ip4(p, "S1 UDP reply")
            check((src, dst, proto) == (WG_ADDR, OUR_ADDR, 17), "S1: UDP reply %s -> %s" % (src, dst))
            sport, dport, ulen, _ = struct.unpack_from("!HHHH", udp)
            check((sport, dport, ulen) == (ECHO_PORT, 40000, len(udp)), "S1: UDP reply ports/length")
            check(csum(udp_pseudo(src, dst, udp)) == 0, "S1: bad UDP checksum in reply")
            got.append(udp[8:])
        check(sorted(got) == sorted(udp_data), "S1: UDP echo payloads differ")
        res = tool.open([victim])
        check(res[0][0] == "replayed" and res[0][1] == victim, "S1: second copy: %s" % res[0][0])
        note("S1: %d UDP datagrams to the kernel's echo socket and back (one burst each way)"
             % len(dgrams))
        note("negative: one bit flipped in wireguard-go's ciphertext / tag -> auth_failed, "
             "bytes unchanged; the original then opened; a second copy -> replayed")

        # ---- Scenario 3: rekey while session 1 is current ---------------
        ksock.sendto(b"late-1 before rekey", (OUR_ADDR, 40001))
        held = take_data(link, tool, 1, 5, "S3 held-back message")[0]
        check(receiver_of(held) == idx1, "S3: held-back message not under session 1")
        idx3 = new_index(used)
        remote3, send3, recv3 = initiate(link, mc, tai, s1_priv, wg_pub, idx3, ZERO_PSK, "S3")
        check(tool.install(idx3, remote3, send3, recv3, True) == "ok", "S3: install refused")
        st = tool.state()
        check(st["current"] == str(idx3) and st["previous"] == str(idx1) and st["send_counter"] == "0",
              "S3: state after rekey: %r" % st)
        # wireguard-go has the new keypair as next: it still sends under the old one.
        ksock.sendto(b"late-2 after rekey", (OUR_ADDR, 40001))
        late2 = take_data(link, tool, 1, 5, "S3 message after rekey")[0]
        check(receiver_of(late2) == idx1, "S3: wireguard-go used receiver %08x after the rekey "
              "response, expected the old %08x" % (receiver_of(late2), idx1))
        p = open_burst(tool, [late2], "S3 old keypair", idx1)[0]
        check(p[-18:] == b"late-2 after rekey", "S3: late-2 payload")
        # Our first message under the new keypair confirms it to wireguard-go.
        d = udp4(OUR_ADDR, 40003, WG_ADDR, ECHO_PORT, b"first under the new keypair", 0x300)
        m = seal_and_check(tool, [d], send3, remote3, 0, mc, "S3 UDP")[0]
        link.send(m)
        r = take_data(link, tool, 1, 5, "S3 reply")[0]
        p = open_burst(tool, [r], "S3 new keypair", idx3)[0]
        check(p[28:] == b"first under the new keypair", "S3: echo under the new keypair")
        ksock.sendto(b"after confirmation", (OUR_ADDR, 40001))
        r = take_data(link, tool, 1, 5, "S3 after confirmation")[0]
        check(receiver_of(r) == idx3, "S3: wireguard-go still on the old keypair after confirmation")
        open_burst(tool, [r], "S3 new keypair (kernel)", idx3)
        p = open_burst(tool, [held], "S3 held back", idx1)[0]
        check(p[-19:] == b"late-1 before rekey", "S3: held-back payload")
        st = tool.state()
        check(st["current"] == str(idx3) and st["previous"] == str(idx1), "S3: final state %r" % st)
        note("S3: rekey (our initiation %08x) while %08x was current: wireguard-go kept "
             "sending under the old keypair until our first message under the new one; "
             "those and one held back from before the rekey opened under previous"
             % (idx3, idx1))

        # ---- Scenario 2: wireguard-go initiates, fresh peer, with a PSK ---
        wg("peer", mc.b64(s1_pub), "remove")
        link.drain()
        s2_priv = mc.clamp(os.urandom(32))
        s2_pub = mc.DH_PUB(s2_priv)
        psk = os.urandom(32)
        psk_file = os.path.join(args.tmp, "psk")
        with open(os.open(psk_file, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
            f.write(mc.b64(psk) + "\n")
        wg("peer", mc.b64(s2_pub), "preshared-key", psk_file, "allowed-ips", OUR_ADDR + "/32",
           "endpoint", "127.0.0.1:%d" % link.port)
        tool2 = Tool(args.tool, "session 2")
        tools.append(tool2)
        ksock.sendto(b"kernel speaks first", (OUR_ADDR, 40002))
        init = link.take(1, 1, 5, "S2 initiation from wireguard-go")[0]
        check(len(init) == 148, "S2: initiation is %d bytes" % len(init))
        rst = mc.responder_consume_initiation(s2_priv, init)
        check(rst["i_static_pub"] == wg_pub, "S2: initiation is not from wireguard-go's key")
        # wireguard-go's TAI64N: 2^62 + 10 + Unix seconds, nanoseconds rounded
        # down to 2^24 ns (its "whitener"); only its order matters to a peer.
        secs, nanos = struct.unpack(">QI", rst["timestamp"])
        skew = secs - (1 << 62) - 10 + nanos / 1e9 - time.time()
        idx2 = new_index(used)
        resp = mc.responder_reply(rst, mc.clamp(os.urandom(32)), idx2, psk)
        i_send, i_recv = mc.derive_transport_keys(rst["C"])
        send2, recv2 = i_recv, i_send  # we are the responder
        check(tool2.install(idx2, rst["i_index"], send2, recv2, False) == "ok", "S2: install refused")
        st = tool2.state()
        check(st["current"] == "-" and st["next"] == str(idx2), "S2: state after install %r" % st)
        check(tool2.events() == ["installed/%d/open" % idx2], "S2: install events")
        probe = udp4(OUR_ADDR, 40002, WG_ADDR, KSEND_PORT, b"too early", 0x400)
        res = tool2.seal([probe, probe])
        check([s for s, _ in res] == ["key_expired"] * 2,
              "S2: sealing before the initiator's first message: %r" % [s for s, _ in res])
        link.send(resp)
        first = link.take(4, 1, 5, "S2 first transport message")[0]
        res = tool2.open([first])
        check(res[0][0] == "ok", "S2: first message from wireguard-go: %s" % res[0][0])
        first_plain = res[0][3]
        st = tool2.state()
        check(st["current"] == str(idx2) and st["next"] == "-" and st["send_counter"] == "0",
              "S2: state after the first message %r" % st)
        check(tool2.events() == ["peer_updated/%d/open" % idx2], "S2: no peer_updated event")
        note("S2: wireguard-go's initiation answered (its TAI64N: label - 2^62 - 10 is "
             "%+.2f s from our clock, nanoseconds %s); "
             "installed as responder: seal -> key_expired; its first transport message "
             "(%s) opened and promoted next -> current (peer_updated)"
             % (skew, "whitened to 2^24 ns" if nanos & 0xFFFFFF == 0 else "%d" % nanos,
                "keepalive" if not first_plain else "%d-byte packet" % len(first_plain)))
        plains = [first_plain] if first_plain else []
        if not plains:
            plains = open_burst(tool2, take_data(link, tool2, 1, 5, "S2 staged datagram"),
                                "S2 staged datagram", idx2)
        src, dst, proto, udp = parse_ip4(plains[0], "S2 staged datagram")
        check((src, dst, proto) == (WG_ADDR, OUR_ADDR, 17) and
              struct.unpack_from("!HH", udp) == (KSEND_PORT, 40002) and
              udp[8:] == b"kernel speaks first", "S2: staged datagram differs")
        answers = [b"answer %d from 10.9.0.2" % i for i in range(3)]
        dgrams = [udp4(OUR_ADDR, 40002, WG_ADDR, KSEND_PORT, a, 0x410 + i)
                  for i, a in enumerate(answers)]
        for m in seal_and_check(tool2, dgrams, send2, rst["i_index"], 0, mc, "S2 answers"):
            link.send(m)
        ksock.settimeout(5)
        got = []
        try:
            for _ in answers:
                data, addr = ksock.recvfrom(65535)
                check(addr == (OUR_ADDR, 40002), "S2: answer from %r" % (addr,))
                got.append(data)
        except socket.timeout:
            pass
        check(sorted(got) == sorted(answers), "S2: the kernel got %d of %d answers" %
              (len(got), len(answers)))
        note("S2: staged datagram from the kernel received; %d answers sealed in one burst "
             "reached the kernel's socket (preshared key in this handshake)" % len(answers))

        # Anything else wireguard-go sent must still open.
        rest = [m for m in link.drain() if len(m) >= 32 and struct.unpack_from("<I", m)[0] == 4]
        if rest:
            open_burst(tool2, rest, "S2 trailing")
        note("keepalives from wireguard-go seen (opened, empty): %d; trailing messages: %d"
             % (link.keepalives, len(rest)))
        note("PASS")
        return 0
    except Failure as exc:
        print("FAIL: %s" % exc, flush=True)
        return FAIL
    except Deadline:
        print("FAIL: inner deadline (%d s) reached" % INNER_DEADLINE, flush=True)
        return FAIL
    except Harness as exc:
        print("HARNESS: %s" % exc, flush=True)
        return HARNESS
    finally:
        signal.alarm(0)
        stop.set()
        for tl in tools:
            tl.close()
        t.join(timeout=2)
        echo.close()
        ksock.close()
        link.s.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tool", required=True, help="path to rl-wg-tool")
    ap.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--iface", help=argparse.SUPPRESS)
    ap.add_argument("--wg-pub", help=argparse.SUPPRESS)
    ap.add_argument("--tmp", help=argparse.SUPPRESS)
    args = ap.parse_args()
    args.tool = os.path.abspath(args.tool)
    sys.exit(inner(args) if args.inner else outer(args))


if __name__ == "__main__":
    main()
