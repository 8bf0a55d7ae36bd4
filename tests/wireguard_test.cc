// WireGuard transport data (core/wireguard.h): messages against a reference
// built here from the paper's §5.4.6 with BoringSSL's EVP_AEAD directly, the
// keypair rules (current / previous / next), the replay window, limits, bad
// input, every-byte mutation, and bursts against one packet at a time.
#include <gtest/gtest.h>
#include <openssl/aead.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

#include "core/bytes.h"
#include "core/wireguard.h"
#include "tests/support/backends.h"
#include "tests/support/vectors.h"

namespace rl::wireguard {
namespace {

using test::Bytes;

constexpr size_t kHead = 16, kTail = 64;

// A message buffer: headroom | bytes | tailroom.
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

// §5.4.6 read independently: 04 00 00 00 ‖ LE32(receiver) ‖ LE64(counter) ‖
// ChaCha20-Poly1305(key, 0^32 ‖ LE64(counter), padded plaintext, no AAD).
Bytes reference_message(const Bytes& key, uint32_t receiver, uint64_t counter, const Bytes& padded) {
  Bytes out(16 + padded.size() + 16);
  out[0] = 4;
  for (int i = 0; i < 4; ++i) out[4 + i] = static_cast<uint8_t>(receiver >> (8 * i));
  uint8_t nonce[12] = {};
  for (int i = 0; i < 8; ++i) out[8 + i] = nonce[4 + i] = static_cast<uint8_t>(counter >> (8 * i));
  EVP_AEAD_CTX ctx;
  EXPECT_EQ(EVP_AEAD_CTX_init(&ctx, EVP_aead_chacha20_poly1305(), key.data(), key.size(), 16, nullptr), 1);
  size_t n = 0;
  EXPECT_EQ(EVP_AEAD_CTX_seal(&ctx, out.data() + 16, &n, padded.size() + 16, nonce, 12, padded.data(),
                              padded.size(), nullptr, 0),
            1);
  EVP_AEAD_CTX_cleanup(&ctx);
  EXPECT_EQ(n, padded.size() + 16);
  return out;
}

Bytes padded(Bytes p, size_t to) {
  p.resize(to, 0);
  return p;
}

struct FakeClock {
  uint64_t t = 1000;
  Clock clock() {
    return Clock{[](void* c) { return static_cast<FakeClock*>(c)->t; }, this};
  }
};

// One session's keys as a handshake hands them to both ends.
struct Session {
  uint32_t i_index, r_index;
  Bytes i2r, r2i;
  Keypair initiator() const { return {i_index, r_index, i2r, r2i, true}; }
  Keypair responder() const { return {r_index, i_index, r2i, i2r, false}; }
};
Session session(uint64_t seed) {
  const Bytes r = test::random_bytes(72, seed);
  return {load_be32(r.data()), load_be32(r.data() + 4) ^ 1, Bytes(r.begin() + 8, r.begin() + 40),
          Bytes(r.begin() + 40, r.end())};
}

std::vector<KeyEvent> events(Peer& p) {
  std::vector<KeyEvent> out;
  KeyEvent e;
  while (p.poll_event(e)) out.push_back(e);
  return out;
}
bool has_event(const std::vector<KeyEvent>& ev, KeyEvent::Kind k, Direction d) {
  return std::any_of(ev.begin(), ev.end(), [&](const KeyEvent& e) { return e.kind == k && e.dir == d; });
}

Bytes seal_one(Peer& p, const Bytes& plain, Status want = Status::ok) {
  Buf b(plain);
  EXPECT_EQ(p.seal({&b.view, 1}), want == Status::ok ? 1u : 0u);
  EXPECT_EQ(b.view.status, want);
  return b.bytes();
}
// Opens a copy; returns the status and leaves the plaintext (or the bytes as
// they are after the call) in *out.
Status open_one(Peer& p, const Bytes& msg, Bytes* out = nullptr) {
  Buf b(msg);
  p.open({&b.view, 1});
  if (out) *out = b.bytes();
  return b.view.status;
}

TEST(WireGuardHelpers, PaddedLength) {
  EXPECT_EQ(padded_length(0, 0), 0u);
  EXPECT_EQ(padded_length(1, 0), 16u);
  EXPECT_EQ(padded_length(16, 0), 16u);
  EXPECT_EQ(padded_length(17, 0), 32u);
  EXPECT_EQ(padded_length(1405, 1420), 1408u);
  EXPECT_EQ(padded_length(1410, 1420), 1420u);  // capped at the MTU
  EXPECT_EQ(padded_length(1420, 1420), 1420u);  // a whole MTU: nothing to pad
  EXPECT_EQ(padded_length(1421, 1420), 1436u);  // only the last unit is padded
  EXPECT_EQ(padded_length(2839, 1420), 2840u);  // last unit 1419 -> 1420
}

TEST(WireGuardHelpers, MessageTypeAndReceiverIndex) {
  Bytes init(148, 0), resp(92, 0), cookie(64, 0), data(32, 0);
  init[0] = 1;
  resp[0] = 2;
  cookie[0] = 3;
  data[0] = 4;
  store_be32(resp.data() + 8, 0x04030201);  // stored big-endian: reads back as LE 0x01020304
  store_be32(cookie.data() + 4, 0x0a0b0c0d);
  store_be32(data.data() + 4, 0x11223344);
  EXPECT_EQ(message_type(init), 1u);
  EXPECT_EQ(message_type(resp), 2u);
  EXPECT_EQ(message_type(cookie), 3u);
  EXPECT_EQ(message_type(data), 4u);
  EXPECT_FALSE(receiver_index(init).has_value());
  EXPECT_EQ(receiver_index(resp), 0x01020304u);
  EXPECT_EQ(receiver_index(cookie), 0x0d0c0b0au);
  EXPECT_EQ(receiver_index(data), 0x44332211u);
  EXPECT_EQ(message_type(Bytes(147, 0)), 0u);
  Bytes wrong = init;
  wrong.pop_back();
  EXPECT_EQ(message_type(wrong), 0u);  // wrong size for its type
  Bytes reserved = data;
  reserved[2] = 1;
  EXPECT_EQ(message_type(reserved), 0u);
  EXPECT_EQ(message_type(Bytes(31, 4)), 0u);
  EXPECT_EQ(message_type(Bytes(3, 0)), 0u);
}

TEST(WireGuardHelpers, TrimPadding) {
  Bytes v4(48, 0);
  v4[0] = 0x45;
  store_be16(v4.data() + 2, 37);
  Buf a(v4);
  EXPECT_EQ(trim_padding(a.view), Status::ok);
  EXPECT_EQ(a.view.length, 37u);
  Bytes v6(64, 0);
  v6[0] = 0x60;
  store_be16(v6.data() + 4, 9);
  Buf b(v6);
  EXPECT_EQ(trim_padding(b.view), Status::ok);
  EXPECT_EQ(b.view.length, 49u);
  Buf keepalive(Bytes{});
  EXPECT_EQ(trim_padding(keepalive.view), Status::ok);
  EXPECT_EQ(keepalive.view.length, 0u);
  // Longer than what arrived, shorter than a header, no IP version, too short for a header.
  Bytes bad1 = v4;
  store_be16(bad1.data() + 2, 49);
  Bytes bad2 = v4;
  store_be16(bad2.data() + 2, 19);
  Bytes bad3 = v4;
  bad3[0] = 0x55;
  Bytes bad4(30, 0);
  bad4[0] = 0x60;
  Bytes bad5 = v6;
  store_be16(bad5.data() + 4, 25);
  for (const Bytes& bad : {bad1, bad2, bad3, bad4, bad5}) {
    Buf c(bad);
    EXPECT_EQ(trim_padding(c.view), Status::malformed);
    EXPECT_EQ(c.view.length, bad.size());
  }
}

// Every message length around the padding boundaries and larger ones, on
// every backend, against the reference; the responder opens each.
TEST(WireGuardSeal, MatchesReferenceOnEveryBackend) {
  test::for_each_backend([](Backend) {
    for (uint32_t mtu : {0u, 1420u}) {
      SCOPED_TRACE(mtu);
      const Session s = session(7 + mtu);
      Peer a, b;
      a.set_mtu(mtu);
      ASSERT_EQ(a.install(s.initiator()), Status::ok);
      ASSERT_EQ(b.install(s.responder()), Status::ok);
      uint64_t counter = 0;
      std::vector<size_t> sizes;
      for (size_t n = 0; n <= 100; ++n) sizes.push_back(n);
      for (size_t n : {255, 256, 257, 1279, 1280, 1405, 1410, 1419, 1420, 1421, 1500, 4000}) sizes.push_back(n);
      for (size_t n : sizes) {
        SCOPED_TRACE(n);
        const Bytes plain = test::random_bytes(n, n + 3);
        const size_t pl = padded_length(n, mtu);
        const Bytes msg = seal_one(a, plain);
        ASSERT_EQ(msg, reference_message(s.i2r, s.r_index, counter, padded(plain, pl)));
        ++counter;
        Bytes out;
        ASSERT_EQ(open_one(b, msg, &out), Status::ok);
        EXPECT_EQ(out, padded(plain, pl));
      }
      EXPECT_EQ(a.send_counter(), counter);
      EXPECT_EQ(b.highest_opened(s.r_index), counter - 1);
      EXPECT_EQ(b.counters(s.r_index, Direction::open)->opened, counter);
    }
  });
}

// A burst seals with consecutive counters, as one at a time, across a
// chunk boundary (kMaxBurst).
TEST(WireGuardSeal, BurstsUseConsecutiveCounters) {
  const Session s = session(11);
  Peer a;
  ASSERT_EQ(a.install(s.initiator()), Status::ok);
  std::vector<std::unique_ptr<Buf>> bufs;
  std::vector<PacketView> views;
  for (size_t i = 0; i < kMaxBurst + 9; ++i) {
    bufs.push_back(std::make_unique<Buf>(test::random_bytes(i * 7 % 300, i)));
    views.push_back(bufs.back()->view);
  }
  ASSERT_EQ(a.seal(views), views.size());
  for (size_t i = 0; i < views.size(); ++i) {
    const Bytes plain = test::random_bytes(i * 7 % 300, i);
    const Bytes got(views[i].data(), views[i].data() + views[i].length);
    ASSERT_EQ(got, reference_message(s.i2r, s.r_index, i, padded(plain, padded_length(plain.size(), 0))))
        << i;
  }
}

TEST(WireGuardSeal, RefusesWhatItCannotSeal) {
  const Session s = session(12);
  Peer a;
  Bytes plain = test::random_bytes(40, 1);
  {
    Buf b(plain);
    EXPECT_EQ(a.seal({&b.view, 1}), 0u);
    EXPECT_EQ(b.view.status, Status::key_expired);  // no keypair yet
  }
  ASSERT_EQ(a.install(s.initiator()), Status::ok);
  Buf no_head(plain, 15), no_tail(plain, 16, 16 + 7), broken(plain);
  broken.view.length = broken.view.capacity;  // past the buffer
  for (Buf* b : {&no_head, &no_tail, &broken}) {
    const Bytes before = b->mem;
    EXPECT_EQ(a.seal({&b->view, 1}), 0u);
    EXPECT_NE(b->view.status, Status::ok);
    EXPECT_EQ(b->mem, before);
  }
  EXPECT_EQ(no_head.view.status, Status::buffer_too_small);
  EXPECT_EQ(no_tail.view.status, Status::buffer_too_small);
  EXPECT_EQ(a.send_counter(), 0u);  // no counter used
  Buf exact(plain, 16, 16 + 8);      // 40 -> 48 bytes + tag: exactly enough
  EXPECT_EQ(a.seal({&exact.view, 1}), 1u);
  EXPECT_EQ(a.send_counter(), 1u);
}

TEST(WireGuardInstall, RefusesBadKeysAndDuplicateIndex) {
  const Session s = session(13);
  Peer a;
  Keypair kp = s.initiator();
  const Bytes short_key(31, 1);
  kp.send_key = short_key;
  EXPECT_EQ(a.install(kp), Status::invalid_argument);
  EXPECT_FALSE(a.current());
  ASSERT_EQ(a.install(s.initiator()), Status::ok);
  Keypair again = session(14).initiator();
  again.local_index = s.i_index;
  EXPECT_EQ(a.install(again), Status::invalid_argument);
  EXPECT_EQ(a.current(), s.i_index);
  EXPECT_FALSE(a.previous());
}

// §5.4.5: the responder may not send under a new session until the
// initiator's first packet confirms it; that packet promotes next to current.
TEST(WireGuardKeypairs, ResponderWaitsForTheFirstPacket) {
  const Session s = session(21);
  Peer a, b;
  ASSERT_EQ(a.install(s.initiator()), Status::ok);
  ASSERT_EQ(b.install(s.responder()), Status::ok);
  EXPECT_EQ(a.current(), s.i_index);
  EXPECT_FALSE(b.current());
  EXPECT_EQ(b.next(), s.r_index);
  EXPECT_TRUE(has_event(events(a), KeyEvent::installed, Direction::seal));
  EXPECT_TRUE(has_event(events(b), KeyEvent::installed, Direction::open));
  seal_one(b, Bytes(10, 1), Status::key_expired);
  // A forgery under next does not promote it.
  Bytes msg = seal_one(a, Bytes(10, 2));
  Bytes forged = msg;
  forged.back() ^= 1;
  EXPECT_EQ(open_one(b, forged), Status::auth_failed);
  EXPECT_EQ(b.next(), s.r_index);
  EXPECT_TRUE(events(b).empty());
  EXPECT_EQ(open_one(b, msg), Status::ok);
  EXPECT_EQ(b.current(), s.r_index);
  EXPECT_FALSE(b.next());
  EXPECT_TRUE(has_event(events(b), KeyEvent::peer_updated, Direction::open));
  const Bytes reply = seal_one(b, Bytes(20, 3));
  EXPECT_EQ(reply, reference_message(s.r2i, s.i_index, 0, padded(Bytes(20, 3), 32)));
  EXPECT_EQ(open_one(a, reply), Status::ok);
}

// A Peer that seals apart from the Peer that opens (one per thread) follows
// the other's promotion with confirm(): the same move, no second event.
TEST(WireGuardKeypairs, ConfirmPromotesTheNextKeypair) {
  const Session s1 = session(25), s2 = session(26);
  Peer a, b;
  ASSERT_EQ(b.install(s1.initiator()), Status::ok);
  ASSERT_EQ(b.install(s2.responder()), Status::ok);
  ASSERT_EQ(a.install(s2.initiator()), Status::ok);
  events(b);
  EXPECT_EQ(b.confirm(s2.i_index), Status::unknown_epoch);  // not the next keypair's index
  EXPECT_EQ(b.confirm(s1.i_index), Status::unknown_epoch);  // the current one
  EXPECT_EQ(b.current(), s1.i_index);
  EXPECT_EQ(b.next(), s2.r_index);
  EXPECT_EQ(b.confirm(s2.r_index), Status::ok);
  EXPECT_EQ(b.current(), s2.r_index);
  EXPECT_EQ(b.previous(), s1.i_index);
  EXPECT_FALSE(b.next());
  EXPECT_TRUE(events(b).empty());
  EXPECT_EQ(b.confirm(s2.r_index), Status::unknown_epoch);  // nothing waits any more
  const Bytes reply = seal_one(b, Bytes(20, 3));
  EXPECT_EQ(reply, reference_message(s2.r2i, s2.i_index, 0, padded(Bytes(20, 3), 32)));
  EXPECT_EQ(open_one(a, reply), Status::ok);
}

// A rekey as WireGuard runs it: the new initiator's keypair is current at
// once; the responder keeps sending under the old one until the first packet
// under the new one arrives; late packets under the old one still open
// until the next session pushes it out.
TEST(WireGuardKeypairs, RekeyKeepsThePreviousForLatePackets) {
  const Session s1 = session(31), s2 = session(32), s3 = session(33);
  Peer a, b;
  ASSERT_EQ(a.install(s1.initiator()), Status::ok);
  ASSERT_EQ(b.install(s1.responder()), Status::ok);
  ASSERT_EQ(open_one(b, seal_one(a, Bytes(5, 1))), Status::ok);
  const Bytes late = seal_one(a, Bytes(5, 2));  // sent under s1, arrives after the rekey
  ASSERT_EQ(a.install(s2.initiator()), Status::ok);
  EXPECT_EQ(a.current(), s2.i_index);
  EXPECT_EQ(a.previous(), s1.i_index);
  ASSERT_EQ(b.install(s2.responder()), Status::ok);
  EXPECT_EQ(b.current(), s1.r_index);
  EXPECT_EQ(b.next(), s2.r_index);
  // b still answers under s1, which a opens as its previous.
  EXPECT_EQ(open_one(a, seal_one(b, Bytes(7, 3))), Status::ok);
  EXPECT_EQ(open_one(b, seal_one(a, Bytes(9, 4))), Status::ok);  // promotes s2
  EXPECT_EQ(b.current(), s2.r_index);
  EXPECT_EQ(b.previous(), s1.r_index);
  EXPECT_EQ(open_one(b, late), Status::ok);
  // The third session, answered by b: installing it as next wipes the
  // previous (s1); the late packet's keypair is gone.
  const Bytes later = seal_one(a, Bytes(5, 5));  // under s2
  ASSERT_EQ(b.install(s3.responder()), Status::ok);
  EXPECT_FALSE(b.previous());
  EXPECT_EQ(b.counters(s1.r_index, Direction::open), nullptr);
  Bytes late2 = late;
  late2[8] ^= 1;  // another counter under s1, so not a replay
  EXPECT_EQ(open_one(b, late2), Status::unknown_epoch);
  EXPECT_EQ(open_one(b, later), Status::ok);  // s2 is still current
}

// An initiator whose own responder-side next was never confirmed: Linux
// moves that next to previous and wipes the current (both ends raced).
TEST(WireGuardKeypairs, InitiatorInstallOverAPendingNext) {
  const Session s1 = session(41), s2 = session(42), s3 = session(43);
  Peer b;
  ASSERT_EQ(b.install(s1.initiator()), Status::ok);
  ASSERT_EQ(b.install(s2.responder()), Status::ok);
  EXPECT_EQ(b.current(), s1.i_index);
  EXPECT_EQ(b.next(), s2.r_index);
  ASSERT_EQ(b.install(s3.initiator()), Status::ok);
  EXPECT_EQ(b.current(), s3.i_index);
  EXPECT_EQ(b.previous(), s2.r_index);
  EXPECT_FALSE(b.next());
  EXPECT_EQ(b.counters(s1.i_index, Direction::seal), nullptr);
  EXPECT_TRUE(has_event(events(b), KeyEvent::expired, Direction::seal));
}

TEST(WireGuardOpen, ReplayWindowOf8128) {
  const Session s = session(51);
  Peer a, b;
  ASSERT_EQ(a.install(s.initiator()), Status::ok);
  ASSERT_EQ(b.install(s.responder()), Status::ok);
  std::vector<Bytes> msgs;
  for (int i = 0; i < 8200; ++i) msgs.push_back(seal_one(a, Bytes(1, static_cast<uint8_t>(i))));
  EXPECT_EQ(open_one(b, msgs[8199]), Status::ok);
  EXPECT_EQ(open_one(b, msgs[8199]), Status::replayed);
  EXPECT_EQ(open_one(b, msgs[8199 - 8128]), Status::too_old);
  EXPECT_EQ(open_one(b, msgs[8199 - 8127]), Status::ok);
  EXPECT_EQ(open_one(b, msgs[8199 - 8127]), Status::replayed);
  EXPECT_EQ(open_one(b, msgs[100]), Status::ok);  // late, inside the window
  EXPECT_EQ(b.highest_opened(s.r_index), 8199u);
  const KeyCounters* c = b.counters(s.r_index, Direction::open);
  EXPECT_EQ(c->opened, 3u);
  EXPECT_EQ(c->replays, 3u);
}

// A duplicate of a message opened before the burst, after a message of the
// same burst moved the window past it: too_old, as one at a time says (the
// window as it stood before the burst would say replayed).
TEST(WireGuardOpen, BurstJumpMakesAnEarlierDuplicateTooOld) {
  const Session s = session(52);
  Peer a;
  ASSERT_EQ(a.install(s.initiator()), Status::ok);
  std::vector<Bytes> msgs;
  for (int i = 0; i < 8200; ++i) msgs.push_back(seal_one(a, Bytes(1, static_cast<uint8_t>(i))));
  for (bool burst : {false, true}) {
    SCOPED_TRACE(burst ? "burst" : "one at a time");
    Peer b;
    ASSERT_EQ(b.install(s.responder()), Status::ok);
    ASSERT_EQ(open_one(b, msgs[5]), Status::ok);
    Bytes jump = msgs[8199], dup = msgs[5], dup2 = msgs[8199];
    PacketView v[3] = {{jump.data(), static_cast<uint32_t>(jump.size()), 0, static_cast<uint32_t>(jump.size())},
                       {dup.data(), static_cast<uint32_t>(dup.size()), 0, static_cast<uint32_t>(dup.size())},
                       {dup2.data(), static_cast<uint32_t>(dup2.size()), 0, static_cast<uint32_t>(dup2.size())}};
    if (burst) {
      EXPECT_EQ(b.open(v), 1u);
    } else {
      for (auto& x : v) b.open({&x, 1});
    }
    EXPECT_EQ(v[0].status, Status::ok);
    EXPECT_EQ(v[1].status, Status::too_old);
    EXPECT_EQ(v[2].status, Status::replayed);
    EXPECT_EQ(dup, msgs[5]);
    EXPECT_EQ(b.counters(s.r_index, Direction::open)->replays, 2u);
  }
}

// Counters at and past Reject-After-Messages are refused before any crypto
// (a sender never uses them); the message need not authenticate.
TEST(WireGuardOpen, RefusesCountersPastRejectAfterMessages) {
  const Session s = session(52);
  Peer b;
  ASSERT_EQ(b.install(s.responder()), Status::ok);
  for (uint64_t c : {kRejectAfterMessages, kRejectAfterMessages + 1, ~uint64_t{0}}) {
    Bytes msg = reference_message(s.i2r, s.r_index, c, Bytes(16, 1));
    Bytes out;
    EXPECT_EQ(open_one(b, msg, &out), Status::key_exhausted);
    EXPECT_EQ(out, msg);
  }
  Bytes ok = reference_message(s.i2r, s.r_index, kRejectAfterMessages - 1, Bytes(16, 1));
  EXPECT_EQ(open_one(b, ok), Status::ok);
}

TEST(WireGuardOpen, BadInput) {
  const Session s = session(53);
  Peer a, b;
  ASSERT_EQ(a.install(s.initiator()), Status::ok);
  ASSERT_EQ(b.install(s.responder()), Status::ok);
  const Bytes msg = seal_one(a, Bytes(30, 1));
  Bytes type1 = msg;
  type1[0] = 1;
  Bytes reserved = msg;
  reserved[3] = 0x80;
  Bytes index = msg;
  index[4] ^= 0x40;
  const Bytes keepalive_short(msg.begin(), msg.begin() + 31);
  EXPECT_EQ(open_one(b, type1), Status::malformed);
  EXPECT_EQ(open_one(b, reserved), Status::malformed);
  EXPECT_EQ(open_one(b, index), Status::unknown_epoch);
  EXPECT_EQ(open_one(b, keepalive_short), Status::truncated);
  PacketView empty{};
  EXPECT_EQ(b.open({&empty, 1}), 0u);
  EXPECT_EQ(empty.status, Status::malformed);
  EXPECT_EQ(b.next(), s.r_index);
  EXPECT_EQ(b.counters(s.r_index, Direction::open)->opened, 0u);
  EXPECT_EQ(open_one(b, msg), Status::ok);
}

// Every byte of protected messages flipped: open refuses each, leaves its
// bytes as they arrived, and changes no state (the genuine messages still
// open afterwards, and promote next only then).
TEST(WireGuardOpen, EveryByteMutationFailsAndChangesNothing) {
  test::for_each_backend([](Backend) {
    const Session s = session(61);
    Peer a, b;
    ASSERT_EQ(a.install(s.initiator()), Status::ok);
    ASSERT_EQ(b.install(s.responder()), Status::ok);
    std::vector<Bytes> msgs;
    for (size_t n : {0, 1, 33, 200}) msgs.push_back(seal_one(a, test::random_bytes(n, n)));
    for (const Bytes& m : msgs) {
      for (size_t i = 0; i < m.size(); ++i) {
        for (uint8_t flip : {0x01, 0x80}) {
          Bytes bad = m;
          bad[i] ^= flip;
          Bytes out;
          ASSERT_NE(open_one(b, bad, &out), Status::ok) << i;
          ASSERT_EQ(out, bad) << i;
        }
      }
    }
    EXPECT_EQ(b.next(), s.r_index);
    EXPECT_FALSE(b.highest_opened(s.r_index));
    EXPECT_EQ(b.counters(s.r_index, Direction::open)->opened, 0u);
    for (const Bytes& m : msgs) EXPECT_EQ(open_one(b, m), Status::ok);
    EXPECT_EQ(b.current(), s.r_index);
  });
}

// Bursts and one packet at a time give the same statuses, bytes, keypairs,
// counters and windows: duplicates and forgeries of packets in the same
// burst, reordering, far jumps, junk, unknown indices, keepalives, packets
// under the current keypair and under a next one that a packet in the burst
// promotes; with an integrity limit in some runs.
TEST(WireGuardOpen, BurstsAgreeWithOneAtATime) {
  uint64_t rng = 5;
  auto rand = [&](uint64_t n) {
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (rng >> 33) % n;
  };
  for (int round = 0; round < 300; ++round) {
    SCOPED_TRACE(round);
    const Session s1 = session(100 + round), s2 = session(5000 + round);
    Limits lim = default_limits(Protocol::wireguard, Suite::chacha20_poly1305);
    const bool limited = rand(4) == 0;
    if (limited) lim.max_auth_failures = 1 + rand(8);
    Peer a1, a2, burst, single;
    ASSERT_EQ(a1.install(s1.initiator()), Status::ok);
    ASSERT_EQ(a2.install(s2.initiator()), Status::ok);
    for (Peer* p : {&burst, &single}) {
      ASSERT_EQ(p->install(s1.responder(), limited ? &lim : nullptr), Status::ok);
    }
    // Both receivers confirm s1, then s2 arrives as next.
    const Bytes first = seal_one(a1, Bytes(3, 1));
    for (Peer* p : {&burst, &single}) {
      ASSERT_EQ(open_one(*p, first), Status::ok);
      ASSERT_EQ(p->install(s2.responder(), limited ? &lim : nullptr), Status::ok);
    }
    std::vector<Bytes> sent1, sent2;
    for (int i = 0; i < 40; ++i) sent1.push_back(seal_one(a1, test::random_bytes(rand(70), rng)));
    for (int i = 0; i < 20; ++i) sent2.push_back(seal_one(a2, test::random_bytes(rand(70), rng)));
    std::vector<Bytes> in;
    const size_t n = 1 + rand(2 * kMaxBurst);
    for (size_t i = 0; i < n; ++i) {
      const uint64_t r = rand(100);
      Bytes m;
      if (r < 45) {
        m = sent1[rand(sent1.size())];
      } else if (r < 70) {
        m = sent2[rand(sent2.size())];
      } else if (r < 80 && !in.empty()) {
        m = in[rand(in.size())];  // a duplicate in the burst
      } else if (r < 90 && !in.empty()) {
        m = in[rand(in.size())];
        if (!m.empty()) m[rand(m.size())] ^= static_cast<uint8_t>(1 + rand(255));  // a forgery (or junk)
      } else if (r < 95) {
        m = test::random_bytes(rand(60), rng);
      } else {
        m = sent1[rand(sent1.size())];
        store_be64(m.data() + 8, rand(3) == 0 ? 20000 + rand(10) : rand(100000));  // far, forged
      }
      in.push_back(m);
    }
    std::vector<std::unique_ptr<Buf>> bb, sb;
    std::vector<PacketView> views;
    for (const Bytes& m : in) {
      bb.push_back(std::make_unique<Buf>(m));
      sb.push_back(std::make_unique<Buf>(m));
      views.push_back(bb.back()->view);
    }
    const size_t got = burst.open(views);
    size_t want = 0;
    for (size_t i = 0; i < in.size(); ++i) want += single.open({&sb[i]->view, 1});
    ASSERT_EQ(got, want);
    for (size_t i = 0; i < in.size(); ++i) {
      SCOPED_TRACE(i);
      ASSERT_EQ(views[i].status, sb[i]->view.status);
      ASSERT_EQ(views[i].offset, sb[i]->view.offset);
      ASSERT_EQ(views[i].length, sb[i]->view.length);
      ASSERT_EQ(bb[i]->mem, sb[i]->mem);
    }
    EXPECT_EQ(burst.current(), single.current());
    EXPECT_EQ(burst.previous(), single.previous());
    EXPECT_EQ(burst.next(), single.next());
    for (uint32_t idx : {s1.r_index, s2.r_index}) {
      const KeyCounters* x = burst.counters(idx, Direction::open);
      const KeyCounters* y = single.counters(idx, Direction::open);
      ASSERT_EQ(x == nullptr, y == nullptr);
      if (x == nullptr) continue;
      EXPECT_EQ(x->opened, y->opened);
      EXPECT_EQ(x->bytes_opened, y->bytes_opened);
      EXPECT_EQ(x->auth_failures, y->auth_failures);
      EXPECT_EQ(x->replays, y->replays);
      EXPECT_EQ(burst.highest_opened(idx), single.highest_opened(idx));
    }
    const auto eb = events(burst), es = events(single);
    ASSERT_EQ(eb.size(), es.size());
    for (size_t i = 0; i < eb.size(); ++i) {
      EXPECT_EQ(eb[i].kind, es[i].kind);
      EXPECT_EQ(eb[i].epoch, es[i].epoch);
    }
  }
}

// §6.1/§6.2 with an injected clock: the initiator is told to rekey at 120 s
// (seal) and 165 s (open), the responder not on time; both refuse at 180 s.
TEST(WireGuardLimits, TimeLimits) {
  FakeClock clk;
  const Session s = session(71);
  Peer a(clk.clock()), b(clk.clock());
  ASSERT_EQ(a.install(s.initiator()), Status::ok);
  ASSERT_EQ(b.install(s.responder()), Status::ok);
  ASSERT_EQ(open_one(b, seal_one(a, Bytes(4, 1))), Status::ok);
  events(a);
  events(b);
  clk.t += 119;
  ASSERT_EQ(open_one(b, seal_one(a, Bytes(4, 2))), Status::ok);
  EXPECT_FALSE(has_event(events(a), KeyEvent::soft_limit, Direction::seal));
  clk.t += 1;  // 120 s
  ASSERT_EQ(open_one(a, seal_one(b, Bytes(4, 3))), Status::ok);
  EXPECT_FALSE(has_event(events(b), KeyEvent::soft_limit, Direction::seal));  // the responder waits
  EXPECT_FALSE(has_event(events(a), KeyEvent::soft_limit, Direction::open));
  ASSERT_EQ(open_one(b, seal_one(a, Bytes(4, 4))), Status::ok);
  EXPECT_TRUE(has_event(events(a), KeyEvent::soft_limit, Direction::seal));
  clk.t += 45;  // 165 s
  ASSERT_EQ(open_one(a, seal_one(b, Bytes(4, 5))), Status::ok);
  EXPECT_TRUE(has_event(events(a), KeyEvent::soft_limit, Direction::open));
  const Bytes from_b = seal_one(b, Bytes(4, 6)), from_a = seal_one(a, Bytes(4, 7));
  clk.t += 15;  // 180 s
  seal_one(a, Bytes(4, 8), Status::key_expired);
  seal_one(b, Bytes(4, 8), Status::key_expired);
  EXPECT_EQ(open_one(a, from_b), Status::key_expired);
  EXPECT_EQ(open_one(b, from_a), Status::key_expired);
  EXPECT_TRUE(has_event(events(a), KeyEvent::hard_limit, Direction::seal));
}

TEST(WireGuardLimits, MessageLimits) {
  const Session s = session(72);
  Limits lim = default_limits(Protocol::wireguard, Suite::chacha20_poly1305);
  EXPECT_EQ(lim.soft_records, kRekeyAfterMessages);
  EXPECT_EQ(lim.hard_records, kRejectAfterMessages);
  EXPECT_EQ(kRejectAfterMessages, ~uint64_t{0} - 8192);  // 2^64 - 2^13 - 1
  lim.soft_records = 2;
  lim.hard_records = 3;
  Peer a;
  ASSERT_EQ(a.install(s.initiator(), &lim), Status::ok);
  events(a);
  seal_one(a, Bytes(1, 1));
  EXPECT_TRUE(events(a).empty());
  seal_one(a, Bytes(1, 2));
  EXPECT_TRUE(has_event(events(a), KeyEvent::soft_limit, Direction::seal));
  seal_one(a, Bytes(1, 3));
  seal_one(a, Bytes(1, 4), Status::key_exhausted);
  EXPECT_EQ(a.send_counter(), 3u);
  EXPECT_TRUE(has_event(events(a), KeyEvent::hard_limit, Direction::seal));
}

TEST(WireGuardLimits, IntegrityLimitKillsTheKey) {
  const Session s = session(73);
  Limits lim = default_limits(Protocol::wireguard, Suite::chacha20_poly1305);
  lim.max_auth_failures = 2;
  Peer a, b;
  ASSERT_EQ(a.install(s.initiator()), Status::ok);
  ASSERT_EQ(b.install(s.responder(), &lim), Status::ok);
  const Bytes good = seal_one(a, Bytes(8, 1));
  Bytes bad = good;
  bad[20] ^= 1;
  EXPECT_EQ(open_one(b, bad), Status::auth_failed);
  EXPECT_EQ(open_one(b, bad), Status::auth_failed);
  EXPECT_TRUE(has_event(events(b), KeyEvent::integrity_limit, Direction::open));
  EXPECT_EQ(open_one(b, good), Status::key_expired);  // the receiving key is wiped
  EXPECT_EQ(b.next(), s.r_index);  // the keypair is still there
}

TEST(WireGuardKeys, WipedWhenTheyDie) {
  const Session s1 = session(81), s2 = session(82);
  Peer a;
  ASSERT_EQ(a.install(s1.initiator()), Status::ok);
  ASSERT_EQ(a.install(s2.initiator()), Status::ok);
  EXPECT_EQ(a.expire(s1.i_index), Status::ok);
  EXPECT_EQ(a.expire(s1.i_index), Status::unknown_epoch);
  EXPECT_FALSE(a.previous());
  EXPECT_TRUE(a.current());
  a.clear();
  EXPECT_FALSE(a.current());
  std::span<const uint8_t> keys[8];
  a.debug_key_bytes(keys);
  for (const auto& k : keys) {
    ASSERT_FALSE(k.empty());
    EXPECT_TRUE(std::all_of(k.begin(), k.end(), [](uint8_t x) { return x == 0; }));
  }
  seal_one(a, Bytes(3, 1), Status::key_expired);
  EXPECT_TRUE(has_event(events(a), KeyEvent::expired, Direction::open));
}

}  // namespace
}  // namespace rl::wireguard
