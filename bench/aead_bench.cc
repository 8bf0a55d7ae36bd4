// AEAD job layer vs BoringSSL EVP_AEAD, per packet, in the same run.
//   seal|open/aead/<suite>/<bytes>/<burst>       our job layer, active backend
//   seal|open/boringssl/<suite>/<bytes>/1        EVP_AEAD_CTX_seal/open per packet
// Keys are set up outside the timed loop for everyone; AAD is 13 bytes (a TLS
// 1.2 / DTLS header) for everyone; open verifies the tag for everyone.
#include <openssl/aead.h>

#include <cstring>
#include <memory>

#include "bench/support/bench_util.h"
#include "core/aead.h"

namespace rl::bench {
namespace {

constexpr size_t kAad = 13;
constexpr size_t kSizes[] = {64, 576, 1350, 9000, 16384};
constexpr size_t kBursts[] = {1, 32};

struct Burst {
  std::vector<std::vector<uint8_t>> data, tags;
  std::vector<uint8_t> aad;
  std::vector<AeadJob> jobs;
  Burst(const AeadKey& key, size_t bytes, size_t burst) : aad(pattern(kAad, 3)) {
    for (size_t i = 0; i < burst; ++i) {
      data.push_back(pattern(bytes, static_cast<uint8_t>(i)));
      tags.emplace_back(16);
      AeadJob j;
      j.key = &key;
      for (size_t b = 0; b < kNonceLen; ++b) j.nonce[b] = static_cast<uint8_t>(i + b);
      j.aad = aad;
      j.data = data.back();
      j.tag = tags.back().data();
      jobs.push_back(j);
    }
  }
};

void bm_aead(benchmark::State& st, Suite s, bool do_open, size_t bytes, size_t burst) {
  auto key = std::make_unique<AeadKey>();
  key->init(s, pattern(suite_info(s).key_len, 9));
  Burst b(*key, bytes, burst);
  if (do_open) {
    // Counter-mode AEADs open in place to the other side of the keystream, so
    // two tags make every iteration a successful open: sealing P gives C with
    // tag(C); sealing C gives P back with tag(P). Opening P with tag(P) yields
    // C, opening C with tag(C) yields P, and so on, with nothing untimed.
    std::vector<std::vector<uint8_t>> tag_c(burst, std::vector<uint8_t>(16));
    for (size_t i = 0; i < burst; ++i) b.jobs[i].tag = tag_c[i].data();
    seal(b.jobs);  // data = C, tag_c = tag(C)
    for (size_t i = 0; i < burst; ++i) b.jobs[i].tag = b.tags[i].data();
    seal(b.jobs);  // data = P, tags = tag(P)
    bool on_plain = true;
    for (auto _ : st) {
      for (size_t i = 0; i < burst; ++i)
        b.jobs[i].tag = on_plain ? b.tags[i].data() : tag_c[i].data();
      open(b.jobs);
      if (b.jobs[0].status != Status::ok) st.SkipWithError("open failed");
      on_plain = !on_plain;
    }
  } else {
    for (auto _ : st) {
      seal(b.jobs);
      benchmark::DoNotOptimize(b.tags[0][0]);
    }
  }
  set_counters(st, bytes, burst);
}

const EVP_AEAD* evp(Suite s) {
  switch (s) {
    case Suite::aes128_gcm: return EVP_aead_aes_128_gcm();
    case Suite::aes256_gcm: return EVP_aead_aes_256_gcm();
    default: return EVP_aead_chacha20_poly1305();
  }
}

void bm_boringssl(benchmark::State& st, Suite s, bool do_open, size_t bytes) {
  EVP_AEAD_CTX ctx;
  const auto key = pattern(suite_info(s).key_len, 9);
  EVP_AEAD_CTX_init(&ctx, evp(s), key.data(), key.size(), 16, nullptr);
  auto in = pattern(bytes, 1), aad = pattern(kAad, 3);
  std::vector<uint8_t> out(bytes + 16), back(bytes);
  uint8_t nonce[12] = {};
  size_t out_len = 0;
  EVP_AEAD_CTX_seal(&ctx, out.data(), &out_len, out.size(), nonce, 12, in.data(), in.size(),
                    aad.data(), aad.size());
  for (auto _ : st) {
    if (do_open) {
      size_t n = 0;
      if (!EVP_AEAD_CTX_open(&ctx, back.data(), &n, back.size(), nonce, 12, out.data(), out_len,
                             aad.data(), aad.size()))
        st.SkipWithError("open failed");
    } else {
      EVP_AEAD_CTX_seal(&ctx, out.data(), &out_len, out.size(), nonce, 12, in.data(), in.size(),
                        aad.data(), aad.size());
    }
    benchmark::DoNotOptimize(out[0]);
  }
  EVP_AEAD_CTX_cleanup(&ctx);
  set_counters(st, bytes, 1);
}

int register_all() {
  for (Suite s : kAllSuites)
    for (bool o : {false, true})
      for (size_t bytes : kSizes) {
        const char* op = o ? "open" : "seal";
        benchmark::RegisterBenchmark(name(op, "boringssl", suite_info(s).name, bytes, 1).c_str(),
                                     bm_boringssl, s, o, bytes);
        for (size_t burst : kBursts)
          benchmark::RegisterBenchmark(name(op, "aead", suite_info(s).name, bytes, burst).c_str(),
                                       bm_aead, s, o, bytes, burst);
      }
  return 0;
}
const int registered = register_all();

}  // namespace
}  // namespace rl::bench
