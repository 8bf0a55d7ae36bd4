// HKDF (RFC 5869) and HKDF-Expand-Label (RFC 8446 §7.1) over BoringSSL.
#pragma once
#include <cstdint>
#include <span>
#include <string_view>

#include "simd/status.h"
#include "simd/suite.h"

namespace rl {

inline constexpr std::string_view kTls13LabelPrefix = "tls13 ";
inline constexpr std::string_view kDtls13LabelPrefix = "dtls13";  // RFC 9147 §5.9

// `prk` must be hash_len(h) bytes.
Status hkdf_extract(Hash h, std::span<const uint8_t> salt, std::span<const uint8_t> ikm,
                    std::span<uint8_t> prk);
Status hkdf_expand(Hash h, std::span<const uint8_t> prk, std::span<const uint8_t> info,
                   std::span<uint8_t> out);
// HkdfLabel = uint16 length ‖ opaque label<7..255> = prefix + label ‖ opaque context<0..255>.
Status hkdf_expand_label(Hash h, std::span<const uint8_t> secret, std::string_view label,
                         std::span<const uint8_t> context, std::span<uint8_t> out,
                         std::string_view prefix = kTls13LabelPrefix);

}  // namespace rl
