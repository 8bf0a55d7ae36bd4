// NSS key log (SSLKEYLOGFILE) for TLS, DTLS and QUIC, from a file or from the Decryption
// Secrets Blocks of a pcapng file (pcapng spec §4.7, secrets type 0x544c534b "TLSK"),
// which libpcap does not expose, so the pcapng blocks are walked here.
#pragma once
#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "tools/replay/common.h"

namespace rl::replay {

enum class SecretLabel : uint8_t {
  client_random,  // TLS 1.2 / DTLS 1.2 master secret (48 bytes)
  client_early_traffic,
  client_handshake_traffic,
  server_handshake_traffic,
  client_traffic_0,
  server_traffic_0,
  early_exporter,
  exporter,
  count
};
const char* to_string(SecretLabel l);

struct Secret {
  Bytes value;
  std::string where;  // "file:line" for messages
};

// Everything logged for one connection (one client random).
struct SessionSecrets {
  std::array<uint8_t, 32> client_random{};
  std::array<std::optional<Secret>, static_cast<size_t>(SecretLabel::count)> s;
  // Later CLIENT_RANDOM lines with another master secret for the same client random, in
  // log order: a (D)TLS 1.2 renegotiation whose ClientHello kept the random (GnuTLS DTLS).
  std::vector<Secret> later_masters;
  const Secret* get(SecretLabel l) const {
    auto& o = s[static_cast<size_t>(l)];
    return o ? &*o : nullptr;
  }
  std::string first_where() const;
};

class KeyLog {
 public:
  // Parses key log text; `source` names it in messages ("keys.log" or "CAP: DSB #1").
  // Bad lines are reported (source:line) and skipped. Returns the number of secrets added.
  size_t add_text(std::string_view text, const std::string& source, Diag& diag);
  bool load_file(const std::string& path, Diag& diag);
  // Reads every TLS key log Decryption Secrets Block of a pcapng file into this log.
  // A pcap (not pcapng) file has none: returns 0 without a message.
  size_t load_pcapng_dsb(const std::string& path, Diag& diag);

  const SessionSecrets* find(const std::array<uint8_t, 32>& client_random) const;
  const std::map<std::array<uint8_t, 32>, SessionSecrets>& sessions() const { return by_random_; }
  size_t size() const { return by_random_.size(); }
  size_t ignored_n_lines() const { return ignored_n_; }

 private:
  std::map<std::array<uint8_t, 32>, SessionSecrets> by_random_;
  size_t ignored_n_ = 0;
};

}  // namespace rl::replay
