// OpenVPN data-channel keys for rl-replay (--ovpn-keys FILE). OpenVPN writes no key log;
// this reads what tests/data/openvpn/ekm_shim.c records from a running openvpn 2.6 (its
// SSL_export_keying_material calls, one line each):
//   EXPORTER-OpenVPN-datakeys <512 hex digits>     the 256 bytes of one key's material,
//                                                  in the order OpenVPN derived them
//   EXPORTER-OpenVPN-p2p-peerid <6 hex digits>     the p2p peer-id, as peer_id below
//   EXPORTER-OpenVPN-<anything else> <hex>         ignored (tls-crypt keys)
// and the fixture form tests/data/openvpn/*.keys use:
//   cipher AES-128-GCM | AES-256-GCM | CHACHA20-POLY1305
//   peer_id <hex>                                  the p2p peer-id (the packets carry it;
//                                                  rl-pipe writes it into what it seals)
//   key <key_id> <512 hex digits>
// '#' starts a comment. A shim log's n-th key (from 0) gets the key_id OpenVPN gives it:
// 0 for the first, then 1..7 over and over (ssl.c: key_id 0 only for the first
// negotiation). Without a cipher line every AEAD is tried.
#pragma once
#include <array>
#include <cstdint>
#include <istream>
#include <optional>
#include <string>
#include <vector>

#include "simd/suite.h"
#include "tools/replay/common.h"

namespace rl::replay {

struct OvpnKey {
  uint8_t key_id = 0;
  std::array<uint8_t, 256> material{};
};

struct OvpnKeys {
  std::optional<Suite> suite;
  std::optional<uint32_t> peer_id;  // "peer_id" / EXPORTER-OpenVPN-p2p-peerid (rl-pipe)
  std::vector<OvpnKey> keys;  // in the order they were derived
  bool empty() const { return keys.empty(); }
  // Appends the keys of one file (whole or not at all); err names the line.
  bool parse(std::istream& in, std::string& err);
  bool load_file(const std::string& path, Diag& diag);
  ~OvpnKeys();
};

}  // namespace rl::replay
