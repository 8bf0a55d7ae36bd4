#!/usr/bin/python3
"""DTLS 1.2 through rl-pipe, live against OpenSSL's s_client / s_server.

recordlayer does no handshakes. Here openssl s_server and s_client do a real
DTLS 1.2 handshake on loopback, each writing its key log (the master secret)
and printing its handshake messages (-msg -msgfile, where the ServerHello's random is
read). Then one of the two is killed (SIGKILL: no close_notify, no data sent)
and rl-pipe --proto dtls12 --symmetric takes its address and port with the
key block of that master secret and the two randoms (RFC 5246 section 6.3),
split by --role: every application record from then on is sealed or opened
by our engine, and the other openssl process is the real peer.

For each AEAD suite (AES-128-GCM, AES-256-GCM with the SHA-384 PRF,
ChaCha20-Poly1305) and each side taken over (client, server): Python sends
datagrams into rl-pipe's plain side, rl-pipe seals them as DTLS 1.2 records
(sequence numbers from 1: the handshake's Finished took 0 of epoch 1) and the
openssl process prints what SSL_read gave it, which must be those bytes in
order; then lines written to the openssl process's stdin go out as records it
seals, which rl-pipe opens and delivers to Python. rl-pipe's exit counters
must show every record opened and none failed.

Exit: 0 passed, 1 an interop check failed, 2 harness error, 77 the machine
cannot run it (no openssl binary).
"""
import argparse
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

SKIP, FAIL, HARNESS = 77, 1, 2
SUITES = [  # OpenSSL cipher name, rl-pipe --suite
    ("ECDHE-RSA-AES128-GCM-SHA256", "aes128-gcm"),
    ("ECDHE-RSA-AES256-GCM-SHA384", "aes256-gcm"),
    ("ECDHE-RSA-CHACHA20-POLY1305", "chacha20-poly1305"),
]
COUNT = 12


class Failed(Exception):
    pass


def log(msg):
    print(f"dtls12_pipe_live: {msg}", flush=True)


def free_udp_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def read_for(proc, want, timeout, buf):
    """Appends proc's stdout to buf (bytearray) until `want` (bytes) is in it."""
    end = time.time() + timeout
    fd = proc.stdout.fileno()
    while want not in buf and time.time() < end:
        r, _, _ = select.select([fd], [], [], 0.05)
        if r:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            buf += chunk
    return want in buf


def server_random(msg_text):
    """The ServerHello's random from `openssl -msg` output. OpenSSL 3.0's
    message callback does not name DTLS messages ("Not TLS data or unknown
    version"), so the hex dumps are read as they are: the ServerHello is the
    handshake message of type 2 whose body starts with DTLS 1.2's version: a
    12-byte handshake header (RFC 6347 section 4.2.2), server_version (2),
    then the random (32)."""
    dumps, cur = [], None
    for line in msg_text.splitlines():
        if re.match(r"^\s+[0-9a-f]{2}( [0-9a-f]{2})*\s*$", line):
            if cur is None:
                cur = []
                dumps.append(cur)
            cur += line.split()
        else:
            cur = None
    for d in dumps:
        body = bytes.fromhex("".join(d))
        if len(body) >= 46 and body[0] == 2 and body[12:14] == b"\xfe\xfd":
            return body[14:46].hex()
    return None


def one_run(openssl, pipe, tmp, cipher, suite, replace):
    sp, cp = free_udp_port(), free_udp_port()
    cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
    skl, ckl = os.path.join(tmp, f"s-{suite}-{replace}.keys"), os.path.join(tmp, f"c-{suite}-{replace}.keys")
    for f in (skl, ckl):
        if os.path.exists(f):
            os.unlink(f)
    server = subprocess.Popen(
        [openssl, "s_server", "-dtls1_2", "-accept", f"127.0.0.1:{sp}", "-cert", cert, "-key", key,
         "-cipher", cipher, "-keylogfile", skl, "-msg", "-msgfile", skl + ".msg", "-naccept", "1"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    procs = [server]
    pipe_proc = None
    try:
        sbuf, cbuf = bytearray(), bytearray()
        if not read_for(server, b"ACCEPT", 10, sbuf):
            raise Failed("s_server did not start: " + sbuf.decode(errors="replace"))
        client = subprocess.Popen(
            [openssl, "s_client", "-dtls1_2", "-connect", f"127.0.0.1:{sp}", "-bind", f"127.0.0.1:{cp}",
             "-cipher", cipher, "-keylogfile", ckl, "-msg", "-msgfile", ckl + ".msg", "-ign_eof"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        procs.append(client)
        # The client prints its session summary once the handshake is done; the
        # server prints "CIPHER is" when it is done.
        if not read_for(client, b"Verify return code", 10, cbuf):
            raise Failed("handshake (client): " + cbuf.decode(errors="replace")[-2000:])
        if not read_for(server, b"CIPHER is", 10, sbuf):
            raise Failed("handshake (server): " + sbuf.decode(errors="replace")[-2000:])
        time.sleep(0.2)  # any retransmitted last flight has settled
        gone, peer, peer_buf = (client, server, sbuf) if replace == "client" else (server, client, cbuf)
        with open((ckl if replace == "client" else skl) + ".msg") as f:
            sr = server_random(f.read())
        if sr is None:
            raise Failed("no ServerHello random in the -msg output")
        gone.send_signal(signal.SIGKILL)
        gone.wait()
        keylog = ckl if replace == "client" else skl
        with open(keylog) as f:
            if "CLIENT_RANDOM" not in f.read():
                raise Failed(f"no CLIENT_RANDOM line in {keylog}")

        plain_in, plain_out = free_udp_port(), socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        plain_out.bind(("127.0.0.1", 0))
        plain_out.settimeout(5)
        mine, theirs = (cp, sp) if replace == "client" else (sp, cp)
        pipe_log = open(os.path.join(tmp, f"pipe-{suite}-{replace}.log"), "w+")
        pipe_proc = subprocess.Popen(
            [pipe, "--proto", "dtls12", "--keylog", keylog, "--server-random", sr, "--suite", suite,
             "--role", replace, "--symmetric", "--listen", f"127.0.0.1:{mine}", "--peer", f"127.0.0.1:{theirs}",
             "--plain-listen", f"127.0.0.1:{plain_in}", "--plain-peer", f"127.0.0.1:{plain_out.getsockname()[1]}",
             "--workers", "1"],
            stdout=subprocess.DEVNULL, stderr=pipe_log)
        end = time.time() + 10
        while time.time() < end:
            pipe_log.seek(0)
            text = pipe_log.read()
            if "rl-pipe: ready" in text:
                break
            if pipe_proc.poll() is not None:
                raise Failed("rl-pipe exited: " + text)
            time.sleep(0.02)
        else:
            raise Failed("rl-pipe not ready")

        # Ours -> OpenSSL: each datagram one record; SSL_read hands them over in order.
        sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        expect = b""
        for i in range(COUNT):
            d = f"rl-pipe to openssl {suite} {i} ".encode() + bytes((i * 7 + k) % 26 + 97 for k in range(i * 90))
            d += b"\n"
            expect += d
            sender.sendto(d, ("127.0.0.1", plain_in))
            time.sleep(0.01)
        if not read_for(peer, expect, 5, peer_buf):
            raise Failed(f"openssl did not print what rl-pipe sealed ({len(expect)} bytes): "
                         + peer_buf.decode(errors="replace")[-1500:])

        # OpenSSL -> ours: each line written to its stdin goes out as a record.
        got = b""
        want = b""
        for i in range(COUNT):
            line = f"openssl to rl-pipe {suite} {i} {'x' * (i * 50)}\n".encode()
            want += line
            peer.stdin.write(line)
            peer.stdin.flush()
            while len(got) < len(want):
                try:
                    got += plain_out.recv(65536)
                except socket.timeout:
                    raise Failed(f"rl-pipe delivered {len(got)} of {len(want)} bytes")
        if got != want:
            raise Failed("what rl-pipe opened differs from what openssl sealed")
        pipe_proc.send_signal(signal.SIGTERM)
        pipe_proc.wait(10)
        pipe_log.seek(0)
        text = pipe_log.read()
        m = re.search(r"rl-pipe: exit unprotect .*", text)
        if not m:
            raise Failed("no exit counters: " + text)
        counters = dict(kv.split("=") for kv in m.group(0).split() if "=" in kv)
        if counters.get("failed") != "0" or int(counters.get("opened", "0")) < COUNT:
            raise Failed("rl-pipe counters: " + m.group(0))
        m = re.search(r"rl-pipe: exit protect .*", text)
        if not m or f"sealed={COUNT}" not in m.group(0):
            raise Failed("rl-pipe protect counters: " + (m.group(0) if m else text))
        log(f"{suite}, rl-pipe as the {replace}: {COUNT} records each way, "
            f"opened={counters.get('opened')} failed=0")
    finally:
        for p in procs + ([pipe_proc] if pipe_proc else []):
            if p.poll() is None:
                p.kill()
                p.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pipe", required=True)
    args = ap.parse_args()
    openssl = shutil.which("openssl")
    if openssl is None:
        log("skipped: no openssl binary")
        return SKIP
    tmp = tempfile.mkdtemp(prefix="rl-dtls12-live-")
    try:
        r = subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                            "-subj", "/CN=rl-pipe-test", "-keyout", os.path.join(tmp, "key.pem"),
                            "-out", os.path.join(tmp, "cert.pem")],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if r.returncode != 0:
            log("harness: cannot make a certificate: " + r.stdout.decode(errors="replace"))
            return HARNESS
        for cipher, suite in SUITES:
            for replace in ("client", "server"):
                one_run(openssl, args.pipe, tmp, cipher, suite, replace)
    except Failed as e:
        log(f"FAILED: {e}")
        return FAIL
    finally:
        if not os.environ.get("RL_KEEP"):
            shutil.rmtree(tmp, ignore_errors=True)
    log("passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
