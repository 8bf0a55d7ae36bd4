// libFuzzer target: seal of bursts against the same records sealed one at a
// time, for TLS 1.3/1.2, DTLS 1.2, DTLS 1.3, ESP and SRTP (QUIC has its own,
// quic_seal_burst_fuzz). Byte 0 picks the protocol and its shape (suite,
// CID, ESN, MKI, header extensions, ...), then each step seals a burst of
// records whose sizes, types, padding and room the input chooses, on one
// sender as one call and on another one record per call. Any difference in
// status, bytes, offset or length, or in what the senders report afterwards
// (next sequence number), aborts.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "core/bytes.h"
#include "core/dtls.h"
#include "core/dtls13.h"
#include "core/esp.h"
#include "core/srtp.h"
#include "core/tls.h"
#include "tests/fuzz/burst_fuzz.h"

using namespace rl;
using namespace rl::fuzz;

namespace {

uint8_t kKey[48], kIv[16], kSalt[14];
const uint8_t kCid[] = {0xc1, 0xd1, 0xe1, 0xf1, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
                        0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12,
                        0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d};
struct Init {
  Init() {
    for (size_t i = 0; i < sizeof kKey; ++i) kKey[i] = static_cast<uint8_t>(i * 7 + 1);
    for (size_t i = 0; i < sizeof kIv; ++i) kIv[i] = static_cast<uint8_t>(i * 5 + 2);
    for (size_t i = 0; i < sizeof kSalt; ++i) kSalt[i] = static_cast<uint8_t>(i * 3 + 9);
  }
} init;

// One record to seal: a buffer with the room the input asks for.
struct Item {
  Bytes mem;
  uint32_t head = 0, len = 0;
  uint8_t shape = 0, extra = 0;
};

std::vector<Item> items(Input& in, size_t count, size_t head, size_t tail, size_t max_len) {
  std::vector<Item> v(count);
  for (size_t i = 0; i < count; ++i) {
    Item& it = v[i];
    it.shape = in.byte();
    it.extra = in.byte();
    it.len = static_cast<uint32_t>((it.shape & 0x30) == 0x30 ? in.byte() % 8 : in.u16() % max_len);
    const size_t h = (it.shape & 0x0f) == 0x0f ? in.byte() % (head + 1) : head;  // short of room now and then
    const size_t t = (it.shape & 0x0f) == 0x0e ? in.byte() % (tail + 1) : tail;
    it.head = static_cast<uint32_t>(h);
    it.mem.assign(h + it.len + t, 0);
    for (size_t k = 0; k < it.len; ++k) it.mem[h + k] = static_cast<uint8_t>(i * 11 + k);
  }
  return v;
}

PacketView view_of(Item& it) {
  return {it.mem.data(), static_cast<uint32_t>(it.mem.size()), it.head, it.len, Status::ok};
}

void same(const std::vector<Item>& a, const std::vector<Item>& b, const std::vector<PacketView>& va,
          const std::vector<PacketView>& vb) {
  for (size_t i = 0; i < a.size(); ++i) {
    RL_FUZZ_CHECK(va[i].status == vb[i].status);
    RL_FUZZ_CHECK(a[i].mem == b[i].mem);
    if (va[i].status != Status::ok) continue;
    RL_FUZZ_CHECK(va[i].offset == vb[i].offset && va[i].length == vb[i].length);
  }
}

// The record type and view of each protocol, filled from items.
template <class Rec>
std::vector<Rec> records(std::vector<Item>& v);

template <>
std::vector<tls::Record> records(std::vector<Item>& v) {
  std::vector<tls::Record> r(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    static_cast<PacketView&>(r[i]) = view_of(v[i]);
    r[i].type = (v[i].shape & 0xc0) == 0xc0 ? tls::handshake : tls::application_data;
  }
  return r;
}
template <>
std::vector<dtls::Record> records(std::vector<Item>& v) {
  std::vector<dtls::Record> r(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    r[i].pkt = view_of(v[i]);
    r[i].type = (v[i].shape & 0xc0) == 0xc0 ? 22 : 23;
    r[i].padding = (v[i].shape & 0x40) != 0 ? v[i].extra % 40 : 0;
  }
  return r;
}
template <>
std::vector<dtls13::Record> records(std::vector<Item>& v) {
  std::vector<dtls13::Record> r(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    r[i].pkt = view_of(v[i]);
    r[i].type = (v[i].shape & 0xc0) == 0xc0 ? 22 : 23;
    r[i].padding = (v[i].shape & 0x40) != 0 ? v[i].extra % 40 : 0;
    r[i].seq16 = (v[i].extra & 0x80) == 0;
    r[i].with_length = (v[i].extra & 0x40) == 0 || i + 1 == v.size();
  }
  return r;
}

PacketView& pv(tls::Record& r) { return r; }
PacketView& pv(dtls13::Record& r) { return r.pkt; }

// Seals `count` records from the input on a (one call) and b (one per call).
template <class Rec, class P>
void seal_both(P& a, P& b, Input& in, size_t count, size_t head, size_t tail, size_t max_len) {
  std::vector<Item> ia = items(in, count, head, tail, max_len), ib = ia;
  std::vector<Rec> ra = records<Rec>(ia), rb = records<Rec>(ib);
  const size_t ok_a = a.seal(ra);
  size_t ok_b = 0;
  for (Rec& r : rb) ok_b += b.seal({&r, 1});
  RL_FUZZ_CHECK(ok_a == ok_b);
  std::vector<PacketView> va, vb;
  for (size_t i = 0; i < count; ++i) {
    va.push_back(pv(ra[i]));
    vb.push_back(pv(rb[i]));
  }
  same(ia, ib, va, vb);
}

void run_tls(Input& in, uint8_t cfg) {
  tls::Config c;
  c.version = (cfg & 8) != 0 ? tls::Version::tls12 : tls::Version::tls13;
  const Suite suite = kAllSuites[(cfg >> 4) % 3];
  const size_t kl = suite_info(suite).key_len, il = suite == Suite::chacha20_poly1305 ? 12 : 4;
  tls::RecordProtection a(c), b(c);
  for (tls::RecordProtection* p : {&a, &b}) {
    const Status st = c.version == tls::Version::tls13
                          ? p->install(Direction::seal, suite, {kKey, suite == Suite::aes256_gcm ? 48u : 32u})
                          : p->install_tls12(Direction::seal, suite, {kKey, kl}, {kIv, il});
    RL_FUZZ_CHECK(st == Status::ok);
    if (c.version == tls::Version::tls13 && (cfg & 0x80) != 0) {
      tls::Padding pad;
      pad.kind = tls::Padding::multiple;
      pad.n = 64;
      RL_FUZZ_CHECK(p->set_padding(pad) == Status::ok);
    }
  }
  for (int step = 0; step < 6 && in.n > 0; ++step) {
    seal_both<tls::Record>(a, b, in, 1 + in.byte() % 40, 5 + 8, 16 + 1 + 64 + 16, 17000);
    RL_FUZZ_CHECK(a.sequence(Direction::seal) == b.sequence(Direction::seal));
  }
}

// DTLS 1.2 also seals the records on a third sender through its general
// loop only (each call starts with a record of an invalid type, refused
// before anything is asked), which the lean loops of the other two (bursts
// and seal_one, with and without a CID) must match byte for byte.
void seal_three_dtls12(dtls::RecordProtection& a, dtls::RecordProtection& b,
                       dtls::RecordProtection& c, Input& in, size_t count, size_t head, size_t tail) {
  std::vector<Item> ia = items(in, count, head, tail, 17000), ib = ia, ic = ia;
  std::vector<dtls::Record> ra = records<dtls::Record>(ia), rb = records<dtls::Record>(ib),
                            rc = records<dtls::Record>(ic);
  const size_t ok_a = a.seal(ra);
  size_t ok_b = 0, ok_c = 0;
  for (dtls::Record& r : rb) ok_b += b.seal({&r, 1});
  for (size_t i = 0; i < count; i += dtls::RecordProtection::kBurst - 1) {
    const size_t n = std::min(dtls::RecordProtection::kBurst - 1, count - i);
    std::vector<dtls::Record> v(n + 1);
    v[0].type = 99;
    for (size_t k = 0; k < n; ++k) v[k + 1] = rc[i + k];
    ok_c += c.seal(v);
    RL_FUZZ_CHECK(v[0].pkt.status == Status::invalid_argument);
    for (size_t k = 0; k < n; ++k) rc[i + k] = v[k + 1];
  }
  RL_FUZZ_CHECK(ok_a == ok_b && ok_a == ok_c);
  std::vector<PacketView> va, vb, vc;
  for (size_t i = 0; i < count; ++i) {
    va.push_back(ra[i].pkt);
    vb.push_back(rb[i].pkt);
    vc.push_back(rc[i].pkt);
    if (rc[i].pkt.status != Status::ok) continue;
    RL_FUZZ_CHECK(ra[i].seq == rc[i].seq && rb[i].seq == rc[i].seq);
    RL_FUZZ_CHECK(ra[i].epoch == rc[i].epoch && rb[i].epoch == rc[i].epoch);
  }
  same(ia, ic, va, vc);
  same(ib, ic, vb, vc);
  const KeyCounters& ka = a.key(Direction::seal, 1)->counters();
  const KeyCounters& kb = b.key(Direction::seal, 1)->counters();
  const KeyCounters& kc = c.key(Direction::seal, 1)->counters();
  RL_FUZZ_CHECK(ka.sealed == kc.sealed && kb.sealed == kc.sealed);
  RL_FUZZ_CHECK(ka.bytes_sealed == kc.bytes_sealed && kb.bytes_sealed == kc.bytes_sealed);
}

void run_dtls12(Input& in, uint8_t cfg) {
  const Suite suite = kAllSuites[(cfg >> 4) % 3];
  const size_t kl = suite_info(suite).key_len, il = suite == Suite::chacha20_poly1305 ? 12 : 4;
  // DTLS 1.2's lean loops take CIDs of 1..32 bytes in size classes (1-3,
  // 4-7, 8-16, 17-32); 33 bytes take the general loop.
  static constexpr size_t kCidLens[] = {1, 3, 4, 8, 9, 17, 32, 33};
  const size_t cid_len = (cfg & 0x80) != 0 ? kCidLens[(cfg >> 3) % 8] : 0;
  dtls::RecordProtection a, b, c;
  for (dtls::RecordProtection* p : {&a, &b, &c}) {
    RL_FUZZ_CHECK(p->install(Direction::seal, 1, suite, {kKey, kl}, {kIv, il}) == Status::ok);
    if (cid_len != 0) RL_FUZZ_CHECK(p->set_seal_cid({kCid, cid_len}) == Status::ok);
  }
  for (int step = 0; step < 6 && in.n > 0; ++step) {
    seal_three_dtls12(a, b, c, in, 1 + in.byte() % 40, dtls::seal_headroom(suite, cid_len),
                      dtls::seal_tailroom(suite, cid_len, 40));
    RL_FUZZ_CHECK(a.next_seq() == b.next_seq() && a.next_seq() == c.next_seq());
  }
}

void run_dtls13(Input& in, uint8_t cfg) {
  const Suite suite = kAllSuites[(cfg >> 4) % 3];
  const size_t cid_len = (cfg & 0x80) != 0 ? 1 + (cfg >> 3) % 8 : 0;
  dtls13::RecordProtection a, b;
  for (dtls13::RecordProtection* p : {&a, &b}) {
    RL_FUZZ_CHECK(p->install(Direction::seal, 3, suite, {kKey, suite == Suite::aes256_gcm ? 48u : 32u}) ==
          Status::ok);
    if (cid_len != 0) RL_FUZZ_CHECK(p->set_seal_cid({kCid, cid_len}) == Status::ok);
  }
  for (int step = 0; step < 6 && in.n > 0; ++step) {
    if ((in.byte() & 0x1f) == 0x1f) RL_FUZZ_CHECK(a.update(Direction::seal) == b.update(Direction::seal));
    seal_both<dtls13::Record>(a, b, in, 1 + in.byte() % 40, dtls13::seal_headroom(cid_len),
                              dtls13::seal_tailroom(40), 17000);
    RL_FUZZ_CHECK(a.next_seq() == b.next_seq() && a.seal_epoch() == b.seal_epoch());
  }
}

void run_esp(Input& in, uint8_t cfg) {
  esp::SaConfig c;
  c.spi = 0x4242;
  c.suite = kAllSuites[(cfg >> 4) % 3];
  c.keymat = {kKey, suite_info(c.suite).key_len + esp::kSaltLen};
  c.esn = (cfg & 0x80) != 0;
  c.implicit_iv = (cfg & 0x08) != 0;
  c.mode = (in.byte() & 1) != 0 ? esp::Mode::transport : esp::Mode::tunnel;
  c.first_seq = c.esn ? (uint64_t{1} << 32) - 20 : 1;
  esp::Sadb a, b;
  if (a.install(Direction::seal, c) != Status::ok) return;
  RL_FUZZ_CHECK(b.install(Direction::seal, c) == Status::ok);
  for (int step = 0; step < 6 && in.n > 0; ++step) {
    const size_t count = 1 + in.byte() % 40;
    std::vector<Item> ia = items(in, count, 16, 300, 1500), ib = ia;
    std::vector<esp::SealMeta> meta(count);
    for (size_t i = 0; i < count; ++i) {
      Item& it = ia[i];
      if (c.mode == esp::Mode::transport) meta[i].next_header = 17;
      if (c.mode == esp::Mode::tunnel && it.len >= 20) {  // an inner IPv4 header, or not (refused)
        if ((it.extra & 3) != 3) {
          it.mem[it.head] = 0x45;
          store_be16(it.mem.data() + it.head + 2, static_cast<uint16_t>(it.len));
          ib[i].mem = it.mem;
        }
      }
      meta[i].dummy = (it.extra & 0x1c) == 0x1c;
      if ((it.extra & 0xe0) == 0xe0) meta[i].tfc_pad_to = it.len + it.extra % 64;
    }
    std::vector<PacketView> va, vb;
    for (size_t i = 0; i < count; ++i) {
      va.push_back(view_of(ia[i]));
      vb.push_back(view_of(ib[i]));
    }
    // With per-packet instructions, or none (defaults; transport mode then
    // has no next header and refuses every packet, both ways).
    const bool with_meta = (in.byte() & 3) != 0;
    const std::span<const esp::SealMeta> all = meta;
    const size_t ok_a = a.seal(c.spi, va, with_meta ? all : std::span<const esp::SealMeta>{});
    size_t ok_b = 0;
    for (size_t i = 0; i < count; ++i)
      ok_b += b.seal(c.spi, {&vb[i], 1}, with_meta ? all.subspan(i, 1) : std::span<const esp::SealMeta>{});
    RL_FUZZ_CHECK(ok_a == ok_b);
    same(ia, ib, va, vb);
    RL_FUZZ_CHECK(a.find(Direction::seal, c.spi)->next_seq() == b.find(Direction::seal, c.spi)->next_seq());
  }
}

void run_srtp(Input& in, uint8_t cfg) {
  srtp::Policy pol;
  pol.profile = srtp::kAllProfiles[(cfg >> 3) % 8];
  pol.mki_len = (cfg & 0x80) != 0 ? 2 : 0;
  const uint8_t mki[2] = {0, 3};
  const srtp::ProfileInfo info = srtp::profile_info(pol.profile);
  const srtp::MasterKey mk{{kKey, info.master_key_len}, {kSalt, info.master_salt_len}, {mki, pol.mki_len}};
  srtp::Session a(Direction::seal, 8), b(Direction::seal, 8);
  if (a.set_template(pol, {&mk, 1}) != Status::ok) return;
  RL_FUZZ_CHECK(b.set_template(pol, {&mk, 1}) == Status::ok);
  uint16_t seq[3] = {static_cast<uint16_t>(65530 + in.byte() % 6), in.u16(), 7};
  static const uint32_t kSsrc[3] = {0x1111, 0x2222, 0x3333};
  for (int step = 0; step < 6 && in.n > 0; ++step) {
    const size_t count = 1 + in.byte() % 40;
    std::vector<Item> ia = items(in, count, 0, 36, 1300), ib;
    for (size_t i = 0; i < count; ++i) {
      Item& it = ia[i];
      const int s = it.extra % 3;
      // A 12-byte RTP header in front of the payload (some without: malformed).
      if ((it.extra & 0xf0) != 0xf0) {
        Bytes h(12);
        h[0] = 0x80;
        h[1] = 96;
        store_be16(h.data() + 2, seq[s]++);
        store_be32(h.data() + 4, 1000u * s);
        store_be32(h.data() + 8, kSsrc[s]);
        it.mem.insert(it.mem.begin() + it.head, h.begin(), h.end());
        it.len += 12;
      }
    }
    ib = ia;
    std::vector<PacketView> va, vb;
    for (size_t i = 0; i < count; ++i) {
      va.push_back(view_of(ia[i]));
      vb.push_back(view_of(ib[i]));
    }
    const size_t ok_a = a.seal(va);
    size_t ok_b = 0;
    for (size_t i = 0; i < count; ++i) ok_b += b.seal({&vb[i], 1});
    RL_FUZZ_CHECK(ok_a == ok_b);
    same(ia, ib, va, vb);
    for (uint32_t ssrc : kSsrc) {
      const auto x = a.stream_info(ssrc), y = b.stream_info(ssrc);
      RL_FUZZ_CHECK(x.has_value() == y.has_value());
      if (x) RL_FUZZ_CHECK(x->highest_index == y->highest_index && x->packets == y->packets);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Input in{data, size};
  const uint8_t cfg = in.byte();
  switch (cfg % 5) {
    case 0: run_tls(in, cfg); break;
    case 1: run_dtls12(in, cfg); break;
    case 2: run_dtls13(in, cfg); break;
    case 3: run_esp(in, cfg); break;
    default: run_srtp(in, cfg); break;
  }
  return 0;
}
