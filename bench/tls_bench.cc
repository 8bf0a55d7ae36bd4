// TLS record protection beside the raw AEAD job layer (bench/aead_bench.cc,
// same process, same sizes, 13-byte AAD there):
//   seal|open/tls13|tls12/<suite>/<bytes>/<burst>
// bytes = application data per record. Seal: the record views are reset and
// the burst sealed in place (header, inner type, nonce, AAD, limits, sequence
// all included). Open: a pool of bursts sealed beforehand is opened in order;
// when the pool is used up it is sealed again in place, outside the row's
// time (OpenClock in bench/support/bench_util.h; the sender's and receiver's
// sequences just go on). The pool is ~640 KiB (at least two bursts): it
// stays in this core's 1 MiB L2, like the AEAD rows' burst. (A former
// ~256 KiB pool restored from a pristine copy pushed the pool out of L1/L2.)
// Limits are unlimited so that long runs never hit the RFC 8446 §5.5 cap.
#include <cstring>
#include <memory>
#include <vector>

#include "bench/support/bench_util.h"
#include "bench/support/flip_open.h"
#include "core/aead.h"
#include "core/tls.h"

namespace rl::bench {
namespace {

constexpr size_t kSizes[] = {64, 576, 1350, 16384};
constexpr size_t kBursts[] = {1, 32};
// Where the content starts in each 64-byte-aligned slot: the header goes in
// the bytes before it. 16-byte aligned, like the AEAD rows' buffers (from
// malloc); before, the content sat at slot + header_size(), 5 or 13 bytes off
// alignment, which made every wide load of the kernel straddle cache lines
// and charged that to the record layer.
constexpr size_t kBodyAt = 16;
constexpr size_t kPoolBytes = 640 << 10;  // open: records sealed ahead (see top)

struct Side {
  std::unique_ptr<tls::RecordProtection> rp;
  Status install(bool v13, Suite s, Direction d) {
    tls::Config c;
    c.version = v13 ? tls::Version::tls13 : tls::Version::tls12;
    rp = std::make_unique<tls::RecordProtection>(c);
    return reinstall(v13, s, d);
  }
  Status reinstall(bool v13, Suite s, Direction d) {
    const Limits unlimited{};
    const SuiteInfo si = suite_info(s);
    if (v13) return rp->install(d, s, pattern(hash_len(si.hash), 5), &unlimited);
    return rp->install_tls12(d, s, pattern(si.key_len, 6),
                             pattern(s == Suite::chacha20_poly1305 ? 12 : 4, 7), &unlimited);
  }
};

void bm_seal(benchmark::State& st, bool v13, Suite s, size_t bytes, size_t burst) {
  Side tx;
  if (tx.install(v13, s, Direction::seal) != Status::ok) {
    st.SkipWithError("install failed");
    return;
  }
  const size_t slot = (kBodyAt + bytes + 1 + 16 + 63) / 64 * 64;
  std::vector<uint8_t> mem(slot * burst);
  for (size_t i = 0; i < burst; ++i) {
    const auto p = pattern(bytes, static_cast<uint8_t>(i));
    std::memcpy(mem.data() + i * slot + kBodyAt, p.data(), bytes);
  }
  std::vector<tls::Record> recs(burst);
  for (auto _ : st) {
    for (size_t i = 0; i < burst; ++i) {
      tls::Record& r = recs[i];
      r.buf = mem.data() + i * slot;
      r.capacity = static_cast<uint32_t>(slot);
      r.offset = static_cast<uint32_t>(kBodyAt);
      r.length = static_cast<uint32_t>(bytes);
      r.type = tls::application_data;
    }
    if (tx.rp->seal(recs) != burst) st.SkipWithError("seal failed");
    benchmark::DoNotOptimize(mem[0]);
  }
  set_counters(st, bytes, burst);
}

void bm_open(benchmark::State& st, bool v13, Suite s, size_t bytes, size_t burst) {
  Side tx, rx;
  if (tx.install(v13, s, Direction::seal) != Status::ok ||
      rx.install(v13, s, Direction::open) != Status::ok) {
    st.SkipWithError("install failed");
    return;
  }
  const size_t head = tx.rp->header_size();
  const size_t rec_len = tx.rp->sealed_size(bytes);
  const size_t rec_at = kBodyAt - head;  // the record starts here in its slot
  const size_t slot = (rec_at + rec_len + 63) / 64 * 64;
  const size_t pool = std::max<size_t>(2, kPoolBytes / (slot * burst));
  std::vector<uint8_t> mem(slot * burst * pool);
  std::vector<tls::Record> recs(burst);
  for (size_t b = 0; b < pool; ++b)
    for (size_t i = 0; i < burst; ++i) {
      const auto p = pattern(bytes, static_cast<uint8_t>(i));
      std::memcpy(mem.data() + (b * burst + i) * slot + kBodyAt, p.data(), bytes);
    }
  // Seals the content of every slot in place (it is there again after an
  // open, which decrypts in place), continuing the sender's sequence.
  auto seal_pool = [&] {
    for (size_t b = 0; b < pool; ++b) {
      for (size_t i = 0; i < burst; ++i) {
        recs[i].buf = mem.data() + (b * burst + i) * slot;
        recs[i].capacity = static_cast<uint32_t>(slot);
        recs[i].offset = static_cast<uint32_t>(kBodyAt);
        recs[i].length = static_cast<uint32_t>(bytes);
        recs[i].type = tls::application_data;
      }
      if (tx.rp->seal(recs) != burst) return false;
    }
    return true;
  };
  if (!seal_pool()) {
    st.SkipWithError("seal failed");
    return;
  }
  size_t b = 0;
  OpenClock clock(st);
  for (auto _ : st) {
    if (b == pool) {
      clock.untimed([&] {
        if (!seal_pool()) st.SkipWithError("seal failed");
      });
      b = 0;
    }
    for (size_t i = 0; i < burst; ++i) {
      tls::Record& r = recs[i];
      r.buf = mem.data() + (b * burst + i) * slot + rec_at;
      r.capacity = static_cast<uint32_t>(rec_len);
      r.offset = 0;
      r.length = static_cast<uint32_t>(rec_len);
    }
    if (rx.rp->open(recs) != burst) st.SkipWithError("open failed");
    benchmark::DoNotOptimize(recs[0].buf[recs[0].offset]);
    ++b;
  }
  set_counters(st, bytes, burst);
}

// The raw AEAD over the pool the open rows use, laid out the same: as many
// slots, each with the 5-byte header (the AAD) and `bytes` of data at the
// same offsets and the tag right after the data, one burst per iteration in
// the same order. Opening in place flips each buffer between plaintext and
// ciphertext (FlipOpen: tag(P) sits in the record, tag(C) beside it), so
// nothing is resealed and nothing is paused.
//   open/aead-tls/<suite>/<bytes>/<burst>
// open/tls13 over this row is the record layer's own cost (its reseals are
// not timed: OpenClock). aead/ over this row is what the pool's placement
// costs the kernel (records from L2 instead of one hot burst): measured
// 1-3 ns per record at 1350 B (same run, CPU-time medians).
void bm_aead_pool(benchmark::State& st, Suite s, size_t bytes, size_t burst) {
  auto key = std::make_unique<AeadKey>();
  key->init(s, pattern(suite_info(s).key_len, 9));
  const size_t head = tls::kHeaderLen;
  const size_t rec_len = head + bytes + 1 + 16;  // as a TLS 1.3 record of `bytes`
  const size_t rec_at = kBodyAt - head;
  const size_t slot = (rec_at + rec_len + 63) / 64 * 64;
  const size_t pool = std::max<size_t>(2, kPoolBytes / (slot * burst));
  const size_t n = pool * burst;
  std::vector<uint8_t> mem(slot * n);
  std::vector<AeadJob> jobs(n);
  auto in_rec = [&](size_t i) { return mem.data() + i * slot + rec_at + head + bytes; };
  for (size_t i = 0; i < n; ++i) {
    uint8_t* rec = mem.data() + i * slot + rec_at;
    const auto p = pattern(bytes, static_cast<uint8_t>(i));
    std::memcpy(rec + head, p.data(), bytes);
    const uint8_t h[5] = {tls::application_data, 3, 3, static_cast<uint8_t>((bytes + 17) >> 8),
                          static_cast<uint8_t>(bytes + 17)};
    std::memcpy(rec, h, head);
    AeadJob& j = jobs[i];
    j.key = key.get();
    for (size_t b = 0; b < kNonceLen; ++b) j.nonce[b] = static_cast<uint8_t>(i * 7 + b);
    j.aad = {rec, head};
    j.data = {rec + head, bytes};
    j.tag = in_rec(i);
  }
  FlipOpen flip(jobs, burst);
  size_t r = 0;
  for (auto _ : st) {
    bool ok = true;  // every job checked, as the aead rows do
    for (const AeadJob& j : flip.open(r)) ok &= j.status == Status::ok;
    if (!ok) st.SkipWithError("open failed");
    r = r + 1 == pool ? 0 : r + 1;
  }
  set_counters(st, bytes, burst);
}

int register_all() {
  for (Suite s : kAllSuites)
    for (size_t bytes : kSizes)
      for (size_t burst : kBursts)
        benchmark::RegisterBenchmark(name("open", "aead-tls", suite_info(s).name, bytes, burst).c_str(),
                                     bm_aead_pool, s, bytes, burst);
  for (bool v13 : {true, false})
    for (Suite s : kAllSuites)
      for (bool o : {false, true})
        for (size_t bytes : kSizes)
          for (size_t burst : kBursts)
            if (o)
              benchmark::RegisterBenchmark(
                  name("open", v13 ? "tls13" : "tls12", suite_info(s).name, bytes, burst).c_str(),
                  bm_open, v13, s, bytes, burst)
                  ->UseManualTime();
            else
              benchmark::RegisterBenchmark(
                  name("seal", v13 ? "tls13" : "tls12", suite_info(s).name, bytes, burst).c_str(),
                  bm_seal, v13, s, bytes, burst);
  return 0;
}
const int registered = register_all();

}  // namespace
}  // namespace rl::bench
