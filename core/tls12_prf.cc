#include "core/tls12_prf.h"

#include <algorithm>
#include <cstring>

#include <openssl/digest.h>
#include <openssl/hmac.h>
#include <openssl/mem.h>

namespace rl::tls {

KeyBlock::~KeyBlock() { OPENSSL_cleanse(this, sizeof *this); }

// RFC 5246 §5:
//   P_hash(secret, seed) = HMAC_hash(secret, A(1) + seed) ‖ HMAC_hash(secret, A(2) + seed) ‖ ...
//   A(0) = seed, A(i) = HMAC_hash(secret, A(i-1)),  with seed = label ‖ seed here.
Status tls12_prf(Hash h, std::span<const uint8_t> secret, std::string_view label,
                 std::span<const uint8_t> seed, std::span<uint8_t> out) {
  const EVP_MD* md = h == Hash::sha256 ? EVP_sha256() : EVP_sha384();
  const size_t hl = hash_len(h);
  bssl::ScopedHMAC_CTX ctx;
  uint8_t a[EVP_MAX_MD_SIZE], block[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  bool good = HMAC_Init_ex(ctx.get(), secret.data(), secret.size(), md, nullptr) &&
              HMAC_Update(ctx.get(), reinterpret_cast<const uint8_t*>(label.data()), label.size()) &&
              HMAC_Update(ctx.get(), seed.data(), seed.size()) &&
              HMAC_Final(ctx.get(), a, &len);  // A(1)
  size_t done = 0;
  while (good && done < out.size()) {
    good = HMAC_Init_ex(ctx.get(), nullptr, 0, nullptr, nullptr) &&
           HMAC_Update(ctx.get(), a, hl) &&
           HMAC_Update(ctx.get(), reinterpret_cast<const uint8_t*>(label.data()), label.size()) &&
           HMAC_Update(ctx.get(), seed.data(), seed.size()) && HMAC_Final(ctx.get(), block, &len);
    if (!good) break;
    const size_t take = std::min(out.size() - done, hl);
    std::memcpy(out.data() + done, block, take);
    done += take;
    good = HMAC_Init_ex(ctx.get(), nullptr, 0, nullptr, nullptr) && HMAC_Update(ctx.get(), a, hl) &&
           HMAC_Final(ctx.get(), a, &len);  // A(i+1)
  }
  OPENSSL_cleanse(a, sizeof a);
  OPENSSL_cleanse(block, sizeof block);
  if (!good) {
    OPENSSL_cleanse(out.data(), out.size());
    return Status::invalid_argument;
  }
  return Status::ok;
}

Status tls12_key_block(Suite suite, Hash prf_hash, std::span<const uint8_t> master_secret,
                       std::span<const uint8_t> client_random,
                       std::span<const uint8_t> server_random, KeyBlock& out) {
  if (master_secret.size() != 48 || client_random.size() != 32 || server_random.size() != 32)
    return Status::invalid_argument;
  const size_t key_len = suite_info(suite).key_len;
  const size_t iv_len = suite == Suite::chacha20_poly1305 ? kNonceLen : 4;
  if (key_len == 0) return Status::invalid_argument;
  uint8_t seed[64];
  std::memcpy(seed, server_random.data(), 32);
  std::memcpy(seed + 32, client_random.data(), 32);
  uint8_t block[2 * kMaxKeyLen + 2 * kNonceLen];
  const size_t total = 2 * key_len + 2 * iv_len;
  const Status st = tls12_prf(prf_hash, master_secret, "key expansion", seed, {block, total});
  if (st != Status::ok) return st;
  size_t o = 0;
  std::memcpy(out.client_write_key, block + o, key_len), o += key_len;
  std::memcpy(out.server_write_key, block + o, key_len), o += key_len;
  std::memcpy(out.client_write_iv, block + o, iv_len), o += iv_len;
  std::memcpy(out.server_write_iv, block + o, iv_len);
  out.key_len = static_cast<uint8_t>(key_len);
  out.iv_len = static_cast<uint8_t>(iv_len);
  OPENSSL_cleanse(block, sizeof block);
  return Status::ok;
}

}  // namespace rl::tls
