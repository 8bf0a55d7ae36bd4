// The OpenVPN data channel (core/openvpn.h): packets against a reference
// built here with BoringSSL's EVP_AEAD from OpenVPN 2.6's format, keys by
// key_id, the packet-ID window, limits, bad input, every-byte mutation, and
// bursts against one packet at a time. Real openvpn traffic is in
// openvpn_capture_test.cc.
#include <gtest/gtest.h>
#include <openssl/aead.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <random>
#include <vector>

#include "core/bytes.h"
#include "core/openvpn.h"
#include "tests/support/backends.h"
#include "tests/support/vectors.h"

namespace rl::openvpn {
namespace {

using test::Bytes;

constexpr size_t kHead = 32, kTail = 32;

struct Buf {
  std::vector<uint8_t> mem;
  PacketView view;
  explicit Buf(const Bytes& b, size_t head = kHead, size_t tail = kTail) : mem(head + b.size() + tail, 0xee) {
    std::copy(b.begin(), b.end(), mem.begin() + static_cast<long>(head));
    view = PacketView{mem.data(), static_cast<uint32_t>(mem.size()), static_cast<uint32_t>(head),
                      static_cast<uint32_t>(b.size())};
  }
  Bytes bytes() const { return Bytes(view.data(), view.data() + view.length); }
};

const EVP_AEAD* evp(Suite s) {
  switch (s) {
    case Suite::aes128_gcm: return EVP_aead_aes_128_gcm();
    case Suite::aes256_gcm: return EVP_aead_aes_256_gcm();
    case Suite::chacha20_poly1305: return EVP_aead_chacha20_poly1305();
  }
  return nullptr;
}

// OpenVPN 2.6's AEAD data packet read independently (crypto.c
// openvpn_encrypt_aead, ssl.c tls_pre_decrypt): op ‖ [peer-id] ‖ packet-id ‖
// tag ‖ ciphertext; nonce packet-id ‖ implicit IV; AAD op ‖ peer-id ‖
// packet-id for V2, packet-id alone for V1.
Bytes reference(Suite s, const Bytes& key, const Bytes& iv, bool v2, uint8_t key_id, uint32_t peer,
                uint32_t id, const Bytes& plain) {
  Bytes head;
  if (v2) {
    head = {static_cast<uint8_t>(9 << 3 | key_id), static_cast<uint8_t>(peer >> 16),
            static_cast<uint8_t>(peer >> 8), static_cast<uint8_t>(peer)};
  } else {
    head = {static_cast<uint8_t>(6 << 3 | key_id)};
  }
  const Bytes pid = {static_cast<uint8_t>(id >> 24), static_cast<uint8_t>(id >> 16),
                     static_cast<uint8_t>(id >> 8), static_cast<uint8_t>(id)};
  Bytes nonce = pid;
  nonce.insert(nonce.end(), iv.begin(), iv.end());
  Bytes aad = v2 ? head : Bytes{};
  aad.insert(aad.end(), pid.begin(), pid.end());
  EVP_AEAD_CTX ctx;
  EXPECT_EQ(EVP_AEAD_CTX_init(&ctx, evp(s), key.data(), key.size(), 16, nullptr), 1);
  Bytes ct(plain.size()), tag(16);
  size_t tag_len = 0;
  EXPECT_EQ(EVP_AEAD_CTX_seal_scatter(&ctx, ct.data(), tag.data(), &tag_len, 16, nonce.data(), 12,
                                      plain.data(), plain.size(), nullptr, 0, aad.data(), aad.size()),
            1);
  EVP_AEAD_CTX_cleanup(&ctx);
  Bytes out = head;
  out.insert(out.end(), pid.begin(), pid.end());
  out.insert(out.end(), tag.begin(), tag.end());
  out.insert(out.end(), ct.begin(), ct.end());
  return out;
}

// Both ends of one key_id, from 256 random bytes of key material.
struct Keys {
  Bytes material;
  Suite suite;
  uint8_t key_id;
  Keys(Suite s, uint8_t id, uint64_t seed) : material(test::random_bytes(kKeyMaterialLen, seed)), suite(s), key_id(id) {}
  KeySet client() const { return key_set(std::span<const uint8_t, kKeyMaterialLen>(material.data(), kKeyMaterialLen), suite, key_id, false); }
  KeySet server() const { return key_set(std::span<const uint8_t, kKeyMaterialLen>(material.data(), kKeyMaterialLen), suite, key_id, true); }
  Bytes client_key() const { return Bytes(material.begin(), material.begin() + suite_info(suite).key_len); }
  Bytes client_iv() const { return Bytes(material.begin() + 64, material.begin() + 72); }
};

Packet packet_of(Buf& b) {
  Packet p;
  p.view = b.view;
  return p;
}

struct FakeClock {
  uint64_t t = 1000;
  Clock clock() {
    return Clock{[](void* c) { return static_cast<FakeClock*>(c)->t; }, this};
  }
};

TEST(OpenVpnKeys, KeySetSplitsTheMaterialByRole) {
  const Keys k(Suite::aes256_gcm, 3, 1);
  const KeySet c = k.client(), s = k.server();
  EXPECT_EQ(c.key_id, 3);
  EXPECT_EQ(Bytes(c.send_key.begin(), c.send_key.end()), Bytes(k.material.begin(), k.material.begin() + 32));
  EXPECT_EQ(Bytes(c.send_iv.begin(), c.send_iv.end()), Bytes(k.material.begin() + 64, k.material.begin() + 72));
  EXPECT_EQ(Bytes(c.recv_key.begin(), c.recv_key.end()), Bytes(k.material.begin() + 128, k.material.begin() + 160));
  EXPECT_EQ(Bytes(c.recv_iv.begin(), c.recv_iv.end()), Bytes(k.material.begin() + 192, k.material.begin() + 200));
  EXPECT_EQ(s.send_key.data(), c.recv_key.data());
  EXPECT_EQ(s.recv_iv.data(), c.send_iv.data());
}

// Seal matches the reference byte for byte, both formats, every suite and
// backend, every plaintext length 1..100 and around the block edges; the
// other end opens it back.
TEST(OpenVpnSeal, MatchesTheReferenceAndOpens) {
  test::for_each_backend([](Backend) {
    for (Suite s : kAllSuites)
      for (bool v2 : {true, false}) {
        SCOPED_TRACE(std::string(suite_info(s).name) + (v2 ? " v2" : " v1"));
        const Keys k(s, 5, 7);
        Config cfg;
        cfg.data_v2 = v2;
        cfg.peer_id = 0xabcdef;
        Channel tx(cfg), rx(cfg);
        ASSERT_EQ(tx.install(k.client()), Status::ok);
        ASSERT_EQ(rx.install(k.server()), Status::ok);
        uint32_t id = 1;
        std::vector<size_t> lens;
        for (size_t n = 1; n <= 100; ++n) lens.push_back(n);
        for (size_t n : {255, 256, 257, 1399, 1400, 1500, 9000}) lens.push_back(n);
        for (size_t n : lens) {
          const Bytes plain = test::random_bytes(n, n);
          Buf b(plain);
          ASSERT_EQ(tx.seal({&b.view, 1}), 1u);
          ASSERT_EQ(b.bytes(), reference(s, k.client_key(), k.client_iv(), v2, 5, 0xabcdef, id, plain)) << n;
          Packet p = packet_of(b);
          ASSERT_EQ(rx.open({&p, 1}), 1u) << n;
          EXPECT_EQ(Bytes(p.view.data(), p.view.data() + p.view.length), plain);
          EXPECT_EQ(p.opcode, v2 ? kDataV2 : kDataV1);
          EXPECT_EQ(p.key_id, 5);
          EXPECT_EQ(p.packet_id, id);
          EXPECT_EQ(p.peer_id, v2 ? 0xabcdefu : 0u);
          ++id;
        }
        EXPECT_EQ(tx.next_packet_id(), id);
      }
  });
}

TEST(OpenVpnSeal, BadInputUsesNoPacketId) {
  const Keys k(Suite::aes128_gcm, 0, 2);
  Channel tx;
  Buf b(Bytes(10, 1));
  EXPECT_EQ(tx.seal({&b.view, 1}), 0u);
  EXPECT_EQ(b.view.status, Status::key_expired);  // nothing installed
  ASSERT_EQ(tx.install(k.client()), Status::ok);
  Buf empty(Bytes{});
  EXPECT_EQ(tx.seal({&empty.view, 1}), 0u);
  EXPECT_EQ(empty.view.status, Status::invalid_argument);
  Buf tight(Bytes(10, 1), kOverheadV2 - 1);
  EXPECT_EQ(tx.seal({&tight.view, 1}), 0u);
  EXPECT_EQ(tight.view.status, Status::buffer_too_small);
  EXPECT_EQ(tight.bytes(), Bytes(10, 1));
  PacketView bad{};
  EXPECT_EQ(tx.seal({&bad, 1}), 0u);
  EXPECT_EQ(bad.status, Status::invalid_argument);
  EXPECT_EQ(tx.next_packet_id(), 1u);
  Buf ok(Bytes(10, 1), kOverheadV2);  // exactly enough headroom
  EXPECT_EQ(tx.seal({&ok.view, 1}), 1u);
  EXPECT_EQ(ok.view.offset, 0u);
}

TEST(OpenVpnKeys, InstallRefusesBadKeysAndConfig) {
  const Keys k(Suite::aes256_gcm, 1, 3);
  Channel ch;
  KeySet ks = k.client();
  ks.key_id = 8;
  EXPECT_EQ(ch.install(ks), Status::invalid_argument);
  ks = k.client();
  ks.send_iv = ks.send_iv.first(7);
  EXPECT_EQ(ch.install(ks), Status::invalid_argument);
  ks = k.client();
  ks.recv_key = ks.recv_key.first(16);
  EXPECT_EQ(ch.install(ks), Status::invalid_argument);
  EXPECT_FALSE(ch.primary().has_value());
  Config big;
  big.peer_id = kMaxPeerId + 1;
  Channel bad_peer(big);
  EXPECT_EQ(bad_peer.install(k.client()), Status::invalid_argument);
  Config wide;
  wide.replay_window = ReplayWindow::kLargestSize + 1;
  Channel bad_window(wide);
  EXPECT_EQ(bad_window.install(k.client()), Status::invalid_argument);
  wide.replay_window = ReplayWindow::kLargestSize;
  Channel good_window(wide);
  EXPECT_EQ(good_window.install(k.client()), Status::ok);
}

// Renegotiation: the new key seals, the old one still opens late packets
// until it is expired; keys are found by key_id.
TEST(OpenVpnKeys, NewKeySealsOldKeyOpensUntilExpired) {
  const Keys k0(Suite::aes128_gcm, 0, 10), k1(Suite::aes128_gcm, 1, 11);
  Channel tx, rx;
  ASSERT_EQ(tx.install(k0.client()), Status::ok);
  ASSERT_EQ(rx.install(k0.server()), Status::ok);
  Buf late(Bytes(40, 4));
  ASSERT_EQ(tx.seal({&late.view, 1}), 1u);
  ASSERT_EQ(tx.install(k1.client()), Status::ok);
  ASSERT_EQ(rx.install(k1.server()), Status::ok);
  EXPECT_EQ(tx.primary(), 1);
  Buf now(Bytes(40, 5));
  ASSERT_EQ(tx.seal({&now.view, 1}), 1u);
  EXPECT_EQ(now.view.data()[0], 9 << 3 | 1);
  Packet a = packet_of(now), b = packet_of(late);
  Packet both[2] = {a, b};
  EXPECT_EQ(rx.open(both), 2u);
  EXPECT_EQ(both[0].key_id, 1);
  EXPECT_EQ(both[1].key_id, 0);
  EXPECT_EQ(both[0].packet_id, 1u);  // IDs start at 1 per key
  EXPECT_EQ(both[1].packet_id, 1u);
  Buf late2(Bytes(40, 6));
  ASSERT_EQ(rx.expire(0), Status::ok);
  EXPECT_EQ(rx.expire(0), Status::unknown_epoch);
  // A packet for key 0 now: unknown_epoch, bytes unchanged.
  Channel tx0;
  ASSERT_EQ(tx0.install(k0.client()), Status::ok);
  ASSERT_EQ(tx0.seal({&late2.view, 1}), 1u);
  const Bytes before = late2.bytes();
  Packet c = packet_of(late2);
  EXPECT_EQ(rx.open({&c, 1}), 0u);
  EXPECT_EQ(c.status(), Status::unknown_epoch);
  EXPECT_EQ(late2.bytes(), before);
}

TEST(OpenVpnKeys, ExpireAndClearWipe) {
  const Keys k0(Suite::chacha20_poly1305, 0, 20), k5(Suite::aes256_gcm, 5, 21);
  Channel ch;
  ASSERT_EQ(ch.install(k0.client()), Status::ok);
  ASSERT_EQ(ch.install(k5.client()), Status::ok);
  std::span<const uint8_t> bytes[32];
  auto all_zero = [&] {
    ch.debug_key_bytes(bytes);
    for (auto b : bytes)
      if (std::any_of(b.begin(), b.end(), [](uint8_t x) { return x != 0; })) return false;
    return true;
  };
  EXPECT_FALSE(all_zero());
  ASSERT_EQ(ch.expire(5), Status::ok);
  EXPECT_FALSE(ch.primary().has_value());
  Buf b(Bytes(10, 1));
  EXPECT_EQ(ch.seal({&b.view, 1}), 0u);
  EXPECT_EQ(b.view.status, Status::key_expired);
  ch.clear();
  EXPECT_TRUE(all_zero());
  KeyEvent e;
  int expired = 0;
  while (ch.poll_event(e)) expired += e.kind == KeyEvent::expired;
  EXPECT_EQ(expired, 4);  // two directions of two keys
}

// packet_id.c: ID 0 never, duplicates and IDs left of the window refused;
// reordering within the window accepted.
TEST(OpenVpnOpen, PacketIdWindow) {
  const Keys k(Suite::aes128_gcm, 2, 30);
  Config cfg;
  cfg.replay_window = 64;
  for (bool burst : {false, true}) {
    SCOPED_TRACE(burst ? "burst" : "one at a time");
    Channel tx(cfg), rx(cfg);
    ASSERT_EQ(tx.install(k.client()), Status::ok);
    ASSERT_EQ(rx.install(k.server()), Status::ok);
    std::vector<Buf> sealed;
    for (int i = 0; i < 100; ++i) {
      sealed.emplace_back(Bytes(20, static_cast<uint8_t>(i)));
      ASSERT_EQ(tx.seal({&sealed.back().view, 1}), 1u);
    }
    // Open 100 (id 100), then 37 (id 37, 63 behind: in), 36 (64 behind: out),
    // 100 again, and 99; each from its own copy of the bytes.
    const int order[] = {99, 36, 35, 99, 98};
    const Status want[] = {Status::ok, Status::ok, Status::too_old, Status::replayed, Status::ok};
    std::vector<Buf> copies;
    for (int i : order) copies.emplace_back(sealed[static_cast<size_t>(i)].bytes());
    std::vector<Packet> pk;
    for (auto& c : copies) pk.push_back(packet_of(c));
    if (burst) {
      rx.open(pk);
    } else {
      for (auto& p : pk) rx.open({&p, 1});
    }
    for (size_t i = 0; i < pk.size(); ++i) {
      EXPECT_EQ(pk[i].status(), want[i]) << i;
      if (want[i] != Status::ok) {
        EXPECT_EQ(copies[i].bytes(), sealed[static_cast<size_t>(order[i])].bytes());
      }
    }
  }
  // Packet ID 0, forged with a valid tag: malformed before any crypto.
  Channel rx(cfg);
  ASSERT_EQ(rx.install(k.server()), Status::ok);
  const Bytes zero = reference(Suite::aes128_gcm, k.client_key(), k.client_iv(), true, 2, 0, 0, Bytes(5, 1));
  Buf b(zero);
  Packet p = packet_of(b);
  EXPECT_EQ(rx.open({&p, 1}), 0u);
  EXPECT_EQ(p.status(), Status::malformed);
}

// A duplicate of a packet opened before the burst, after a packet of the same
// burst moved the window past it: too_old, as one at a time says (the window
// as it stood before the burst would say replayed).
TEST(OpenVpnOpen, BurstJumpMakesAnEarlierDuplicateTooOld) {
  const Keys k(Suite::aes128_gcm, 0, 31);
  Config cfg;
  cfg.replay_window = 64;
  Channel tx(cfg);
  ASSERT_EQ(tx.install(k.client()), Status::ok);
  std::vector<Bytes> wire;
  for (int i = 0; i < 100; ++i) {
    Buf b(Bytes(20, static_cast<uint8_t>(i)));
    ASSERT_EQ(tx.seal({&b.view, 1}), 1u);
    wire.push_back(b.bytes());
  }
  for (bool burst : {false, true}) {
    SCOPED_TRACE(burst ? "burst" : "one at a time");
    Channel rx(cfg);
    ASSERT_EQ(rx.install(k.server()), Status::ok);
    Buf first(wire[5]);
    Packet p0 = packet_of(first);
    ASSERT_EQ(rx.open({&p0, 1}), 1u);
    Buf jump(wire[99]), dup(wire[5]), dup2(wire[99]);
    Packet pk[3] = {packet_of(jump), packet_of(dup), packet_of(dup2)};
    if (burst) {
      EXPECT_EQ(rx.open(pk), 1u);
    } else {
      for (auto& p : pk) rx.open({&p, 1});
    }
    EXPECT_EQ(pk[0].status(), Status::ok);
    EXPECT_EQ(pk[1].status(), Status::too_old);
    EXPECT_EQ(pk[2].status(), Status::replayed);
    EXPECT_EQ(dup.bytes(), wire[5]);
    EXPECT_EQ(rx.counters(0, Direction::open)->replays, 2u);
  }
}

TEST(OpenVpnOpen, BadInput) {
  const Keys k(Suite::aes128_gcm, 0, 40);
  Channel tx, rx;
  ASSERT_EQ(tx.install(k.client()), Status::ok);
  ASSERT_EQ(rx.install(k.server()), Status::ok);
  Buf good(Bytes(1, 7));
  ASSERT_EQ(tx.seal({&good.view, 1}), 1u);
  const Bytes wire = good.bytes();
  auto open_bytes = [&](const Bytes& w) {
    Buf b(w);
    Packet p = packet_of(b);
    rx.open({&p, 1});
    EXPECT_EQ(b.bytes(), w);  // refused: unchanged
    return p.status();
  };
  EXPECT_EQ(open_bytes(Bytes{}), Status::truncated);
  EXPECT_EQ(open_bytes(Bytes(wire.begin(), wire.end() - 1)), Status::truncated);  // no payload byte
  Bytes ctl = wire;
  ctl[0] = 4 << 3;  // P_CONTROL_V1
  EXPECT_EQ(open_bytes(ctl), Status::malformed);
  Bytes other_key = wire;
  other_key[0] = 9 << 3 | 3;
  EXPECT_EQ(open_bytes(other_key), Status::unknown_epoch);
  Bytes v1 = wire;
  v1[0] = 6 << 3;  // read as V1, the packet ID is peer-id 0 and a zero byte: 0
  EXPECT_EQ(open_bytes(v1), Status::malformed);
  v1[3] = 1;  // now ID 1 under another layout and AAD
  EXPECT_EQ(open_bytes(v1), Status::auth_failed);
  Packet bad;
  EXPECT_EQ(rx.open({&bad, 1}), 0u);
  EXPECT_EQ(bad.status(), Status::invalid_argument);
  Buf b(wire);
  Packet p = packet_of(b);
  EXPECT_EQ(rx.open({&p, 1}), 1u);  // nothing above changed the window
}

// Every byte of a protected packet flipped: refused, bytes as they arrived,
// and the genuine packet still opens afterwards.
TEST(OpenVpnOpen, EveryByteMutationFails) {
  test::for_each_backend([](Backend) {
    for (Suite s : kAllSuites)
      for (bool v2 : {true, false}) {
        const Keys k(s, 4, 50);
        Config cfg;
        cfg.data_v2 = v2;
        cfg.peer_id = 77;
        Channel tx(cfg), rx(cfg);
        ASSERT_EQ(tx.install(k.client()), Status::ok);
        ASSERT_EQ(rx.install(k.server()), Status::ok);
        Buf b(test::random_bytes(83, 9));
        ASSERT_EQ(tx.seal({&b.view, 1}), 1u);
        const Bytes wire = b.bytes();
        for (size_t i = 0; i < wire.size(); ++i)
          for (uint8_t bit : {0x01, 0x80}) {
            Bytes m = wire;
            m[i] ^= bit;
            Buf mb(m);
            Packet p = packet_of(mb);
            ASSERT_EQ(rx.open({&p, 1}), 0u) << i;
            ASSERT_NE(p.status(), Status::ok);
            ASSERT_EQ(mb.bytes(), m) << i;
          }
        Buf g(wire);
        Packet p = packet_of(g);
        EXPECT_EQ(rx.open({&p, 1}), 1u);
        EXPECT_EQ(rx.counters(4, Direction::open)->opened, 1u);
      }
  });
}

// Limits: the packet ID never wraps (soft event at 0xFF000000), and AES-GCM
// stops at 2^36 - 1 blocks + packets (soft event at 7/8).
TEST(OpenVpnLimits, PacketIdNeverWraps) {
  const Keys k(Suite::chacha20_poly1305, 0, 60);
  Channel tx, rx;
  ASSERT_EQ(tx.install(k.client()), Status::ok);
  ASSERT_EQ(rx.install(k.server()), Status::ok);
  KeyEvent e;
  while (tx.poll_event(e)) {
  }
  ASSERT_EQ(tx.skip_packet_ids(kPacketIdWrapTrigger - 2), Status::ok);  // next: trigger - 1
  Buf a(Bytes(3, 1));
  ASSERT_EQ(tx.seal({&a.view, 1}), 1u);
  EXPECT_FALSE(tx.poll_event(e));
  Buf b(Bytes(3, 2));
  ASSERT_EQ(tx.seal({&b.view, 1}), 1u);
  ASSERT_TRUE(tx.poll_event(e));
  EXPECT_EQ(e.kind, KeyEvent::soft_limit);
  ASSERT_EQ(tx.skip_packet_ids(UINT32_MAX), Status::ok);  // capped: only 0xFFFFFFFF left
  EXPECT_EQ(tx.next_packet_id(), UINT32_MAX);
  Buf last(Bytes(3, 3));
  ASSERT_EQ(tx.seal({&last.view, 1}), 1u);
  Buf none(Bytes(3, 4));
  EXPECT_EQ(tx.seal({&none.view, 1}), 0u);
  EXPECT_EQ(none.view.status, Status::key_exhausted);
  EXPECT_FALSE(tx.next_packet_id().has_value());
  Packet p = packet_of(last);
  EXPECT_EQ(rx.open({&p, 1}), 1u);
  EXPECT_EQ(p.packet_id, UINT32_MAX);
}

TEST(OpenVpnLimits, GcmUsage) {
  const Keys k(Suite::aes128_gcm, 0, 61);
  Channel tx;
  ASSERT_EQ(tx.install(k.client()), Status::ok);
  KeyEvent e;
  while (tx.poll_event(e)) {
  }
  const uint64_t soft = kGcmUsageLimit / 8 * 7;
  tx.debug_set_gcm_usage(soft - 3);
  Buf a(Bytes(16, 1));  // one block + the call: 2
  ASSERT_EQ(tx.seal({&a.view, 1}), 1u);
  EXPECT_FALSE(tx.poll_event(e));
  Buf b(Bytes(17, 1));  // two blocks + the call: 3, at the soft limit
  ASSERT_EQ(tx.seal({&b.view, 1}), 1u);
  ASSERT_TRUE(tx.poll_event(e));
  EXPECT_EQ(e.kind, KeyEvent::soft_limit);
  tx.debug_set_gcm_usage(kGcmUsageLimit - 3);
  Buf c(Bytes(33, 1));  // 3 blocks + 1: over
  EXPECT_EQ(tx.seal({&c.view, 1}), 0u);
  EXPECT_EQ(c.view.status, Status::key_exhausted);
  Buf d(Bytes(32, 1));  // 2 + 1: exactly at the bound
  EXPECT_EQ(tx.seal({&d.view, 1}), 1u);
  EXPECT_EQ(tx.next_packet_id(), 4u);  // c used no ID
}

TEST(OpenVpnLimits, IntegrityLimitWithinABurst) {
  const Keys k(Suite::aes128_gcm, 0, 62);
  Limits lim;
  lim.max_auth_failures = 3;
  Channel tx, rx;
  ASSERT_EQ(tx.install(k.client(), &lim), Status::ok);
  ASSERT_EQ(rx.install(k.server(), &lim), Status::ok);
  std::vector<Buf> bufs;
  for (int i = 0; i < 8; ++i) {
    bufs.emplace_back(Bytes(30, static_cast<uint8_t>(i)));
    ASSERT_EQ(tx.seal({&bufs.back().view, 1}), 1u);
    if (i < 4) bufs.back().view.data()[30] ^= 1;  // 4 forgeries first
  }
  std::vector<Packet> pk;
  for (auto& b : bufs) pk.push_back(packet_of(b));
  EXPECT_EQ(rx.open(pk), 0u);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(pk[static_cast<size_t>(i)].status(), Status::auth_failed);
  // The third failure reached the limit: the key is dead for what follows.
  for (size_t i = 3; i < pk.size(); ++i) EXPECT_EQ(pk[i].status(), Status::key_expired) << i;
}

// Random bursts (genuine, duplicated, forged, reordered, other key_ids,
// truncated) opened at once and one at a time: the same statuses, bytes,
// outputs and counters.
TEST(OpenVpnOpen, BurstsMatchOneAtATime) {
  std::mt19937_64 rng(99);
  for (int round = 0; round < 300; ++round) {
    const Suite s = kAllSuites[rng() % 3];
    const Keys k0(s, 0, 1000 + static_cast<uint64_t>(round)), k1(s, 1, 2000 + static_cast<uint64_t>(round));
    Config cfg;
    cfg.replay_window = 1 + static_cast<uint32_t>(rng() % 40);
    cfg.data_v2 = rng() & 1;
    Channel tx0(cfg), tx1(cfg), a(cfg), b(cfg);
    ASSERT_EQ(tx0.install(k0.client()), Status::ok);
    ASSERT_EQ(tx1.install(k1.client()), Status::ok);
    for (Channel* c : {&a, &b}) {
      ASSERT_EQ(c->install(k0.server()), Status::ok);
      ASSERT_EQ(c->install(k1.server()), Status::ok);
    }
    std::vector<Bytes> pool;
    for (int i = 0; i < 40; ++i) {
      Buf m(test::random_bytes(1 + rng() % 200, rng()));
      ASSERT_EQ((rng() & 1 ? tx0 : tx1).seal({&m.view, 1}), 1u);
      pool.push_back(m.bytes());
    }
    std::vector<Bytes> burst;
    const size_t n = 1 + rng() % 64;
    for (size_t i = 0; i < n; ++i) {
      Bytes w = pool[rng() % pool.size()];
      switch (rng() % 8) {
        case 0: w[rng() % w.size()] ^= static_cast<uint8_t>(1 + rng() % 255); break;
        case 1: w.resize(rng() % w.size()); break;
        default: break;
      }
      burst.push_back(w);
    }
    std::vector<Buf> ba, bb;
    for (auto& w : burst) {
      ba.emplace_back(w);
      bb.emplace_back(w);
    }
    std::vector<Packet> pa, pb;
    for (auto& x : ba) pa.push_back(packet_of(x));
    for (auto& x : bb) pb.push_back(packet_of(x));
    const size_t ok_a = a.open(pa);
    size_t ok_b = 0;
    for (auto& p : pb) ok_b += b.open({&p, 1});
    ASSERT_EQ(ok_a, ok_b) << round;
    for (size_t i = 0; i < n; ++i) {
      ASSERT_EQ(pa[i].status(), pb[i].status()) << round << " " << i;
      ASSERT_EQ(ba[i].bytes(), bb[i].bytes()) << round << " " << i;
      if (pa[i].status() == Status::ok) {
        ASSERT_EQ(pa[i].packet_id, pb[i].packet_id);
        ASSERT_EQ(pa[i].key_id, pb[i].key_id);
      }
    }
    for (uint8_t id : {0, 1}) {
      const KeyCounters* ca = a.counters(id, Direction::open);
      const KeyCounters* cb = b.counters(id, Direction::open);
      ASSERT_EQ(ca->opened, cb->opened);
      ASSERT_EQ(ca->replays, cb->replays) << round;
      ASSERT_EQ(ca->auth_failures, cb->auth_failures);
    }
  }
}

}  // namespace
}  // namespace rl::openvpn
