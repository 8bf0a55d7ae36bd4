// TLS over TCP on io_uring (io/tcp_path): a loopback connection against
// itself. Records are sealed in the registered TX buffer and sent with
// SEND_ZC; the other side reads into its registered RX buffer and opens the
// records in place (with RL_IO=mmsg, or without io_uring, the poll/recv/send
// fallback does the same with plain syscalls). Every byte arrives in order; a flipped byte on the wire
// ends the stream with a counted failure and delivers nothing after it.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include "io/tcp_path.h"
#include "io/udp_path.h"

namespace rl::io {
namespace {

// A connected TCP pair on loopback.
std::pair<int, int> tcp_pair() {
  const int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t al = sizeof a;
  if (bind(l, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(l, 1) != 0) return {-1, -1};
  getsockname(l, reinterpret_cast<sockaddr*>(&a), &al);
  const int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (connect(c, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return {-1, -1};
  const int s = accept(l, nullptr, nullptr);
  close(l);
  return {c, s};
}

uint8_t pat(size_t i) { return static_cast<uint8_t>(i * 7 + (i >> 9)); }

struct Sink {
  std::vector<uint8_t> got;
  static void take(void* ctx, const tls::Record& r) {
    auto* s = static_cast<Sink*>(ctx);
    if (r.type == tls::application_data) s->got.insert(s->got.end(), r.data(), r.data() + r.length);
  }
};

struct Keys {
  std::vector<uint8_t> c2s = std::vector<uint8_t>(32, 0x11), s2c = std::vector<uint8_t>(32, 0x22);
};

// The path the environment asks for: RL_IO=mmsg (or no io_uring here) takes
// the poll/recv/send fallback; the suite runs once with each.
PathKind expected_kind() {
  const char* env = std::getenv("RL_IO");
  return uring_available() && !(env != nullptr && std::strcmp(env, "mmsg") == 0) ? PathKind::uring
                                                                                 : PathKind::mmsg;
}

TEST(IoTcp, RecordsSealedAndOpenedInPlaceBothWays) {
  auto [cfd, sfd] = tcp_pair();
  ASSERT_GE(cfd, 0);
  Keys k;
  tls::RecordProtection crp, srp;
  ASSERT_EQ(crp.install(Direction::seal, Suite::aes128_gcm, k.c2s), Status::ok);
  ASSERT_EQ(crp.install(Direction::open, Suite::aes128_gcm, k.s2c), Status::ok);
  ASSERT_EQ(srp.install(Direction::seal, Suite::aes128_gcm, k.s2c), Status::ok);
  ASSERT_EQ(srp.install(Direction::open, Suite::aes128_gcm, k.c2s), Status::ok);
  TcpTlsPath client, server;
  std::string err;
  ASSERT_TRUE(client.init(cfd, crp, &err)) << err;
  ASSERT_TRUE(server.init(sfd, srp, &err)) << err;
  ASSERT_EQ(client.kind(), expected_kind());
  ASSERT_EQ(server.kind(), expected_kind());

  // Client -> server: 1 MiB in uneven writes (records straddle reads).
  constexpr size_t kBytes = 1 << 20;
  std::vector<uint8_t> data(kBytes);
  for (size_t i = 0; i < kBytes; ++i) data[i] = pat(i);
  std::thread sender([&] {
    size_t at = 0, step = 1;
    while (at < kBytes) {
      const size_t n = std::min(kBytes - at, (step * 7919) % 40000 + 1);
      ASSERT_EQ(client.send({data.data() + at, n}, at + n == kBytes), Status::ok);
      at += n;
      ++step;
    }
  });
  Sink sink;
  while (sink.got.size() < kBytes) {
    const long r = server.receive(1000, &Sink::take, &sink);
    ASSERT_GE(r, 0) << "stream ended after " << sink.got.size();
  }
  sender.join();
  EXPECT_EQ(sink.got, data);
  EXPECT_EQ(server.counters().records_failed, 0u);
  EXPECT_GT(server.counters().records_opened, kBytes / tls::kMaxPlaintext - 1);
  EXPECT_GT(client.counters().tx_sends, 0u);
  EXPECT_EQ(client.counters().tx_errors, 0u);

  // Nothing more to read: the linked timeout ends the wait, the stream lives on.
  EXPECT_EQ(server.receive(20, &Sink::take, &sink), 0);

  // Server -> client, a few small writes, flushed each time.
  Sink back;
  for (int i = 0; i < 5; ++i) {
    const uint8_t msg[3] = {static_cast<uint8_t>(i), 0xab, 0xcd};
    ASSERT_EQ(server.send(msg, true), Status::ok);
  }
  while (back.got.size() < 15) ASSERT_GE(client.receive(1000, &Sink::take, &back), 0);
  EXPECT_EQ(back.got.size(), 15u);
  EXPECT_EQ(back.got[12], 4);
}

TEST(IoTcp, TamperedRecordEndsTheStreamAndIsCounted) {
  auto [cfd, sfd] = tcp_pair();
  ASSERT_GE(cfd, 0);
  Keys k;
  tls::RecordProtection crp, srp;
  ASSERT_EQ(crp.install(Direction::seal, Suite::aes128_gcm, k.c2s), Status::ok);
  ASSERT_EQ(srp.install(Direction::open, Suite::aes128_gcm, k.c2s), Status::ok);
  // Seal two records by hand, flip a byte in the second, send raw.
  uint8_t buf[2][64];
  tls::Record r[2];
  for (int i = 0; i < 2; ++i) {
    std::memset(buf[i], 0x5a, sizeof buf[i]);
    static_cast<PacketView&>(r[i]) = PacketView{buf[i], sizeof buf[i], tls::kHeaderLen, 10, Status::ok};
  }
  ASSERT_EQ(crp.seal(r), 2u);
  r[1].data()[r[1].length - 3] ^= 1;
  for (auto& x : r) ASSERT_EQ(send(cfd, x.data(), x.length, 0), static_cast<ssize_t>(x.length));
  close(cfd);
  TcpTlsPath server;
  std::string err;
  ASSERT_TRUE(server.init(sfd, srp, &err)) << err;
  ASSERT_EQ(server.kind(), expected_kind());
  Sink sink;
  long r1 = 0;
  for (int i = 0; i < 10 && r1 >= 0; ++i) r1 = server.receive(1000, &Sink::take, &sink);
  EXPECT_EQ(r1, -1);
  EXPECT_EQ(sink.got.size(), 10u) << "only the genuine record is delivered";
  EXPECT_EQ(server.counters().records_failed, 1u);
  EXPECT_EQ(server.counters().records_opened, 1u);
}

}  // namespace
}  // namespace rl::io
