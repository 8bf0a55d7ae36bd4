// libFuzzer target: QUIC seal of bursts against the same packets sealed one
// at a time (core/quic.h). The input picks the suite and the destination CID,
// then a run of steps: packets (payload sizes, the shortest packet-number
// length asked for, levels: 1-RTT mostly, some Handshake, some without room)
// sealed as bursts of the sizes it chooses on one sender and one per call
// on another with the same keys, ACKs that change the packet-number length,
// key updates, CID changes and skipped packet numbers. Any difference in
// status, bytes, packet number, its length, the header length or the key
// phase aborts; every packet that sealed must open on a receiver.
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

struct Buf {
  Bytes mem;
  Packet pkt;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Input in{data, size};
  const uint8_t cfg = in.byte();
  const Suite suite = kAllSuites[cfg % 3];
  uint8_t secret[48], hs[48], cid[20];
  for (size_t i = 0; i < sizeof secret; ++i) secret[i] = static_cast<uint8_t>(i * 5 + 3);
  for (size_t i = 0; i < sizeof hs; ++i) hs[i] = static_cast<uint8_t>(i * 9 + 1);
  for (size_t i = 0; i < sizeof cid; ++i) cid[i] = static_cast<uint8_t>(0xa0 + i);
  const size_t sl = suite == Suite::aes256_gcm ? 48 : 32;
  size_t cid_len = (cfg >> 2) % 21;

  PacketProtection ta, tb, rx;  // burst sender, one-at-a-time sender, receiver
  for (PacketProtection* t : {&ta, &tb}) {
    RL_FUZZ_CHECK(t->install(Level::one_rtt, Direction::seal, suite, {secret, sl}) == Status::ok);
    RL_FUZZ_CHECK(t->install(Level::handshake, Direction::seal, suite, {hs, sl}) == Status::ok);
    RL_FUZZ_CHECK(t->set_dcid({cid, cid_len}) == Status::ok);
    RL_FUZZ_CHECK(t->set_scid({cid + 3, 5}) == Status::ok);
  }
  RL_FUZZ_CHECK(rx.install(Level::one_rtt, Direction::open, suite, {secret, sl}) == Status::ok);
  RL_FUZZ_CHECK(rx.install(Level::handshake, Direction::open, suite, {hs, sl}) == Status::ok);
  RL_FUZZ_CHECK(rx.set_short_dcid_length(cid_len) == Status::ok);

  std::vector<uint64_t> sent;  // 1-RTT packet numbers sealed and received, in order
  for (int step = 0; step < 12 && in.n > 0; ++step) {
    const uint8_t what = in.byte();
    if ((what & 0xe0) == 0xe0) {  // something between bursts, on both senders
      switch (what & 3) {
        case 0:
          // An ACK of a 1-RTT packet the receiver got: never of a number that
          // was skipped or not sent (RFC 9000 §17.1 encodes against it).
          if (!sent.empty()) {
            const uint64_t acked = sent[sent.size() - 1 - in.byte() % sent.size()];
            RL_FUZZ_CHECK(ta.on_ack(Space::application, acked) == tb.on_ack(Space::application, acked));
          }
          break;
        case 1: RL_FUZZ_CHECK(ta.update(Direction::seal) == tb.update(Direction::seal)); break;
        case 2: {
          const uint64_t k = in.byte() % 40;
          RL_FUZZ_CHECK(ta.skip_packet_numbers(Space::application, k) ==
                tb.skip_packet_numbers(Space::application, k));
          break;
        }
        default:  // a new destination CID (RFC 8922 ME); the receiver's length follows
          cid_len = in.byte() % 21;
          RL_FUZZ_CHECK(ta.set_dcid({cid, cid_len}) == Status::ok && tb.set_dcid({cid, cid_len}) == Status::ok);
          RL_FUZZ_CHECK(rx.set_short_dcid_length(cid_len) == Status::ok);
          break;
      }
      continue;
    }
    const size_t count = 1 + what % 40;
    std::vector<Buf> a(count), b;
    for (size_t i = 0; i < count; ++i) {
      const uint8_t shape = in.byte();
      const size_t len = (shape & 0x30) == 0x30 ? in.byte() % 6 : in.u16() % 1400;
      const size_t head = (shape & 0x0f) == 0x0f ? in.byte() % 24 : 64;  // too little room, now and then
      const size_t tail = (shape & 0x0f) == 0x0e ? in.byte() % 24 : 32;
      a[i].mem.assign(head + len + tail, 0);
      for (size_t k = 0; k < len; ++k) a[i].mem[head + k] = static_cast<uint8_t>(i * 7 + k);
      a[i].pkt.view = PacketView{a[i].mem.data(), static_cast<uint32_t>(a[i].mem.size()),
                                 static_cast<uint32_t>(head), static_cast<uint32_t>(len)};
      a[i].pkt.level = (shape & 0xc0) == 0xc0 ? Level::handshake : Level::one_rtt;
      a[i].pkt.min_pn_length = static_cast<uint8_t>((shape >> 6) & 3);
    }
    b = a;
    for (Buf& x : b) x.pkt.view.buf = x.mem.data();
    std::vector<Packet> pa;
    for (Buf& x : a) pa.push_back(x.pkt);
    const size_t ok_a = ta.seal(pa);
    size_t ok_b = 0;
    for (size_t i = 0; i < count; ++i) ok_b += tb.seal({&b[i].pkt, 1});
    RL_FUZZ_CHECK(ok_a == ok_b);
    for (size_t i = 0; i < count; ++i) {
      const Packet& p = pa[i];
      const Packet& q = b[i].pkt;
      RL_FUZZ_CHECK(p.status() == q.status());
      RL_FUZZ_CHECK(a[i].mem == b[i].mem);
      if (p.status() != Status::ok) continue;
      RL_FUZZ_CHECK(p.pn == q.pn && p.pn_length == q.pn_length && p.header_length == q.header_length);
      RL_FUZZ_CHECK(p.key_phase == q.key_phase && p.type == q.type);
      RL_FUZZ_CHECK(p.view.offset == q.view.offset && p.view.length == q.view.length);
      // And it opens (the receiver follows key updates by itself).
      Bytes w(p.view.data(), p.view.data() + p.view.length);
      Packet r;
      r.view = PacketView{w.data(), static_cast<uint32_t>(w.size()), 0, static_cast<uint32_t>(w.size())};
      rx.open({&r, 1});
      if (debug())
        std::fprintf(stderr, "  [%zu] level %d pn %llu pn_len %u hdr %u len %u: opens %s (pn %llu)\n", i,
                     static_cast<int>(p.level), static_cast<unsigned long long>(p.pn), p.pn_length,
                     p.header_length, p.view.length, to_string(r.status()),
                     static_cast<unsigned long long>(r.pn));
      RL_FUZZ_CHECK(r.status() == Status::ok);
      RL_FUZZ_CHECK(r.pn == p.pn && r.view.length + r.header_length + 16 == p.view.length);
      if (p.level == Level::one_rtt) sent.push_back(p.pn);
    }
    RL_FUZZ_CHECK(ta.next_pn(Space::application) == tb.next_pn(Space::application));
    RL_FUZZ_CHECK(ta.next_pn(Space::handshake) == tb.next_pn(Space::handshake));
    RL_FUZZ_CHECK(ta.generation(Direction::seal) == tb.generation(Direction::seal));
  }
  return 0;
}
