// WireGuard keys for rl-replay: Wireshark's WireGuard key log (the `wg.keylog_file`
// format: `LOCAL_STATIC_PRIVATE_KEY = <base64>`, `REMOTE_STATIC_PUBLIC_KEY = ...`,
// `LOCAL_EPHEMERAL_PRIVATE_KEY = ...`, `PRESHARED_KEY = ...`, one block per handshake
// or per peer), and the transport keys of a captured handshake derived from it
// (Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s, the WireGuard paper §5.4.2-§5.4.5).
//
// The engine does no handshakes; this is the replay tool recomputing one from the
// private keys a user logged, as Wireshark does, so that transport data in a capture
// can be opened by rl::wireguard::Peer.
#pragma once
#include <array>
#include <cstdint>
#include <istream>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace rl::replay {

using Key32 = std::array<uint8_t, 32>;

// One block of the key log: what one end knew about one handshake (or one peer).
struct WgKeylogEntry {
  std::optional<Key32> local_static_private;
  std::optional<Key32> remote_static_public;
  std::optional<Key32> local_ephemeral_private;
  std::optional<Key32> preshared_key;  // absent: all zeros (§5.4: Q = 0^32)
};

// Parses the key log. Lines are `NAME = base64(32 bytes)`; '#' starts a comment;
// blank lines are ignored. Names attach to the latest entry; a name that entry already
// has starts a new one, and so does a `New handshake session:` line (what wireguard-tools'
// extract-handshakes.sh writes before each block, whose names come in no fixed order).
// Returns false with `err` ("line N: ...") on an unknown name or a value that is not
// base64 of 32 bytes, and then leaves `out` as it was.
bool parse_wg_keylog(std::istream& in, std::vector<WgKeylogEntry>& out, std::string& err);

// What a completed handshake gives both ends (§5.4.5).
struct WgSession {
  uint32_t initiator_index = 0;  // the initiator's sender index (receiver index of r2i data)
  uint32_t responder_index = 0;  // the responder's sender index (receiver index of i2r data)
  Key32 i2r{};                   // T_send of the initiator = T_recv of the responder
  Key32 r2i{};
};

// Derives the transport keys of the handshake made of `initiation` (type 1, 148 bytes)
// and `response` (type 2, 92 bytes, its receiver index = the initiation's sender index),
// trying every entry that holds the private keys of either end:
// - the initiator's static and ephemeral private keys, with the responder's static
//   public key (REMOTE_STATIC_PUBLIC_KEY; else the static public key of any other entry
//   whose mac1 matches the initiation, §5.4.4);
// - or the responder's static and ephemeral private keys (the initiator's static public
//   key is decrypted from the initiation).
// An entry counts only if every AEAD of the handshake verifies (static, timestamp, the
// response's empty payload), so a wrong key or preshared key gives nothing.
std::optional<WgSession> wg_derive(std::span<const WgKeylogEntry> keys, std::span<const uint8_t> initiation,
                                   std::span<const uint8_t> response);

}  // namespace rl::replay
