// rl-pipe: an encrypted UDP pipeline over the io/ data paths.
//
//   plaintext in  --plain-listen --> [seal]  --> --peer         (protected)
//   plaintext out <-- --plain-peer <-- [open] <-- --listen      (protected)
//
// Four sockets, each used by exactly one direction, so that one worker per
// direction needs no locks: plain-in (bound, takes datagrams from anyone),
// wire-out (connected to --peer), wire-in (bound to --listen, takes protected
// datagrams from anyone; what authenticates is the key, not the address) and
// plain-out (connected to --plain-peer). No copy, no allocation per packet: a
// datagram is sealed or opened in place in the buffer it was received into
// (plain-in keeps the protocol's header room in front of each datagram) and
// sent from there with UdpPath::send_from; the buffer goes back to the
// receiving path when the send completed.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/tls12_prf.h"
#include "io/topology.h"
#include "io/udp_path.h"
#include "tools/pipe/codec.h"
#include "tools/replay/keylog.h"
#include "tools/replay/ovpn_keys.h"
#include "tools/replay/srtp_keys.h"
#include "tools/replay/xfrm_keys.h"

namespace rl::pipe {
namespace {

std::atomic<bool> g_stop{false}, g_hup{false};
void on_signal(int) { g_stop.store(true); }
void on_hup(int) { g_hup.store(true); }

const char kHelp[] = R"(rl-pipe: protect plaintext UDP datagrams and forward them to a peer rl-pipe,
unprotect what the peer sends back (ESP-in-UDP, QUIC short header, DTLS 1.2 (with
RFC 9146 CIDs) and DTLS 1.3, SRTP, WireGuard transport data, OpenVPN data channel).

Usage: rl-pipe --proto esp|quic|dtls12|dtls13|srtp|wireguard|openvpn --plain-listen A:P --plain-peer A:P
               --listen A:P --peer A:P [keys] [options]

Addresses (IPv4 a.b.c.d:port or IPv6 [addr]:port):
  --plain-listen A:P   receive plaintext datagrams here (from any sender)
  --plain-peer A:P     deliver unprotected datagrams (from the peer) here
  --listen A:P         receive protected datagrams from the peer here
  --peer A:P           send protected datagrams to the peer here (sent from an
                       ephemeral port; the peer accepts any source address)
  --symmetric          send protected datagrams from the --listen address and
                       port instead, as real peers expect (OpenVPN, WireGuard,
                       IPsec NAT-T answer the address a packet came from); the
                       protected socket is then connected to --peer and takes
                       datagrams from it only

Keys from a key file (the rl-replay formats, and one of rl-pipe's own):
  --xfrm FILE          `ip xfrm state` text (ESP; rfc4106(gcm(aes)) or
                       rfc7539esp(chacha20,poly1305)); the SAs are picked by
                       --spi-out / --spi-in, default: the first state seals, the
                       second (or the first again) opens
  --keylog FILE        NSS key log (QUIC, DTLS 1.3): CLIENT_TRAFFIC_SECRET_0 and
                       SERVER_TRAFFIC_SECRET_0 of the connection picked by
                       --client-random HEX (default: the only one in the file);
                       --role says which one this side seals with.
                       DTLS 1.2: the CLIENT_RANDOM line (master secret) of the
                       connection picked by --client-random HEX, with
                       --server-random HEX (the ServerHello's): the TLS 1.2 key
                       block of --suite (needed: the log does not name it; RFC
                       5246 section 6.3); --role client
                       seals with the client write key and IV
  --srtp-keys FILE     SDES a=crypto lines (SRTP); --srtp-out-tag / --srtp-in-tag
                       pick lines by their crypto tag, default: the first line
                       seals, the second (or the first again) opens
  --wg-keys FILE       WireGuard transport keys as a handshake hands them (the
                       only key source for --proto wireguard), one session per
                       line, oldest first; the last line is used:
                         local=IDX remote=IDX send=HEX64 recv=HEX64 initiator=0|1
                       local: our receiver index (the peer writes it into what
                       it sends us); remote: the peer's, written into what we
                       send; send / recv: T_send / T_recv, 32 bytes in hex;
                       initiator=1 on the side that sent the handshake
                       initiation. IDX is decimal or 0x hex. Fields in any
                       order; '#' starts a comment. The peer's file holds the
                       mirror image: local and remote swapped, send and recv
                       swapped, the other initiator value.
  --ovpn-keys FILE     OpenVPN data-channel keys (the only key source for --proto
                       openvpn), in rl-replay's --ovpn-keys format: "cipher NAME",
                       "peer_id HEX" and "key <key_id> HEX512" lines (or the
                       EXPORTER-OpenVPN-* lines an openvpn process exports); the
                       last key is used; --role server seals with the TLS server's
                       half of its material, client (default) with the client's.
                       The peer-id goes into every P_DATA_V2 packet sealed.
Keys from flags:
  --seal-key HEX       ESP: key||4-byte salt; QUIC/DTLS 1.3: traffic secret;
                       DTLS 1.2: write key||write IV (4 bytes for AES-GCM, 12
                       for ChaCha20-Poly1305); SRTP: master key||master salt
  --open-key HEX       the same for the direction the peer seals
  --suite S            aes128-gcm (default), aes256-gcm, chacha20-poly1305
                       (ESP from --xfrm and QUIC/DTLS with 48-byte secrets choose
                       by themselves unless given)
  --srtp-profile NAME  SDES suite name (default AES_CM_128_HMAC_SHA1_80)
Protocol options:
  --role client|server keylog: client seals with the CLIENT_ secret (default client)
  --spi-out N --spi-in N   ESP SPIs (decimal or 0x hex; default 0x100 both ways)
  --icv N              ESP ICV bytes: 8, 12 or 16 (default 16)
  --esn                ESP extended sequence numbers
  --dcid HEX           QUIC: Destination Connection ID written on seal
                       (default 0102030405060708)
  --cid-len N          QUIC: length of the CID in received short headers (default 8)
  --epoch N            DTLS 1.2: the epoch of the keys (default 1)
  --first-seq N        DTLS 1.2: the first sequence number sealed (default 1: the
                       handshake's Finished took 0)
  --seal-cid HEX       DTLS 1.2: the Connection ID the peer issued (RFC 9146):
                       seal tls12_cid records carrying it (default: plain records)
  --open-cid HEX       DTLS 1.2: the Connection ID we issued: open only tls12_cid
                       records carrying it (default: plain records only)
  --replay-window N    inbound replay window in packets (default 1024; WireGuard
                       always keeps 8128)
  --mtu N              WireGuard: the tunnel MTU that caps the padding of the
                       plaintext (default 0: pad to a multiple of 16 only)
Running:
  --workers 1|2        2 (default): one worker per direction; 1: one worker
                       doing both
  --cpus LIST          cores to pin workers to, e.g. 0,2-3 (hwloc; default: all,
                       in order); the topology used is printed with --verbose
  --burst N            datagrams per receive/seal/send burst (1..64, default 32)
  --gso                UDP GSO on the protected send side and GRO on the
                       protected receive side
  --zerocopy           zero-copy sends (io_uring SENDMSG_ZC) of large GSO runs
  --stats N            print the counters every N seconds (default: only at exit)
DTLS 1.2 has no rekey here: a new epoch needs a handshake, which rl-pipe does
  not carry.
Rekey (ESP): on SIGHUP the --xfrm file is read again, and the newest state
  with the reqid of the current outbound (inbound) SA but another SPI becomes
  the new outbound (inbound) SA, make-before-break: the new inbound SA opens
  beside the old one, which keeps opening late packets until the next rekey;
  sealing moves to the new SPI. "rl-pipe: rekeyed seal|open spi=0x..." (or
  "rekey failed ...") is printed per direction.
Rekey (SRTP, MKI rekeying, RFC 3711 section 8.1): on SIGHUP the --srtp-keys
  file is read again; per direction the last inline key of the last line
  with that direction's crypto tag becomes the new master key if its MKI
  differs from the current one (MKIs needed, of one length; several keys may
  share a line, separated by ';'). Open adds it beside the current key (late
  packets name the old MKI and still open until the next rekey); seal moves
  to the new MKI. "rl-pipe: rekeyed seal|open mki=0x..." is printed.
Key update (QUIC, DTLS 1.3): on SIGHUP the seal side moves to the next keys,
  derived from the current traffic secret ("quic ku", RFC 9001 section 6;
  "traffic upd", RFC 9147 section 8); the peer's open side recognises them on
  the wire and prints "rl-pipe: peer updated keys" with the new open
  generation or epoch. The seal side prints "rl-pipe: updated seal
  generation N" (QUIC) or "... epoch N" (DTLS 1.3), marked "following the
  peer" when QUIC's send keys answer the peer's update (RFC 9001 section
  6.2), and "update waiting ..." when it must wait (it is retried after
  later bursts). No ACK or KeyUpdate message is carried, so:
  QUIC: the first update needs one packet sent with the current keys; each
  later one waits until the peer's packets arrived under the current
  generation (the peer answers an update only after it opened one of ours,
  which stands in for the ACK of section 6.1), so updates need traffic both
  ways. The open side keeps the previous generation for late packets until
  the next update.
  DTLS 1.3: an update waits until one record was sealed in the current
  epoch; the open side keeps the two epochs after the peer's current one
  installed, and the previous one for late records until the epoch moves
  on again. A peer that lost every record of two epochs in a row cannot
  follow any more.
  --verbose            print the topology and the io paths chosen
  --help               this text
Rekey (WireGuard): on SIGHUP the --wg-keys file is read again and its last
  line, if its local index is not the one installed last, is installed as a
  new keypair as WireGuard does after a handshake: initiator=1 seals with it
  at once (the keypair before stays for late packets); initiator=0 keeps it
  as next and goes on sealing with the current one until the first message
  of the peer under the new keypair authenticates, then moves to it (the old
  one stays for late packets). So one pipe of a pair must have initiator=1
  on the new line and the other initiator=0. A pipe keeps the current, the
  previous and a next keypair: a third session pushes out the oldest.
  "rl-pipe: rekeyed seal|open keypair local=0x..." is printed per direction,
  "rl-pipe: peer updated keys", naming the keypair, when the peer's first
  message under a next keypair authenticated, and "rl-pipe: sealing with
  keypair local=0x..." whenever the keys sealed with change.
Rekey (OpenVPN): on SIGHUP the --ovpn-keys file is read again and its last
  key, if it is not the one installed last, is installed: seal uses it at
  once, and the keys before keep opening late packets (OpenVPN's transition
  window) until their key_id is used again. Signal the receiving pipe first:
  a packet under a key its peer has not installed yet is refused
  (unknown_epoch). "rl-pipe: rekeyed seal|open key_id=N" is printed.
WireGuard plaintext: each plaintext datagram must be one IPv4 or IPv6
  packet whose IP length field covers exactly the datagram (a tunnel's inner
  packet; the receiving side cuts the padded plaintext to that length).
  Other datagrams are not sent: they are counted as seal_failed and as
  refused in the exit seal_status line. What opens is delivered cut to its
  IP length; an authenticated plaintext without an IP packet is counted
  malformed, a keepalive (empty) is counted under other, neither delivered.
  At start a responder (initiator=0) has no keypair to seal with until the
  initiator's first message arrives: plaintext before it is counted as
  seal_failed. WireGuard's limits apply (the paper, section 6): a keypair
  seals nothing after 180 s (Reject-After-Time) or 2^64-2^13-1 messages, so
  new sessions must be fed in with SIGHUP before that.
The io path is chosen by probing (io_uring, else recvmmsg/sendmmsg); the
environment variable RL_IO=uring|mmsg forces one. Counters are printed to
stderr on exit (SIGINT/SIGTERM). "rl-pipe: ready" is printed to stderr once
every socket is bound.
)";

bool parse_addr(const std::string& s, sockaddr_storage& out, socklen_t& len) {
  out = sockaddr_storage{};
  std::string host, port;
  if (!s.empty() && s[0] == '[') {
    const size_t e = s.find(']');
    if (e == std::string::npos || e + 1 >= s.size() || s[e + 1] != ':') return false;
    host = s.substr(1, e - 1);
    port = s.substr(e + 2);
  } else {
    const size_t c = s.rfind(':');
    if (c == std::string::npos) return false;
    host = s.substr(0, c);
    port = s.substr(c + 1);
  }
  char* end = nullptr;
  const unsigned long p = std::strtoul(port.c_str(), &end, 10);
  if (port.empty() || *end != '\0' || p > 65535) return false;
  auto* a4 = reinterpret_cast<sockaddr_in*>(&out);
  auto* a6 = reinterpret_cast<sockaddr_in6*>(&out);
  if (inet_pton(AF_INET, host.c_str(), &a4->sin_addr) == 1) {
    a4->sin_family = AF_INET;
    a4->sin_port = htons(static_cast<uint16_t>(p));
    len = sizeof(sockaddr_in);
    return true;
  }
  if (inet_pton(AF_INET6, host.c_str(), &a6->sin6_addr) == 1) {
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons(static_cast<uint16_t>(p));
    len = sizeof(sockaddr_in6);
    return true;
  }
  return false;
}

bool parse_suite(const std::string& s, Suite& out) {
  if (s == "aes128-gcm" || s == "aes128gcm") out = Suite::aes128_gcm;
  else if (s == "aes256-gcm" || s == "aes256gcm") out = Suite::aes256_gcm;
  else if (s == "chacha20-poly1305" || s == "chacha20poly1305") out = Suite::chacha20_poly1305;
  else return false;
  return true;
}

bool parse_profile(const std::string& s, srtp::Profile& out) {
  for (srtp::Profile p : srtp::kAllProfiles) {
    const srtp::ProfileInfo i = srtp::profile_info(p);
    if (s == i.sdes_name || s == i.name) {
      out = p;
      return true;
    }
  }
  return false;
}

struct Options {
  CodecConfig codec;
  std::string plain_listen, plain_peer, listen, peer;
  std::string xfrm, keylog, srtp_keys, wg_keys, ovpn_keys, client_random, server_random, cpus;
  bool suite_given = false, role_client = true, gso = false, zerocopy = false, verbose = false;
  bool symmetric = false;
  bool spi_out_given = false, spi_in_given = false;
  uint32_t reqid_out = 0, reqid_in = 0;  // of the SAs picked from --xfrm
  std::optional<uint64_t> srtp_out_tag, srtp_in_tag;
  unsigned workers = 2, burst = 32, stats = 0;
};

[[noreturn]] void die(const std::string& msg) {
  std::fprintf(stderr, "rl-pipe: %s (see --help)\n", msg.c_str());
  std::exit(2);
}

uint64_t parse_num(const std::string& opt, const std::string& v) {
  uint64_t n = 0;
  if (!replay::parse_uint(v, n)) die(opt + ": not a number: " + v);
  return n;
}

Options parse_args(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto val = [&]() -> std::string {
      if (i + 1 >= argc) die(a + " needs a value");
      return argv[++i];
    };
    auto hexval = [&](std::vector<uint8_t>& out) {
      const std::string v = val();
      if (!replay::parse_hex(v, out, true)) die(a + ": not hex: " + v);
    };
    if (a == "--help" || a == "-h") {
      std::fputs(kHelp, stdout);
      std::exit(0);
    } else if (a == "--proto") {
      const std::string v = val();
      if (v == "esp") o.codec.proto = Proto::esp;
      else if (v == "quic") o.codec.proto = Proto::quic;
      else if (v == "dtls13" || v == "dtls") o.codec.proto = Proto::dtls13;
      else if (v == "dtls12") o.codec.proto = Proto::dtls12;
      else if (v == "srtp") o.codec.proto = Proto::srtp;
      else if (v == "wireguard" || v == "wg") o.codec.proto = Proto::wireguard;
      else if (v == "openvpn" || v == "ovpn") o.codec.proto = Proto::openvpn;
      else die("--proto: unknown " + v);
    } else if (a == "--plain-listen") o.plain_listen = val();
    else if (a == "--plain-peer") o.plain_peer = val();
    else if (a == "--listen") o.listen = val();
    else if (a == "--peer") o.peer = val();
    else if (a == "--xfrm") o.xfrm = val();
    else if (a == "--keylog") o.keylog = val();
    else if (a == "--srtp-keys") o.srtp_keys = val();
    else if (a == "--wg-keys") o.wg_keys = val();
    else if (a == "--ovpn-keys") o.ovpn_keys = val();
    else if (a == "--mtu") o.codec.wg_mtu = static_cast<uint32_t>(parse_num(a, val()));
    else if (a == "--client-random") o.client_random = val();
    else if (a == "--server-random") o.server_random = val();
    else if (a == "--epoch") {
      const uint64_t e = parse_num(a, val());
      if (e > 0xffff) die("--epoch: 0..65535");
      o.codec.dtls12_epoch = static_cast<uint16_t>(e);
    } else if (a == "--first-seq") o.codec.dtls12_first_seq = parse_num(a, val());
    else if (a == "--seal-cid") hexval(o.codec.dtls12_seal_cid);
    else if (a == "--open-cid") hexval(o.codec.dtls12_open_cid);
    else if (a == "--seal-key") hexval(o.codec.seal_key);
    else if (a == "--open-key") hexval(o.codec.open_key);
    else if (a == "--suite") {
      if (!parse_suite(val(), o.codec.seal_suite)) die("--suite: unknown suite");
      o.codec.open_suite = o.codec.seal_suite;
      o.suite_given = true;
    } else if (a == "--srtp-profile") {
      if (!parse_profile(val(), o.codec.srtp_seal_profile)) die("--srtp-profile: unknown profile");
      o.codec.srtp_open_profile = o.codec.srtp_seal_profile;
    } else if (a == "--role") {
      const std::string v = val();
      if (v != "client" && v != "server") die("--role: client or server");
      o.role_client = v == "client";
    } else if (a == "--spi-out") {
      o.codec.spi_out = static_cast<uint32_t>(parse_num(a, val()));
      o.spi_out_given = true;
    } else if (a == "--spi-in") {
      o.codec.spi_in = static_cast<uint32_t>(parse_num(a, val()));
      o.spi_in_given = true;
    } else if (a == "--icv") {
      o.codec.seal_icv = o.codec.open_icv = static_cast<uint8_t>(parse_num(a, val()));
    }
    else if (a == "--esn") o.codec.esn = true;
    else if (a == "--dcid") hexval(o.codec.dcid);
    else if (a == "--cid-len") o.codec.local_cid_len = static_cast<uint32_t>(parse_num(a, val()));
    else if (a == "--replay-window") o.codec.replay_window = static_cast<uint32_t>(parse_num(a, val()));
    else if (a == "--srtp-out-tag") o.srtp_out_tag = parse_num(a, val());
    else if (a == "--srtp-in-tag") o.srtp_in_tag = parse_num(a, val());
    else if (a == "--workers") {
      o.workers = static_cast<unsigned>(parse_num(a, val()));
      if (o.workers != 1 && o.workers != 2) die("--workers: 1 or 2");
    } else if (a == "--cpus") o.cpus = val();
    else if (a == "--burst") {
      o.burst = static_cast<unsigned>(parse_num(a, val()));
      if (o.burst == 0 || o.burst > kMaxBurst) die("--burst: 1..64");
    } else if (a == "--gso") o.gso = true;
    else if (a == "--symmetric") o.symmetric = true;
    else if (a == "--zerocopy") o.zerocopy = true;
    else if (a == "--stats") o.stats = static_cast<unsigned>(parse_num(a, val()));
    else if (a == "--verbose") o.verbose = true;
    else die("unknown option " + a);
  }
  if (o.plain_listen.empty() || o.plain_peer.empty() || o.listen.empty() || o.peer.empty())
    die("--plain-listen, --plain-peer, --listen and --peer are all needed");
  return o;
}

// One line of a --wg-keys file: a session as the handshake hands it in.
struct WgSession {
  uint32_t local = 0, remote = 0;
  std::vector<uint8_t> send, recv;
  bool initiator = false;
};

// Reads a --wg-keys file (format in --help). False with *why on the first
// line it cannot use, or when it holds no session.
bool read_wg_sessions(const std::string& path, std::vector<WgSession>& out, std::string* why) {
  std::ifstream f(path);
  if (!f) {
    *why = "cannot read " + path;
    return false;
  }
  out.clear();
  std::string line;
  for (size_t no = 1; std::getline(f, line); ++no) {
    if (const size_t hash = line.find('#'); hash != std::string::npos) line.erase(hash);
    std::istringstream words(line);
    std::string w;
    WgSession s;
    unsigned seen = 0;  // one bit per field
    const std::string at = path + ":" + std::to_string(no) + ": ";
    while (words >> w) {
      const size_t eq = w.find('=');
      const std::string k = w.substr(0, eq), v = eq == std::string::npos ? "" : w.substr(eq + 1);
      static const char* const kFields[] = {"local", "remote", "send", "recv", "initiator"};
      unsigned bit = 0;
      while (bit < 5 && k != kFields[bit]) ++bit;
      if (bit == 5 || eq == std::string::npos) {
        *why = at + "not a field: " + w;
        return false;
      }
      if (seen & (1u << bit)) {
        *why = at + k + " given twice";
        return false;
      }
      seen |= 1u << bit;
      uint64_t n = 0;
      if (bit < 2) {
        if (!replay::parse_uint(v, n) || n > 0xffffffffu) {
          *why = at + k + ": not a 32-bit index: " + v;
          return false;
        }
        (bit == 0 ? s.local : s.remote) = static_cast<uint32_t>(n);
      } else if (bit < 4) {
        std::vector<uint8_t>& key = bit == 2 ? s.send : s.recv;
        if (!replay::parse_hex(v, key, true) || key.size() != 32) {
          *why = at + k + ": not 32 bytes of hex";
          return false;
        }
      } else {
        if (v != "0" && v != "1") {
          *why = at + "initiator: 0 or 1";
          return false;
        }
        s.initiator = v == "1";
      }
    }
    if (seen == 0) continue;  // blank or comment
    if (seen != 0x1f) {
      *why = at + "local, remote, send, recv and initiator are all needed";
      return false;
    }
    out.push_back(std::move(s));
  }
  if (out.empty()) {
    *why = "no session in " + path;
    return false;
  }
  return true;
}

void take_wg_session(const WgSession& s, CodecConfig& c) {
  c.wg_local = s.local;
  c.wg_remote = s.remote;
  c.wg_initiator = s.initiator;
  c.seal_key = s.send;
  c.open_key = s.recv;
}

// The last key of an --ovpn-keys file into `c` (material, key_id, suite,
// peer-id, role). False with *why when the file gives none.
bool take_ovpn_key(const Options& o, CodecConfig& c, std::string* why) {
  replay::Diag diag;
  diag.quiet = true;
  replay::OvpnKeys k;
  if (!k.load_file(o.ovpn_keys, diag) || k.empty()) {
    *why = diag.messages().empty() ? "no key in " + o.ovpn_keys : diag.messages().back();
    return false;
  }
  if (!o.suite_given) {
    if (!k.suite) {
      *why = "no cipher line in " + o.ovpn_keys + " (or give --suite)";
      return false;
    }
    c.seal_suite = c.open_suite = *k.suite;
  }
  c.ovpn_material.assign(k.keys.back().material.begin(), k.keys.back().material.end());
  c.ovpn_key_id = k.keys.back().key_id;
  c.ovpn_tls_server = !o.role_client;
  c.ovpn_peer_id = k.peer_id.value_or(0);
  return true;
}

// DTLS 1.2 from a key log's CLIENT_RANDOM line: the key block (RFC 5246
// §6.3) of the master secret and the two randoms, split by --role.
void take_dtls12_keys(const Options& o, const replay::SessionSecrets& s, CodecConfig& c) {
  const replay::Secret* master = s.get(replay::SecretLabel::client_random);
  if (master == nullptr) die("--keylog: DTLS 1.2 needs the CLIENT_RANDOM line (master secret)");
  replay::Bytes sr;
  if (o.server_random.empty()) die("--keylog: DTLS 1.2 needs --server-random");
  if (!o.suite_given) die("--keylog: DTLS 1.2 needs --suite (the key log does not name it)");
  if (!replay::parse_hex(o.server_random, sr) || sr.size() != 32) die("--server-random: 32 bytes hex");
  if (c.seal_suite != c.open_suite) die("--suite: one suite for both directions");
  tls::KeyBlock kb;
  if (tls::tls12_key_block(c.seal_suite, suite_info(c.seal_suite).hash, master->value, s.client_random, sr, kb) !=
      Status::ok)
    die("--keylog: no key block from that master secret");
  auto keymat = [](std::span<const uint8_t> key, std::span<const uint8_t> iv) {
    std::vector<uint8_t> v(key.begin(), key.end());
    v.insert(v.end(), iv.begin(), iv.end());
    return v;
  };
  const auto client = keymat(kb.client_key(), kb.client_iv()), server = keymat(kb.server_key(), kb.server_iv());
  c.seal_key = o.role_client ? client : server;
  c.open_key = o.role_client ? server : client;
}

// Fills o.codec's keys from the key files (flags already there win).
void load_keys(Options& o) {
  replay::Diag diag;
  CodecConfig& c = o.codec;
  if (c.proto == Proto::openvpn) {
    if (o.ovpn_keys.empty()) die("--proto openvpn needs --ovpn-keys");
    std::string why;
    if (!take_ovpn_key(o, c, &why)) die("--ovpn-keys: " + why);
    return;
  }
  if (!o.ovpn_keys.empty()) die("--ovpn-keys is for --proto openvpn");
  if (c.proto == Proto::wireguard) {
    if (o.wg_keys.empty()) die("--proto wireguard needs --wg-keys");
    if (o.suite_given && c.seal_suite != Suite::chacha20_poly1305)
      die("--suite: WireGuard is ChaCha20-Poly1305 only");
    std::vector<WgSession> sessions;
    std::string why;
    if (!read_wg_sessions(o.wg_keys, sessions, &why)) die("--wg-keys: " + why);
    take_wg_session(sessions.back(), c);
    return;
  }
  if (!o.wg_keys.empty()) die("--wg-keys is for --proto wireguard");
  if (!o.xfrm.empty()) {
    replay::XfrmKeys x;
    if (!x.load_file(o.xfrm, diag) || x.states().empty()) die("--xfrm: no usable state in " + o.xfrm);
    const auto& st = x.states();
    const replay::XfrmState* out = o.spi_out_given ? x.find(c.spi_out) : &st[0];
    const replay::XfrmState* in =
        o.spi_in_given ? x.find(c.spi_in) : &st[st.size() > 1 ? 1 : 0];
    if (out == nullptr || in == nullptr) die("--xfrm: no state with the SPI asked for");
    auto take = [&](const replay::XfrmState& s, std::vector<uint8_t>& keymat, Suite& suite,
                    uint8_t& icv) {
      if (s.alg == replay::XfrmState::Alg::none) die("--xfrm: state without an AEAD algorithm");
      keymat = s.key;
      keymat.insert(keymat.end(), s.salt.begin(), s.salt.end());
      if (!o.suite_given)
        suite = s.alg == replay::XfrmState::Alg::chacha20_poly1305 ? Suite::chacha20_poly1305
                  : s.key.size() == 32                               ? Suite::aes256_gcm
                                                                     : Suite::aes128_gcm;
      if (s.icv_bits != 0) icv = static_cast<uint8_t>(s.icv_bits / 8);
      c.esn = c.esn || s.esn;
    };
    take(*out, c.seal_key, c.seal_suite, c.seal_icv);
    take(*in, c.open_key, c.open_suite, c.open_icv);
    c.spi_out = out->spi;
    c.spi_in = in->spi;
    o.reqid_out = out->reqid;
    o.reqid_in = in->reqid;
  }
  if (!o.keylog.empty()) {
    replay::KeyLog k;
    if (!k.load_file(o.keylog, diag) || k.size() == 0) die("--keylog: no secrets in " + o.keylog);
    const replay::SessionSecrets* s = nullptr;
    if (!o.client_random.empty()) {
      replay::Bytes cr;
      std::array<uint8_t, 32> r{};
      if (!replay::parse_hex(o.client_random, cr) || cr.size() != 32) die("--client-random: 32 bytes hex");
      std::copy(cr.begin(), cr.end(), r.begin());
      s = k.find(r);
    } else if (k.size() == 1) {
      s = &k.sessions().begin()->second;
    } else {
      die("--keylog: several connections; pick one with --client-random");
    }
    if (s == nullptr) die("--keylog: no such client random");
    if (c.proto == Proto::dtls12) {
      take_dtls12_keys(o, *s, c);
      return;
    }
    const replay::Secret* cs = s->get(replay::SecretLabel::client_traffic_0);
    const replay::Secret* ss = s->get(replay::SecretLabel::server_traffic_0);
    if (cs == nullptr || ss == nullptr) die("--keylog: CLIENT_/SERVER_TRAFFIC_SECRET_0 needed");
    c.seal_key = o.role_client ? cs->value : ss->value;
    c.open_key = o.role_client ? ss->value : cs->value;
    if (!o.suite_given && c.seal_key.size() == 48) c.seal_suite = Suite::aes256_gcm;
    if (!o.suite_given && c.open_key.size() == 48) c.open_suite = Suite::aes256_gcm;
  }
  if (!o.srtp_keys.empty()) {
    replay::SrtpKeys k;
    if (!k.load_file(o.srtp_keys, diag) || k.keys().empty()) die("--srtp-keys: no key in " + o.srtp_keys);
    auto pick = [&](std::optional<uint64_t> tag, size_t dflt) -> const replay::SrtpKey& {
      if (tag) {
        for (const replay::SrtpKey& key : k.keys())
          if (key.tag == *tag) return key;
        die("--srtp-keys: no line with crypto tag " + std::to_string(*tag));
      }
      return k.keys()[std::min(dflt, k.keys().size() - 1)];
    };
    auto take = [&](const replay::SrtpKey& key, std::vector<uint8_t>& km, std::vector<uint8_t>& mki,
                    srtp::Profile& prof) {
      if (key.suite == nullptr || key.keys.empty()) die("--srtp-keys: line without a key");
      if (!parse_profile(key.suite->name, prof)) die(std::string("--srtp-keys: suite ") + key.suite->name);
      const replay::SrtpKeyParam& p = key.keys[0];
      km = p.key;
      km.insert(km.end(), p.salt.begin(), p.salt.end());
      mki.clear();
      if (p.mki)
        for (int b = p.mki_len - 1; b >= 0; --b) mki.push_back(static_cast<uint8_t>(*p.mki >> (8 * b)));
      if (key.kdr != 0) c.srtp_kdr = key.kdr;
    };
    const replay::SrtpKey& out = pick(o.srtp_out_tag, 0);
    const replay::SrtpKey& in = pick(o.srtp_in_tag, 1);
    take(out, c.seal_key, c.srtp_seal_mki, c.srtp_seal_profile);
    take(in, c.open_key, c.srtp_open_mki, c.srtp_open_profile);
    o.srtp_out_tag = out.tag;  // SIGHUP looks for the next keys under these tags
    o.srtp_in_tag = in.tag;
  }
  if (c.seal_key.empty() || c.open_key.empty())
    die("no keys: give a key file or --seal-key and --open-key");
}

// The next WireGuard session from the --wg-keys file read again (SIGHUP):
// its last line, when that is not the session installed last. False (with
// *why) when there is none.
bool next_wg_keys(const Options& o, CodecConfig& next, std::string* why) {
  std::vector<WgSession> sessions;
  if (!read_wg_sessions(o.wg_keys, sessions, why)) return false;
  if (sessions.back().local == o.codec.wg_local) {
    char b[96];
    std::snprintf(b, sizeof b, "no new session (the last line has local=0x%x, installed already)",
                  static_cast<unsigned>(o.codec.wg_local));
    *why = b;
    return false;
  }
  next = o.codec;
  take_wg_session(sessions.back(), next);
  return true;
}

// The next OpenVPN key from the --ovpn-keys file read again (SIGHUP): its
// last key, when that is not the one installed last.
bool next_ovpn_keys(const Options& o, CodecConfig& next, std::string* why) {
  next = o.codec;
  if (!take_ovpn_key(o, next, why)) return false;
  if (next.ovpn_key_id == o.codec.ovpn_key_id && next.ovpn_material == o.codec.ovpn_material) {
    *why = "no new key (the last key line is installed already)";
    return false;
  }
  return true;
}

// The next ESP SAs from the --xfrm file read again (SIGHUP): per direction,
// the last state in file order with that direction's reqid and an SPI other
// than the current one. False (with *why) when there is none.
bool next_esp_keys(const Options& o, CodecConfig& next, std::string* why) {
  if (o.codec.proto != Proto::esp || o.xfrm.empty()) {
    *why = o.codec.proto == Proto::dtls12
               ? "DTLS 1.2 has no rekey here (a new epoch needs a handshake)"
               : "rekey needs --proto esp with --xfrm, --proto srtp with --srtp-keys, wireguard, or quic / dtls13";
    return false;
  }
  if (o.reqid_out == o.reqid_in) {
    *why = "rekey needs distinct reqids for the outbound and inbound states";
    return false;
  }
  replay::Diag diag;
  replay::XfrmKeys x;
  if (!x.load_file(o.xfrm, diag)) {
    *why = "cannot read " + o.xfrm;
    return false;
  }
  const replay::XfrmState *out = nullptr, *in = nullptr;
  for (const replay::XfrmState& s : x.states()) {
    if (s.alg == replay::XfrmState::Alg::none) continue;
    if (s.reqid == o.reqid_out && s.spi != o.codec.spi_out) out = &s;
    if (s.reqid == o.reqid_in && s.spi != o.codec.spi_in) in = &s;
  }
  if (out == nullptr || in == nullptr) {
    *why = "no new state for reqid " + std::to_string(out == nullptr ? o.reqid_out : o.reqid_in);
    return false;
  }
  next = o.codec;
  auto take = [&](const replay::XfrmState& s, std::vector<uint8_t>& keymat, Suite& suite, uint8_t& icv) {
    keymat = s.key;
    keymat.insert(keymat.end(), s.salt.begin(), s.salt.end());
    suite = s.alg == replay::XfrmState::Alg::chacha20_poly1305 ? Suite::chacha20_poly1305
            : s.key.size() == 32                               ? Suite::aes256_gcm
                                                               : Suite::aes128_gcm;
    if (s.icv_bits != 0) icv = static_cast<uint8_t>(s.icv_bits / 8);
  };
  take(*out, next.seal_key, next.seal_suite, next.seal_icv);
  take(*in, next.open_key, next.open_suite, next.open_icv);
  next.spi_out = out->spi;
  next.spi_in = in->spi;
  return true;
}

// The next SRTP master keys from the --srtp-keys file read again (SIGHUP):
// per direction, the last inline key of the last line with that
// direction's crypto tag, which must carry an MKI other than the current
// one (RFC 3711 §8.1: the MKI tells the receiver which master key a packet
// used; RFC 4568 §6.1: a=crypto lines may list several keys, each with
// its MKI). False (with *why) when there is none.
bool next_srtp_keys(const Options& o, CodecConfig& next, std::string* why) {
  replay::Diag diag;
  replay::SrtpKeys k;
  if (!k.load_file(o.srtp_keys, diag)) {
    *why = "cannot read " + o.srtp_keys;
    return false;
  }
  next = o.codec;
  for (const bool out : {true, false}) {
    const uint64_t tag = *(out ? o.srtp_out_tag : o.srtp_in_tag);
    const replay::SrtpKey* line = nullptr;
    for (const replay::SrtpKey& key : k.keys())
      if (key.tag == tag && key.suite != nullptr && !key.keys.empty()) line = &key;
    if (line == nullptr) {
      *why = "no line with crypto tag " + std::to_string(tag);
      return false;
    }
    const replay::SrtpKeyParam& p = line->keys.back();
    std::vector<uint8_t> mki;
    if (p.mki)
      for (int b = p.mki_len - 1; b >= 0; --b) mki.push_back(static_cast<uint8_t>(*p.mki >> (8 * b)));
    const std::vector<uint8_t>& cur = out ? o.codec.srtp_seal_mki : o.codec.srtp_open_mki;
    if (mki.empty() || mki == cur) {
      *why = "no new key with an MKI under crypto tag " + std::to_string(tag);
      return false;
    }
    srtp::Profile prof;
    if (!parse_profile(line->suite->name, prof)) {
      *why = std::string("suite ") + line->suite->name;
      return false;
    }
    std::vector<uint8_t>& km = out ? next.seal_key : next.open_key;
    km = p.key;
    km.insert(km.end(), p.salt.begin(), p.salt.end());
    (out ? next.srtp_seal_mki : next.srtp_open_mki) = mki;
    (out ? next.srtp_seal_profile : next.srtp_open_profile) = prof;
  }
  return true;
}

std::string hex_of(const std::vector<uint8_t>& b) {
  std::string s;
  char x[3];
  for (uint8_t v : b) {
    std::snprintf(x, sizeof x, "%02x", v);
    s += x;
  }
  return s;
}

// A rekey handed from the main thread to the workers: each applies its
// direction between bursts (no lock on the data path: one flag load per
// loop) and clears its flag. ESP / SRTP / WireGuard: new SAs / master keys
// / keypair from `next`, both directions. QUIC / DTLS 1.3: a key update of
// the seal side only (the open side follows the peer by itself); the
// protocol may make it wait (Codec::update), then the flag stays set and the
// seal worker tries again after its next bursts. `peer` is written by the
// open worker: the newest key generation (QUIC) or epoch (DTLS 1.3) the
// peer's packets authenticated with, which QUIC's seal side needs (see
// QuicCodec::update), or the WireGuard keypair the peer confirmed, which a
// seal side with its own codec follows (watch_seal).
struct RekeyOrder {
  CodecConfig next;
  std::atomic<bool> seal{false}, open{false};
  std::atomic<uint64_t> peer{0};
};

// What one worker last printed about its direction's keys.
struct KeyWatch {
  uint64_t generation = 0;
  bool waiting = false;  // "update waiting" printed for the pending update
};

// QUIC / DTLS 1.3 seal side: runs the ordered update, or the one the
// protocol asks for in answer to the peer's (QUIC, RFC 9001 §6.2), and
// prints every change of the send generation once (with --workers 1 the
// QUIC engine also follows the peer by itself while opening).
void update_seal(RekeyOrder& r, std::atomic<bool>& flag, Codec& codec, KeyWatch& w) {
  const bool order = flag.load(std::memory_order_acquire);
  const uint64_t peer = r.peer.load(std::memory_order_acquire);
  bool mine = false;
  if (order || codec.must_follow(peer)) {
    const char* why = "";
    const Status s = codec.update(peer, &why);
    if (s == Status::ok) {
      mine = order;
      w.waiting = false;
      if (order) flag.store(false, std::memory_order_release);
    } else if (s == Status::invalid_argument) {
      if (!w.waiting)
        std::fprintf(stderr, "rl-pipe: update waiting seal %s %llu: %s\n", codec.generation_name(),
                     (unsigned long long)codec.generation(Direction::seal), why);
      w.waiting = true;
    } else {
      std::fprintf(stderr, "rl-pipe: update failed seal %s %llu: %s\n", codec.generation_name(),
                   (unsigned long long)codec.generation(Direction::seal), why);
      w.waiting = false;
      if (order) flag.store(false, std::memory_order_release);
    }
  }
  const uint64_t g = codec.generation(Direction::seal);
  if (g != w.generation) {
    std::fprintf(stderr, "rl-pipe: updated seal %s %llu%s\n", codec.generation_name(),
                 (unsigned long long)g, mine ? "" : " (following the peer)");
    w.generation = g;
  }
}

// ESP / SRTP / WireGuard seal side, between bursts: follows the peer where
// the protocol asks for it (WireGuard with one codec per direction: the
// keypair the open side's Peer saw confirmed, handed over in r.peer by
// watch_peer), and prints every change of the keys sealed with (WireGuard: a
// new keypair as initiator at once, as responder once the peer confirmed it;
// ESP and SRTP report none here, their rekey lines say it).
void watch_seal(RekeyOrder& r, Codec& codec, KeyWatch& w) {
  const uint64_t peer = r.peer.load(std::memory_order_acquire);
  if (codec.must_follow(peer)) {
    const char* why = "";
    if (codec.update(peer, &why) != Status::ok)
      std::fprintf(stderr, "rl-pipe: follow failed seal %s: %s\n", codec.describe(peer).c_str(), why);
  }
  const uint64_t g = codec.generation(Direction::seal);
  if (g != w.generation) {
    std::fprintf(stderr, "rl-pipe: sealing with %s\n", codec.describe(g).c_str());
    w.generation = g;
  }
}

void apply_rekey(RekeyOrder& r, std::atomic<bool>& flag, Codec& codec, Direction d, KeyWatch& w) {
  if (codec.updates_keys()) {
    if (d == Direction::seal) update_seal(r, flag, codec, w);
    else flag.store(false, std::memory_order_release);  // the open side follows the peer
    return;
  }
  if (flag.load(std::memory_order_acquire)) {
    const Status s = codec.rekey(r.next, d);
    const bool seal = d == Direction::seal;
    char id[80];
    if (r.next.proto == Proto::srtp)
      std::snprintf(id, sizeof id, "mki=0x%s",
                    hex_of(seal ? r.next.srtp_seal_mki : r.next.srtp_open_mki).c_str());
    else if (r.next.proto == Proto::openvpn)
      std::snprintf(id, sizeof id, "key_id=%u", static_cast<unsigned>(r.next.ovpn_key_id));
    else if (r.next.proto == Proto::wireguard)
      std::snprintf(id, sizeof id, "keypair local=0x%x remote=0x%x %s",
                    static_cast<unsigned>(r.next.wg_local), static_cast<unsigned>(r.next.wg_remote),
                    r.next.wg_initiator ? "initiator" : "responder");
    else
      std::snprintf(id, sizeof id, "spi=0x%x", seal ? r.next.spi_out : r.next.spi_in);
    const char* what = seal ? "seal" : "open";
    if (s == Status::ok)
      std::fprintf(stderr, "rl-pipe: rekeyed %s %s\n", what, id);
    else
      std::fprintf(stderr, "rl-pipe: rekey failed %s %s: %s\n", what, id, to_string(s));
    flag.store(false, std::memory_order_release);
  }
  if (d == Direction::seal) watch_seal(r, codec, w);
}

// QUIC / DTLS 1.3 / WireGuard open side, after each burst: reports the
// peer's key update (the engine's peer_updated event; WireGuard: the first
// message under a next keypair authenticated) and hands its generation to
// the seal side.
void watch_peer(RekeyOrder& r, Codec& codec, KeyWatch& w) {
  uint64_t g = 0;
  if (!codec.poll_peer_update(&g)) return;
  w.generation = g;
  std::fprintf(stderr, "rl-pipe: peer updated keys (open %s)\n", codec.describe(g).c_str());
  r.peer.store(g, std::memory_order_release);
}

// Counters of one direction, updated once per burst by its worker.
struct DirCounters {
  std::atomic<uint64_t> rx{0}, done{0}, tx{0}, dropped_size{0}, tx_rejected{0};
  CodecCounters codec;           // owned by the worker
  std::atomic<uint64_t> failed{0};
};

// One direction: receive a burst on `in`, seal or open it, send on `out`.
class Flow {
 public:
  Flow(io::UdpPath* in, io::UdpPath* out, Codec* codec, bool seal, unsigned burst)
      : in_(in), out_(out), codec_(codec), seal_(seal), burst_(burst) {}

  // Returns the number of datagrams received.
  size_t step(int timeout_ms) {
    io::RxPacket rx[kMaxBurst];
    const size_t n = in_->receive({rx, burst_}, timeout_ms);
    if (n == 0) {
      out_->poll();
      return 0;
    }
    c.rx.fetch_add(n, std::memory_order_relaxed);
    send(seal_ ? seal_burst(rx, n) : open_burst(rx, n));
    return n;
  }

  DirCounters c;

 private:
  // Seals in place in the receive buffers: the datagram has the path's
  // rx_headroom in front of it and the rest of its buffer behind it.
  size_t seal_burst(const io::RxPacket* rx, size_t n) {
    const uint32_t head = codec_->headroom(), tail = codec_->tailroom();
    size_t m = 0;
    for (size_t i = 0; i < n; ++i) {
      const std::span<uint8_t> whole = in_->rx_buffer(rx[i].buf);
      uint8_t* const end = whole.data() + whole.size();
      if (rx[i].data - whole.data() < head || static_cast<size_t>(end - rx[i].data) < rx[i].len + tail) {
        c.dropped_size.fetch_add(1, std::memory_order_relaxed);
        in_->recycle({&rx[i], 1});
        continue;
      }
      uint8_t* const start = rx[i].data - head;
      views_[m] = PacketView{start, static_cast<uint32_t>(end - start), head, rx[i].len, Status::ok};
      idx_[m++] = static_cast<uint32_t>(i);
    }
    codec_->seal({views_, m});
    size_t k = 0;
    for (size_t j = 0; j < m; ++j) {
      const io::RxPacket& r = rx[idx_[j]];
      if (views_[j].status != Status::ok) {
        ++c.codec.seal_failed;
        c.codec.seal_malformed += views_[j].status == Status::malformed;
        in_->recycle({&r, 1});
        continue;
      }
      ++c.codec.sealed;
      fwd_[k++] = io::RxPacket{views_[j].data(), views_[j].length, r.buf};
    }
    c.done.fetch_add(k, std::memory_order_relaxed);
    c.failed.store(c.codec.seal_failed, std::memory_order_relaxed);
    return k;
  }

  // Opens in place; the plaintext is sent from where it lies.
  size_t open_burst(const io::RxPacket* rx, size_t n) {
    for (size_t i = 0; i < n; ++i) views_[i] = PacketView{rx[i].data, rx[i].len, 0, rx[i].len, Status::ok};
    codec_->open({views_, n});
    count_open({views_, n}, c.codec);
    size_t k = 0;
    for (size_t i = 0; i < n; ++i) {
      if (views_[i].status != Status::ok) {
        in_->recycle({&rx[i], 1});
        continue;
      }
      fwd_[k++] = io::RxPacket{views_[i].data(), views_[i].length, rx[i].buf};
    }
    c.done.fetch_add(k, std::memory_order_relaxed);
    c.failed.store(c.codec.auth_failed + c.codec.replayed + c.codec.malformed + c.codec.other_failed,
                   std::memory_order_relaxed);
    return k;
  }

  // Sends the burst from the receive buffers; a full queue is retried
  // briefly (completions free room), then the rest is dropped and counted.
  void send(size_t k) {
    size_t done = 0;
    for (int tries = 0; done < k && tries < 200; ++tries) {
      done += out_->send_from(*in_, {fwd_ + done, k - done});
      if (done < k) out_->poll();
    }
    if (done < k) in_->recycle({fwd_ + done, k - done});
    c.tx.fetch_add(done, std::memory_order_relaxed);
    c.tx_rejected.fetch_add(k - done, std::memory_order_relaxed);
  }

  io::UdpPath* in_;
  io::UdpPath* out_;
  Codec* codec_;
  bool seal_;
  size_t burst_;
  PacketView views_[kMaxBurst];
  uint32_t idx_[kMaxBurst];
  io::RxPacket fwd_[kMaxBurst];
};

void print_counters(const char* when, const Flow& prot, const Flow& unprot, const io::UdpPath& wire_out,
                    const io::UdpPath& plain_out) {
  const CodecCounters& s = prot.c.codec;
  const CodecCounters& o = unprot.c.codec;
  std::fprintf(stderr,
               "rl-pipe: %s protect rx=%llu sealed=%llu seal_failed=%llu tx=%llu tx_rejected=%llu "
               "dropped_size=%llu\n",
               when, (unsigned long long)prot.c.rx.load(), (unsigned long long)prot.c.done.load(),
               (unsigned long long)prot.c.failed.load(), (unsigned long long)prot.c.tx.load(),
               (unsigned long long)prot.c.tx_rejected.load(), (unsigned long long)prot.c.dropped_size.load());
  std::fprintf(stderr,
               "rl-pipe: %s unprotect rx=%llu opened=%llu failed=%llu tx=%llu tx_rejected=%llu\n",
               when, (unsigned long long)unprot.c.rx.load(), (unsigned long long)unprot.c.done.load(),
               (unsigned long long)unprot.c.failed.load(), (unsigned long long)unprot.c.tx.load(),
               (unsigned long long)unprot.c.tx_rejected.load());
  if (std::strcmp(when, "exit") == 0) {
    // Per-status detail, read after the workers stopped.
    std::fprintf(stderr,
                 "rl-pipe: exit open_status auth_failed=%llu replayed=%llu malformed=%llu other=%llu "
                 "seal_status sealed=%llu failed=%llu refused=%llu\n",
                 (unsigned long long)o.auth_failed, (unsigned long long)o.replayed,
                 (unsigned long long)o.malformed, (unsigned long long)o.other_failed,
                 (unsigned long long)s.sealed, (unsigned long long)s.seal_failed,
                 (unsigned long long)s.seal_malformed);
    for (const io::UdpPath* p : {&wire_out, &plain_out}) {
      const io::IoCounters& c = p->counters();
      std::fprintf(stderr,
                   "rl-pipe: exit %s-send path=%s tx_packets=%llu tx_calls=%llu tx_again=%llu "
                   "tx_refused=%llu tx_errors=%llu sq_full=%llu zc=%llu zc_copied=%llu\n",
                   p == &wire_out ? "wire" : "plain", io::to_string(p->kind()),
                   (unsigned long long)c.tx_packets, (unsigned long long)c.tx_calls,
                   (unsigned long long)c.tx_again, (unsigned long long)c.tx_refused,
                   (unsigned long long)c.tx_errors, (unsigned long long)c.sq_full,
                   (unsigned long long)c.tx_zc, (unsigned long long)c.tx_zc_copied);
    }
  }
}

int run(int argc, char** argv) {
  Options o = parse_args(argc, argv);
  load_keys(o);
  std::string err;
  // One codec per worker: the engines are not thread-safe, and each worker
  // only uses its own direction's state.
  auto seal_codec = make_codec(o.codec, &err);
  auto open_codec = o.workers == 2 ? make_codec(o.codec, &err) : nullptr;
  if (!seal_codec || (o.workers == 2 && !open_codec)) die(err);
  Codec* opener = o.workers == 2 ? open_codec.get() : seal_codec.get();

  const io::Topology& topo = io::Topology::get();
  std::vector<unsigned> cores = topo.choose_cores(o.cpus);
  if (cores.empty()) die("--cpus: no usable core in " + o.cpus);
  if (o.verbose) std::fprintf(stderr, "rl-pipe: topology\n%s\n", topo.describe().c_str());
  auto node_of = [&](unsigned w) {
    const unsigned core = cores[w % cores.size()];
    return core < topo.cores().size() ? topo.cores()[core].numa_node : -1;
  };

  sockaddr_storage pl, pp, ls, pr;
  socklen_t pll, ppl, lsl, prl;
  if (!parse_addr(o.plain_listen, pl, pll)) die("--plain-listen: bad address " + o.plain_listen);
  if (!parse_addr(o.plain_peer, pp, ppl)) die("--plain-peer: bad address " + o.plain_peer);
  if (!parse_addr(o.listen, ls, lsl)) die("--listen: bad address " + o.listen);
  if (!parse_addr(o.peer, pr, prl)) die("--peer: bad address " + o.peer);
  auto any_of = [](const sockaddr_storage& like, socklen_t& len) {
    sockaddr_storage a{};
    a.ss_family = like.ss_family;
    len = like.ss_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
    return a;
  };
  socklen_t al1, al2;
  const sockaddr_storage any_pr = any_of(pr, al1), any_pp = any_of(pp, al2);
  auto sa = [](const sockaddr_storage& s) { return reinterpret_cast<const sockaddr*>(&s); };

  // --symmetric: the protected side is one socket, bound to --listen and
  // connected to --peer; wire-out sends on a duplicate of it (a path arms its
  // receives only when asked to receive, which wire-out never is).
  int wire_fd = -1;
  if (o.symmetric) {
    std::string e;
    wire_fd = io::open_udp_socket(sa(ls), lsl, sa(pr), prl, o.gso, &e);
    if (wire_fd < 0) die("--symmetric: " + e);
  }
  auto make_path = [&](const sockaddr_storage& bind, socklen_t bl, const sockaddr_storage* peer,
                       socklen_t peer_len, bool gro, bool gso, unsigned worker, uint32_t headroom,
                       const char* what) -> std::unique_ptr<io::UdpPath> {
    std::string e;
    const bool wire = std::strncmp(what, "wire", 4) == 0;
    const int fd = wire && wire_fd >= 0
                       ? dup(wire_fd)
                       : io::open_udp_socket(sa(bind), bl, peer ? sa(*peer) : nullptr, peer_len, gro, &e);
    if (fd < 0) die(std::string(what) + ": " + (e.empty() ? std::strerror(errno) : e));
    io::PathConfig cfg;
    cfg.gso = gso;
    cfg.gro = gro;
    cfg.zerocopy = o.zerocopy;
    cfg.rx_buffers = gro ? 256 : 1024;
    cfg.tx_buffers = 1024;
    cfg.numa_node = node_of(worker);
    cfg.rx_headroom = headroom;
    auto p = io::make_udp_path(fd, cfg, &e);
    if (!p) die(std::string(what) + ": " + e);
    if (o.verbose)
      std::fprintf(stderr, "rl-pipe: %s path=%s%s%s\n", what, io::to_string(p->kind()),
                   e.empty() ? "" : " note: ", e.c_str());
    return p;
  };
  const unsigned w_open = o.workers == 2 ? 1 : 0;
  // Declared in this order so that each sending path is destroyed (and
  // drained) before the path whose receive buffers it sends from.
  auto plain_in = make_path(pl, pll, nullptr, 0, false, false, 0, seal_codec->headroom(), "plain-in");
  auto wire_out = make_path(any_pr, al1, &pr, prl, false, o.gso, 0, 0, "wire-out");
  auto wire_in = make_path(ls, lsl, nullptr, 0, o.gso, false, w_open, 0, "wire-in");
  auto plain_out = make_path(any_pp, al2, &pp, ppl, false, false, w_open, 0, "plain-out");

  if (wire_fd >= 0) close(wire_fd);  // the paths hold their duplicates
  Flow prot(plain_in.get(), wire_out.get(), seal_codec.get(), true, o.burst);
  Flow unprot(wire_in.get(), plain_out.get(), opener, false, o.burst);

  struct sigaction act {};
  act.sa_handler = on_signal;
  sigemptyset(&act.sa_mask);
  sigaction(SIGINT, &act, nullptr);
  sigaction(SIGTERM, &act, nullptr);
  act.sa_handler = on_hup;
  sigaction(SIGHUP, &act, nullptr);
  RekeyOrder rekey;
  Codec* sealer = seal_codec.get();
  KeyWatch seal_watch, open_watch;
  seal_watch.generation = sealer->generation(Direction::seal);
  open_watch.generation = opener->generation(Direction::open);
  rekey.peer.store(open_watch.generation);
  std::fprintf(stderr, "rl-pipe: ready proto=%s path=%s workers=%u\n", to_string(o.codec.proto),
               io::to_string(wire_in->kind()), o.workers);

  std::vector<std::thread> workers;
  if (o.workers == 2) {
    workers.emplace_back([&] {
      topo.pin_current_thread(cores[0 % cores.size()]);
      while (!g_stop.load(std::memory_order_relaxed)) {
        apply_rekey(rekey, rekey.seal, *sealer, Direction::seal, seal_watch);
        prot.step(5);
      }
    });
    workers.emplace_back([&] {
      topo.pin_current_thread(cores[1 % cores.size()]);
      while (!g_stop.load(std::memory_order_relaxed)) {
        apply_rekey(rekey, rekey.open, *opener, Direction::open, open_watch);
        unprot.step(5);
        watch_peer(rekey, *opener, open_watch);
      }
    });
  } else {
    workers.emplace_back([&] {
      topo.pin_current_thread(cores[0]);
      bool idle = false;
      while (!g_stop.load(std::memory_order_relaxed)) {
        apply_rekey(rekey, rekey.open, *opener, Direction::open, open_watch);  // inbound first
        apply_rekey(rekey, rekey.seal, *sealer, Direction::seal, seal_watch);
        const size_t a = prot.step(idle ? 1 : 0);
        const size_t b = unprot.step(idle ? 1 : 0);
        watch_peer(rekey, *opener, open_watch);
        idle = a == 0 && b == 0;
      }
    });
  }
  auto last = std::chrono::steady_clock::now();
  while (!g_stop.load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (g_hup.load() && !rekey.seal.load(std::memory_order_acquire) &&
        !rekey.open.load(std::memory_order_acquire)) {
      g_hup.store(false);
      std::string why;
      if (sealer->updates_keys()) {
        rekey.seal.store(true, std::memory_order_release);  // QUIC / DTLS 1.3: next keys
      } else if (o.codec.proto == Proto::openvpn   ? next_ovpn_keys(o, rekey.next, &why)
                 : o.codec.proto == Proto::wireguard ? next_wg_keys(o, rekey.next, &why)
                 : o.codec.proto == Proto::srtp && !o.srtp_keys.empty()
                     ? next_srtp_keys(o, rekey.next, &why)
                     : next_esp_keys(o, rekey.next, &why)) {
        o.codec.spi_out = rekey.next.spi_out;  // the current SAs / master keys / session from now on
        o.codec.spi_in = rekey.next.spi_in;
        o.codec.srtp_seal_mki = rekey.next.srtp_seal_mki;
        o.codec.srtp_open_mki = rekey.next.srtp_open_mki;
        o.codec.wg_local = rekey.next.wg_local;
        o.codec.ovpn_key_id = rekey.next.ovpn_key_id;
        o.codec.ovpn_material = rekey.next.ovpn_material;
        rekey.open.store(true, std::memory_order_release);
        rekey.seal.store(true, std::memory_order_release);
      } else {
        std::fprintf(stderr, "rl-pipe: rekey failed: %s\n", why.c_str());
      }
    }
    if (o.stats > 0 && std::chrono::steady_clock::now() - last >= std::chrono::seconds(o.stats)) {
      last = std::chrono::steady_clock::now();
      print_counters("stats", prot, unprot, *wire_out, *plain_out);
    }
  }
  for (std::thread& t : workers) t.join();
  wire_out->drain(500);
  plain_out->drain(500);
  print_counters("exit", prot, unprot, *wire_out, *plain_out);
  return 0;
}

}  // namespace
}  // namespace rl::pipe

int main(int argc, char** argv) { return rl::pipe::run(argc, argv); }
