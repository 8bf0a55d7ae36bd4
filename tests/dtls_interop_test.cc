// Live DTLS 1.2 interop with OpenSSL's libssl. tests/peers/openssl_dtls_peer
// (its own executable, OpenSSL only) completes a real DTLS 1.2 handshake for
// each AEAD suite, derives the key block itself and hands the keys over a
// socketpair; then our engine plays the client: records it seals are read by
// the server's SSL_read, records the server SSL_writes are opened here.
// DTLS 1.3 has no peer in Debian (OpenSSL 3.0 has no DTLS 1.3), so it is
// covered by tests/dtls13_test.cc's independent reading of RFC 9147 instead.
#include <gtest/gtest.h>

#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "core/bytes.h"
#include "core/dtls.h"
#include "tests/support/vectors.h"

namespace rl::dtls {
namespace {

using test::Bytes;

#ifdef RL_OPENSSL_DTLS_PEER
constexpr const char* kPeer = RL_OPENSSL_DTLS_PEER;
#else
constexpr const char* kPeer = nullptr;
#endif

class Peer {
 public:
  explicit Peer(const char* suite) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      // Child: the peer gets the other end (without CLOEXEC) as argv[2].
      const int fd = dup(sv[1]);
      const std::string fds = std::to_string(fd);
      execl(kPeer, kPeer, suite, fds.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    close(sv[1]);
    fd_ = sv[0];
  }
  ~Peer() {
    if (fd_ >= 0) {
      send('Q', {});
      close(fd_);
    }
    if (pid_ > 0) {
      int st = 0;
      waitpid(pid_, &st, 0);
      exit_code_ = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    }
  }
  bool ok() const { return fd_ >= 0 && pid_ > 0; }
  void send(char kind, const Bytes& payload) {
    Bytes m = {static_cast<uint8_t>(kind)};
    m.insert(m.end(), payload.begin(), payload.end());
    ASSERT_EQ(::send(fd_, m.data(), m.size(), 0), static_cast<ssize_t>(m.size()));
  }
  Bytes recv(char kind) {
    Bytes m(1 << 17);
    const ssize_t n = ::recv(fd_, m.data(), m.size(), 0);
    if (n <= 0) {
      ADD_FAILURE() << "peer closed the socket (see its stderr)";
      return {};
    }
    m.resize(static_cast<size_t>(n));
    EXPECT_EQ(static_cast<char>(m[0]), kind);
    return Bytes(m.begin() + 1, m.end());
  }

 private:
  int fd_ = -1;
  pid_t pid_ = -1;
  int exit_code_ = 0;
};

// Splits "(len16 ‖ data)*".
std::vector<Bytes> split(const Bytes& b) {
  std::vector<Bytes> out;
  size_t pos = 0;
  while (pos + 2 <= b.size()) {
    const size_t len = load_be16(b.data() + pos);
    out.emplace_back(b.begin() + pos + 2, b.begin() + pos + 2 + len);
    pos += 2 + len;
  }
  return out;
}

class DtlsInterop : public ::testing::TestWithParam<Suite> {};

TEST_P(DtlsInterop, OpenSslBothDirections) {
  if (kPeer == nullptr) GTEST_SKIP() << "built without OpenSSL (libssl-dev): no DTLS 1.2 peer";
  const Suite s = GetParam();
  Peer peer(suite_info(s).name);
  ASSERT_TRUE(peer.ok());
  const Bytes k = peer.recv('K');
  ASSERT_GE(k.size(), 13u);
  const size_t kl = k[1], il = k[2];
  ASSERT_EQ(kl, suite_info(s).key_len);
  const uint16_t epoch = load_be16(k.data() + 3);
  const uint64_t next_seq = load_be64(k.data() + 5);
  ASSERT_EQ(k.size(), 13 + 2 * kl + 2 * il);
  const uint8_t* p = k.data() + 13;
  const Bytes ckey(p, p + kl), civ(p + kl, p + kl + il);
  const Bytes skey(p + kl + il, p + 2 * kl + il), siv(p + 2 * kl + il, p + 2 * kl + 2 * il);
  EXPECT_EQ(epoch, 1);   // first handshake: epoch 1 after ChangeCipherSpec
  EXPECT_GE(next_seq, 1u);  // Finished went out under epoch 1

  RecordProtection engine;
  KeyOptions o;
  o.first_seq = next_seq;
  ASSERT_EQ(engine.install(Direction::seal, epoch, s, ckey, civ, o), Status::ok);
  ASSERT_EQ(engine.install(Direction::open, epoch, s, skey, siv), Status::ok);

  // 1. Our engine seals a burst of records into one datagram; SSL_read reads them.
  std::vector<Bytes> msgs;
  for (size_t len : {1, 100, 1000, 1200, 17}) msgs.push_back(test::random_bytes(len, len + 3));
  std::vector<Bytes> bufs;
  std::vector<Record> recs;
  for (const Bytes& m : msgs) {
    Bytes b(64 + m.size() + 64);
    std::memcpy(b.data() + 64, m.data(), m.size());
    bufs.push_back(std::move(b));
  }
  for (size_t i = 0; i < msgs.size(); ++i) {
    Record r;
    r.pkt = {bufs[i].data(), static_cast<uint32_t>(bufs[i].size()), 64,
             static_cast<uint32_t>(msgs[i].size()), Status::ok};
    recs.push_back(r);
  }
  ASSERT_EQ(engine.seal(recs), msgs.size()) << to_string(recs[0].status()) << " " << to_string(recs[1].status()) << " " << to_string(recs[4].status());
  Bytes dgram;
  for (const Record& r : recs) dgram.insert(dgram.end(), r.pkt.data(), r.pkt.data() + r.pkt.length);
  peer.send('R', dgram);
  const std::vector<Bytes> read = split(peer.recv('P'));
  ASSERT_EQ(read.size(), msgs.size());
  for (size_t i = 0; i < msgs.size(); ++i) EXPECT_EQ(read[i], msgs[i]) << i;

  // A record we tamper with is dropped by OpenSSL (nothing read), and the
  // next good one still goes through.
  Bytes one(64 + 10 + 64);
  Record bad;
  bad.pkt = {one.data(), static_cast<uint32_t>(one.size()), 64, 10, Status::ok};
  ASSERT_EQ(engine.seal({&bad, 1}), 1u);
  Bytes tampered(bad.pkt.data(), bad.pkt.data() + bad.pkt.length);
  tampered[tampered.size() - 1] ^= 1;
  peer.send('R', tampered);
  EXPECT_TRUE(split(peer.recv('P')).empty());

  // 2. OpenSSL's server writes; our engine opens every record.
  Bytes w;
  std::vector<Bytes> sent;
  for (size_t len : {5, 500, 1300, 0 + 1, 64}) {
    sent.push_back(test::random_bytes(len, len + 11));
    w.push_back(static_cast<uint8_t>(len >> 8));
    w.push_back(static_cast<uint8_t>(len));
    w.insert(w.end(), sent.back().begin(), sent.back().end());
  }
  peer.send('W', w);
  Bytes wire = peer.recv('D');
  const Bytes wire_copy = wire;
  Record out[16];
  size_t found = 0;
  EXPECT_EQ(engine.open_datagram(wire, out, &found), sent.size());
  ASSERT_EQ(found, sent.size());
  for (size_t i = 0; i < sent.size(); ++i) {
    ASSERT_EQ(out[i].status(), Status::ok) << i;
    EXPECT_EQ(out[i].type, 23);
    EXPECT_EQ(out[i].epoch, epoch);
    EXPECT_EQ(Bytes(out[i].pkt.data(), out[i].pkt.data() + out[i].pkt.length), sent[i]) << i;
  }
  // The same datagram again: every record is a replay.
  Bytes again = wire_copy;
  EXPECT_EQ(engine.open_datagram(again, out, &found), 0u);
  for (size_t i = 0; i < found; ++i) EXPECT_EQ(out[i].status(), Status::replayed);

  // 3. And once more in the first direction after the exchange.
  Bytes last(64 + 3 + 64);
  Record r3;
  r3.pkt = {last.data(), static_cast<uint32_t>(last.size()), 64, 3, Status::ok};
  last[64] = 'e', last[65] = 'n', last[66] = 'd';
  ASSERT_EQ(engine.seal({&r3, 1}), 1u);
  peer.send('R', Bytes(r3.pkt.data(), r3.pkt.data() + r3.pkt.length));
  const auto fin = split(peer.recv('P'));
  ASSERT_EQ(fin.size(), 1u);
  EXPECT_EQ(fin[0], (Bytes{'e', 'n', 'd'}));
}

INSTANTIATE_TEST_SUITE_P(Suites, DtlsInterop,
                         ::testing::Values(Suite::aes128_gcm, Suite::aes256_gcm,
                                           Suite::chacha20_poly1305),
                         [](const auto& info) { return std::string(suite_info(info.param).name); });

}  // namespace
}  // namespace rl::dtls
