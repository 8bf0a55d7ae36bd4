// rl-pipe end to end: two rl-pipe processes on loopback, A protects what a
// sender writes into its plaintext port and forwards it to B, B unprotects
// and delivers it to a receiver (and the same the other way round). Every
// datagram must arrive once with its exact bytes (order may differ), for ESP,
// QUIC, DTLS 1.2 (RFC 9146 CID records from A to B, plain records from B to
// A), DTLS 1.3, SRTP, WireGuard and OpenVPN, in both io paths (RL_IO=uring and
// RL_IO=mmsg), with keys from key files in rl-replay's formats (WireGuard:
// rl-pipe's --wg-keys). A second test injects tampered, forged and replayed
// datagrams towards B: none is delivered, each is counted in B's exit
// counters. Rekeying on SIGHUP: ESP (new SAs), SRTP (new MKIs), QUIC and
// DTLS 1.3 (key updates, several in a row, with the key phase / epoch
// checked on the wire), WireGuard (new keypairs, initiator and responder,
// with the receiver index checked on the wire).
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/aead.h"
#include "core/quic.h"
#include "io/udp_path.h"
#include "simd/aead_key.h"
#include "simd/jobs.h"

namespace {

#ifdef RL_PIPE_EXE
const char* kPipe = RL_PIPE_EXE;
#else
const char* kPipe = nullptr;
#endif

using Bytes = std::vector<uint8_t>;

int udp_socket(uint16_t port = 0) {
  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0) return -1;
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return -1;
  }
  const int big = 4 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
  return fd;
}
uint16_t port_of(int fd) {
  sockaddr_in a{};
  socklen_t l = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &l);
  return ntohs(a.sin_port);
}
// A port free right now, for the pipe to bind next. Taken below the kernel's
// ephemeral range (32768 and up) so that no port-0 bind, here or in a test
// CTest runs beside this one, can be handed it before the pipe binds it; each
// test process starts in its own block of the range.
uint16_t free_port() {
  constexpr uint16_t kLow = 20000, kHigh = 32768;
  static uint16_t next = static_cast<uint16_t>(kLow + getpid() % 1000 * 12);
  for (int tries = 0; tries < kHigh - kLow; ++tries) {
    const uint16_t p = next;
    next = next + 1 == kHigh ? kLow : next + 1;
    const int fd = udp_socket(p);
    if (fd >= 0) {
      close(fd);
      return p;
    }
  }
  return 0;
}
std::string addr(uint16_t p) { return "127.0.0.1:" + std::to_string(p); }
void send_to(int fd, uint16_t port, const uint8_t* p, size_t n) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sendto(fd, p, n, 0, reinterpret_cast<sockaddr*>(&a), sizeof a);
}
// Receives one datagram within timeout_ms; empty when none.
Bytes recv_one(int fd, int timeout_ms) {
  pollfd p{fd, POLLIN, 0};
  if (poll(&p, 1, timeout_ms) <= 0) return {};
  Bytes b(65536);
  const ssize_t n = recv(fd, b.data(), b.size(), MSG_DONTWAIT);
  b.resize(n > 0 ? static_cast<size_t>(n) : 0);
  return b;
}

std::string base64(const Bytes& in) {
  static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (size_t i = 0; i < in.size(); i += 3) {
    const uint32_t v = in[i] << 16 | (i + 1 < in.size() ? in[i + 1] << 8 : 0) |
                       (i + 2 < in.size() ? in[i + 2] : 0);
    out += t[v >> 18 & 63];
    out += t[v >> 12 & 63];
    out += i + 1 < in.size() ? t[v >> 6 & 63] : '=';
    out += i + 2 < in.size() ? t[v & 63] : '=';
  }
  return out;
}
std::string hexs(const Bytes& b) {
  std::string s;
  char x[3];
  for (uint8_t v : b) {
    std::snprintf(x, sizeof x, "%02x", v);
    s += x;
  }
  return s;
}
Bytes pattern(size_t n, uint8_t seed) {
  Bytes b(n);
  for (size_t i = 0; i < n; ++i) b[i] = static_cast<uint8_t>(seed * 29 + i * 13 + 1);
  return b;
}

// The RFC 9146 Connection ID B issued for A's DTLS 1.2 records.
const char* const kDtls12Cid = "c1d2e3f405";

struct ProtoCase {
  const char* name;
  const char* io;  // RL_IO
};

class PipeTest : public ::testing::TestWithParam<ProtoCase> {
 protected:
  void SetUp() override {
    if (kPipe == nullptr) GTEST_SKIP() << "rl-pipe not built (RL_BUILD_TOOLS=OFF)";
#ifdef RL_PIPE_EXE
    if (std::string(GetParam().io) == "uring" && !rl::io::uring_available())
      GTEST_SKIP() << "io_uring not allowed here";
#endif
    char tmpl[] = "/tmp/rl-pipe-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    write_keys();
  }
  void TearDown() override {
    for (pid_t p : pids_) {
      if (p <= 0) continue;  // stopped already
      kill(p, SIGKILL);
      waitpid(p, nullptr, 0);
    }
    if (!dir_.empty() && !getenv("RL_PIPE_KEEP")) std::system(("rm -rf " + dir_).c_str());
  }

  std::string proto() const { return GetParam().name; }

  // Key files in the replay tool's formats, two directions each.
  void write_keys() {
    const Bytes k1 = pattern(32, 1), k2 = pattern(32, 2);
    const std::string p = proto();
    if (p == "esp") {
      std::ofstream f(dir_ + "/xfrm.txt");
      f << "src 127.0.0.1 dst 127.0.0.1\n\tproto esp spi 0x00001001 reqid 1 mode transport\n"
        << "\treplay-window 0\n\taead rfc4106(gcm(aes)) 0x" << hexs(Bytes(k1.begin(), k1.begin() + 20))
        << " 128\n\tencap type espinudp sport 4500 dport 4500 addr 0.0.0.0\n"
        << "src 127.0.0.1 dst 127.0.0.1\n\tproto esp spi 0x00001002 reqid 2 mode transport\n"
        << "\taead rfc7539esp(chacha20,poly1305) 0x" << hexs(k2) << hexs(Bytes{9, 8, 7, 6})
        << " 128\n";
    } else if (p == "wireguard") {
      // Session 1: A initiated the handshake. One file per side, mirror images.
      write_wg_session(1, true, false);
    } else if (p == "openvpn") {
      write_ovpn_key(0, 0, false);
    } else if (p == "dtls12") {
      // A master secret as an NSS key log holds it; the key block also needs
      // the server random, given on the command line.
      std::ofstream f(dir_ + "/keys.log");
      f << "# DTLS 1.2\nCLIENT_RANDOM " << hexs(pattern(32, 5)) << " " << hexs(pattern(48, 6)) << "\n";
    } else if (p == "quic" || p == "dtls13") {
      std::ofstream f(dir_ + "/keys.log");
      const std::string cr = hexs(pattern(32, 5));
      f << "CLIENT_TRAFFIC_SECRET_0 " << cr << " " << hexs(k1) << "\n"
        << "SERVER_TRAFFIC_SECRET_0 " << cr << " " << hexs(k2) << "\n";
    } else {
      std::ofstream f(dir_ + "/srtp.txt");
      f << "ssrc=0x11223344 a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" << base64(pattern(30, 1))
        << "\n"
        << "ssrc=0x55667788 a=crypto:2 AEAD_AES_128_GCM inline:" << base64(pattern(28, 2)) << "\n";
    }
  }

  // WireGuard session `gen` (indices 0x100 + gen for A, 0x200 + gen for B),
  // written to A's and B's --wg-keys files (appended: a later session goes
  // on the last line). `a_initiates`: A has initiator=1, B initiator=0.
  void write_wg_session(uint32_t gen, bool a_initiates, bool append) {
    const Bytes ab = pattern(32, static_cast<uint8_t>(70 + gen)), ba = pattern(32, static_cast<uint8_t>(90 + gen));
    for (const bool a : {true, false}) {
      std::ofstream f(dir_ + (a ? "/wg_a.txt" : "/wg_b.txt"), append ? std::ios::app : std::ios::trunc);
      if (!append) f << "# rl-pipe --wg-keys: one session per line, the last one is used\n";
      char idx[64];
      std::snprintf(idx, sizeof idx, "local=0x%x remote=0x%x", (a ? 0x100 : 0x200) + gen, (a ? 0x200 : 0x100) + gen);
      f << idx << " send=" << hexs(a ? ab : ba) << "  recv=" << hexs(a ? ba : ab)
        << " initiator=" << (a == a_initiates ? 1 : 0) << "  # session " << gen << "\n";
    }
  }

  // OpenVPN key `key_id` of renegotiation `gen` (material pattern(256, 40 +
  // gen)), appended to the one file both sides read (the last key is used; A
  // is the TLS client).
  void write_ovpn_key(uint8_t key_id, uint8_t gen, bool append) {
    std::ofstream f(dir_ + "/ovpn.keys", append ? std::ios::app : std::ios::trunc);
    if (!append) f << "# rl-pipe --ovpn-keys\ncipher AES-256-GCM\npeer_id 00abcd\n";
    f << "key " << int{key_id} << " " << hexs(pattern(256, static_cast<uint8_t>(40 + gen))) << "\n";
  }

  // Side A is the client / first SA / WireGuard initiator; B the other.
  std::vector<std::string> key_args(bool a) const {
    const std::string p = proto();
    if (p == "wireguard") return {"--wg-keys", dir_ + (a ? "/wg_a.txt" : "/wg_b.txt")};
    if (p == "openvpn") return {"--ovpn-keys", dir_ + "/ovpn.keys", "--role", a ? "client" : "server"};
    if (p == "esp")
      return {"--xfrm", dir_ + "/xfrm.txt", "--spi-out", a ? "0x1001" : "0x1002", "--spi-in",
              a ? "0x1002" : "0x1001"};
    if (p == "quic" || p == "dtls13")
      return {"--keylog", dir_ + "/keys.log", "--role", a ? "client" : "server"};
    if (p == "dtls12") {
      // AES-256-GCM (SHA-384 PRF); B issued the CID that A's records carry.
      std::vector<std::string> args = {"--keylog", dir_ + "/keys.log", "--server-random", hexs(pattern(32, 8)),
                                       "--suite", "aes256-gcm", "--role", a ? "client" : "server"};
      args.push_back(a ? "--seal-cid" : "--open-cid");
      args.push_back(kDtls12Cid);
      return args;
    }
    return {"--srtp-keys", dir_ + "/srtp.txt", "--srtp-out-tag", a ? "1" : "2", "--srtp-in-tag",
            a ? "2" : "1"};
  }

  // Starts rl-pipe; returns its index. Waits for "ready" in its log.
  size_t start(bool a, uint16_t plain_listen, uint16_t plain_peer, uint16_t listen, uint16_t peer,
               std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {kPipe,          "--proto",      proto(),
                                     "--plain-listen", addr(plain_listen), "--plain-peer",
                                     addr(plain_peer), "--listen",   addr(listen),
                                     "--peer",       addr(peer)};
    for (const std::string& s : key_args(a)) args.push_back(s);
    for (const std::string& s : extra) args.push_back(s);
    const std::string log = dir_ + "/pipe" + std::to_string(pids_.size()) + ".log";
    const pid_t pid = fork();
    if (pid == 0) {
      setenv("RL_IO", GetParam().io, 1);
      FILE* f = std::fopen(log.c_str(), "w");
      dup2(fileno(f), 2);
      std::vector<char*> argv;
      for (std::string& s : args) argv.push_back(s.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    pids_.push_back(pid);
    logs_.push_back(log);
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < end) {
      const std::string text = slurp(log);
      if (text.find("rl-pipe: ready") != std::string::npos) {
        EXPECT_NE(text.find(std::string("path=") + GetParam().io), std::string::npos) << text;
        return pids_.size() - 1;
      }
      int st = 0;
      if (waitpid(pid, &st, WNOHANG) == pid) {
        ADD_FAILURE() << "rl-pipe exited: " << text;
        pids_.pop_back();
        return pids_.size();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ADD_FAILURE() << "rl-pipe not ready: " << slurp(log);
    return pids_.size() - 1;
  }

  // Stops a pipe with SIGTERM; returns its counters as name → value for the
  // lines that begin with `prefix` (e.g. "rl-pipe: exit unprotect"). The
  // indices of the other pipes (and their logs) stay as they are.
  std::map<std::string, uint64_t> stop(size_t i, const std::string& prefix) {
    if (i >= pids_.size() || pids_[i] <= 0) return {};
    kill(pids_[i], SIGTERM);
    int st = 0;
    waitpid(pids_[i], &st, 0);
    pids_[i] = -1;
    EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << slurp(logs_[i]);
    return log_counters(i, prefix);
  }
  // The counters of pipe i's log lines that begin with `prefix` (read a
  // stopped pipe's exit lines with more than one prefix).
  std::map<std::string, uint64_t> log_counters(size_t i, const std::string& prefix) const {
    std::map<std::string, uint64_t> out;
    std::istringstream in(slurp(logs_[i]));
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind(prefix, 0) != 0) continue;
      std::istringstream w(line.substr(prefix.size()));
      std::string kv;
      while (w >> kv)
        if (const size_t eq = kv.find('='); eq != std::string::npos)
          out[kv.substr(0, eq)] = std::strtoull(kv.c_str() + eq + 1, nullptr, 10);
    }
    return out;
  }

  size_t count_in_log(size_t i, const std::string& what) const {
    const std::string text = slurp(logs_[i]);
    size_t n = 0;
    for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
    return n;
  }

  static std::string slurp(const std::string& path) {
    std::ifstream f(path);
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
  }

  // Datagram i of a stream: SRTP needs an RTP header, WireGuard an IP packet
  // (a tunnel's inner packet: IPv4 / UDP, every third one IPv6 / UDP); the
  // index sits at `at` (after the headers) so that the receiver can tell
  // which it got.
  Bytes datagram(uint32_t i, uint8_t stream) const {
    if (proto() == "wireguard") {
      const bool v6 = i % 3 == 2;
      Bytes payload = pattern(8 + (i * 37u) % 1300, static_cast<uint8_t>(i + stream * 101));
      for (int k = 0; k < 4; ++k) payload[k] = static_cast<uint8_t>(i >> (24 - 8 * k));
      payload[4] = stream;
      return ip_udp_packet(payload, stream, v6);
    }
    const size_t len = 24 + (i * 37u) % 1300;
    Bytes b = pattern(len, static_cast<uint8_t>(i + stream * 101));
    size_t at = 0;
    if (proto() == "srtp") {
      b[0] = 0x80;
      b[1] = 96;
      b[2] = static_cast<uint8_t>(i >> 8);
      b[3] = static_cast<uint8_t>(i);
      const uint32_t ssrc = stream == 0 ? 0x11223344 : 0x55667788;
      for (int k = 0; k < 4; ++k) b[8 + k] = static_cast<uint8_t>(ssrc >> (24 - 8 * k));
      at = 12;
    }
    for (int k = 0; k < 4; ++k) b[at + k] = static_cast<uint8_t>(i >> (24 - 8 * k));
    b[at + 4] = stream;
    return b;
  }
  uint32_t index_of(const Bytes& b) const {
    size_t at = proto() == "srtp" ? 12 : 0;
    if (proto() == "wireguard") at = !b.empty() && b[0] >> 4 == 6 ? 40 + 8 : 20 + 8;
    if (b.size() < at + 5) return ~0u;
    return uint32_t{b[at]} << 24 | uint32_t{b[at + 1]} << 16 | uint32_t{b[at + 2]} << 8 | b[at + 3];
  }

  // A UDP packet from 10.0.0.(1 + stream):4000 to 10.0.0.9:5000 (IPv6:
  // fd00::(1 + stream) to fd00::9), checksums included.
  static Bytes ip_udp_packet(const Bytes& payload, uint8_t stream, bool v6) {
    const size_t udp_len = 8 + payload.size();
    const size_t ip_len = v6 ? 40 : 20;
    Bytes b(ip_len + udp_len, 0);
    auto be16 = [&](size_t at, uint32_t v) {
      b[at] = static_cast<uint8_t>(v >> 8);
      b[at + 1] = static_cast<uint8_t>(v);
    };
    uint32_t sum = 0;  // the UDP checksum's pseudo header
    auto add = [&](const uint8_t* p, size_t n) {
      for (size_t k = 0; k < n; k += 2) sum += uint32_t{p[k]} << 8 | (k + 1 < n ? p[k + 1] : 0);
    };
    auto fold = [](uint32_t v) {
      while (v >> 16) v = (v & 0xffff) + (v >> 16);
      return static_cast<uint16_t>(~v);
    };
    if (v6) {
      b[0] = 0x60;
      be16(4, static_cast<uint32_t>(udp_len));  // payload length
      b[6] = 17;                                 // next header: UDP
      b[7] = 64;                                 // hop limit
      b[8] = 0xfd;
      b[23] = static_cast<uint8_t>(1 + stream);
      b[24] = 0xfd;
      b[39] = 9;
      add(b.data() + 8, 32);
    } else {
      b[0] = 0x45;
      be16(2, static_cast<uint32_t>(b.size()));  // total length
      b[8] = 64;                                   // TTL
      b[9] = 17;                                   // protocol: UDP
      b[12] = 10;
      b[15] = static_cast<uint8_t>(1 + stream);
      b[16] = 10;
      b[19] = 9;
      uint32_t h = 0;
      for (size_t k = 0; k < 20; k += 2) h += uint32_t{b[k]} << 8 | b[k + 1];
      be16(10, fold(h));
      add(b.data() + 12, 8);
    }
    sum += 17 + static_cast<uint32_t>(udp_len);
    be16(ip_len, 4000);
    be16(ip_len + 2, 5000);
    be16(ip_len + 4, static_cast<uint32_t>(udp_len));
    std::copy(payload.begin(), payload.end(), b.begin() + static_cast<std::ptrdiff_t>(ip_len + 8));
    add(b.data() + ip_len, udp_len);
    const uint16_t c = fold(sum);
    be16(ip_len + 6, c == 0 ? 0xffff : c);
    return b;
  }

  std::string dir_;
  std::vector<pid_t> pids_;
  std::vector<std::string> logs_;
};

TEST_P(PipeTest, EveryDatagramArrivesBothWays) {
  const int recv_b = udp_socket(), recv_a = udp_socket(), sender = udp_socket();
  ASSERT_GE(recv_b, 0);
  ASSERT_GE(recv_a, 0);
  const uint16_t pa = free_port(), wa = free_port(), pb = free_port(), wb = free_port();
  // A delivers what B sent to recv_a, B delivers what A sent to recv_b.
  const size_t a = start(true, pa, port_of(recv_a), wa, wb, {"--workers", "2", "--zerocopy", "--stats", "1"});
  // B: one worker doing both directions, UDP GSO on its protected sends and
  // GRO on its protected receives.
  const size_t b = start(false, pb, port_of(recv_b), wb, wa, {"--workers", "1", "--gso"});
  ASSERT_EQ(pids_.size(), 2u);

  constexpr uint32_t kTotal = 3000, kBurst = 32, kWindow = 256;
  struct Stream {
    int rx;
    uint16_t in_port;
    uint8_t id;
    uint32_t sent = 0, got = 0;
    std::vector<uint8_t> seen = std::vector<uint8_t>(kTotal, 0);
  } streams[2] = {{recv_b, pa, 0}, {recv_a, pb, 1}};
  if (proto() == "wireguard") {
    // B answered the handshake: it seals only once A's first message under
    // the keypair authenticated (the WireGuard paper, section 5.4.5).
    const Bytes d = datagram(0, 0);
    send_to(sender, pa, d.data(), d.size());
    const Bytes r = recv_one(recv_b, 5000);
    ASSERT_EQ(r, d) << "A's first datagram";
    streams[0].seen[0] = 1;
    streams[0].sent = streams[0].got = 1;
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (count_in_log(b, "rl-pipe: sealing with keypair local=0x201") == 0 &&
           std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    ASSERT_EQ(count_in_log(b, "rl-pipe: sealing with keypair local=0x201"), 1u) << slurp(logs_[b]);
  }
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while ((streams[0].got < kTotal || streams[1].got < kTotal) &&
         std::chrono::steady_clock::now() < end) {
    for (Stream& s : streams) {
      // Paced: loopback drops what overflows a socket buffer, and a drop is
      // not what this test looks for.
      for (uint32_t k = 0; k < kBurst && s.sent < kTotal && s.sent - s.got < kWindow; ++k, ++s.sent) {
        const Bytes d = datagram(s.sent, s.id);
        send_to(sender, s.in_port, d.data(), d.size());
      }
      for (Bytes r = recv_one(s.rx, 2); !r.empty(); r = recv_one(s.rx, 0)) {
        const uint32_t i = index_of(r);
        ASSERT_LT(i, kTotal) << "foreign datagram of " << r.size() << " bytes";
        ASSERT_EQ(r, datagram(i, s.id)) << "datagram " << i << " changed in transit";
        ASSERT_EQ(s.seen[i], 0) << "datagram " << i << " delivered twice";
        s.seen[i] = 1;
        ++s.got;
      }
    }
  }
  // Nothing more may come (no duplicates after the last one).
  EXPECT_TRUE(recv_one(recv_b, 50).empty());
  EXPECT_EQ(streams[0].got, kTotal) << "A->B";
  EXPECT_EQ(streams[1].got, kTotal) << "B->A";
  auto ca = stop(a, "rl-pipe: exit protect");
  auto cb = stop(b, "rl-pipe: exit unprotect");
  EXPECT_EQ(ca["sealed"], kTotal);
  EXPECT_EQ(cb["opened"], kTotal);
  EXPECT_EQ(cb["failed"], 0u);
  close(recv_a);
  close(recv_b);
  close(sender);
}

TEST_P(PipeTest, TamperedForgedAndReplayedAreDroppedAndCounted) {
  const int capture = udp_socket(), recv_b = udp_socket(), sender = udp_socket(), sink = udp_socket();
  const uint16_t pa = free_port(), wa = free_port(), pb = free_port(), wb = free_port();
  // A sends its protected output to `capture` (the test), which plays the
  // network between A and B.
  start(true, pa, port_of(sink), wa, port_of(capture));
  start(false, pb, port_of(recv_b), wb, wa);
  ASSERT_EQ(pids_.size(), 2u);

  constexpr uint32_t kCount = 48;
  std::vector<Bytes> wire;
  for (uint32_t i = 0; i < kCount; ++i) {
    const Bytes d = datagram(i, 0);
    send_to(sender, pa, d.data(), d.size());
    Bytes w = recv_one(capture, 2000);
    ASSERT_FALSE(w.empty()) << "A did not forward datagram " << i;
    ASSERT_NE(w, d) << "sent in clear";
    if (proto() == "dtls12") {
      // RFC 9146 §4 on the wire: tls12_cid, DTLS 1.2, epoch 1, sequence
      // numbers from 1 (--first-seq), then the CID B issued.
      ASSERT_GT(w.size(), 16u);
      EXPECT_EQ(w[0], 25);
      EXPECT_EQ(hexs(Bytes(w.begin() + 1, w.begin() + 11)), "fefd0001" + hexs(Bytes{0, 0, 0, 0, 0, static_cast<uint8_t>(i + 1)}));
      EXPECT_EQ(hexs(Bytes(w.begin() + 11, w.begin() + 16)), kDtls12Cid);
    }
    wire.push_back(w);
  }
  // Tampered: one byte flipped, a different position each time (header,
  // body, tag). Forged: same length, random bytes.
  uint32_t rng = 12345;
  for (uint32_t i = 0; i < kCount; ++i) {
    Bytes t = wire[i];
    t[(i * 7919u) % t.size()] ^= static_cast<uint8_t>(1u << (i % 8));
    send_to(capture, wb, t.data(), t.size());
    Bytes f(wire[i].size());
    for (uint8_t& x : f) x = static_cast<uint8_t>((rng = rng * 1103515245u + 12345u) >> 16);
    send_to(capture, wb, f.data(), f.size());
    if (i % 8 == 7) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  EXPECT_TRUE(recv_one(recv_b, 200).empty()) << "a tampered or forged datagram was delivered";
  // The genuine ones get through; then replays of them do not.
  for (const Bytes& w : wire) send_to(capture, wb, w.data(), w.size());
  std::vector<uint8_t> seen(kCount, 0);
  for (uint32_t got = 0; got < kCount;) {
    Bytes r = recv_one(recv_b, 2000);
    ASSERT_FALSE(r.empty()) << "genuine datagrams missing after " << got;
    const uint32_t i = index_of(r);
    ASSERT_LT(i, kCount);
    ASSERT_EQ(r, datagram(i, 0));
    ASSERT_EQ(seen[i]++, 0);
    ++got;
  }
  for (const Bytes& w : wire) send_to(capture, wb, w.data(), w.size());
  EXPECT_TRUE(recv_one(recv_b, 300).empty()) << "a replayed datagram was delivered";
  auto cb = stop(1, "rl-pipe: exit unprotect");
  EXPECT_EQ(cb["rx"], 4 * kCount);
  EXPECT_EQ(cb["opened"], kCount);
  EXPECT_EQ(cb["failed"], 3 * kCount);
  close(capture);
  close(recv_b);
  close(sender);
  close(sink);
}

// ESP rekey, make-before-break (SIGHUP): the test plays the network between
// A and B, holding back some of A's old-key packets. After the rekey A seals
// with the new SPI, B opens the new packets and still the late old ones;
// after a second rekey the oldest SA is gone and its late packets fail.
// Rekey is ESP only in rl-pipe: this suite is instantiated for ESP alone.
class PipeEspTest : public PipeTest {};

TEST_P(PipeEspTest, RekeyOnSighupMakeBeforeBreak) {
  const int capture = udp_socket(), recv_b = udp_socket(), sender = udp_socket(), sink = udp_socket();
  const uint16_t pa = free_port(), wa = free_port(), pb = free_port(), wb = free_port();
  const size_t a = start(true, pa, port_of(sink), wa, port_of(capture));
  const size_t b = start(false, pb, port_of(recv_b), wb, wa);
  ASSERT_EQ(pids_.size(), 2u);

  auto spi_of = [](const Bytes& w) {
    return w.size() < 4 ? 0u : uint32_t{w[0]} << 24 | uint32_t{w[1]} << 16 | uint32_t{w[2]} << 8 | w[3];
  };
  std::vector<uint8_t> seen(64, 0);
  // Datagrams first..first+n through A; returns what A put on the wire.
  auto through_a = [&](uint32_t first, uint32_t n, uint32_t want_spi) {
    std::vector<Bytes> wire;
    for (uint32_t i = first; i < first + n; ++i) {
      const Bytes d = datagram(i, 0);
      send_to(sender, pa, d.data(), d.size());
      Bytes w = recv_one(capture, 2000);
      EXPECT_FALSE(w.empty()) << "A did not forward datagram " << i;
      EXPECT_EQ(spi_of(w), want_spi) << "datagram " << i;
      wire.push_back(w);
    }
    return wire;
  };
  // Forwards to B; expects each to arrive (or none at all).
  auto to_b = [&](const std::vector<Bytes>& wire, size_t from, size_t to, bool arrive) {
    for (size_t k = from; k < to; ++k) send_to(capture, wb, wire[k].data(), wire[k].size());
    if (!arrive) {
      EXPECT_TRUE(recv_one(recv_b, 300).empty()) << "a packet of a removed SA was delivered";
      return;
    }
    for (size_t got = 0; got < to - from; ++got) {
      const Bytes r = recv_one(recv_b, 2000);
      ASSERT_FALSE(r.empty()) << "missing after " << got;
      const uint32_t i = index_of(r);
      ASSERT_LT(i, seen.size());
      ASSERT_EQ(r, datagram(i, 0));
      ASSERT_EQ(seen[i]++, 0) << "delivered twice: " << i;
    }
  };
  auto rekey = [&](uint32_t gen) {
    // The old states stay in the file; the new ones (same reqids) come last.
    std::ofstream f(dir_ + "/xfrm.txt", std::ios::app);
    const Bytes k1 = pattern(20, static_cast<uint8_t>(10 + gen)), k2 = pattern(36, static_cast<uint8_t>(20 + gen));
    f << "src 127.0.0.1 dst 127.0.0.1\n\tproto esp spi 0x0000" << gen << "001 reqid 1 mode transport\n"
      << "\taead rfc4106(gcm(aes)) 0x" << hexs(k1) << " 128\n"
      << "src 127.0.0.1 dst 127.0.0.1\n\tproto esp spi 0x0000" << gen << "002 reqid 2 mode transport\n"
      << "\taead rfc7539esp(chacha20,poly1305) 0x" << hexs(k2) << " 128\n";
    f.close();
    const size_t before_a = count_in_log(a, "rl-pipe: rekeyed"), before_b = count_in_log(b, "rl-pipe: rekeyed");
    kill(pids_[a], SIGHUP);
    kill(pids_[b], SIGHUP);
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while ((count_in_log(a, "rl-pipe: rekeyed") < before_a + 2 || count_in_log(b, "rl-pipe: rekeyed") < before_b + 2) &&
           std::chrono::steady_clock::now() < end)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    ASSERT_EQ(count_in_log(a, "rl-pipe: rekeyed"), before_a + 2) << slurp(logs_[a]);
    ASSERT_EQ(count_in_log(b, "rl-pipe: rekeyed"), before_b + 2) << slurp(logs_[b]);
  };

  const std::vector<Bytes> old_wire = through_a(0, 16, 0x1001);
  to_b(old_wire, 0, 8, true);
  rekey(2);
  const std::vector<Bytes> new_wire = through_a(16, 16, 0x2001);
  to_b(new_wire, 0, 16, true);
  to_b(old_wire, 8, 12, true);  // late, old SA: still opens
  rekey(3);
  to_b(old_wire, 12, 16, false);  // the SA before the previous one is gone
  const std::vector<Bytes> gen3 = through_a(32, 8, 0x3001);
  to_b(gen3, 0, 8, true);
  for (uint32_t i = 0; i < 40; ++i) EXPECT_EQ(seen[i], i < 12 || i >= 16 ? 1 : 0) << i;

  auto cb = stop(b, "rl-pipe: exit unprotect");
  EXPECT_EQ(cb["opened"], 36u);
  EXPECT_EQ(cb["failed"], 4u);
  close(capture);
  close(recv_b);
  close(sender);
  close(sink);
}

// QUIC and DTLS 1.3 key updates on SIGHUP (RFC 9001 §6, RFC 9147 §8). The
// test plays the network both ways between A (one worker per direction)
// and B (one worker for both) and alternates the side that updates, so
// that both ways of following and both open paths are used. Per round: the
// updating side's packets carry the new key phase (QUIC, read after
// removing header protection with the sender's hp key) or epoch bits
// (DTLS 1.3 unified header), the peer opens them, still opens packets of
// the previous keys held back until after the update, and no longer opens
// one held back from two updates before; QUIC's other side follows the
// update (§6.2), DTLS 1.3's keeps its own epoch.
class PipeKeyUpdateTest : public PipeTest {
 protected:
  bool quic() const { return proto() == "quic"; }
  const char* unit() const { return quic() ? "generation" : "epoch"; }
  // The key phase bit (QUIC) or the epoch's two low bits (DTLS 1.3) of a
  // protected datagram sealed by A (client secret) or B.
  int phase_of(const Bytes& w, bool from_a) const {
    if (!quic()) {
      EXPECT_EQ(w.at(0) & 0xe0, 0x20) << "not a DTLS 1.3 unified header";
      return w.at(0) & 3;
    }
    // Short header: 1 byte, 8-byte DCID, packet number; the sample starts
    // 4 bytes after the packet number's first byte (RFC 9001 §5.4.2).
    EXPECT_GE(w.size(), 1u + 8 + 4 + 16);
    if (w.size() < 1 + 8 + 4 + 16) return -1;
    const Bytes secret = pattern(32, from_a ? 1 : 2);
    rl::quic::PacketKeys k;
    EXPECT_EQ(rl::quic::derive_packet_keys(rl::quic::Version::v1, rl::Suite::aes128_gcm, secret, k),
              rl::Status::ok);
    rl::MaskKey hp;
    EXPECT_EQ(hp.init(rl::Suite::aes128_gcm, {k.hp, k.hp_len}), rl::Status::ok);
    rl::MaskJob j;
    j.key = &hp;
    j.sample = w.data() + 1 + 8 + 4;
    rl::mask({&j, 1});
    const uint8_t first = static_cast<uint8_t>(w[0] ^ (j.mask[0] & 0x1f));
    EXPECT_EQ(first & 0xc0, 0x40) << "not a short header";
    return (first >> 2) & 1;
  }
  // The wire value for generation g (QUIC) or epoch 3 + g (DTLS 1.3).
  int expect_phase(uint64_t g) const { return quic() ? static_cast<int>(g & 1) : static_cast<int>((3 + g) & 3); }
  bool wait_log(size_t i, const std::string& what, size_t count) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (count_in_log(i, what) < count && std::chrono::steady_clock::now() < end)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    return count_in_log(i, what) >= count;
  }
  // SIGHUP to pipe `first`, then to `second` (the order matters where a key
  // must be installed on the receiving side first), and waits until each has
  // printed two more "rekeyed" lines (seal and open).
  void hup_and_wait_rekeyed(size_t first, size_t second) {
    const size_t before_first = count_in_log(first, "rl-pipe: rekeyed");
    const size_t before_second = count_in_log(second, "rl-pipe: rekeyed");
    kill(pids_[first], SIGHUP);
    kill(pids_[second], SIGHUP);
    ASSERT_TRUE(wait_log(first, "rl-pipe: rekeyed", before_first + 2)) << slurp(logs_[first]);
    ASSERT_TRUE(wait_log(second, "rl-pipe: rekeyed", before_second + 2)) << slurp(logs_[second]);
  }

  struct Side {
    size_t idx;      // pipe index
    uint16_t plain;  // its plaintext input
    uint16_t listen; // its protected input
    int cap;         // where its protected output lands (the test's socket)
    int recv;        // where it delivers what the other side sent
    uint8_t id;      // stream id of what it sends
    uint32_t next = 0;
    std::vector<uint8_t> seen = std::vector<uint8_t>(1024, 0);  // of what it receives
  };
  int sender_ = -1;
  int sockets_[4] = {-1, -1, -1, -1};  // A's and B's capture and delivery sockets
  Side a_{}, b_{};

  // A (two workers) and B (one worker, so both layouts run), wired through
  // the test's sockets: the test carries the protected datagrams between
  // them. The sockets are closed in TearDown.
  void start_pair() {
    sender_ = udp_socket();
    for (int& fd : sockets_) fd = udp_socket();
    const auto [cap_a, cap_b, recv_a, recv_b] = sockets_;
    const uint16_t pa = free_port(), wa = free_port(), pb = free_port(), wb = free_port();
    const size_t ia = start(true, pa, port_of(recv_a), wa, port_of(cap_a), {"--workers", "2"});
    const size_t ib = start(false, pb, port_of(recv_b), wb, port_of(cap_b), {"--workers", "1"});
    a_ = Side{ia, pa, wa, cap_a, recv_a, 0};
    b_ = Side{ib, pb, wb, cap_b, recv_b, 1};
  }
  void TearDown() override {
    PipeTest::TearDown();  // the pipes first
    for (int fd : sockets_)
      if (fd >= 0) close(fd);
    if (sender_ >= 0) close(sender_);
  }

  // n datagrams into x's plaintext port; returns what x put on the wire.
  std::vector<Bytes> through(Side& x, uint32_t n) {
    std::vector<Bytes> wire;
    for (uint32_t k = 0; k < n; ++k) {
      const Bytes d = datagram(x.next++, x.id);
      send_to(sender_, x.plain, d.data(), d.size());
      Bytes w = recv_one(x.cap, 2000);
      EXPECT_FALSE(w.empty()) << "no protected datagram for " << x.next - 1;
      if (w.empty()) break;
      EXPECT_NE(w, d) << "sent in clear";
      wire.push_back(std::move(w));
    }
    return wire;
  }
  // Forwards wire[from, to) of x to y; each must be delivered once, intact
  // (or, arrive = false, none at all).
  void to_peer(const Side& x, Side& y, const std::vector<Bytes>& wire, size_t from, size_t to,
               bool arrive) {
    for (size_t k = from; k < to; ++k) send_to(x.cap, y.listen, wire[k].data(), wire[k].size());
    if (!arrive) {
      EXPECT_TRUE(recv_one(y.recv, 300).empty()) << "a packet of discarded keys was delivered";
      return;
    }
    for (size_t got = 0; got < to - from; ++got) {
      const Bytes r = recv_one(y.recv, 2000);
      ASSERT_FALSE(r.empty()) << "missing after " << got << " of " << to - from;
      const uint32_t i = index_of(r);
      ASSERT_LT(i, y.seen.size());
      ASSERT_EQ(r, datagram(i, x.id));
      ASSERT_EQ(y.seen[i]++, 0) << "delivered twice: " << i;
    }
  }
  std::map<std::string, uint64_t> exit_counters(size_t i, const std::string& prefix) {
    return stop(i, prefix);
  }
};

TEST_P(PipeKeyUpdateTest, SighupUpdatesKeysRoundAfterRound) {
  start_pair();
  ASSERT_EQ(pids_.size(), 2u);
  Side& a = a_;
  Side& b = b_;
  // Key generation per side (QUIC: both sides share it, the peer follows;
  // DTLS 1.3: updates of that side's epoch).
  uint64_t gen_a = 0, gen_b = 0;
  std::vector<Bytes> ancient[2];  // per side: one packet held back from two rounds before
  uint32_t failed_at[2] = {0, 0}, opened_at[2] = {0, 0};
  constexpr int kRounds = 5;
  for (int r = 1; r <= kRounds; ++r) {
    SCOPED_TRACE("round " + std::to_string(r));
    const bool x_is_a = r % 2 == 1;
    Side& x = x_is_a ? a : b;
    Side& y = x_is_a ? b : a;
    uint64_t& gx = x_is_a ? gen_a : gen_b;
    uint64_t& gy = x_is_a ? gen_b : gen_a;
    // Traffic both ways in the current keys; x keeps three of its packets back.
    const std::vector<Bytes> pre = through(x, 6);
    ASSERT_EQ(pre.size(), 6u);
    for (const Bytes& w : pre) ASSERT_EQ(phase_of(w, x_is_a), expect_phase(gx));
    to_peer(x, y, pre, 0, 3, true);
    const std::vector<Bytes> ypre = through(y, 4);
    ASSERT_EQ(ypre.size(), 4u);
    for (const Bytes& w : ypre) ASSERT_EQ(phase_of(w, !x_is_a), expect_phase(gy));
    to_peer(y, x, ypre, 0, 4, true);
    opened_at[x_is_a ? 1 : 0] += 3;
    opened_at[x_is_a ? 0 : 1] += 4;

    // x updates its send keys.
    const uint64_t want = gx + 1;
    const std::string updated =
        std::string("rl-pipe: updated seal ") + unit() + " " + std::to_string(quic() ? want : 3 + want) + "\n";
    kill(pids_[x.idx], SIGHUP);
    ASSERT_TRUE(wait_log(x.idx, updated, 1)) << slurp(logs_[x.idx]);
    gx = want;
    const std::vector<Bytes> post = through(x, 6);
    ASSERT_EQ(post.size(), 6u);
    for (const Bytes& w : post) ASSERT_EQ(phase_of(w, x_is_a), expect_phase(gx)) << "the key phase / epoch did not change";
    to_peer(x, y, post, 0, 6, true);
    opened_at[x_is_a ? 1 : 0] += 6;
    const std::string peer_line = std::string("rl-pipe: peer updated keys (open ") + unit() + " " +
                                  std::to_string(quic() ? gx : 3 + gx) + ")";
    ASSERT_TRUE(wait_log(y.idx, peer_line, 1)) << slurp(logs_[y.idx]);
    // Late packets of the previous keys still open.
    to_peer(x, y, pre, 3, 5, true);
    opened_at[x_is_a ? 1 : 0] += 2;
    // One from two updates of x before does not: those keys are gone.
    std::vector<Bytes>& old = ancient[x_is_a ? 0 : 1];
    if (!old.empty()) {
      to_peer(x, y, old, 0, old.size(), false);
      failed_at[x_is_a ? 1 : 0] += static_cast<uint32_t>(old.size());
      old.clear();
    }
    if (r + 2 <= kRounds) old.push_back(pre[5]);

    if (quic()) {
      // y answers with its own update (RFC 9001 §6.2) before it sends.
      gy = gx;
      ASSERT_TRUE(wait_log(y.idx, "rl-pipe: updated seal generation " + std::to_string(gy) + " (following the peer)", 1))
          << slurp(logs_[y.idx]);
    }
    const std::vector<Bytes> ypost = through(y, 4);
    ASSERT_EQ(ypost.size(), 4u);
    for (const Bytes& w : ypost) ASSERT_EQ(phase_of(w, !x_is_a), expect_phase(gy));
    to_peer(y, x, ypost, 0, 4, true);
    opened_at[x_is_a ? 0 : 1] += 4;
    if (quic()) {
      ASSERT_TRUE(wait_log(x.idx, "rl-pipe: peer updated keys (open generation " + std::to_string(gx) + ")", 1))
          << slurp(logs_[x.idx]);
    }
  }
  // Each side printed one line per update of its peer, nothing else.
  const size_t peer_lines_a = count_in_log(a.idx, "rl-pipe: peer updated keys");
  const size_t peer_lines_b = count_in_log(b.idx, "rl-pipe: peer updated keys");
  EXPECT_EQ(peer_lines_a, quic() ? static_cast<size_t>(kRounds) : static_cast<size_t>(kRounds / 2));
  EXPECT_EQ(peer_lines_b, quic() ? static_cast<size_t>(kRounds) : static_cast<size_t>(kRounds - kRounds / 2));
  auto cb = exit_counters(b.idx, "rl-pipe: exit unprotect");
  auto ca = exit_counters(a.idx, "rl-pipe: exit unprotect");
  EXPECT_EQ(ca["opened"], opened_at[0]);
  EXPECT_EQ(cb["opened"], opened_at[1]);
  EXPECT_EQ(ca["failed"], failed_at[0]);
  EXPECT_EQ(cb["failed"], failed_at[1]);
  EXPECT_GT(failed_at[0] + failed_at[1], 0u);
}

// After a key update, tampered and forged packets of the new keys, and
// replays of packets of the old ones, are dropped and counted, move nothing
// (no "peer updated keys" before the genuine packets arrive), and the
// genuine packets open afterwards.
TEST_P(PipeKeyUpdateTest, ForgedAfterUpdateDroppedAndCounted) {
  start_pair();
  ASSERT_EQ(pids_.size(), 2u);
  Side& a = a_;
  Side& b = b_;
  const std::vector<Bytes> pre = through(a, 4);
  ASSERT_EQ(pre.size(), 4u);
  to_peer(a, b, pre, 0, 4, true);
  kill(pids_[a.idx], SIGHUP);
  ASSERT_TRUE(wait_log(a.idx, std::string("rl-pipe: updated seal ") + unit() + " " + (quic() ? "1" : "4"), 1))
      << slurp(logs_[a.idx]);
  const std::vector<Bytes> post = through(a, 8);
  ASSERT_EQ(post.size(), 8u);
  for (const Bytes& w : post) ASSERT_EQ(phase_of(w, true), expect_phase(1));
  uint32_t rng = 777;
  for (size_t i = 0; i < post.size(); ++i) {
    Bytes t = post[i];
    t[(i * 7919u + 3) % t.size()] ^= static_cast<uint8_t>(1u << (i % 8));
    send_to(a.cap, b.listen, t.data(), t.size());
    // Forged: the genuine header (new key phase / epoch), the rest random.
    Bytes f = post[i];
    for (size_t k = quic() ? 1 + 8 + 4 : 5; k < f.size(); ++k)
      f[k] = static_cast<uint8_t>((rng = rng * 1103515245u + 12345u) >> 16);
    send_to(a.cap, b.listen, f.data(), f.size());
  }
  for (const Bytes& w : pre) send_to(a.cap, b.listen, w.data(), w.size());  // replays
  EXPECT_TRUE(recv_one(b.recv, 300).empty()) << "a tampered, forged or replayed datagram was delivered";
  EXPECT_EQ(count_in_log(b.idx, "rl-pipe: peer updated keys"), 0u) << "a forgery moved the keys";
  to_peer(a, b, post, 0, post.size(), true);
  EXPECT_TRUE(wait_log(b.idx, "rl-pipe: peer updated keys", 1));
  auto cb = exit_counters(b.idx, "rl-pipe: exit unprotect");
  EXPECT_EQ(cb["opened"], pre.size() + post.size());
  EXPECT_EQ(cb["failed"], 2 * post.size() + pre.size());
}

// An update waits for what stands in for the acknowledgement rl-pipe does
// not carry (see QuicCodec::update / Dtls13Codec::update): SIGHUP before
// anything was sealed waits until a packet went out with the current keys;
// a second QUIC update waits until the peer's packets arrive under the
// current generation (RFC 9001 §6.1). The keys on the wire do not move
// while it waits, and do once the condition holds.
TEST_P(PipeKeyUpdateTest, UpdateWaitsForTheStandInAck) {
  start_pair();
  ASSERT_EQ(pids_.size(), 2u);
  Side& a = a_;
  Side& b = b_;
  kill(pids_[a.idx], SIGHUP);
  ASSERT_TRUE(wait_log(a.idx, "rl-pipe: update waiting seal", 1)) << slurp(logs_[a.idx]);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(count_in_log(a.idx, "rl-pipe: updated seal"), 0u);
  // The first packet goes out with the current keys, then the update runs.
  const std::vector<Bytes> first = through(a, 1);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(phase_of(first[0], true), expect_phase(0));
  ASSERT_TRUE(wait_log(a.idx, std::string("rl-pipe: updated seal ") + unit() + " " + (quic() ? "1" : "4"), 1))
      << slurp(logs_[a.idx]);
  const std::vector<Bytes> second = through(a, 3);
  ASSERT_EQ(second.size(), 3u);
  for (const Bytes& w : second) EXPECT_EQ(phase_of(w, true), expect_phase(1));
  to_peer(a, b, first, 0, 1, true);
  to_peer(a, b, second, 0, 3, true);
  if (!quic()) return;
  ASSERT_TRUE(wait_log(b.idx, "rl-pipe: updated seal generation 1 (following the peer)", 1)) << slurp(logs_[b.idx]);
  // Second update: B has not sent anything under generation 1 yet.
  kill(pids_[a.idx], SIGHUP);
  ASSERT_TRUE(wait_log(a.idx, "rl-pipe: update waiting seal", 2)) << slurp(logs_[a.idx]);
  const std::vector<Bytes> still = through(a, 2);
  ASSERT_EQ(still.size(), 2u);
  for (const Bytes& w : still) EXPECT_EQ(phase_of(w, true), expect_phase(1)) << "updated before the peer answered";
  to_peer(a, b, still, 0, 2, true);
  // B's packet under generation 1 reaches A: the update goes through.
  const std::vector<Bytes> answer = through(b, 1);
  ASSERT_EQ(answer.size(), 1u);
  EXPECT_EQ(phase_of(answer[0], false), expect_phase(1));
  to_peer(b, a, answer, 0, 1, true);
  ASSERT_TRUE(wait_log(a.idx, "rl-pipe: updated seal generation 2\n", 1)) << slurp(logs_[a.idx]);
  const std::vector<Bytes> third = through(a, 3);
  ASSERT_EQ(third.size(), 3u);
  for (const Bytes& w : third) EXPECT_EQ(phase_of(w, true), expect_phase(2));
  to_peer(a, b, third, 0, 3, true);
  ASSERT_TRUE(wait_log(b.idx, "rl-pipe: peer updated keys (open generation 2)", 1)) << slurp(logs_[b.idx]);
}

// SRTP rekey by MKI (RFC 3711 §8.1) on SIGHUP, make-before-break: the key
// file's lines get new inline keys with new MKIs (same crypto tags); A's
// packets then name the new MKI (read on the wire before the 80-bit tag),
// B opens them and still the late ones of the old key; after a second
// rekey the key before the previous one is gone and its late packets fail.
class PipeSrtpRekeyTest : public PipeKeyUpdateTest {
 protected:
  // One a=crypto line per direction listing the keys of generations 1..gen,
  // each with its MKI (RFC 4568 §6.1: key-params separated by ';').
  void write_mki_keys(uint32_t gen) {
    std::ofstream f(dir_ + "/srtp.txt", std::ios::trunc);
    for (int dir = 0; dir < 2; ++dir) {
      f << (dir == 0 ? "ssrc=0x11223344 a=crypto:1 AES_CM_128_HMAC_SHA1_80 "
                     : "ssrc=0x55667788 a=crypto:2 AEAD_AES_128_GCM ");
      for (uint32_t g = 1; g <= gen; ++g)
        f << (g > 1 ? ";" : "") << "inline:"
          << base64(pattern(dir == 0 ? 30 : 28, static_cast<uint8_t>((dir == 0 ? 40 : 60) + g))) << "|"
          << g << ":4";
      f << "\n";
    }
  }
  // A seals with AES_CM_128_HMAC_SHA1_80: MKI (4 bytes) then a 10-byte tag.
  static uint32_t mki_of(const Bytes& w) {
    if (w.size() < 12 + 14) return ~0u;
    const size_t at = w.size() - 14;
    return uint32_t{w[at]} << 24 | uint32_t{w[at + 1]} << 16 | uint32_t{w[at + 2]} << 8 | w[at + 3];
  }
};

TEST_P(PipeSrtpRekeyTest, RekeyByMkiOnSighupMakeBeforeBreak) {
  write_mki_keys(1);
  start_pair();
  ASSERT_EQ(pids_.size(), 2u);
  Side& a = a_;
  Side& b = b_;
  auto rekey = [&](uint32_t gen) {
    write_mki_keys(gen);
    hup_and_wait_rekeyed(a.idx, b.idx);
    if (HasFatalFailure()) return;
    for (const Side* x : {&a, &b}) {
      EXPECT_EQ(count_in_log(x->idx, "rl-pipe: rekeyed seal mki=0x0000000" + std::to_string(gen)), 1u)
          << slurp(logs_[x->idx]);
      EXPECT_EQ(count_in_log(x->idx, "rl-pipe: rekeyed open mki=0x0000000" + std::to_string(gen)), 1u)
          << slurp(logs_[x->idx]);
    }
  };
  const std::vector<Bytes> old_wire = through(a, 16);
  ASSERT_EQ(old_wire.size(), 16u);
  for (const Bytes& w : old_wire) ASSERT_EQ(mki_of(w), 1u);
  to_peer(a, b, old_wire, 0, 8, true);
  rekey(2);
  const std::vector<Bytes> new_wire = through(a, 16);
  ASSERT_EQ(new_wire.size(), 16u);
  for (const Bytes& w : new_wire) ASSERT_EQ(mki_of(w), 2u) << "still sealing with the old master key";
  to_peer(a, b, new_wire, 0, 16, true);
  to_peer(a, b, old_wire, 8, 12, true);  // late, old MKI: still opens
  // B's direction moved too: A opens B's packets of the new key.
  const std::vector<Bytes> back = through(b, 4);
  ASSERT_EQ(back.size(), 4u);
  to_peer(b, a, back, 0, 4, true);
  rekey(3);
  to_peer(a, b, old_wire, 12, 16, false);  // the key before the previous one is gone
  const std::vector<Bytes> gen3 = through(a, 8);
  ASSERT_EQ(gen3.size(), 8u);
  for (const Bytes& w : gen3) ASSERT_EQ(mki_of(w), 3u);
  to_peer(a, b, gen3, 0, 8, true);
  auto cb = exit_counters(b.idx, "rl-pipe: exit unprotect");
  EXPECT_EQ(cb["opened"], 36u);
  EXPECT_EQ(cb["failed"], 4u);
  auto ca = exit_counters(a.idx, "rl-pipe: exit unprotect");
  EXPECT_EQ(ca["opened"], 4u);
}

// WireGuard keypairs on SIGHUP (the WireGuard paper §5.4.5, core/wireguard.h):
// each side's --wg-keys file gets a new last line (new indices and keys), the
// initiator seals with it at once, the responder only after the initiator's
// first message under it authenticated; the receiver index on the wire tells
// which keypair sealed. Late packets of the previous keypair still open, a
// forgery under the new index moves nothing, and the keypair two sessions
// back is gone. Session 2 is A's (two workers: one Peer per direction),
// session 3 B's (one worker), so both sides are responder once.
class PipeWireGuardTest : public PipeKeyUpdateTest {
 protected:
  static uint32_t receiver_index(const Bytes& w) {
    if (w.size() < 32 || w[0] != 4 || w[1] != 0 || w[2] != 0 || w[3] != 0) return ~0u;
    return uint32_t{w[4]} | uint32_t{w[5]} << 8 | uint32_t{w[6]} << 16 | uint32_t{w[7]} << 24;
  }
  static std::string hex_index(uint32_t i) {
    char b[16];
    std::snprintf(b, sizeof b, "0x%x", i);
    return b;
  }
  // How long the wire message of plaintext d is: header, d padded to 16, tag.
  static size_t wire_length(const Bytes& d) { return 16 + (d.size() + 15) / 16 * 16 + 16; }
};

TEST_P(PipeWireGuardTest, RekeyOnSighupLatePacketsOfThePreviousKeypairOpen) {
  start_pair();
  ASSERT_EQ(pids_.size(), 2u);
  Side& a = a_;
  Side& b = b_;
  auto rekey = [&](uint32_t gen, bool a_initiates) {
    write_wg_session(gen, a_initiates, true);
    hup_and_wait_rekeyed(a.idx, b.idx);
    if (HasFatalFailure()) return;
    for (const bool is_a : {true, false}) {
      const Side& x = is_a ? a : b;
      const std::string line = "keypair local=" + hex_index((is_a ? 0x100 : 0x200) + gen) + " remote=" +
                               hex_index((is_a ? 0x200 : 0x100) + gen) + (is_a == a_initiates ? " initiator" : " responder");
      EXPECT_EQ(count_in_log(x.idx, "rl-pipe: rekeyed seal " + line), 1u) << slurp(logs_[x.idx]);
      EXPECT_EQ(count_in_log(x.idx, "rl-pipe: rekeyed open " + line), 1u) << slurp(logs_[x.idx]);
    }
  };
  auto expect_index = [](const std::vector<Bytes>& wire, uint32_t index, const char* what) {
    for (const Bytes& w : wire) EXPECT_EQ(receiver_index(w), index) << what;
  };
  uint32_t opened_a = 0, opened_b = 0, failed_b = 0;

  // B answered session 1's handshake: nothing to seal with before A's first message.
  {
    const Bytes d = datagram(b.next++, b.id);
    send_to(sender_, b.plain, d.data(), d.size());
    EXPECT_TRUE(recv_one(b.cap, 300).empty()) << "the responder sealed before the keypair was confirmed";
  }
  const std::vector<Bytes> s1 = through(a, 16);
  ASSERT_EQ(s1.size(), 16u);
  expect_index(s1, 0x201, "session 1, A -> B");
  for (size_t k = 0; k < s1.size(); ++k)
    EXPECT_EQ(s1[k].size(), wire_length(datagram(static_cast<uint32_t>(k), a.id))) << "padding of " << k;
  to_peer(a, b, s1, 0, 8, true);
  opened_b += 8;
  ASSERT_TRUE(wait_log(b.idx, "rl-pipe: peer updated keys (open keypair local=0x201)", 1)) << slurp(logs_[b.idx]);
  ASSERT_TRUE(wait_log(b.idx, "rl-pipe: sealing with keypair local=0x201", 1)) << slurp(logs_[b.idx]);
  const std::vector<Bytes> back1 = through(b, 4);
  ASSERT_EQ(back1.size(), 4u);
  expect_index(back1, 0x101, "session 1, B -> A");
  to_peer(b, a, back1, 0, 4, true);
  opened_a += 4;

  // Session 2, A initiates: A seals with it at once, B not yet.
  rekey(2, true);
  ASSERT_TRUE(wait_log(a.idx, "rl-pipe: sealing with keypair local=0x102", 1)) << slurp(logs_[a.idx]);
  const std::vector<Bytes> s2 = through(a, 16);
  ASSERT_EQ(s2.size(), 16u);
  expect_index(s2, 0x202, "session 2, A -> B");
  const std::vector<Bytes> back_old = through(b, 4);
  ASSERT_EQ(back_old.size(), 4u);
  expect_index(back_old, 0x101, "B before A's first message of session 2");
  to_peer(b, a, back_old, 0, 4, true);  // A opens them under its previous keypair
  opened_a += 4;
  // A forgery under the new index neither opens nor confirms the keypair.
  Bytes forged = s2[0];
  forged[forged.size() - 1] ^= 0x80;
  send_to(a.cap, b.listen, forged.data(), forged.size());
  EXPECT_TRUE(recv_one(b.recv, 300).empty()) << "a forgery was delivered";
  ++failed_b;
  EXPECT_EQ(count_in_log(b.idx, "rl-pipe: peer updated keys (open keypair local=0x202)"), 0u)
      << "a forgery confirmed the keypair: " << slurp(logs_[b.idx]);
  EXPECT_EQ(count_in_log(b.idx, "rl-pipe: sealing with keypair local=0x202"), 0u) << slurp(logs_[b.idx]);
  to_peer(a, b, s2, 0, 16, true);
  opened_b += 16;
  ASSERT_TRUE(wait_log(b.idx, "rl-pipe: peer updated keys (open keypair local=0x202)", 1)) << slurp(logs_[b.idx]);
  ASSERT_TRUE(wait_log(b.idx, "rl-pipe: sealing with keypair local=0x202", 1)) << slurp(logs_[b.idx]);
  const std::vector<Bytes> back2 = through(b, 4);
  ASSERT_EQ(back2.size(), 4u);
  expect_index(back2, 0x102, "session 2, B -> A");
  to_peer(b, a, back2, 0, 2, true);  // two held back until after session 3
  opened_a += 2;
  to_peer(a, b, s1, 8, 12, true);  // late, session 1: still opens
  opened_b += 4;
  send_to(a.cap, b.listen, s1[8].data(), s1[8].size());  // replayed
  EXPECT_TRUE(recv_one(b.recv, 300).empty()) << "a replay was delivered";
  ++failed_b;

  // Session 3, B initiates; A (one Peer per worker) follows on its seal side
  // once its open side saw B's first message.
  rekey(3, false);
  ASSERT_TRUE(wait_log(b.idx, "rl-pipe: sealing with keypair local=0x203", 1)) << slurp(logs_[b.idx]);
  to_peer(a, b, s1, 12, 16, false);  // session 1 left B's Peer
  failed_b += 4;
  const std::vector<Bytes> s2_late = through(a, 4);
  ASSERT_EQ(s2_late.size(), 4u);
  expect_index(s2_late, 0x202, "A before B's first message of session 3");
  to_peer(a, b, s2_late, 0, 4, true);  // B's previous keypair
  opened_b += 4;
  const std::vector<Bytes> b3 = through(b, 8);
  ASSERT_EQ(b3.size(), 8u);
  expect_index(b3, 0x103, "session 3, B -> A");
  to_peer(b, a, b3, 0, 8, true);
  opened_a += 8;
  ASSERT_TRUE(wait_log(a.idx, "rl-pipe: peer updated keys (open keypair local=0x103)", 1)) << slurp(logs_[a.idx]);
  ASSERT_TRUE(wait_log(a.idx, "rl-pipe: sealing with keypair local=0x103", 1)) << slurp(logs_[a.idx]);
  const std::vector<Bytes> s3 = through(a, 4);
  ASSERT_EQ(s3.size(), 4u);
  expect_index(s3, 0x203, "session 3, A -> B");
  to_peer(a, b, s3, 0, 4, true);
  opened_b += 4;
  to_peer(b, a, back2, 2, 4, true);  // late, session 2: A's previous keypair
  opened_a += 2;

  auto cb = exit_counters(b.idx, "rl-pipe: exit unprotect");
  EXPECT_EQ(cb["opened"], opened_b);
  EXPECT_EQ(cb["failed"], failed_b);
  EXPECT_EQ(log_counters(b.idx, "rl-pipe: exit protect")["seal_failed"], 1u) << "the datagram before confirmation";
  auto ca = exit_counters(a.idx, "rl-pipe: exit unprotect");
  EXPECT_EQ(ca["opened"], opened_a);
  EXPECT_EQ(ca["failed"], 0u);
  EXPECT_EQ(log_counters(a.idx, "rl-pipe: exit protect")["seal_failed"], 0u);
  EXPECT_EQ(count_in_log(a.idx, "follow failed"), 0u);
}

// The plaintext rule: only datagrams that are one IPv4 or IPv6 packet of
// their own length are sealed; the others are not sent and are counted as
// refused. The keys on both sides move on a SIGHUP only with a new session.
TEST_P(PipeWireGuardTest, NonIpPlaintextIsRefusedAndCounted) {
  start_pair();
  ASSERT_EQ(pids_.size(), 2u);
  Side& a = a_;
  Side& b = b_;
  std::vector<Bytes> bad;
  bad.push_back(pattern(100, 3));  // first nibble 0
  bad.back()[0] = 0x12;
  Bytes v4 = datagram(0, a.id);  // IPv4 with one byte more than its total length
  v4.push_back(0);
  bad.push_back(v4);
  v4.resize(v4.size() - 2);  // one byte less
  bad.push_back(v4);
  Bytes v6 = datagram(2, a.id);  // IPv6 with a byte more than 40 + payload length
  ASSERT_EQ(v6[0] >> 4, 6);
  v6.push_back(0);
  bad.push_back(v6);
  bad.push_back(Bytes(v4.begin(), v4.begin() + 19));  // shorter than an IPv4 header
  bad.push_back(Bytes(v6.begin(), v6.begin() + 39));  // shorter than an IPv6 header
  for (const Bytes& d : bad) send_to(sender_, a.plain, d.data(), d.size());
  EXPECT_TRUE(recv_one(a.cap, 300).empty()) << "a plaintext that is not one IP packet was sealed";
  // Real packets pass, every byte intact.
  const std::vector<Bytes> wire = through(a, 9);
  ASSERT_EQ(wire.size(), 9u);
  to_peer(a, b, wire, 0, wire.size(), true);
  // SIGHUP without a new session: nothing changes.
  kill(pids_[a.idx], SIGHUP);
  ASSERT_TRUE(wait_log(a.idx, "rl-pipe: rekey failed: no new session", 1)) << slurp(logs_[a.idx]);
  const std::vector<Bytes> more = through(a, 3);
  ASSERT_EQ(more.size(), 3u);
  for (const Bytes& w : more) EXPECT_EQ(receiver_index(w), 0x201u);
  to_peer(a, b, more, 0, more.size(), true);
  auto ca = exit_counters(a.idx, "rl-pipe: exit protect");
  EXPECT_EQ(ca["sealed"], 12u);
  EXPECT_EQ(ca["seal_failed"], bad.size());
  EXPECT_EQ(log_counters(a.idx, "rl-pipe: exit open_status")["refused"], bad.size());
  auto cb = exit_counters(b.idx, "rl-pipe: exit unprotect");
  EXPECT_EQ(cb["opened"], 12u);
  EXPECT_EQ(cb["failed"], 0u);
}

// OpenVPN keys on SIGHUP (core/openvpn.h): the new key seals at once, the
// keys before keep opening late packets until their key_id is used again
// (after eight renegotiations), whose new material then replaces them.
class PipeOpenVpnTest : public PipeKeyUpdateTest {
 protected:
  static int key_id_of(const Bytes& w) { return w.empty() ? -1 : w[0] & 7; }
};

TEST_P(PipeOpenVpnTest, RekeyOnSighupLatePacketsOfTheOldKeyOpen) {
  start_pair();
  ASSERT_EQ(pids_.size(), 2u);
  Side& a = a_;
  Side& b = b_;
  auto rekey = [&](uint8_t key_id, uint8_t gen) {
    write_ovpn_key(key_id, gen, true);
    hup_and_wait_rekeyed(b.idx, a.idx);  // the receiver first: see --help
    if (HasFatalFailure()) return;
    for (const Side* x : {&a, &b})
      for (const char* d : {"seal", "open"})
        EXPECT_GE(count_in_log(x->idx, std::string("rl-pipe: rekeyed ") + d + " key_id=" + std::to_string(key_id)), 1u)
            << slurp(logs_[x->idx]);
  };
  const std::vector<Bytes> k0 = through(a, 16);
  ASSERT_EQ(k0.size(), 16u);
  for (const Bytes& w : k0) ASSERT_EQ(key_id_of(w), 0);
  to_peer(a, b, k0, 0, 8, true);
  rekey(1, 1);
  const std::vector<Bytes> k1 = through(a, 16);
  ASSERT_EQ(k1.size(), 16u);
  for (const Bytes& w : k1) ASSERT_EQ(key_id_of(w), 1) << "still sealing with the old key";
  to_peer(a, b, k1, 0, 16, true);
  to_peer(a, b, k0, 8, 12, true);  // late, key_id 0: still opens
  const std::vector<Bytes> back = through(b, 4);
  ASSERT_EQ(back.size(), 4u);
  for (const Bytes& w : back) ASSERT_EQ(key_id_of(w), 1);
  to_peer(b, a, back, 0, 4, true);
  // key_id 0 again with new material (as after eight renegotiations): the
  // first key 0 is gone, its late packets fail.
  rekey(0, 9);
  to_peer(a, b, k0, 12, 16, false);
  const std::vector<Bytes> k0b = through(a, 8);
  ASSERT_EQ(k0b.size(), 8u);
  for (const Bytes& w : k0b) ASSERT_EQ(key_id_of(w), 0);
  to_peer(a, b, k0b, 0, 8, true);
  to_peer(a, b, k1, 0, 2, false);  // replays of key 1's packets: refused
  auto cb = exit_counters(b.idx, "rl-pipe: exit unprotect");
  EXPECT_EQ(cb["opened"], 36u);
  EXPECT_EQ(cb["failed"], 6u);
  auto ca = exit_counters(a.idx, "rl-pipe: exit unprotect");
  EXPECT_EQ(ca["opened"], 4u);
}

const ProtoCase kCases[] = {{"esp", "uring"},    {"esp", "mmsg"},  {"quic", "uring"},
                            {"quic", "mmsg"},    {"dtls13", "uring"}, {"dtls13", "mmsg"},
                            {"srtp", "uring"},   {"srtp", "mmsg"},  {"wireguard", "uring"},
                            {"wireguard", "mmsg"}, {"openvpn", "uring"},  {"openvpn", "mmsg"},
                            {"dtls12", "uring"},   {"dtls12", "mmsg"}};
const auto kCaseName = [](const auto& info) {
  return std::string(info.param.name) + "_" + info.param.io;
};
INSTANTIATE_TEST_SUITE_P(Pipe, PipeTest, ::testing::ValuesIn(kCases), kCaseName);
const ProtoCase kEspCases[] = {{"esp", "uring"}, {"esp", "mmsg"}};
INSTANTIATE_TEST_SUITE_P(Pipe, PipeEspTest, ::testing::ValuesIn(kEspCases), kCaseName);
const ProtoCase kUpdateCases[] = {{"quic", "uring"}, {"quic", "mmsg"}, {"dtls13", "uring"}, {"dtls13", "mmsg"}};
INSTANTIATE_TEST_SUITE_P(Pipe, PipeKeyUpdateTest, ::testing::ValuesIn(kUpdateCases), kCaseName);
const ProtoCase kSrtpCases[] = {{"srtp", "uring"}, {"srtp", "mmsg"}};
INSTANTIATE_TEST_SUITE_P(Pipe, PipeSrtpRekeyTest, ::testing::ValuesIn(kSrtpCases), kCaseName);
const ProtoCase kWgCases[] = {{"wireguard", "uring"}, {"wireguard", "mmsg"}};
INSTANTIATE_TEST_SUITE_P(Pipe, PipeWireGuardTest, ::testing::ValuesIn(kWgCases), kCaseName);
const ProtoCase kOvpnCases[] = {{"openvpn", "uring"}, {"openvpn", "mmsg"}};
INSTANTIATE_TEST_SUITE_P(Pipe, PipeOpenVpnTest, ::testing::ValuesIn(kOvpnCases), kCaseName);

}  // namespace
