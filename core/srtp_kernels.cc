// Portable (BoringSSL) AES-CM keystream and precomputed HMAC-SHA1. See
// srtp_kernels.h for why these two sit behind their own interface.
#include "core/srtp_kernels.h"

#include <cstring>

#include <openssl/mem.h>

#include "simd/avx2/srtp_avx2.h"
#include "simd/avx512/srtp_avx512.h"
#include "simd/backend.h"
#include "simd/srtp_jobs.h"
#include "simd/tiers.h"

namespace rl::srtp::detail {

// A tier's SRTP kernels (simd/srtp_jobs.h jobs, the same for every tier).
struct SimdKernels {
  Backend tier;
  void (*ctr)(const srtp_simd::CtrJob*, size_t);
  void (*hmac)(const srtp_simd::HmacJob*, size_t);
  void (*seal1)(const srtp_simd::CmHmacJob&);
  void (*open1)(const srtp_simd::CmHmacJob&, uint8_t*);
  void (*xor_into)(uint8_t*, const uint8_t*, size_t);
};

namespace {

#if defined(__x86_64__)
constexpr SimdKernels kAvx512{Backend::avx512,       avx512::aes_ctr_xor,   avx512::hmac_sha1,
                              avx512::cm_hmac_seal1, avx512::cm_hmac_open1, avx512::xor_into};
constexpr SimdKernels kAvx2{Backend::avx2,           avx2::srtp_ctr_xor,       avx2::srtp_hmac_sha1,
                            avx2::srtp_cm_hmac_seal1, avx2::srtp_cm_hmac_open1, avx2::srtp_xor_into};
#endif

// The kernels of the active backend when it has them and this CPU runs them
// (VAES + SHA-NI besides the tier itself), else nullptr: BoringSSL. One
// table per process, indexed by the active backend.
const SimdKernels* simd_kernels() {
#if defined(__x86_64__)
  static const SimdKernels* const by_backend[] = {
      nullptr,
      avx2::srtp_kernels_supported() && backend_supported(Backend::avx2) ? &kAvx2 : nullptr,
      avx512::srtp_kernels_supported() && backend_supported(Backend::avx512) ? &kAvx512 : nullptr,
  };
  static_assert(static_cast<int>(Backend::portable) == 0 && static_cast<int>(Backend::avx2) == 1 &&
                static_cast<int>(Backend::avx512) == 2);
  return by_backend[static_cast<int>(active_backend())];
#else
  return nullptr;
#endif
}

}  // namespace

bool simd_kernels_active() { return simd_kernels() != nullptr; }

Backend simd_kernels_tier() {
  const SimdKernels* s = simd_kernels();
  return s != nullptr ? s->tier : Backend::portable;
}

bool cm_init(CmKey& k, std::span<const uint8_t> key) {
  cm_wipe(k);
  if (key.size() != 16 && key.size() != 24 && key.size() != 32) return false;
  if (AES_set_encrypt_key(key.data(), static_cast<unsigned>(key.size() * 8), &k.aes) != 0) {
    return false;
  }
  k.bits = static_cast<uint16_t>(key.size() * 8);
  // Round keys for the SIMD tier when this CPU can run it (0 otherwise, and
  // for 192-bit keys, which then always take the portable path).
  k.rounds = static_cast<uint8_t>(tier_prepare_aes_key(key.data(), key.size(), k.rk));
  return true;
}

void cm_wipe(CmKey& k) {
  OPENSSL_cleanse(&k.aes, sizeof k.aes);
  OPENSSL_cleanse(k.rk, sizeof k.rk);
  k.rounds = 0;
  k.bits = 0;
}

// Adds `blocks` to the 128-bit big-endian counter (RFC 3711 §4.1.1: IV + i mod 2^128).
static void ctr_add(uint8_t ctr[16], uint64_t blocks) {
  for (int i = 15; i >= 0 && blocks != 0; --i) {
    const uint64_t sum = uint64_t{ctr[i]} + (blocks & 0xff);
    ctr[i] = static_cast<uint8_t>(sum);
    blocks = (blocks >> 8) + (sum >> 8);
  }
}

static void cm_portable(const CmKey& k, const uint8_t iv[16], uint8_t* data, size_t len,
                        uint64_t offset) {
  if (len == 0) return;
  alignas(16) uint8_t ctr[16];
  alignas(16) uint8_t ecount[16];
  std::memcpy(ctr, iv, 16);
  ctr_add(ctr, offset / 16);
  unsigned num = 0;
  if (offset % 16 != 0) {
    // Start inside a block: produce that block's keystream, use its tail.
    AES_encrypt(ctr, ecount, &k.aes);
    ctr_add(ctr, 1);
    num = static_cast<unsigned>(offset % 16);
  }
  // AES_ctr128_encrypt continues from `num` bytes into `ecount` and runs the
  // hardware AES-CTR path for whole blocks.
  AES_ctr128_encrypt(data, data, len, &k.aes, ctr, ecount, &num);
  OPENSSL_cleanse(ecount, sizeof ecount);
}

void cm_keystream_xor(const CmKey& k, const uint8_t iv[16], uint8_t* data, size_t len,
                      uint64_t offset) {
  if (len == 0) return;
  const SimdKernels* s = k.rounds != 0 ? simd_kernels() : nullptr;
  if (s != nullptr) {
    srtp_simd::CtrJob j{k.rk, k.rounds, {}, data, len, offset};
    std::memcpy(j.iv, iv, 16);
    s->ctr(&j, 1);
    return;
  }
  cm_portable(k, iv, data, len, offset);
}

void cm_keystream_xor_burst(std::span<const CmJob> jobs) {
  const SimdKernels* s = simd_kernels();
  if (s == nullptr) {
    for (const CmJob& j : jobs) cm_portable(*j.key, j.iv, j.data, j.len, j.offset);
    return;
  }
  constexpr size_t kChunk = 32;
  srtp_simd::CtrJob cj[kChunk];
  size_t k = 0;
  for (const CmJob& j : jobs) {
    if (j.key->rounds == 0) {
      cm_portable(*j.key, j.iv, j.data, j.len, j.offset);
      continue;
    }
    srtp_simd::CtrJob& c = cj[k++];
    c.rk = j.key->rk;
    c.rounds = j.key->rounds;
    std::memcpy(c.iv, j.iv, 16);
    c.data = j.data;
    c.len = j.len;
    c.offset = j.offset;
    if (k == kChunk) {
      s->ctr(cj, k);
      k = 0;
    }
  }
  if (k != 0) s->ctr(cj, k);
}

void hmac_sha1_init(HmacSha1Key& k, std::span<const uint8_t> key) {
  uint8_t block[SHA_CBLOCK];
  std::memset(block, 0, sizeof block);
  if (key.size() > SHA_CBLOCK) {
    SHA1(key.data(), key.size(), block);
  } else if (!key.empty()) {
    std::memcpy(block, key.data(), key.size());  // (an empty span's data() may be null)
  }
  uint8_t pad[SHA_CBLOCK];
  for (size_t i = 0; i < SHA_CBLOCK; ++i) pad[i] = block[i] ^ 0x36;
  SHA1_Init(&k.inner);
  SHA1_Update(&k.inner, pad, sizeof pad);
  for (size_t i = 0; i < SHA_CBLOCK; ++i) pad[i] = block[i] ^ 0x5c;
  SHA1_Init(&k.outer);
  SHA1_Update(&k.outer, pad, sizeof pad);
  OPENSSL_cleanse(block, sizeof block);
  OPENSSL_cleanse(pad, sizeof pad);
  k.valid = true;
}

void hmac_sha1_wipe(HmacSha1Key& k) {
  OPENSSL_cleanse(&k.inner, sizeof k.inner);
  OPENSSL_cleanse(&k.outer, sizeof k.outer);
  k.valid = false;
}

static void tag_portable(const HmacSha1Key& k, std::span<const uint8_t> a,
                         std::span<const uint8_t> b, uint8_t out[20]) {
  SHA_CTX c = k.inner;
  SHA1_Update(&c, a.data(), a.size());
  if (!b.empty()) SHA1_Update(&c, b.data(), b.size());
  // The outer hash is always one block: inner digest ‖ 0x80 ‖ zeros ‖ the
  // bit length of (64-byte key block + 20-byte digest) = 672. Build it and
  // run one compression on a copy of the outer state.
  alignas(16) uint8_t blk[SHA_CBLOCK] = {};
  SHA1_Final(blk, &c);
  blk[SHA_DIGEST_LENGTH] = 0x80;
  blk[62] = 0x02;  // 672 = 0x02A0 bits
  blk[63] = 0xA0;
  std::memcpy(c.h, k.outer.h, sizeof c.h);
  SHA1_Transform(&c, blk);
  for (size_t i = 0; i < 5; ++i) {
    out[4 * i] = static_cast<uint8_t>(c.h[i] >> 24);
    out[4 * i + 1] = static_cast<uint8_t>(c.h[i] >> 16);
    out[4 * i + 2] = static_cast<uint8_t>(c.h[i] >> 8);
    out[4 * i + 3] = static_cast<uint8_t>(c.h[i]);
  }
  OPENSSL_cleanse(&c, sizeof c);
  OPENSSL_cleanse(blk, sizeof blk);
}

void hmac_sha1_tag(const HmacSha1Key& k, std::span<const uint8_t> a, std::span<const uint8_t> b,
                   uint8_t out[20]) {
  const SimdKernels* s = b.size() <= srtp_simd::kHmacMaxB ? simd_kernels() : nullptr;
  if (s != nullptr) {
    const srtp_simd::HmacJob j{k.inner.h, k.outer.h, a.data(), a.size(), b.data(), b.size(), out};
    s->hmac(&j, 1);
    return;
  }
  tag_portable(k, a, b, out);
}

void hmac_sha1_tags(std::span<const TagJob> jobs) {
  const SimdKernels* s = simd_kernels();
  if (s == nullptr) {
    for (const TagJob& j : jobs) tag_portable(*j.key, {j.a, j.alen}, {j.b, j.blen}, j.out);
    return;
  }
  constexpr size_t kChunk = 32;
  srtp_simd::HmacJob hj[kChunk];
  size_t k = 0;
  for (const TagJob& j : jobs) {
    if (j.blen > srtp_simd::kHmacMaxB) {
      tag_portable(*j.key, {j.a, j.alen}, {j.b, j.blen}, j.out);
      continue;
    }
    hj[k++] = srtp_simd::HmacJob{j.key->inner.h, j.key->outer.h, j.a, j.alen, j.b, j.blen, j.out};
    if (k == kChunk) {
      s->hmac(hj, k);
      k = 0;
    }
  }
  if (k != 0) s->hmac(hj, k);
}

const SimdKernels* cm_hmac_one_kernels(const CmKey& k) {
  return k.rounds != 0 ? simd_kernels() : nullptr;
}

void cm_seal_one(const SimdKernels& s, const CmKey& k, const uint8_t iv[16], const HmacSha1Key& mac,
                 uint8_t* msg, size_t mlen, size_t hdr, const uint8_t roc[4], uint8_t out[20]) {
  srtp_simd::CmHmacJob j{k.rk, k.rounds, {}, msg, mlen, hdr, roc, 4, mac.inner.h, mac.outer.h, out};
  std::memcpy(j.iv, iv, 16);
  s.seal1(j);
}

void cm_open_one(const SimdKernels& s, const CmKey& k, const uint8_t iv[16], const HmacSha1Key& mac,
                 const uint8_t* msg, size_t mlen, size_t hdr, const uint8_t roc[4], uint8_t out[20],
                 uint8_t* ks) {
  // The open kernel only reads msg.
  srtp_simd::CmHmacJob j{k.rk,          k.rounds, {}, const_cast<uint8_t*>(msg), mlen, hdr, roc, 4,
                         mac.inner.h, mac.outer.h, out};
  std::memcpy(j.iv, iv, 16);
  s.open1(j, ks);
}

void xor_into(const SimdKernels& s, uint8_t* data, const uint8_t* ks, size_t len) {
  s.xor_into(data, ks, len);
}

}  // namespace rl::srtp::detail
