// SRTP keys as SDP security descriptions (RFC 4568 §9.1 "a=crypto:"), one per line,
// preceded on the same line by which stream they key: ssrc=<decimal|0xhex> and/or
// dst=<ip>:<port> ([v6]:port), and optionally roc=<n> (rollover counter signalled out of
// band). '#' starts a comment. Suites: RFC 4568 §6.2, RFC 6188 §7, RFC 7714 §14.2.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tools/replay/common.h"

namespace rl::replay {

struct SrtpSuiteInfo {
  const char* name;
  uint8_t key_len, salt_len;
  uint8_t srtp_tag_len;  // auth tag bytes (AEAD: the GCM tag)
  bool aead;
};
const SrtpSuiteInfo* find_srtp_suite(std::string_view name);

struct SrtpKeyParam {
  Bytes key, salt;
  std::optional<uint64_t> lifetime;  // packets
  std::optional<uint64_t> mki;
  uint8_t mki_len = 0;               // bytes, 0 = no MKI
};

struct SrtpKey {
  std::optional<uint32_t> ssrc;
  std::optional<std::pair<IpAddr, uint16_t>> dst;
  uint32_t roc = 0;
  uint32_t tag = 0;  // the a=crypto tag
  const SrtpSuiteInfo* suite = nullptr;
  std::vector<SrtpKeyParam> keys;             // one or more (with MKIs)
  std::vector<std::string> session_params;    // KDR=, UNENCRYPTED_SRTP, WSH=, ...
  bool unencrypted_srtp = false, unencrypted_srtcp = false, unauthenticated_srtp = false;
  uint32_t kdr = 0;                           // key derivation rate (2^n), 0 = none
  std::string where;
};

class SrtpKeys {
 public:
  size_t add_text(std::string_view text, const std::string& source, Diag& diag);
  bool load_file(const std::string& path, Diag& diag);
  const std::vector<SrtpKey>& keys() const { return keys_; }
  // The key for a packet: by SSRC first, then by destination address.
  const SrtpKey* find(uint32_t ssrc, const IpAddr& dst, uint16_t dport) const;

 private:
  std::vector<SrtpKey> keys_;
};

}  // namespace rl::replay
