// Header-protection / record-number masks (MaskJob) through the job layer vs
// BoringSSL one mask at a time, in the same run:
//   seal/mask/<suite>/16/<burst>            rl::mask on the active backend
//   seal/boringssl-mask/<suite>/16/1        AES_encrypt / CRYPTO_chacha_20 per sample
// items_per_second is masks per second; bytes are the 16-byte samples.
#include <openssl/aes.h>
#include <openssl/chacha.h>

#include <memory>

#include "bench/support/bench_util.h"
#include "core/aead.h"

namespace rl::bench {
namespace {

constexpr size_t kBursts[] = {1, 16, 32};

void bm_mask(benchmark::State& st, Suite s, size_t burst) {
  auto key = std::make_unique<MaskKey>();
  key->init(s, pattern(suite_info(s).hp_key_len, 5));
  std::vector<uint8_t> samples = pattern(16 * burst, 7);
  std::vector<MaskJob> jobs(burst);
  for (size_t i = 0; i < burst; ++i) {
    jobs[i].key = key.get();
    jobs[i].sample = samples.data() + 16 * i;
  }
  for (auto _ : st) {
    mask(jobs);
    benchmark::DoNotOptimize(jobs[0].mask[0]);
  }
  set_counters(st, 16, burst);
}

void bm_boringssl_mask(benchmark::State& st, Suite s) {
  const auto key = pattern(suite_info(s).hp_key_len, 5);
  AES_KEY aes;
  if (s != Suite::chacha20_poly1305) AES_set_encrypt_key(key.data(), static_cast<unsigned>(key.size() * 8), &aes);
  const auto sample = pattern(16, 7);
  static const uint8_t zeros[16] = {};
  uint8_t out[16];
  for (auto _ : st) {
    if (s == Suite::chacha20_poly1305) {
      const uint32_t ctr = uint32_t{sample[0]} | uint32_t{sample[1]} << 8 | uint32_t{sample[2]} << 16 |
                           uint32_t{sample[3]} << 24;
      CRYPTO_chacha_20(out, zeros, sizeof zeros, key.data(), sample.data() + 4, ctr);
    } else {
      AES_encrypt(sample.data(), out, &aes);
    }
    benchmark::DoNotOptimize(out[0]);
  }
  set_counters(st, 16, 1);
}

int register_all() {
  for (Suite s : kAllSuites) {
    benchmark::RegisterBenchmark(name("seal", "boringssl-mask", suite_info(s).name, 16, 1).c_str(),
                                 bm_boringssl_mask, s);
    for (size_t burst : kBursts)
      benchmark::RegisterBenchmark(name("seal", "mask", suite_info(s).name, 16, burst).c_str(),
                                   bm_mask, s, burst);
  }
  return 0;
}
const int registered = register_all();

}  // namespace
}  // namespace rl::bench
