// libFuzzer target: ESP open of a burst against the same packets opened one at
// a time (core/esp.h). The input picks the SA shape (suite, ICV length, ESN,
// implicit IV, tunnel or transport, window size, in one input of four an
// integrity limit of 1..8 failures, reached inside bursts), seals packets on two SAs
// (sizes, TFC padding, dummies) and composes what arrives: in order, late,
// duplicated, dropped, with a byte flipped, truncated, junk, an unknown SPI.
// Two inbound databases with the same SAs open it, one as bursts (the lean
// loops and the general ones), one packet per call (Sadb::open_one; every
// other packet through open_udp); any difference in what
// authenticates, the inner packet and OpenInfo, the bytes of a refused packet
// (as they arrived), the windows or the SAs' packet and byte counts aborts.
//
// Up to 150 packets per SA, more than a window of 64. A burst asks the
// window before any of its packets commits, one at a time each packet finds
// the window as the packets before it left it: the burst asks again, in
// order, for a packet that failed, one the window refused (a repeat may be
// too old by then; with ESN its Seqh may differ) or (ESN) one whose Seqh the
// window now gives differently, so statuses (through open() both ways),
// replays, integrity failures, malformed trailers and resyncs are the same.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

#include "core/bytes.h"
#include "core/esp.h"
#include "tests/fuzz/burst_fuzz.h"

using namespace rl;
using namespace rl::esp;
using namespace rl::fuzz;

namespace {

constexpr uint32_t kSpi[2] = {0x5100, 0x5200};

PacketView view(Bytes& b) {
  return {b.data(), static_cast<uint32_t>(b.size()), 0, static_cast<uint32_t>(b.size()), Status::ok};
}

Bytes seal_packet(Sadb& tx, Input& in, uint32_t spi, Mode mode, uint32_t serial) {
  const uint8_t shape = in.byte();
  size_t len = 20 + in.u16() % 1400;
  Bytes inner(len);
  for (size_t i = 0; i < len; ++i) inner[i] = static_cast<uint8_t>(serial * 13 + i);
  if (mode == Mode::tunnel) {
    if (shape & 1) {
      inner[0] = 0x45;
      store_be16(inner.data() + 2, static_cast<uint16_t>(len));
    } else {
      if (len < 40) inner.resize(len = 40);
      inner[0] = 0x60;
      store_be16(inner.data() + 4, static_cast<uint16_t>(len - 40));
    }
  }
  SealMeta m;
  if (mode == Mode::transport) m.next_header = 17;
  if ((shape & 0x0e) == 0x0e) m.dummy = true;
  if ((shape & 0x30) == 0x30) m.tfc_pad_to = static_cast<uint32_t>(len + in.byte());
  const size_t head = 64, tail = 64 + 256 + 300;
  Bytes mem(head + len + tail, 0);
  if (len != 0) std::memcpy(mem.data() + head, inner.data(), len);
  PacketView v{mem.data(), static_cast<uint32_t>(mem.size()), static_cast<uint32_t>(head),
               static_cast<uint32_t>(len), Status::ok};
  if (tx.seal(spi, {&v, 1}, {&m, 1}) != 1) return {};
  return Bytes(v.data(), v.data() + v.length);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Input in{data, size};
  const uint8_t cfg = in.byte(), cfg2 = in.byte();
  static const uint8_t kIcv[] = {16, 12, 8};
  SaConfig base;
  base.suite = kAllSuites[cfg % 3];
  base.icv_len = base.suite == Suite::chacha20_poly1305 ? 16 : kIcv[(cfg >> 2) % 3];
  base.esn = (cfg & 0x10) != 0;
  base.implicit_iv = (cfg & 0x20) != 0 && base.icv_len == 16;
  base.gmac = (cfg & 0xc0) == 0xc0 && base.suite != Suite::chacha20_poly1305 && !base.implicit_iv;
  base.mode = (cfg2 & 1) != 0 ? Mode::transport : Mode::tunnel;
  base.replay_window = (cfg2 & 2) != 0 ? 256 : 64;
  // With ESN, start near a high-half change (RFC 4303 Appendix A2), or (one
  // in four) at 1, where the window's top low half is below W - 1 (A2.1
  // case B) until the first packets move it past (case A), and a flipped
  // bit turns a low half into 0, which reads as 0 before and as 2^32 after.
  const uint64_t first = !base.esn                ? 1
                         : (cfg2 & 0x0c) == 0x0c ? 1
                                                 : (static_cast<uint64_t>(1 + (cfg2 >> 4)) << 32) - (cfg2 & 0x0c) * 4;
  base.first_seq = first;
  base.highest_received = first - 1;
  small_integrity_limit(in.byte(), base.lifetime);
  uint8_t keymat[2][36];
  for (int s = 0; s < 2; ++s)
    for (size_t i = 0; i < sizeof keymat[s]; ++i) keymat[s][i] = static_cast<uint8_t>(i * 3 + 17 * s + 1);
  const size_t klen = suite_info(base.suite).key_len + kSaltLen;

  Sadb tx, rb, ro;  // sender, burst receiver, one-at-a-time receiver
  for (int s = 0; s < 2; ++s) {
    SaConfig c = base;
    c.spi = kSpi[s];
    c.keymat = {keymat[s], klen};
    if (tx.install(Direction::seal, c) != Status::ok) return 0;  // a combination refused (GMAC ICV 16 only, ...)
    RL_FUZZ_CHECK(rb.install(Direction::open, c) == Status::ok);
    RL_FUZZ_CHECK(ro.install(Direction::open, c) == Status::ok);
  }

  std::vector<Bytes> sealed[2];
  for (int round = 0; round < 4 && in.n > 0; ++round) {
    size_t first_new[2] = {sealed[0].size(), sealed[1].size()};
    const size_t want = 1 + in.byte() % 24;
    for (size_t i = 0; i < want; ++i) {
      const int s = (in.byte() & 7) == 7 ? 1 : 0;
      if (sealed[s].size() >= 150) continue;
      Bytes p = seal_packet(tx, in, kSpi[s], base.mode, static_cast<uint32_t>(sealed[s].size()));
      if (!p.empty()) sealed[s].push_back(std::move(p));
    }
    size_t next[2] = {first_new[0], first_new[1]};
    const std::vector<Bytes> wire = compose(in, sealed, next, 1 + in.byte() % 48);
    if (wire.empty()) continue;

    std::vector<Bytes> wa = wire, wo = wire;
    std::vector<PacketView> burst;
    for (Bytes& b : wa) burst.push_back(view(b));
    std::vector<OpenInfo> ib(wire.size());
    const size_t ok_b = rb.open(burst, ib);
    size_t ok_o = 0;
    for (size_t i = 0; i < wire.size(); ++i) {
      PacketView r = view(wo[i]);
      OpenInfo io;
      // Every other packet through open_udp (RFC 3948): an ESP packet takes
      // the same one-packet path; what is not ESP is refused either way.
      ok_o += (i & 1) != 0 ? ro.open_udp({&r, 1}, {&io, 1}) : ro.open({&r, 1}, {&io, 1});
      const PacketView& q = burst[i];
      if (debug())
        std::fprintf(stderr, "  [%zu] len %zu: burst %s | one %s\n", i, wire[i].size(), to_string(q.status),
                     to_string(r.status));
      RL_FUZZ_CHECK((q.status == Status::ok) == (r.status == Status::ok));
      RL_FUZZ_CHECK((q.status == Status::dummy_packet) == (r.status == Status::dummy_packet));
      // Through open() both ways, the same status (open_udp refuses what is
      // not ESP with statuses of its own).
      RL_FUZZ_CHECK((i & 1) != 0 || q.status == r.status);
      if (r.status != Status::ok) {
        if (r.status != Status::dummy_packet) {
          RL_FUZZ_CHECK(wa[i] == wire[i]);  // refused: the bytes as they arrived
          RL_FUZZ_CHECK(wo[i] == wire[i]);
        }
        continue;
      }
      RL_FUZZ_CHECK(q.offset == r.offset && q.length == r.length);
      RL_FUZZ_CHECK(r.length == 0 || std::memcmp(q.data(), r.data(), r.length) == 0);
      RL_FUZZ_CHECK(ib[i].spi == io.spi && ib[i].seq == io.seq && ib[i].next_header == io.next_header &&
            ib[i].tfc_stripped == io.tfc_stripped);
    }
    RL_FUZZ_CHECK(ok_b == ok_o);
    for (uint32_t spi : kSpi) {
      const Sa* a = rb.find(Direction::open, spi);
      const Sa* b = ro.find(Direction::open, spi);
      RL_FUZZ_CHECK(a != nullptr && b != nullptr);
      RL_FUZZ_CHECK(a->replay().empty() == b->replay().empty());
      RL_FUZZ_CHECK(a->replay().highest() == b->replay().highest());
      const uint64_t hi = a->replay().highest();
      for (uint64_t s = hi > 300 ? hi - 300 : 0; s <= hi + 2; ++s)
        RL_FUZZ_CHECK(a->replay().check(s) == b->replay().check(s));
      const SaCounters& ca = a->counters();
      const SaCounters& cb = b->counters();
      RL_FUZZ_CHECK(ca.packets == cb.packets && ca.bytes == cb.bytes && ca.dummy == cb.dummy);
      if (debug())
        std::fprintf(stderr, "spi %x burst/one: replay %lu/%lu failed %lu/%lu malformed %lu/%lu\n", spi,
                     static_cast<unsigned long>(ca.replay), static_cast<unsigned long>(cb.replay),
                     static_cast<unsigned long>(ca.integrity_failed),
                     static_cast<unsigned long>(cb.integrity_failed),
                     static_cast<unsigned long>(ca.malformed), static_cast<unsigned long>(cb.malformed));
      RL_FUZZ_CHECK(ca.replay == cb.replay && ca.integrity_failed == cb.integrity_failed &&
                    ca.malformed == cb.malformed);
      RL_FUZZ_CHECK(ca.resyncs == cb.resyncs && ca.resync_tries == cb.resync_tries);
    }
  }
  return 0;
}
