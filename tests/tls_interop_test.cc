// Live interop with OpenSSL's libssl: tests/peers/openssl_tls_peer (its own
// process, linked with OpenSSL only) completes a TLS 1.3 or 1.2 handshake in
// memory, gives us the client's secrets, and its server SSL object then talks
// to our record layer over a socketpair. Records we seal are read by SSL_read;
// records SSL_write produces are opened by us; TLS 1.3 KeyUpdate both ways,
// a >16 KiB write each way, padding, and close_notify both ways.
// Frame protocol: see the peer's header comment.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "core/bytes.h"
#include "core/tls.h"
#include "core/tls12_prf.h"
#include "core/tls_stream.h"
#include "tests/support/vectors.h"

namespace rl::tls {
namespace {

using rl::test::Bytes;
using rl::test::hex;
using rl::test::random_bytes;

class Peer {
 public:
  bool start(const char* version, const char* suite) {
#ifdef RL_OPENSSL_TLS_PEER
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) return false;
    pid_ = fork();
    if (pid_ < 0) return false;
    if (pid_ == 0) {
      close(sv[0]);
      const std::string fd = std::to_string(sv[1]);
      execl(RL_OPENSSL_TLS_PEER, RL_OPENSSL_TLS_PEER, fd.c_str(), version, suite, nullptr);
      _exit(127);
    }
    close(sv[1]);
    fd_ = sv[0];
    return true;
#else
    (void)version, (void)suite;
    return false;
#endif
  }
  ~Peer() {
    if (fd_ >= 0) {
      send('Q', {});
      close(fd_);
    }
    if (pid_ > 0) {
      int status = 0;
      waitpid(pid_, &status, 0);
      EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "peer exit status " << status;
    }
  }
  void send(char kind, const Bytes& payload) {
    uint8_t hdr[5] = {static_cast<uint8_t>(kind)};
    store_be32(hdr + 1, static_cast<uint32_t>(payload.size()));
    write_all(hdr, 5);
    write_all(payload.data(), payload.size());
  }
  bool recv(char& kind, Bytes& payload) {
    uint8_t hdr[5];
    if (!read_all(hdr, 5)) return false;
    kind = static_cast<char>(hdr[0]);
    payload.resize(load_be32(hdr + 1));
    return read_all(payload.data(), payload.size());
  }
  // Receives one frame that must be of `want` kind.
  Bytes expect(char want) {
    char kind = 0;
    Bytes p;
    EXPECT_TRUE(recv(kind, p)) << "peer went away";
    EXPECT_EQ(kind, want) << std::string(p.begin(), p.end());
    return p;
  }

 private:
  void write_all(const uint8_t* p, size_t n) {
    while (n > 0) {
      // MSG_NOSIGNAL: a peer that died must fail the test, not kill it (SIGPIPE).
      const ssize_t w = ::send(fd_, p, n, MSG_NOSIGNAL);
      if (w <= 0) return;
      p += w, n -= static_cast<size_t>(w);
    }
  }
  bool read_all(uint8_t* p, size_t n) {
    while (n > 0) {
      const ssize_t r = ::read(fd_, p, n);
      if (r <= 0) return false;
      p += r, n -= static_cast<size_t>(r);
    }
    return true;
  }
  pid_t pid_ = -1;
  int fd_ = -1;
};

struct Keylog {
  std::string version, cipher;
  Bytes client_random, server_random, master, c_secret, s_secret;
};

Keylog parse_keylog(const Bytes& text) {
  Keylog k;
  std::istringstream in(std::string(text.begin(), text.end()));
  std::string label, a, b;
  while (in >> label) {
    if (label == "VERSION") in >> k.version;
    else if (label == "CIPHER") in >> k.cipher;
    else if (label == "SERVER_RANDOM") { in >> a; k.server_random = hex(a); }
    else {
      in >> a >> b;
      if (label == "CLIENT_RANDOM") { k.client_random = hex(a); k.master = hex(b); }
      if (label == "CLIENT_TRAFFIC_SECRET_0") k.c_secret = hex(b);
      if (label == "SERVER_TRAFFIC_SECRET_0") k.s_secret = hex(b);
    }
  }
  return k;
}

struct Params {
  Version version;
  Suite suite;
};

std::string name_of(const testing::TestParamInfo<Params>& i) {
  return std::string(i.param.version == Version::tls13 ? "tls13_" : "tls12_") +
         suite_info(i.param.suite).name;
}

class TlsInterop : public testing::TestWithParam<Params> {
 protected:
  void SetUp() override {
#ifndef RL_OPENSSL_TLS_PEER
    GTEST_SKIP() << "built without OpenSSL (libssl-dev): no peer";
#endif
    const Params p = GetParam();
    v13_ = p.version == Version::tls13;
    ASSERT_TRUE(peer_.start(v13_ ? "1.3" : "1.2", suite_info(p.suite).name));
    keys_ = parse_keylog(peer_.expect('K'));
    EXPECT_EQ(keys_.version, v13_ ? "TLSv1.3" : "TLSv1.2");
    const char* want13[] = {"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384",
                            "TLS_CHACHA20_POLY1305_SHA256"};
    const char* want12[] = {"ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
                            "ECDHE-ECDSA-CHACHA20-POLY1305"};
    EXPECT_EQ(keys_.cipher, (v13_ ? want13 : want12)[static_cast<int>(p.suite)]);
    Config c;
    c.version = p.version;
    rp_ = std::make_unique<RecordProtection>(c);
    if (v13_) {
      ASSERT_EQ(keys_.c_secret.size(), hash_len(suite_info(p.suite).hash));
      // Nothing was sent under the application keys yet (no tickets).
      ASSERT_EQ(rp_->install(Direction::seal, p.suite, keys_.c_secret), Status::ok);
      ASSERT_EQ(rp_->install(Direction::open, p.suite, keys_.s_secret), Status::ok);
    } else {
      KeyBlock kb;
      ASSERT_EQ(tls12_key_block(p.suite, suite_info(p.suite).hash, keys_.master, keys_.client_random,
                                keys_.server_random, kb),
                Status::ok);
      // Each side's Finished was record 0 under these keys: data starts at 1.
      ASSERT_EQ(rp_->install_tls12(Direction::seal, p.suite, kb.client_key(), kb.client_iv(), nullptr, 1),
                Status::ok);
      ASSERT_EQ(rp_->install_tls12(Direction::open, p.suite, kb.server_key(), kb.server_iv(), nullptr, 1),
                Status::ok);
    }
  }

  // Seals `data` through a StreamWriter (records of `record_size`), sends the
  // records to SSL_read, returns what it read and its status line.
  std::pair<Bytes, std::string> to_openssl(const Bytes& data, size_t record_size = kMaxPlaintext) {
    Bytes out(data.size() + 64 * (data.size() / 1000 + 2) + 20000);
    StreamWriter w(*rp_, out, record_size);
    size_t accepted = 0;
    EXPECT_EQ(w.write(data, accepted), Status::ok);
    EXPECT_EQ(accepted, data.size());
    EXPECT_EQ(w.flush(), Status::ok);
    return send_records(Bytes(w.output().begin(), w.output().end()));
  }
  std::pair<Bytes, std::string> send_records(const Bytes& records) {
    peer_.send('R', records);
    Bytes plain = peer_.expect('P');
    const Bytes st = peer_.expect('T');
    return {plain, std::string(st.begin(), st.end())};
  }
  Bytes seal_one(const Bytes& content, uint8_t type) {
    Bytes mem(rp_->header_size() + content.size() + 300);
    std::copy(content.begin(), content.end(), mem.begin() + rp_->header_size());
    Record r;
    r.buf = mem.data();
    r.capacity = static_cast<uint32_t>(mem.size());
    r.offset = static_cast<uint32_t>(rp_->header_size());
    r.length = static_cast<uint32_t>(content.size());
    r.type = type;
    EXPECT_EQ(rp_->seal({&r, 1}), 1u) << to_string(r.status);
    return Bytes(r.data(), r.data() + r.length);
  }

  // Opens the record stream OpenSSL wrote, read in uneven chunks, one record
  // at a time (a KeyUpdate changes the key for the very next record).
  struct Got {
    Bytes app;
    size_t records = 0, key_updates = 0, update_requested = 0;
    bool close_notify = false;
    Status status = Status::ok;
  };
  Got from_openssl(Bytes wire) {
    Got g;
    auto reader = std::make_unique<StreamReader>(v13_ ? kMaxCiphertext13 : kMaxCiphertext12);
    size_t pos = 0;
    while (pos < wire.size() && g.status == Status::ok) {
      const size_t n = std::min<size_t>(7000, wire.size() - pos);
      EXPECT_EQ(reader->feed({wire.data() + pos, n}), Status::ok);
      pos += n;
      std::span<uint8_t> rec;
      Status st;
      while ((st = reader->next(rec)) == Status::ok) {
        Record r;
        r.buf = rec.data();
        r.capacity = r.length = static_cast<uint32_t>(rec.size());
        if (rp_->open({&r, 1}) != 1) {
          g.status = r.status;
          break;
        }
        ++g.records;
        const Bytes content(r.data(), r.data() + r.length);
        if (r.type == application_data) g.app.insert(g.app.end(), content.begin(), content.end());
        if (r.type == alert && content == Bytes{1, 0}) g.close_notify = true;
        if (r.type == handshake && content.size() == 5 && content[0] == 24) {
          // RFC 8446 §4.6.3 KeyUpdate: the peer's next record uses its next key.
          EXPECT_LE(content[4], 1);
          EXPECT_EQ(rp_->update(Direction::open), Status::ok);
          ++g.key_updates;
          if (content[4] == 1) ++g.update_requested;
        }
      }
      if (st != Status::truncated && st != Status::ok) g.status = st;
    }
    return g;
  }
  Got peer_writes(char kind, const Bytes& data) {
    peer_.send(kind, data);
    return from_openssl(peer_.expect('R'));
  }

  Peer peer_;
  Keylog keys_;
  std::unique_ptr<RecordProtection> rp_;
  bool v13_ = true;
};

// Padding and KeyUpdate exist in TLS 1.3 only.
class TlsInterop13 : public TlsInterop {};

TEST_P(TlsInterop, ApplicationDataBothWays) {
  const Bytes hello = {'h', 'e', 'l', 'l', 'o'};
  auto [plain, st] = to_openssl(hello);
  EXPECT_EQ(st, "ok");
  EXPECT_EQ(plain, hello);

  const Bytes reply = random_bytes(1000, 1);
  Got g = peer_writes('W', reply);
  EXPECT_EQ(g.status, Status::ok);
  EXPECT_EQ(g.app, reply);
  EXPECT_EQ(g.records, 1u);

  // Many small records in one send.
  Bytes many;
  Bytes all_plain;
  for (int i = 0; i < 20; ++i) {
    const Bytes piece = random_bytes(37 + i, 10 + i);
    const Bytes rec = seal_one(piece, application_data);
    many.insert(many.end(), rec.begin(), rec.end());
    all_plain.insert(all_plain.end(), piece.begin(), piece.end());
  }
  auto [plain2, st2] = send_records(many);
  EXPECT_EQ(st2, "ok");
  EXPECT_EQ(plain2, all_plain);
}

TEST_P(TlsInterop, LargeWritesSpanSeveralRecords) {
  const Bytes big = random_bytes(40000, 2);
  auto [plain, st] = to_openssl(big);  // 16384 + 16384 + 7232
  EXPECT_EQ(st, "ok");
  EXPECT_EQ(plain, big);
  auto [plain_small, st_small] = to_openssl(big, 1000);  // 40 records of 1000
  EXPECT_EQ(st_small, "ok");
  EXPECT_EQ(plain_small, big);

  const Bytes big2 = random_bytes(70000, 3);
  Got g = peer_writes('W', big2);
  EXPECT_EQ(g.status, Status::ok);
  EXPECT_EQ(g.app, big2);
  EXPECT_GE(g.records, 5u);
  EXPECT_EQ(rp_->sequence(Direction::open), (v13_ ? 0u : 1u) + g.records);
}

TEST_P(TlsInterop13, PaddedRecords) {
  ASSERT_EQ(rp_->set_padding({Padding::multiple, 256}), Status::ok);
  const Bytes msg = random_bytes(300, 4);
  auto [plain, st] = to_openssl(msg, 100);
  EXPECT_EQ(st, "ok");
  EXPECT_EQ(plain, msg);
  ASSERT_EQ(rp_->set_padding({Padding::full, 0}), Status::ok);
  auto [plain2, st2] = to_openssl(msg);
  EXPECT_EQ(st2, "ok");
  EXPECT_EQ(plain2, msg);
}

TEST_P(TlsInterop13, KeyUpdateFromOpenSsl) {
  // OpenSSL updates its write key.
  const Bytes after_peer = random_bytes(500, 5);
  Got g = peer_writes('U', after_peer);
  EXPECT_EQ(g.status, Status::ok);
  EXPECT_EQ(g.key_updates, 1u);
  EXPECT_EQ(g.app, after_peer);
  EXPECT_EQ(rp_->generation(Direction::open), 1u);

  // Negative check: moving our write key without sending the KeyUpdate
  // message makes OpenSSL refuse the next record.
  ASSERT_EQ(rp_->update(Direction::seal), Status::ok);
  auto [plain, st] = to_openssl(random_bytes(100, 6));
  EXPECT_TRUE(plain.empty());
  EXPECT_NE(st, "ok");
}

TEST_P(TlsInterop13, KeyUpdateOursThenData) {
  for (int round = 0; round < 3; ++round) {
    Bytes wire = seal_one(hex("18 000001 00"), handshake);
    ASSERT_EQ(rp_->update(Direction::seal), Status::ok);
    const Bytes data = random_bytes(20000, 7 + round);
    Bytes out(40000);
    StreamWriter w(*rp_, out);
    size_t accepted = 0;
    ASSERT_EQ(w.write(data, accepted), Status::ok);
    ASSERT_EQ(w.flush(), Status::ok);
    wire.insert(wire.end(), w.output().begin(), w.output().end());
    auto [plain, st] = send_records(wire);
    EXPECT_EQ(st, "ok");
    EXPECT_EQ(plain, data);
    // And the peer, twice in a row.
    const Bytes back = random_bytes(3000, 20 + round);
    Got g = peer_writes('U', back);
    EXPECT_EQ(g.status, Status::ok);
    EXPECT_EQ(g.key_updates, 1u);
    EXPECT_EQ(g.app, back);
  }
  EXPECT_EQ(rp_->generation(Direction::seal), 3u);
  EXPECT_EQ(rp_->generation(Direction::open), 3u);
}

TEST_P(TlsInterop13, KeyUpdateRequestedByOpenSslIsAnswered) {
  // OpenSSL sends KeyUpdate(update_requested): we move our read key, answer
  // with our own KeyUpdate(update_not_requested) and move our write key
  // (RFC 8446 §4.6.3); OpenSSL then reads data under our new key.
  const Bytes data = random_bytes(2000, 30);
  Got g = peer_writes('u', data);
  EXPECT_EQ(g.status, Status::ok);
  EXPECT_EQ(g.update_requested, 1u);
  EXPECT_EQ(g.app, data);
  Bytes wire = seal_one(hex("18 000001 00"), handshake);
  ASSERT_EQ(rp_->update(Direction::seal), Status::ok);
  const Bytes answer = random_bytes(30000, 31);
  Bytes out(40000);
  StreamWriter w(*rp_, out);
  size_t accepted = 0;
  ASSERT_EQ(w.write(answer, accepted), Status::ok);
  ASSERT_EQ(w.flush(), Status::ok);
  wire.insert(wire.end(), w.output().begin(), w.output().end());
  auto [plain, st] = send_records(wire);
  EXPECT_EQ(st, "ok");
  EXPECT_EQ(plain, answer);
  // OpenSSL keeps working under its updated key.
  const Bytes more = random_bytes(100, 32);
  Got g2 = peer_writes('W', more);
  EXPECT_EQ(g2.status, Status::ok);
  EXPECT_EQ(g2.app, more);
}

TEST_P(TlsInterop, CloseNotifyBothWays) {
  const Bytes last = random_bytes(10, 8);
  Bytes wire = seal_one(last, application_data);
  Bytes mem(64);
  Record r;
  r.buf = mem.data();
  r.capacity = 64;
  r.offset = static_cast<uint32_t>(rp_->header_size());
  ASSERT_EQ(rp_->seal_alert(r, warning, close_notify), Status::ok);
  wire.insert(wire.end(), r.data(), r.data() + r.length);
  auto [plain, st] = send_records(wire);
  EXPECT_EQ(plain, last);
  EXPECT_EQ(st, "closed");
  Record m;
  Bytes mm(64);
  m.buf = mm.data();
  m.capacity = 64;
  m.offset = 16;
  m.length = 1;
  EXPECT_EQ(rp_->seal({&m, 1}), 0u);
  EXPECT_EQ(m.status, Status::closed);

  Got g = peer_writes('S', {});
  EXPECT_EQ(g.status, Status::ok);
  EXPECT_TRUE(g.close_notify);
  EXPECT_TRUE(rp_->closed(Direction::open));
}

TEST_P(TlsInterop, TamperedRecordIsRefusedByOpenSsl) {
  Bytes wire = seal_one(random_bytes(100, 9), application_data);
  wire[wire.size() - 1] ^= 1;
  auto [plain, st] = send_records(wire);
  EXPECT_TRUE(plain.empty());
  EXPECT_NE(st, "ok");
  EXPECT_NE(st.find("SSL_read error"), std::string::npos) << st;
}

INSTANTIATE_TEST_SUITE_P(
    OpenSsl, TlsInterop,
    testing::Values(Params{Version::tls13, Suite::aes128_gcm}, Params{Version::tls13, Suite::aes256_gcm},
                    Params{Version::tls13, Suite::chacha20_poly1305},
                    Params{Version::tls12, Suite::aes128_gcm}, Params{Version::tls12, Suite::aes256_gcm},
                    Params{Version::tls12, Suite::chacha20_poly1305}),
    name_of);
INSTANTIATE_TEST_SUITE_P(
    OpenSsl, TlsInterop13,
    testing::Values(Params{Version::tls13, Suite::aes128_gcm}, Params{Version::tls13, Suite::aes256_gcm},
                    Params{Version::tls13, Suite::chacha20_poly1305}),
    name_of);

}  // namespace
}  // namespace rl::tls
