// SRTP master keys from the key-management protocols users have:
//  - DTLS-SRTP (RFC 5764 §4.2): split the exporter output into the client and
//    server write master keys and salts;
//  - SDES (RFC 4568): parse an SDP `a=crypto` line.
// Configuration-time code: allocates, never on the data path.
#pragma once
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "core/srtp.h"
#include "simd/status.h"

namespace rl::srtp {

// RFC 5764 §4.1.2 / RFC 7714 §14.2 SRTP protection profile IDs (use_srtp).
std::optional<Profile> profile_from_dtls_id(uint16_t id);
std::optional<uint16_t> dtls_id(Profile p);  // none for the AES-256-CM profiles

// Bytes to ask the DTLS exporter for ("EXTRACTOR-dtls_srtp"):
// 2 * (master key + master salt).
size_t dtls_srtp_exporter_len(Profile p);

struct DtlsSrtpKeys {
  std::span<const uint8_t> client_key, server_key, client_salt, server_salt;
  // The master key a side seals with (its own write key) and opens with.
  MasterKey local(bool is_client) const {
    return is_client ? MasterKey{client_key, client_salt, {}} : MasterKey{server_key, server_salt, {}};
  }
  MasterKey remote(bool is_client) const { return local(!is_client); }
};
// RFC 5764 §4.2: client_write_SRTP_master_key ‖ server_write_SRTP_master_key ‖
// client_write_SRTP_master_salt ‖ server_write_SRTP_master_salt. The spans
// point into `exporter`. invalid_argument on a wrong length.
Status split_dtls_srtp(Profile p, std::span<const uint8_t> exporter, DtlsSrtpKeys& out);

// Why an `a=crypto` line was refused.
enum class SdesError : uint8_t {
  none,
  syntax,             // not "a=crypto:<tag> <suite> inline:..." (RFC 4568 §9.1)
  unknown_suite,      // a suite this engine does not run
  bad_base64,         // key‖salt is not valid base64
  wrong_key_length,   // key‖salt length does not match the suite
  bad_lifetime,       // not a decimal or 2^n, or more than 2^48
  bad_mki,            // MKI value/length malformed, length 0 or > kMaxMkiLen
  bad_session_param,  // KDR/WSH out of range, or an unknown mandatory parameter
};
const char* to_string(SdesError e);

struct SdesKey {
  std::vector<uint8_t> key, salt;
  uint64_t lifetime = 0;          // packets; 0 = not given
  std::vector<uint8_t> mki;       // big-endian MKI value of mki length; empty = none
  MasterKey master() const { return {key, salt, mki}; }
};

struct SdesCrypto {
  uint32_t tag = 0;
  Profile profile = Profile::aes128_cm_sha1_80;
  std::vector<SdesKey> keys;  // one per key-param (several with MKIs)
  uint64_t kdr = 0;           // KDR=n session parameter: 2^n (RFC 4568 §6.3.2)
  uint32_t wsh = 0;           // WSH=n replay window hint; 0 = not given
  bool unencrypted_srtcp = false;
  // A Policy for this line (profile, MKI length, kdr, window, E flag).
  Policy policy() const;
};

// Parses one line: with or without the leading "a=crypto:" (also "crypto:").
// Status: malformed (syntax, base64, lifetime, MKI), invalid_argument (key
// length, session parameters), unsupported (unknown suite); `why` says which.
Status parse_sdes_crypto(std::string_view line, SdesCrypto& out, SdesError* why = nullptr);

}  // namespace rl::srtp
