// The OpenVPN data channel with AEAD ciphers (AES-128/256-GCM,
// ChaCha20-Poly1305): the P_DATA_V1 and P_DATA_V2 packets that carry a
// tunnel's IP packets, under the keys OpenVPN's TLS control channel hands in
// (the control channel, its reliability layer and tls-auth/tls-crypt are not
// ours). Written from OpenVPN 2.6's behaviour (src/openvpn/crypto.c,
// ssl.c, packet_id.c) and checked against packets Debian's openvpn 2.6 sent
// (tests/data/openvpn/).
//
//   P_DATA_V2 = op ‖ peer-id (BE24) ‖ packet-id (BE32) ‖ tag (16) ‖ ciphertext
//   P_DATA_V1 = op ‖                   packet-id (BE32) ‖ tag (16) ‖ ciphertext
//   op        = opcode << 3 | key_id      (opcode 9 = V2, 6 = V1; key_id 0..7)
//   nonce     = packet-id (BE32) ‖ implicit IV (8 bytes of the key material)
//   AAD       = V2: op ‖ peer-id ‖ packet-id (8 bytes); V1: packet-id (4 bytes)
//
// The tag sits before the ciphertext. Packet IDs start at 1 per key and never
// wrap: 0 is never valid, and a key whose next ID would pass 2^32 - 1 refuses
// to seal (key_exhausted).
//
// Keys: a Channel holds up to eight keys, one per key_id, as OpenVPN's key
// states do. install() makes a key the one seal uses (the primary); the keys
// installed before it stay open for late packets until expire() (the caller
// owns OpenVPN's transition window, --tran-window). Open picks the key by the
// key_id in the packet.
//
// Limits (as OpenVPN 2.6 renegotiates): a soft_limit event when a key's next
// packet ID reaches 0xFF000000 (packet_id.h PACKET_ID_WRAP_TRIGGER), and for
// AES-GCM when its usage (AES blocks of plaintext + packets, crypto.c
// cipher_get_aead_limits) reaches 7/8 of 2^36 - 1; at 2^36 - 1 the key seals
// no more (key_exhausted). Caller-given Limits (records, bytes, age, integrity)
// apply on top.
//
// Replay (packet_id.c packet_id_test, UDP mode): a window of the last
// `replay_window` packet IDs per key (OpenVPN's --replay-window n, default
// 64; up to 8128 here). OpenVPN's second, time-based bound (--replay-window
// n t: IDs seen more than t seconds ago are refused) is not applied: it only
// narrows what the window accepts.
//
// Open is two-phase as everywhere here: parse, key lookup, replay check, AEAD
// for the burst, then commit in order what authenticated; a burst gives every
// packet the status one at a time would (a duplicate within the burst is
// replayed) and a refused packet keeps the bytes it arrived with.
//
// Not thread-safe: one Channel, one thread.
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "core/keys.h"
#include "core/packet.h"
#include "core/replay_window.h"
#include "simd/jobs.h"

namespace rl::openvpn {

inline constexpr uint8_t kDataV1 = 6, kDataV2 = 9;  // opcodes
inline constexpr size_t kPacketIdLen = 4;
inline constexpr size_t kTagLen = 16;
inline constexpr size_t kImplicitIvLen = 8;
inline constexpr size_t kKeyMaterialLen = 256;  // two directions of 64 cipher + 64 HMAC bytes
// Bytes before the ciphertext.
inline constexpr size_t kOverheadV1 = 1 + kPacketIdLen + kTagLen;
inline constexpr size_t kOverheadV2 = 4 + kPacketIdLen + kTagLen;
inline constexpr uint32_t kMaxPeerId = 0xFFFFFF;
inline constexpr uint32_t kPacketIdWrapTrigger = 0xFF000000;  // renegotiate from here
inline constexpr uint64_t kGcmUsageLimit = (uint64_t{1} << 36) - 1;  // blocks + packets
inline constexpr uint32_t kDefaultReplayWindow = 64;
inline constexpr size_t kMaxBurst = 64;  // packets per AEAD call; longer spans are chunked

// One key_id's data-channel keys, both directions.
struct KeySet {
  uint8_t key_id = 0;  // 0..7
  Suite suite = Suite::aes128_gcm;
  std::span<const uint8_t> send_key, send_iv;  // the implicit IVs: 8 bytes
  std::span<const uint8_t> recv_key, recv_iv;
};

// The KeySet in OpenVPN's 256 bytes of key material (TLS-EKM "EXPORTER-
// OpenVPN-datakeys", or the PRF's key expansion): two 128-byte halves of a
// 64-byte cipher key field and a 64-byte HMAC key field; the cipher key is the
// start of the first, the implicit IV the start of the second. The TLS client
// sends with the first half, the server with the second (ssl.c
// init_key_contexts, key_direction_state_init). The spans point into `material`.
KeySet key_set(std::span<const uint8_t, kKeyMaterialLen> material, Suite suite, uint8_t key_id,
               bool tls_server);

struct Config {
  bool data_v2 = true;  // seal P_DATA_V2 (with peer_id) or P_DATA_V1
  uint32_t peer_id = 0;  // written into V2 packets (0..0xFFFFFF)
  uint32_t replay_window = kDefaultReplayWindow;  // 1..8128
};

// A data packet being opened, and what open reports about it.
struct Packet {
  PacketView view;       // in: the whole UDP payload; out (ok): the plaintext
  uint8_t opcode = 0;    // out: kDataV1 or kDataV2
  uint8_t key_id = 0;    // out
  uint32_t peer_id = 0;  // out (V2)
  uint32_t packet_id = 0;  // out
  Status status() const { return view.status; }
};

// A datagram's opcode (high five bits of its first byte), 0 for an empty one.
// The data opcodes go to open(); the rest are the control channel's.
uint8_t opcode_of(std::span<const uint8_t> datagram);

class Channel {
 public:
  explicit Channel(Config cfg = {}, Clock clock = {});
  ~Channel();
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;

  // Installs (or replaces) key_id's keys, makes them the ones seal uses and
  // posts `installed`. invalid_argument (changing nothing): a key_id over 7,
  // an IV that is not 8 bytes, a key of the wrong length for the suite, or a
  // bad Config (peer_id over 0xFFFFFF, window 0 or over 8128).
  Status install(const KeySet& ks, const Limits* limits = nullptr);
  // Wipes key_id's keys (expired events); unknown_epoch when there are none.
  Status expire(uint8_t key_id);
  // Wipes every key (termination).
  void clear();

  // Seals each view's plaintext (at least one byte: OpenVPN sends no empty
  // data packet; invalid_argument otherwise) in place: the header, packet ID
  // and tag go in the headroom before it (kOverheadV2 or kOverheadV1 bytes;
  // else buffer_too_small, no ID used). No primary key: key_expired.
  size_t seal(std::span<PacketView> pkts);
  // Opens each packet in place; on success the view is the plaintext.
  // Statuses: truncated (shorter than a header, tag and one byte), malformed
  // (not a data opcode), unknown_epoch (no key with that key_id), key_expired
  // (the key died at its integrity limit or age), replayed / too_old (packet
  // ID 0 is malformed), auth_failed.
  size_t open(std::span<Packet> pkts);

  // Leaves the primary key's next `count` packet IDs unused (a receiver's
  // window takes the jump); at most up to the last ID. unknown_epoch without
  // a primary key.
  Status skip_packet_ids(uint32_t count);

  bool poll_event(KeyEvent& e) { return events_.poll(e); }
  std::optional<uint8_t> primary() const;
  // The packet ID the next sealed packet gets under the primary key.
  std::optional<uint32_t> next_packet_id() const;
  const KeyCounters* counters(uint8_t key_id, Direction dir) const;
  const Config& config() const { return cfg_; }
  // Test hooks: the key bytes and implicit IVs of every slot (all zero once
  // wiped); the primary key's AES-GCM usage (blocks + packets) set directly.
  void debug_key_bytes(std::span<std::span<const uint8_t>> out) const;
  void debug_set_gcm_usage(uint64_t usage);

 private:
  struct Slot {
    KeyEpoch send, recv;
    uint8_t send_iv[kImplicitIvLen] = {}, recv_iv[kImplicitIvLen] = {};
    ReplayWindow window;
    uint64_t next_id = 1;  // the next packet ID sealed (2^32: none left)
    uint64_t gcm_usage = 0;  // AES blocks + packets sealed (AES-GCM only)
    bool gcm = false, usage_soft_sent = false, wrap_soft_sent = false;
    bool live() const { return send.live() || recv.live(); }
  };
  static constexpr int kSlots = 8;
  static constexpr int8_t kNone = -1;

  void wipe(Slot& s);
  void soft_event(const Slot& s, uint8_t key_id);
  size_t seal_chunk(std::span<PacketView> pkts);
  size_t open_chunk(std::span<Packet> pkts);

  Config cfg_;
  Slot slots_[kSlots];
  int8_t primary_ = kNone;
  Clock clock_;
  EventQueue events_;
  AeadJob jobs_[kMaxBurst];
};

}  // namespace rl::openvpn
