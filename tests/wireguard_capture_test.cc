// WireGuard transport data against tests/data/wireguard/: 22 messages of two
// sessions (the second a rekey the other peer started, with a preshared key)
// from real Noise IK handshakes, decrypted independently by tshark 4.0 (see
// that folder's README.md). Both peers open every message in capture order
// (out-of-order counters, a late message under the old session after the
// rekey, keepalives, MTU-capped padding) and get tshark's plaintext; fresh
// senders seal the inner packets again and get the captured bytes.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "core/wireguard.h"
#include "tests/support/vectors.h"
#include "tests/support/wireguard_fixture.h"

namespace rl::wireguard {
namespace {

using test::Bytes;

struct Buf {
  std::vector<uint8_t> mem;
  PacketView view;
  explicit Buf(const Bytes& b) : mem(16 + b.size() + 64) {
    std::copy(b.begin(), b.end(), mem.begin() + 16);
    view = PacketView{mem.data(), static_cast<uint32_t>(mem.size()), 16, static_cast<uint32_t>(b.size())};
  }
  Bytes bytes() const { return Bytes(view.data(), view.data() + view.length); }
};

TEST(WireGuardCapture, OpensWhatTsharkDecryptedAndSealsTheSameBytes) {
  const std::optional<test::wg::Fixture> fx = test::wg::load_fixture();
  ASSERT_TRUE(fx.has_value()) << "missing " << test::wg::data_dir() << "transport.txt";
  const auto& sessions = fx->sessions;
  const auto& msgs = fx->msgs;
  ASSERT_EQ(sessions.size(), 2u);
  ASSERT_EQ(msgs.size(), 22u);
  // Peer A (10.0.0.1) initiated session 1, peer B session 2.
  const auto keypair = [&](int n, bool initiator) {
    const test::wg::Session& s = sessions.at(n);
    return initiator ? Keypair{s.initiator_index, s.responder_index, s.i2r, s.r2i, true}
                     : Keypair{s.responder_index, s.initiator_index, s.r2i, s.i2r, false};
  };
  Peer a, b;
  ASSERT_EQ(a.install(keypair(1, true)), Status::ok);
  ASSERT_EQ(b.install(keypair(1, false)), Status::ok);
  bool rekeyed = false;
  size_t checked_by_tshark = 0;
  for (const test::wg::Message& m : msgs) {
    SCOPED_TRACE("frame " + std::to_string(m.frame));
    if (m.session == 2 && !rekeyed) {  // the second handshake happened here
      ASSERT_EQ(b.install(keypair(2, true)), Status::ok);
      ASSERT_EQ(a.install(keypair(2, false)), Status::ok);
      rekeyed = true;
    }
    ASSERT_EQ(message_type(m.wire), kTransportData);
    const bool from_a = (m.session == 1) == m.i2r;
    Peer& rx = from_a ? b : a;
    Buf buf(m.wire);
    ASSERT_EQ(rx.open({&buf.view, 1}), 1u);
    ASSERT_EQ(buf.view.status, Status::ok);
    if (m.tshark_checked) {
      EXPECT_EQ(buf.bytes(), m.tshark);
      ++checked_by_tshark;
    }
    EXPECT_EQ(buf.bytes(), m.generator);
    ASSERT_EQ(trim_padding(buf.view), Status::ok);
    EXPECT_EQ(padded_length(buf.view.length, 1420), m.generator.size());
  }
  EXPECT_EQ(checked_by_tshark, msgs.size());
  // After B's first session-2 message A moved to session 2; A's session 1
  // stays as previous, B's session 1 too (it initiated session 2).
  EXPECT_EQ(a.current(), sessions.at(2).responder_index);
  EXPECT_EQ(a.previous(), sessions.at(1).initiator_index);
  EXPECT_EQ(b.current(), sessions.at(2).initiator_index);
  EXPECT_EQ(b.previous(), sessions.at(1).responder_index);

  // Seal: each direction of each session from a fresh sender, in counter
  // order, the inner packets (padding cut) with the tunnel MTU 1420. A
  // responder first opens the initiator's first message (§5.4.5).
  for (int n : {1, 2}) {
    for (bool i2r : {true, false}) {
      std::vector<test::wg::Message> run;
      for (const test::wg::Message& m : msgs)
        if (m.session == n && m.i2r == i2r) run.push_back(m);
      std::sort(run.begin(), run.end(), [](const auto& x, const auto& y) { return x.counter < y.counter; });
      Peer tx;
      tx.set_mtu(1420);
      ASSERT_EQ(tx.install(keypair(n, i2r)), Status::ok);
      if (!i2r) {  // the responder sends once the initiator's first message confirmed the session
        const auto first = std::find_if(msgs.begin(), msgs.end(),
                                        [&](const test::wg::Message& m) { return m.session == n && m.i2r; });
        ASSERT_NE(first, msgs.end());
        Buf c(first->wire);
        ASSERT_EQ(tx.open({&c.view, 1}), 1u);
      }
      for (size_t k = 0; k < run.size(); ++k) {
        SCOPED_TRACE("frame " + std::to_string(run[k].frame));
        ASSERT_EQ(run[k].counter, k);
        Buf inner(run[k].generator);
        ASSERT_EQ(trim_padding(inner.view), Status::ok);
        Buf p(inner.bytes());
        ASSERT_EQ(tx.seal({&p.view, 1}), 1u);
        EXPECT_EQ(p.bytes(), run[k].wire);
      }
    }
  }
}

}  // namespace
}  // namespace rl::wireguard
