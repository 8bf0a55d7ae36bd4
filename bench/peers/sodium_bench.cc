// Peer: libsodium, one packet per call.
//   seal|open/sodium/chacha20poly1305/<bytes>/1   crypto_aead_chacha20poly1305_ietf_*_detached
//   seal|open/sodium/aes256gcm/<bytes>/1          crypto_aead_aes256gcm_*_detached_afternm
// libsodium has no AES-128-GCM. The AES-GCM key is expanded once with
// beforenm, outside the timed loop (ChaCha20 has no key schedule). AAD 13
// bytes, 16-byte detached tag, verified by decrypt_detached on open.
#include <sodium.h>

#include <cstdio>

#include "bench/support/bench_util.h"

namespace rl::bench {
namespace {

void bm_chacha(benchmark::State& st, bool do_open, size_t bytes) {
  const auto key = pattern(crypto_aead_chacha20poly1305_ietf_KEYBYTES, 9);
  const auto aad = pattern(common::kAeadAadLen, 3);
  const auto in = pattern(bytes, 1);
  std::vector<uint8_t> ct(bytes), back(bytes), tag(16);
  uint8_t nonce[crypto_aead_chacha20poly1305_ietf_NPUBBYTES] = {};
  unsigned long long tlen = 0;
  auto seal = [&] {
    crypto_aead_chacha20poly1305_ietf_encrypt_detached(ct.data(), tag.data(), &tlen, in.data(),
                                                       bytes, aad.data(), aad.size(), nullptr,
                                                       nonce, key.data());
  };
  auto open = [&] {
    return crypto_aead_chacha20poly1305_ietf_decrypt_detached(back.data(), nullptr, ct.data(),
                                                              bytes, tag.data(), aad.data(),
                                                              aad.size(), nonce, key.data()) == 0;
  };
  seal();
  tag[0] ^= 1;
  if (open()) return st.SkipWithError("libsodium accepted a forged tag");
  tag[0] ^= 1;
  for (auto _ : st) {
    if (do_open) {
      if (!open()) st.SkipWithError("open failed");
      benchmark::DoNotOptimize(back[0]);
    } else {
      seal();
      benchmark::DoNotOptimize(tag[0]);
    }
  }
  set_counters(st, bytes, 1);
}

void bm_aes256gcm(benchmark::State& st, bool do_open, size_t bytes) {
  const auto key = pattern(crypto_aead_aes256gcm_KEYBYTES, 9);
  const auto aad = pattern(common::kAeadAadLen, 3);
  const auto in = pattern(bytes, 1);
  std::vector<uint8_t> ct(bytes), back(bytes), tag(16);
  uint8_t nonce[crypto_aead_aes256gcm_NPUBBYTES] = {};
  alignas(16) crypto_aead_aes256gcm_state state;
  crypto_aead_aes256gcm_beforenm(&state, key.data());
  unsigned long long tlen = 0;
  auto seal = [&] {
    crypto_aead_aes256gcm_encrypt_detached_afternm(ct.data(), tag.data(), &tlen, in.data(), bytes,
                                                   aad.data(), aad.size(), nullptr, nonce, &state);
  };
  auto open = [&] {
    return crypto_aead_aes256gcm_decrypt_detached_afternm(back.data(), nullptr, ct.data(), bytes,
                                                          tag.data(), aad.data(), aad.size(),
                                                          nonce, &state) == 0;
  };
  seal();
  tag[0] ^= 1;
  if (open()) return st.SkipWithError("libsodium accepted a forged tag");
  tag[0] ^= 1;
  for (auto _ : st) {
    if (do_open) {
      if (!open()) st.SkipWithError("open failed");
      benchmark::DoNotOptimize(back[0]);
    } else {
      seal();
      benchmark::DoNotOptimize(tag[0]);
    }
  }
  sodium_memzero(&state, sizeof state);
  set_counters(st, bytes, 1);
}

void reference_tags() {
  constexpr size_t n = common::kReferenceBytes;
  const auto aad = pattern(common::kAeadAadLen, 3), in = pattern(n, 1);
  std::vector<uint8_t> ct(n), tag(16);
  uint8_t nonce[12] = {};
  unsigned long long tlen = 0;
  const auto k32 = pattern(32, 9);
  crypto_aead_chacha20poly1305_ietf_encrypt_detached(ct.data(), tag.data(), &tlen, in.data(), n,
                                                     aad.data(), aad.size(), nullptr, nonce,
                                                     k32.data());
  common::record_reference_tag("sodium", "chacha20poly1305", tag.data());
  if (crypto_aead_aes256gcm_is_available()) {
    crypto_aead_aes256gcm_encrypt_detached(ct.data(), tag.data(), &tlen, in.data(), n, aad.data(),
                                           aad.size(), nullptr, nonce, k32.data());
    common::record_reference_tag("sodium", "aes256gcm", tag.data());
  }
}

int register_all() {
  if (sodium_init() < 0) {
    fprintf(stderr, "[sodium] sodium_init failed: libsodium rows NOT measured\n");
    benchmark::AddCustomContext("rl_not_measured_sodium", "sodium_init failed");
    return 0;
  }
  benchmark::AddCustomContext("rl_sodium_version", sodium_version_string());
  common::at_start(reference_tags);
  const bool aes = crypto_aead_aes256gcm_is_available() != 0;
  if (!aes) {
    fprintf(stderr, "[sodium] AES-256-GCM needs AES-NI + PCLMUL: sodium/aes256gcm NOT measured\n");
    benchmark::AddCustomContext("rl_not_measured_sodium_aes256gcm",
                                "crypto_aead_aes256gcm_is_available() is 0 on this CPU");
  }
  for (bool o : {false, true})
    for (size_t bytes : common::kAeadSizes) {
      const char* op = o ? "open" : "seal";
      benchmark::RegisterBenchmark(name(op, "sodium", "chacha20poly1305", bytes, 1).c_str(),
                                   bm_chacha, o, bytes);
      if (aes)
        benchmark::RegisterBenchmark(name(op, "sodium", "aes256gcm", bytes, 1).c_str(),
                                     bm_aes256gcm, o, bytes);
    }
  return 0;
}
const int registered = register_all();

}  // namespace
}  // namespace rl::bench
