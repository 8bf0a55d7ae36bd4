// QUIC 1-RTT packet protection beside the raw AEAD of the same sizes, in the
// same run (DESIGN.md §7b):
//   seal|open/quic/<suite>/<bytes>/<burst>      PacketProtection::seal/open:
//                                               header build + AEAD + HP, in place
//   seal/quic-hp/<suite>/<bytes>/<burst>        header protection alone (mask
//                                               burst + applying it), per packet
//   open/aead-quic/<suite>/<bytes>/<burst>      the raw AEAD over open/quic's own
//                                               buffers (pool, header as AAD)
//   seal|open/aead/<suite>/<bytes>/<burst>      the raw job layer, for the sizes
//                                               and bursts bench/aead_bench.cc
//                                               does not register
// bytes = payload (frames) per packet. The short header is 1 + 8-byte DCID +
// 4-byte packet number = 13 bytes, the same AAD length as the aead rows, so
// the two differ only by what QUIC adds.
//
// Open needs fresh packet numbers (the receiver rejects duplicates), so a pool
// of sealed bursts is opened one burst per iteration and resealed outside the
// row's time (OpenClock) once the whole pool is used; the pool is 640 KiB,
// like the TLS and DTLS rows'. What this charges open/quic with that
// open/aead does not have: the packets come from L2 (the aead rows reuse one
// L1-resident burst). open/aead-quic below, and bench/tls_bench.cc's aead-tls
// rows, show what such a pool's placement costs the kernel itself: 1-3 ns.
#include <cstring>
#include <memory>
#include <vector>

#include "bench/support/bench_util.h"
#include "core/aead.h"
#include "core/quic.h"

namespace rl::bench {
namespace {

using quic::Level;
using quic::Packet;
using quic::PacketProtection;

constexpr size_t kSizes[] = {64, 1200, 1350, 1452};
constexpr size_t kBursts[] = {1, 16, 32, 64};  // issue 4 names 1/16/64, issue 9 names 32
constexpr size_t kHeadroom = 32, kTailroom = 32;
constexpr size_t kAad = 13;  // short header: 1 + 8 + 4

Limits no_limits() { return Limits{}; }  // the benchmark seals more than 2^23 packets

struct Conn {
  std::unique_ptr<PacketProtection> tx, rx;
  explicit Conn(Suite s) : tx(new PacketProtection), rx(new PacketProtection) {
    const auto secret = pattern(hash_len(suite_info(s).hash), 5);
    const Limits l = no_limits();
    tx->install(Level::one_rtt, Direction::seal, s, secret, &l);
    rx->install(Level::one_rtt, Direction::open, s, secret, &l);
    const auto dcid = pattern(8, 7);
    tx->set_dcid(dcid);
    rx->set_short_dcid_length(8);
  }
};

struct Slots {
  size_t bytes;
  std::vector<std::vector<uint8_t>> mem;
  std::vector<Packet> pk;
  Slots(size_t n, size_t bytes_) : bytes(bytes_), mem(n), pk(n) {
    for (size_t i = 0; i < n; ++i) {
      mem[i] = pattern(kHeadroom + bytes + kTailroom, static_cast<uint8_t>(i));
      reset(i);
    }
  }
  void reset(size_t i) {
    Packet& p = pk[i];
    p.view = PacketView{mem[i].data(), static_cast<uint32_t>(mem[i].size()),
                        static_cast<uint32_t>(kHeadroom), static_cast<uint32_t>(bytes)};
    p.level = Level::one_rtt;
    p.min_pn_length = 4;
  }
};

void bm_quic_seal(benchmark::State& st, Suite s, size_t bytes, size_t burst) {
  Conn c(s);
  Slots sl(burst, bytes);
  for (auto _ : st) {
    for (size_t i = 0; i < burst; ++i) sl.reset(i);
    if (c.tx->seal(sl.pk) != burst) st.SkipWithError("seal failed");
    benchmark::DoNotOptimize(sl.mem[0][kHeadroom]);
  }
  set_counters(st, bytes, burst);
}

// Pool of sealed bursts; open one burst per iteration.
void bm_quic_open(benchmark::State& st, Suite s, size_t bytes, size_t burst) {
  Conn c(s);
  constexpr size_t kPool = 640 * 1024;  // in this core's 1 MiB L2, like packets just received
  const size_t pool_bursts = std::max<size_t>(1, kPool / ((bytes + 64) * burst));
  Slots sl(pool_bursts * burst, bytes);
  auto reseal = [&] {
    for (size_t i = 0; i < sl.pk.size(); ++i) sl.reset(i);
    c.tx->seal(sl.pk);  // views now cover whole protected packets
  };
  reseal();
  std::vector<PacketView> sealed_views(sl.pk.size());
  for (size_t i = 0; i < sl.pk.size(); ++i) sealed_views[i] = sl.pk[i].view;
  size_t next = 0;
  OpenClock clock(st);
  for (auto _ : st) {
    if (next == pool_bursts) {
      clock.untimed([&] {
        reseal();
        for (size_t i = 0; i < sl.pk.size(); ++i) sealed_views[i] = sl.pk[i].view;
      });
      next = 0;
    }
    std::span<Packet> b{sl.pk.data() + next * burst, burst};
    for (size_t i = 0; i < burst; ++i) b[i].view = sealed_views[next * burst + i];
    if (c.rx->open(b) != burst) st.SkipWithError("open failed");
    benchmark::DoNotOptimize(sl.mem[next * burst][kHeadroom]);
    ++next;
  }
  set_counters(st, bytes, burst);
}

// The raw AEAD over the open/quic rows' own buffer layout: the same pool of
// per-packet allocations (same size, same count), the 13-byte header before
// the payload as the AAD, the tag after it, one burst per iteration in pool
// order. It differs from open/quic only by what QUIC adds (header protection,
// parsing, packet numbers, replay window, key phase, commit), so the two
// rows separate framing cost from where the packets sit (open/aead reuses one
// burst). Like bm_aead_pool in bench/tls_bench.cc, every iteration flips a
// burst between plaintext (its tag in the packet) and ciphertext (its tag
// aside), so every open succeeds and no pause is needed.
void bm_aead_quic_open(benchmark::State& st, Suite s, size_t bytes, size_t burst) {
  auto key = std::make_unique<AeadKey>();
  key->init(s, pattern(suite_info(s).key_len, 9));
  constexpr size_t kPool = 640 * 1024;  // as bm_quic_open
  const size_t pool_bursts = std::max<size_t>(1, kPool / ((bytes + 64) * burst));
  Slots sl(pool_bursts * burst, bytes);
  const size_t n = sl.pk.size();
  std::vector<uint8_t> side(n * 16);
  std::vector<AeadJob> jobs(n);
  for (size_t i = 0; i < n; ++i) {
    uint8_t* data = sl.mem[i].data() + kHeadroom;
    AeadJob& j = jobs[i];
    j.key = key.get();
    for (size_t b = 0; b < kNonceLen; ++b) j.nonce[b] = static_cast<uint8_t>(i * 7 + b);
    j.aad = {data - kAad, kAad};
    j.data = {data, bytes};
    j.tag = side.data() + i * 16;
  }
  seal(jobs);  // data = C, side = tag(C)
  for (size_t i = 0; i < n; ++i) jobs[i].tag = sl.mem[i].data() + kHeadroom + bytes;
  seal(jobs);  // data = P, the packet's tag = tag(P)
  std::vector<uint8_t> on_plain(pool_bursts, 1);
  size_t r = 0;
  for (auto _ : st) {
    std::span<AeadJob> b{jobs.data() + r * burst, burst};
    for (size_t i = 0; i < burst; ++i) {
      const size_t k = r * burst + i;
      b[i].tag = on_plain[r] ? sl.mem[k].data() + kHeadroom + bytes : side.data() + k * 16;
    }
    open(b);
    bool ok = true;
    for (const AeadJob& j : b) ok &= j.status == Status::ok;
    if (!ok) st.SkipWithError("open failed");
    on_plain[r] ^= 1;
    r = r + 1 == pool_bursts ? 0 : r + 1;
  }
  set_counters(st, bytes, burst);
}

// Header protection alone: the mask burst and applying it to each header.
void bm_quic_hp(benchmark::State& st, Suite s, size_t bytes, size_t burst) {
  Conn c(s);
  Slots sl(burst, bytes);
  c.tx->seal(sl.pk);
  quic::PacketKeys k;
  quic::derive_packet_keys(quic::Version::v1, s, pattern(hash_len(suite_info(s).hash), 5), k);
  MaskKey hp;
  hp.init(s, {k.hp, k.hp_len});
  std::vector<MaskJob> jobs(burst);
  for (auto _ : st) {
    for (size_t i = 0; i < burst; ++i) {
      jobs[i].key = &hp;
      jobs[i].sample = sl.pk[i].view.data() + 9 + 4;  // pn_offset (1 + 8) + 4
    }
    mask(jobs);
    for (size_t i = 0; i < burst; ++i) {  // as core/quic.cc's xor_pn: one 4-byte XOR for the 4-byte number
      uint8_t* h = sl.pk[i].view.data();
      uint32_t pn, m;
      std::memcpy(&pn, h + 9, 4);
      std::memcpy(&m, jobs[i].mask + 1, 4);
      pn ^= m;
      h[0] ^= jobs[i].mask[0] & 0x1f;
      std::memcpy(h + 9, &pn, 4);
    }
    benchmark::DoNotOptimize(sl.mem[0][kHeadroom]);
  }
  set_counters(st, bytes, burst);
}

// Raw job layer with a 13-byte AAD (the header), in place.
void bm_aead(benchmark::State& st, Suite s, bool do_open, size_t bytes, size_t burst) {
  auto key = std::make_unique<AeadKey>();
  key->init(s, pattern(suite_info(s).key_len, 9));
  std::vector<std::vector<uint8_t>> data, tag_p, tag_c;
  const auto aad = pattern(kAad, 3);
  std::vector<AeadJob> jobs(burst);
  for (size_t i = 0; i < burst; ++i) {
    data.push_back(pattern(bytes, static_cast<uint8_t>(i)));
    tag_p.emplace_back(16);
    tag_c.emplace_back(16);
    for (size_t b = 0; b < kNonceLen; ++b) jobs[i].nonce[b] = static_cast<uint8_t>(i + b);
    jobs[i].key = key.get();
    jobs[i].aad = aad;
    jobs[i].data = data[i];
    jobs[i].tag = tag_p[i].data();
  }
  if (do_open) {
    // As in aead_bench: sealing P gives C and tag(C), sealing C gives P back
    // and tag(P), so every timed open succeeds and flips the buffer.
    for (size_t i = 0; i < burst; ++i) jobs[i].tag = tag_c[i].data();
    seal(jobs);
    for (size_t i = 0; i < burst; ++i) jobs[i].tag = tag_p[i].data();
    seal(jobs);
    bool on_plain = true;
    for (auto _ : st) {
      for (size_t i = 0; i < burst; ++i) jobs[i].tag = on_plain ? tag_p[i].data() : tag_c[i].data();
      open(jobs);
      if (jobs[0].status != Status::ok) st.SkipWithError("open failed");
      on_plain = !on_plain;
    }
  } else {
    for (auto _ : st) {
      seal(jobs);
      benchmark::DoNotOptimize(tag_p[0][0]);
    }
  }
  set_counters(st, bytes, burst);
}

// What bench/aead_bench.cc already registers (its sizes x bursts 1 and 32):
// those rows are not registered twice (a duplicate name would make two rows
// the report cannot tell apart).
bool aead_bench_has(size_t bytes, size_t burst) {
  bool size = false;
  for (size_t b : common::kAeadSizes) size |= b == bytes;
  return size && (burst == 1 || burst == 32);
}

int register_all() {
  for (Suite s : kAllSuites) {
    const char* sn = suite_info(s).name;
    for (size_t bytes : kSizes)
      for (size_t burst : kBursts) {
        benchmark::RegisterBenchmark(name("seal", "quic", sn, bytes, burst).c_str(), bm_quic_seal,
                                     s, bytes, burst);
        benchmark::RegisterBenchmark(name("open", "quic", sn, bytes, burst).c_str(), bm_quic_open,
                                     s, bytes, burst)
            ->UseManualTime();  // OpenClock
        benchmark::RegisterBenchmark(name("seal", "quic-hp", sn, bytes, burst).c_str(), bm_quic_hp,
                                     s, bytes, burst);
        benchmark::RegisterBenchmark(name("open", "aead-quic", sn, bytes, burst).c_str(),
                                     bm_aead_quic_open, s, bytes, burst);
        if (!aead_bench_has(bytes, burst))
          for (bool o : {false, true})
            benchmark::RegisterBenchmark(name(o ? "open" : "seal", "aead", sn, bytes, burst).c_str(),
                                         bm_aead, s, o, bytes, burst);
      }
  }
  return 0;
}
const int registered = register_all();

}  // namespace
}  // namespace rl::bench
