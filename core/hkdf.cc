#include "core/hkdf.h"

#include <openssl/digest.h>
#include <openssl/hkdf.h>

namespace rl {
namespace {
const EVP_MD* md_for(Hash h) { return h == Hash::sha256 ? EVP_sha256() : EVP_sha384(); }
}  // namespace

Status hkdf_extract(Hash h, std::span<const uint8_t> salt, std::span<const uint8_t> ikm,
                    std::span<uint8_t> prk) {
  size_t out_len = 0;
  if (prk.size() != hash_len(h)) return Status::invalid_argument;
  if (!HKDF_extract(prk.data(), &out_len, md_for(h), ikm.data(), ikm.size(), salt.data(),
                    salt.size()))
    return Status::invalid_argument;
  return Status::ok;
}

Status hkdf_expand(Hash h, std::span<const uint8_t> prk, std::span<const uint8_t> info,
                   std::span<uint8_t> out) {
  if (out.size() > 255 * hash_len(h)) return Status::invalid_argument;
  if (!HKDF_expand(out.data(), out.size(), md_for(h), prk.data(), prk.size(), info.data(),
                   info.size()))
    return Status::invalid_argument;
  return Status::ok;
}

Status hkdf_expand_label(Hash h, std::span<const uint8_t> secret, std::string_view label,
                         std::span<const uint8_t> context, std::span<uint8_t> out,
                         std::string_view prefix) {
  const size_t full_label = prefix.size() + label.size();
  if (full_label > 255 || context.size() > 255 || out.size() > 0xffff)
    return Status::invalid_argument;
  uint8_t info[2 + 1 + 255 + 1 + 255];
  size_t n = 0;
  info[n++] = static_cast<uint8_t>(out.size() >> 8);
  info[n++] = static_cast<uint8_t>(out.size());
  info[n++] = static_cast<uint8_t>(full_label);
  for (char c : prefix) info[n++] = static_cast<uint8_t>(c);
  for (char c : label) info[n++] = static_cast<uint8_t>(c);
  info[n++] = static_cast<uint8_t>(context.size());
  for (uint8_t c : context) info[n++] = c;
  return hkdf_expand(h, secret, {info, n}, out);
}

}  // namespace rl
