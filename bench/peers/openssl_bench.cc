// Peer: OpenSSL 3 EVP AEAD, one packet per call, with a reused EVP_CIPHER_CTX.
//   seal|open/openssl/<suite>/<bytes>/1
// The context is created and keyed (key schedule, GHASH table) outside the
// timed loop; each packet sets only its nonce, as a TLS stack does. AAD 13
// bytes, 16-byte tag, verified by EVP_DecryptFinal_ex on open. Same sizes as
// bench/aead_bench.cc. Its own executable: OpenSSL and BoringSSL export the
// same symbols and never share a process.
#include <openssl/evp.h>
#include <openssl/opensslv.h>

#include <string>

#include "bench/support/bench_util.h"

namespace rl::bench {
namespace {

struct SuiteDef {
  const char* name;
  const EVP_CIPHER* (*cipher)();
  size_t key_len;
};
const SuiteDef kSuites[] = {{"aes128gcm", EVP_aes_128_gcm, 16},
                            {"aes256gcm", EVP_aes_256_gcm, 32},
                            {"chacha20poly1305", EVP_chacha20_poly1305, 32}};

struct Ctx {
  EVP_CIPHER_CTX* c = EVP_CIPHER_CTX_new();
  ~Ctx() { EVP_CIPHER_CTX_free(c); }
};

bool seal_one(EVP_CIPHER_CTX* c, const uint8_t* nonce, const std::vector<uint8_t>& aad,
              const uint8_t* in, size_t n, uint8_t* out, uint8_t* tag) {
  int len = 0, fin = 0;
  return EVP_EncryptInit_ex(c, nullptr, nullptr, nullptr, nonce) == 1 &&
         EVP_EncryptUpdate(c, nullptr, &len, aad.data(), static_cast<int>(aad.size())) == 1 &&
         EVP_EncryptUpdate(c, out, &len, in, static_cast<int>(n)) == 1 &&
         EVP_EncryptFinal_ex(c, out + len, &fin) == 1 &&
         EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, 16, tag) == 1;
}

bool open_one(EVP_CIPHER_CTX* c, const uint8_t* nonce, const std::vector<uint8_t>& aad,
              const uint8_t* in, size_t n, uint8_t* out, uint8_t* tag) {
  int len = 0, fin = 0;
  return EVP_DecryptInit_ex(c, nullptr, nullptr, nullptr, nonce) == 1 &&
         EVP_DecryptUpdate(c, nullptr, &len, aad.data(), static_cast<int>(aad.size())) == 1 &&
         EVP_DecryptUpdate(c, out, &len, in, static_cast<int>(n)) == 1 &&
         EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, 16, tag) == 1 &&
         EVP_DecryptFinal_ex(c, out + len, &fin) == 1;  // 0 = tag mismatch
}

void bm_openssl(benchmark::State& st, const SuiteDef* s, bool do_open, size_t bytes) {
  const auto key = pattern(s->key_len, 9);
  const auto aad = pattern(common::kAeadAadLen, 3);
  const auto in = pattern(bytes, 1);
  std::vector<uint8_t> ct(bytes), back(bytes), tag(16);
  uint8_t nonce[12] = {};
  Ctx enc, dec;
  if (EVP_EncryptInit_ex(enc.c, s->cipher(), nullptr, key.data(), nullptr) != 1 ||
      EVP_DecryptInit_ex(dec.c, s->cipher(), nullptr, key.data(), nullptr) != 1 ||
      !seal_one(enc.c, nonce, aad, in.data(), bytes, ct.data(), tag.data())) {
    st.SkipWithError("OpenSSL setup failed");
    return;
  }
  // The open path must refuse a wrong tag, or the comparison is void.
  tag[0] ^= 1;
  if (open_one(dec.c, nonce, aad, ct.data(), bytes, back.data(), tag.data())) {
    st.SkipWithError("OpenSSL accepted a forged tag");
    return;
  }
  tag[0] ^= 1;
  for (auto _ : st) {
    if (do_open) {
      if (!open_one(dec.c, nonce, aad, ct.data(), bytes, back.data(), tag.data()))
        st.SkipWithError("open failed");
      benchmark::DoNotOptimize(back[0]);
    } else {
      seal_one(enc.c, nonce, aad, in.data(), bytes, ct.data(), tag.data());
      benchmark::DoNotOptimize(tag[0]);
    }
  }
  set_counters(st, bytes, 1);
}

void reference_tags() {
  constexpr size_t n = common::kReferenceBytes;
  for (const auto& s : kSuites) {
    const auto key = pattern(s.key_len, 9), aad = pattern(common::kAeadAadLen, 3),
               in = pattern(n, 1);
    std::vector<uint8_t> ct(n), tag(16);
    uint8_t nonce[12] = {};
    Ctx enc;
    if (EVP_EncryptInit_ex(enc.c, s.cipher(), nullptr, key.data(), nullptr) == 1 &&
        seal_one(enc.c, nonce, aad, in.data(), n, ct.data(), tag.data()))
      common::record_reference_tag("openssl", s.name, tag.data());
  }
}

int register_all() {
  common::at_start(reference_tags);
  benchmark::AddCustomContext("rl_openssl_version", OPENSSL_VERSION_TEXT);
  for (const auto& s : kSuites)
    for (bool o : {false, true})
      for (size_t bytes : common::kAeadSizes)
        benchmark::RegisterBenchmark(name(o ? "open" : "seal", "openssl", s.name, bytes, 1).c_str(),
                                     bm_openssl, &s, o, bytes);
  return 0;
}
const int registered = register_all();

}  // namespace
}  // namespace rl::bench
