// libFuzzer target: QUIC datagrams with coalesced packets (RFC 9000 §12.2)
// opened through PacketProtection::open_datagram (core/quic.h) against the
// same datagrams framed by this file's own reading of the RFC and opened one
// packet per call.
//
// The input drives a client that seals Initial (with a token), 0-RTT,
// Handshake and 1-RTT packets (payload sizes, packet-number lengths, ACKs
// that shorten them, key updates), v1 or v2 (RFC 9369 moves the long-header
// type bits), and packs them into datagrams: several per datagram in any
// order (a short header in the middle takes the rest), late, duplicated or
// lost ones, junk, zero padding, Version Negotiation or unknown-version long
// headers between or after them, then maybe one mutation of the whole
// datagram: a flipped bit, a cut, or a long header's Length field
// rewritten; now and then a whole datagram from before arrives again. Two servers with the same keys open each datagram:
// A with open_datagram, B by frame() below and open() of one packet at a
// time, skipping the packets whose Destination Connection ID differs from
// the first packet's (RFC 9000 §12.2: ignored). Any difference aborts: how many packets were found, where each
// starts and ends, its status, packet number, length, key phase, the bytes
// of the datagram afterwards, the largest packet number of each space, key
// generations, counters and failure counts.
//
// The model check: a packet whose bytes arrive intact where the sealer put
// them, for the first time, with keys the receiver still has (RFC 9001 §6:
// current, next, or previous generation) must open to exactly the frames
// sealed (plus the zero PADDING seal adds to tiny payloads, RFC 9001
// §5.4.2), with its packet number; nothing else may open.
//
// At most 100 packets are sealed: every packet number then lies within 128 of
// every other in its space, so even a 1-byte encoding decodes to the number
// sealed however late it arrives (RFC 9000 §17.1, App. A.3), whether the
// packets of a datagram are decoded from the largest at its start (A, one
// burst) or one after another (B).
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "core/quic.h"
#include "tests/fuzz/burst_fuzz.h"

using namespace rl;
using namespace rl::quic;
using namespace rl::fuzz;

namespace {

constexpr size_t kMaxSealed = 100;
constexpr size_t kOut = 16;  // packets per datagram open_datagram is given room for

struct Sealed {
  Bytes wire;      // the protected packet
  Bytes payload;   // the frames given to seal
  Level level;
  uint64_t pn;
  uint64_t gen;    // 1-RTT key generation it was sealed with
  bool opened = false;
};

// ---- The reference framing (RFC 9000 §12.2, §17.2; RFC 9369 §3.2) --------

uint32_t be32(const uint8_t* p) {
  return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3];
}

// A QUIC variable-length integer (RFC 9000 §16): the two high bits give its
// width. Returns the width, 0 when it does not fit in `n`.
size_t read_varint(const uint8_t* p, size_t n, uint64_t* v) {
  if (n == 0) return 0;
  const size_t w = size_t{1} << (p[0] >> 6);
  if (w > n) return 0;
  uint64_t x = p[0] & 0x3f;
  for (size_t i = 1; i < w; ++i) x = x << 8 | p[i];
  *v = x;
  return w;
}

struct Frame {
  size_t len;           // bytes of the datagram this packet covers
  size_t length_at = 0;  // long header: where its Length field starts (0: none)
  size_t length_width = 0;
};

// Where the packet at d[0..rest) ends. Only a long header of a version we
// know (v1, v2) that parses carries a Length (§17.2); everything else (short
// header §17.3, Retry, Version Negotiation, an unknown version, a header that
// breaks a rule or does not fit) cannot say where it ends and so takes the
// rest of the datagram: no later packet can be found. The fixed bit must be
// 1 (§17.2) unless the peer may grease it (RFC 9287 §3): a greased long
// header still carries its Length.
Frame frame(const uint8_t* d, size_t rest, bool grease) {
  Frame f{rest};
  if ((d[0] & 0x80) == 0 || rest < 7) return f;
  const uint32_t ver = be32(d + 1);
  if (ver != 0x00000001 && ver != 0x6b3343cf) return f;  // 0 (VN) or unknown
  if ((d[0] & 0x40) == 0 && !grease) return f;
  unsigned type = (d[0] >> 4) & 3;  // v1: 0 Initial, 1 0-RTT, 2 Handshake, 3 Retry
  if (ver == 0x6b3343cf) type = (type + 3) & 3;  // v2: 1 Initial, 2 0-RTT, 3 Handshake, 0 Retry
  if (type == 3) return f;  // Retry: no Length, the tag ends the datagram
  size_t p = 5;
  const size_t dcid = d[p++];
  if (dcid > 20) return f;
  p += dcid;
  if (p + 1 > rest) return f;
  const size_t scid = d[p++];
  if (scid > 20) return f;
  p += scid;
  if (p > rest) return f;
  uint64_t v = 0;
  if (type == 0) {  // Initial: Token Length, Token
    const size_t w = read_varint(d + p, rest - p, &v);
    if (w == 0 || v > rest - p - w) return f;
    p += w + static_cast<size_t>(v);
  }
  const size_t w = read_varint(d + p, rest - p, &v);
  if (w == 0 || v > rest - p - w) return f;  // a Length that runs past the datagram
  return Frame{p + w + static_cast<size_t>(v), p, w};
}

// The Destination Connection ID of the packet at d[0..rest) by the
// version-independent invariants (RFC 8999 §5.1, §5.2): a long header of any
// version says its length in byte 5; a short header's is `short_len` bytes
// (what the connection chose) after byte 0. False when it does not fit.
bool dcid(const uint8_t* d, size_t rest, size_t short_len, Bytes& out) {
  const bool is_long = (d[0] & 0x80) != 0;
  const size_t at = is_long ? 6 : 1;
  if (rest < at) return false;
  const size_t len = is_long ? d[5] : short_len;
  if (rest - at < len) return false;
  out.assign(d + at, d + at + len);
  return true;
}

// ---- The sender --------------------------------------------------------------

Sealed seal_packet(PacketProtection& tx, Input& in, uint32_t serial) {
  const uint8_t shape = in.byte();
  size_t len = in.u16() % 600;
  if ((shape & 0x30) == 0x30) len = in.byte() % 8;           // tiny ones (padded to sample)
  if ((shape & 0x30) == 0x20) len = 600 + in.u16() % 900;    // big ones now and then
  static constexpr Level kLevels[] = {Level::initial, Level::zero_rtt, Level::handshake,
                                      Level::one_rtt, Level::one_rtt};
  Sealed s;
  s.level = kLevels[(shape & 0x0f) % 5];
  Bytes token(s.level == Level::initial ? in.byte() % 24 : 0);
  for (size_t i = 0; i < token.size(); ++i) token[i] = static_cast<uint8_t>(0x70 + i);
  const size_t head = 64 + token.size();
  Bytes mem(head + len + 32, 0);
  for (size_t i = 0; i < len; ++i) mem[head + i] = static_cast<uint8_t>(serial * 29 + i + 1);
  s.payload.assign(mem.begin() + head, mem.begin() + head + len);
  Packet p;
  p.view = PacketView{mem.data(), static_cast<uint32_t>(mem.size()), static_cast<uint32_t>(head),
                      static_cast<uint32_t>(len)};
  p.level = s.level;
  p.token = token;
  p.min_pn_length = static_cast<uint8_t>((shape >> 6) & 3) + 1;
  s.pn = tx.next_pn(space_of(s.level));
  s.gen = tx.generation(Direction::seal);
  RL_FUZZ_CHECK(tx.seal({&p, 1}) == 1);
  s.wire.assign(p.view.data(), p.view.data() + p.view.length);
  return s;
}

// ---- The two receivers ------------------------------------------------------------

void expect_same_state(const PacketProtection& a, const PacketProtection& b) {
  for (Space sp : {Space::initial, Space::handshake, Space::application}) {
    RL_FUZZ_CHECK(a.has_received(sp) == b.has_received(sp));
    if (a.has_received(sp)) RL_FUZZ_CHECK(a.largest_received(sp) == b.largest_received(sp));
  }
  RL_FUZZ_CHECK(a.generation(Direction::open) == b.generation(Direction::open));
  RL_FUZZ_CHECK(a.has_previous() == b.has_previous());
  RL_FUZZ_CHECK(a.key_update_error() == b.key_update_error());
  // Only 1-RTT failures count for the connection (RFC 9001 §6.6).
  RL_FUZZ_CHECK(a.auth_failures() == b.auth_failures());
  for (Level l : {Level::initial, Level::zero_rtt, Level::handshake, Level::one_rtt}) {
    const KeyCounters* ca = a.counters(l, Direction::open);
    const KeyCounters* cb = b.counters(l, Direction::open);
    RL_FUZZ_CHECK(ca != nullptr && cb != nullptr);
    RL_FUZZ_CHECK(ca->opened == cb->opened);
    RL_FUZZ_CHECK(ca->bytes_opened == cb->bytes_opened);
  }
}

// Opens datagram `dg` (built from `segs`) on A and B, compares, and checks the model.
void open_both(PacketProtection& ra, PacketProtection& rb, const Bytes& dg,
               const std::vector<Seg>& segs, std::vector<Sealed>& sealed, size_t room,
               bool grease, size_t cid_len) {
  // A: the library walks the datagram and opens what it found as one burst.
  Bytes da = dg;
  Packet pa[kOut];
  size_t found = ~size_t{0};
  const size_t ok_a = ra.open_datagram(da, {pa, room}, &found);

  // B: frame() here, then one packet per open() call.
  Bytes db = dg;
  struct B {
    size_t off, len;
    Packet p;
  };
  std::vector<B> fb;
  size_t ok_b = 0;
  for (size_t off = 0; off < db.size() && fb.size() < room;) {
    const size_t len = frame(db.data() + off, db.size() - off, grease).len;
    fb.push_back({off, len, {}});
    off += len;
  }
  if (debug()) {
    for (size_t i = 0; i < found && i < room; ++i)
      std::fprintf(stderr, "  A[%zu] off %u len %u %s\n", i, pa[i].view.offset, pa[i].view.length,
                   to_string(pa[i].status()));
    for (size_t i = 0; i < fb.size(); ++i)
      std::fprintf(stderr, "  B[%zu] off %zu len %zu first byte %02x\n", i, fb[i].off, fb[i].len,
                   db[fb[i].off]);
  }
  RL_FUZZ_CHECK(found == fb.size());
  // RFC 9000 §12.2: a packet whose DCID differs from the first packet's is
  // ignored (B does not open it; A must say `malformed` and change nothing).
  Bytes first_cid;
  const bool first_has_cid = !fb.empty() && dcid(db.data(), fb[0].len, cid_len, first_cid);
  for (size_t i = 0; i < fb.size(); ++i) {
    B& f = fb[i];
    Packet& p = f.p;
    p.view = PacketView{db.data(), static_cast<uint32_t>(db.size()), static_cast<uint32_t>(f.off),
                        static_cast<uint32_t>(f.len)};
    const uint64_t rgen = rb.generation(Direction::open);
    const bool had_prev = rb.has_previous();
    Bytes cid;
    const bool ignored = i > 0 && first_has_cid && dcid(db.data() + f.off, f.len, cid_len, cid) && cid != first_cid;
    if (ignored)
      p.view.status = Status::malformed;
    else
      ok_b += rb.open({&p, 1});
    const Packet& q = pa[i];
    if (debug())
      std::fprintf(stderr, "  [%zu] off %zu len %zu: A %s pn %llu | B %s pn %llu\n", i, f.off, f.len,
                   to_string(q.status()), static_cast<unsigned long long>(q.pn),
                   to_string(p.status()), static_cast<unsigned long long>(p.pn));

    // Framing: A's view, before open narrowed it, was [f.off, f.off + f.len).
    if (q.status() == Status::ok) {
      RL_FUZZ_CHECK(q.view.offset == f.off + q.header_length);
      RL_FUZZ_CHECK(q.view.offset + q.view.length + kTagLen == f.off + f.len);
    } else {
      RL_FUZZ_CHECK(q.view.offset == f.off && q.view.length == f.len);
    }
    // Status: the same. A repeat of (or a record now too old for) one that
    // opened earlier in the same datagram is refused as a replay on both:
    // A's burst asks the window again, as the records before it left it,
    // for whatever failed its AEAD.
    RL_FUZZ_CHECK(q.status() == p.status());

    // The model: which sealed packet (if any) arrived intact here.
    const Seg* seg = nullptr;
    for (const Seg& s : segs)
      if (s.off == f.off && sealed[s.idx].wire.size() == f.len &&
          std::memcmp(dg.data() + f.off, sealed[s.idx].wire.data(), f.len) == 0)
        seg = &s;
    if (p.status() != Status::ok) {
      // Refused: the bytes as they arrived, on both.
      RL_FUZZ_CHECK(std::memcmp(db.data() + f.off, dg.data() + f.off, f.len) == 0);
      RL_FUZZ_CHECK(std::memcmp(da.data() + f.off, dg.data() + f.off, f.len) == 0);
      if (seg != nullptr) {
        const Sealed& s = sealed[seg->idx];
        const bool keys = s.level != Level::one_rtt || s.gen == rgen || s.gen == rgen + 1 ||
                          (s.gen + 1 == rgen && had_prev);
        RL_FUZZ_CHECK(s.opened || !keys || ignored);  // intact, first time, keys there: must open
      }
      continue;
    }
    RL_FUZZ_CHECK(seg != nullptr);  // nothing but what was sealed opens
    Sealed& s = sealed[seg->idx];
    RL_FUZZ_CHECK(!s.opened);  // and only once
    s.opened = true;
    RL_FUZZ_CHECK(p.pn == s.pn && q.pn == s.pn);
    RL_FUZZ_CHECK(p.level == s.level && q.level == s.level);
    RL_FUZZ_CHECK(p.pn_length == q.pn_length && p.key_phase == q.key_phase);
    RL_FUZZ_CHECK(p.header_length == q.header_length);
    RL_FUZZ_CHECK(p.view.offset == q.view.offset && p.view.length == q.view.length);
    RL_FUZZ_CHECK(p.dcid.size() == q.dcid.size() && p.scid.size() == q.scid.size());
    if (s.level == Level::one_rtt) RL_FUZZ_CHECK(p.key_phase == ((s.gen & 1) != 0));
    // The frames sealed, then at most 3 bytes of PADDING (zeros).
    RL_FUZZ_CHECK(p.view.length >= s.payload.size() && p.view.length <= s.payload.size() + 3);
    RL_FUZZ_CHECK(s.payload.empty() || std::memcmp(p.view.data(), s.payload.data(), s.payload.size()) == 0);
    for (size_t k = s.payload.size(); k < p.view.length; ++k) RL_FUZZ_CHECK(p.view.data()[k] == 0);
  }
  RL_FUZZ_CHECK(ok_a == ok_b);
  RL_FUZZ_CHECK(da == db);  // headers unprotected and frames decrypted alike
  expect_same_state(ra, rb);
}

// A datagram from the sealed packets: `cursor` is the next one in order.
Bytes compose_datagram(Input& in, const std::vector<Sealed>& sealed, size_t& cursor,
                       std::vector<Seg>& segs, bool grease) {
  Bytes dg;
  const size_t k = 1 + in.byte() % 5;
  for (size_t j = 0; j < k; ++j) {
    const uint8_t op = in.byte();
    switch (op % 10) {
      case 5:  // late, or a repeat
        if (!sealed.empty()) {
          const size_t i = in.byte() % sealed.size();
          segs.push_back({dg.size(), i});
          dg.insert(dg.end(), sealed[i].wire.begin(), sealed[i].wire.end());
        }
        break;
      case 6:  // lost
        if (cursor < sealed.size()) ++cursor;
        break;
      case 7:  // junk
        for (size_t n = in.byte() % 24; n > 0; --n) dg.push_back(in.byte());
        break;
      case 8:  // zero padding (a datagram padded to 1200, RFC 9000 §14.1)
        dg.resize(dg.size() + in.byte() % 64 + (op & 0x80 ? 1200 : 0), 0);
        break;
      case 9: {  // a long header of another version: Version Negotiation (0) or an unknown one
        const uint8_t v = (op & 0x80) != 0 ? 0 : 0x1a;  // 0x1a1a1a1a: reserved (RFC 9000 §15)
        const size_t cid = in.byte() % 24;
        dg.insert(dg.end(), {static_cast<uint8_t>(0xc0 | in.byte()), v, v, v, v, static_cast<uint8_t>(cid)});
        for (size_t n = cid + in.byte() % 32; n > 0; --n) dg.push_back(in.byte());
        break;
      }
      default:  // the next one in order
        if (cursor < sealed.size()) {
          segs.push_back({dg.size(), cursor});
          dg.insert(dg.end(), sealed[cursor].wire.begin(), sealed[cursor].wire.end());
          ++cursor;
        }
        break;
    }
  }
  if (dg.empty()) return dg;
  const uint8_t mut = in.byte();
  // Mutation 2: a long header's Length rewritten (same width): too long, too short
  if (!flip_or_cut(dg, in, mut) && mut % 8 == 2 && !segs.empty()) {
    const Seg& s = segs[in.byte() % segs.size()];
    const Bytes& w = sealed[s.idx].wire;
    const Frame f = frame(w.data(), w.size(), grease);
    if (f.length_at != 0) {
      uint8_t* l = dg.data() + s.off + f.length_at;
      l[f.length_width - 1] = in.byte();  // the low byte
      if (f.length_width > 1 && (mut & 0x80)) l[0] = static_cast<uint8_t>((l[0] & 0xc0) | (in.byte() & 0x3f));
    }
  }
  return dg;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Input in{data, size};
  const uint8_t cfg = in.byte();
  const Suite suite = kAllSuites[cfg % 3];
  const Version ver = (cfg & 4) != 0 ? Version::v2 : Version::v1;
  // RFC 9287: the server advertised grease_quic_bit; our sender never clears
  // the bit, but a flipped bit does, and framing must still follow Length.
  const bool grease = (cfg & 8) != 0;
  const uint8_t cfg2 = in.byte();
  const size_t dcid_len = cfg2 % 21, scid_len = (cfg2 >> 5) * 3;  // 0..20, 0..21 -> capped below
  uint8_t s0[48], hs[48], s1[48], cid[20], odcid[8];
  for (size_t i = 0; i < 48; ++i) {
    s0[i] = static_cast<uint8_t>(i * 3 + 11);
    hs[i] = static_cast<uint8_t>(i * 9 + 1);
    s1[i] = static_cast<uint8_t>(i * 5 + 3);
  }
  for (size_t i = 0; i < sizeof cid; ++i) cid[i] = static_cast<uint8_t>(0xa0 + i);
  for (size_t i = 0; i < sizeof odcid; ++i) odcid[i] = static_cast<uint8_t>(0x50 + i);
  const size_t sl = suite == Suite::aes256_gcm ? 48 : 32;

  PacketProtection tx(ver), ra(ver), rb(ver);  // the client; servers A and B
  RL_FUZZ_CHECK(tx.install_initial(ver, odcid, false) == Status::ok);
  RL_FUZZ_CHECK(tx.install(Level::zero_rtt, Direction::seal, suite, {s0, sl}) == Status::ok);
  RL_FUZZ_CHECK(tx.install(Level::handshake, Direction::seal, suite, {hs, sl}) == Status::ok);
  RL_FUZZ_CHECK(tx.install(Level::one_rtt, Direction::seal, suite, {s1, sl}) == Status::ok);
  RL_FUZZ_CHECK(tx.set_dcid({cid, dcid_len}) == Status::ok);
  RL_FUZZ_CHECK(tx.set_scid({cid, scid_len > 20 ? 20 : scid_len}) == Status::ok);
  for (PacketProtection* rx : {&ra, &rb}) {
    RL_FUZZ_CHECK(rx->install_initial(ver, odcid, true) == Status::ok);
    RL_FUZZ_CHECK(rx->install(Level::zero_rtt, Direction::open, suite, {s0, sl}) == Status::ok);
    RL_FUZZ_CHECK(rx->install(Level::handshake, Direction::open, suite, {hs, sl}) == Status::ok);
    RL_FUZZ_CHECK(rx->install(Level::one_rtt, Direction::open, suite, {s1, sl}) == Status::ok);
    RL_FUZZ_CHECK(rx->set_short_dcid_length(dcid_len) == Status::ok);
    rx->set_grease_quic_bit(grease);
  }

  std::vector<Sealed> sealed;
  std::vector<Sent> history;  // every datagram composed so far
  size_t cursor = 0;
  for (int round = 0; round < 8 && in.n > 0; ++round) {
    for (size_t want = 1 + in.byte() % 12; want > 0 && sealed.size() < kMaxSealed; --want) {
      const uint8_t ctl = in.byte();
      if ((ctl & 0x0f) == 0x0f) {
        // The peer acknowledged the largest packet of each space that it
        // received (an ACK of one it never got would make the sender encode
        // against numbers the receiver does not know, RFC 9000 §17.1).
        for (Space sp : {Space::initial, Space::handshake, Space::application}) {
          uint64_t best = 0;
          bool any = false;
          for (const Sealed& s : sealed)
            if (s.opened && space_of(s.level) == sp && (!any || s.pn > best)) best = s.pn, any = true;
          if (any) (void)tx.on_ack(sp, best);
        }
        if ((ctl & 0x10) != 0) (void)tx.update(Direction::seal);  // refused until an ACK allows it
      }
      sealed.push_back(seal_packet(tx, in, static_cast<uint32_t>(sealed.size())));
    }
    for (size_t d = 1 + in.byte() % 6; d > 0 && in.n > 0; --d) {
      const uint8_t r = in.byte();
      const size_t room = (r & 0xe0) == 0xe0 ? 1 + r % 4 : kOut;  // sometimes too little room
      const auto [dg, segs] = next_datagram(in, (r & 0x18) == 0x18, history, [&](std::vector<Seg>& segs) {
        return compose_datagram(in, sealed, cursor, segs, grease);
      });
      if (debug())
        std::fprintf(stderr, "round %d: datagram of %zu bytes, %zu packets placed, room %zu\n", round,
                     dg.size(), segs.size(), room);
      open_both(ra, rb, dg, segs, sealed, room, grease, dcid_len);
    }
  }
  return 0;
}
