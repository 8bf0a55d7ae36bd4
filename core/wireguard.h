// WireGuard transport data (the WireGuard paper, "WireGuard: Next Generation
// Kernel Network Tunnel", §5.4.6): the type-4 messages that carry a tunnel's
// packets, under the keypairs the handshake hands in (Noise IK, §5.4.2-5.4.5,
// is not ours).
//
//   message = type 4 (LE32: 04 00 00 00) ‖ receiver index (LE32) ‖ counter (LE64)
//             ‖ ChaCha20-Poly1305(key, nonce = 0^32 ‖ LE64(counter), P ‖ zero padding, AAD = ε)
//
// P is padded with zeros to a multiple of 16 bytes, capped at the MTU
// (padded_length()); an empty P is a keepalive (a 32-byte message).
//
// A Peer holds a peer's keypairs as WireGuard does: current, previous, next.
// - install() with initiator = true (we sent the initiation and got the
//   response): the keypair is current at once; a pending next becomes
//   previous, else the old current does; whatever that pushes out is wiped.
// - initiator = false (we answered): the keypair is next, and the old previous
//   and next are wiped; we must not send under it until the initiator has (the
//   response alone does not confirm it, §5.4.5). The first packet that
//   authenticates under next promotes it (next -> current, current ->
//   previous, previous wiped) and posts peer_updated.
// Seal uses current. Open finds the keypair by receiver index among the three.
//
// Limits (§6.1-§6.2, one table in keys.cc): a keypair seals at most
// Reject-After-Messages = 2^64 - 2^13 - 1 messages and nothing after
// Reject-After-Time = 180 s (key_exhausted / key_expired); a soft_limit event
// says "rekey now" at Rekey-After-Messages = 2^60, or, for the initiator only,
// Rekey-After-Time = 120 s on seal and 180 - 10 - 5 = 165 s on open (the
// responder does not rekey on time, so that both ends do not start at once).
// Open refuses counters >= Reject-After-Messages before any crypto.
//
// Open is two-phase as everywhere here: parse, replay check (a window of 8128
// counters, as Linux and wireguard-go keep), AEAD for the whole burst, then
// commit in order what authenticated. A burst gives every packet the status
// one-at-a-time opens would (a duplicate in the same burst is replayed, a
// packet a later one in the burst pushed out of the window is too_old); a
// refused packet keeps the bytes it arrived with. The plaintext opened is the
// padded one: trim_padding() cuts it to the inner IP packet's length, as the
// receiving end of a tunnel does.
//
// Mobility (RFC 8922 ME): a peer's endpoint may change at any packet; nothing
// here depends on addresses, so nothing resets. Termination (CT): expire() /
// clear() wipe keys.
//
// Not thread-safe: one Peer, one thread.
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "core/keys.h"
#include "core/packet.h"
#include "core/replay_window.h"
#include "simd/jobs.h"

namespace rl::wireguard {

inline constexpr uint32_t kTransportData = 4;
inline constexpr size_t kHeaderLen = 16;  // type ‖ receiver index ‖ counter
inline constexpr size_t kTagLen = 16;
inline constexpr size_t kMinMessageLen = kHeaderLen + kTagLen;  // a keepalive
inline constexpr size_t kKeyLen = 32;
inline constexpr size_t kPadding = 16;
inline constexpr size_t kMaxBurst = 64;  // packets per AEAD call; longer spans are chunked

// §6.1's constants.
inline constexpr uint64_t kRekeyAfterMessages = uint64_t{1} << 60;
inline constexpr uint64_t kRejectAfterMessages = ~uint64_t{0} - (uint64_t{1} << 13);  // 2^64 - 2^13 - 1
inline constexpr uint64_t kRekeyAfterTime = 120, kRejectAfterTime = 180;
inline constexpr uint64_t kRekeyTimeout = 5, kKeepaliveTimeout = 10;
inline constexpr uint32_t kReplayWindow = ReplayWindow::kLargestSize;  // 8128 = 2^13 - 64

// What the handshake hands in for one session (§5.4.5).
struct Keypair {
  uint32_t local_index = 0;   // ours: the receiver index of the messages sent to us
  uint32_t remote_index = 0;  // the peer's: written into the messages we send
  std::span<const uint8_t> send_key;  // T_send, 32 bytes
  std::span<const uint8_t> recv_key;  // T_recv, 32 bytes
  bool initiator = false;
};

// The plaintext length P gets on the wire: a multiple of 16, but never past
// the MTU (0: no cap), as Linux pads (only the last MTU-sized unit of a
// longer P is padded).
size_t padded_length(size_t len, uint32_t mtu);

// A received datagram's WireGuard message type (1 initiation, 2 response,
// 3 cookie reply, 4 transport data) when its first four bytes and its length
// say so, else 0. For routing before open.
uint32_t message_type(std::span<const uint8_t> datagram);
// The receiver index of a response, cookie reply or transport data message
// (the index the receiving device chose), when message_type() is 2, 3 or 4.
std::optional<uint32_t> receiver_index(std::span<const uint8_t> datagram);

// Cuts an opened plaintext to its inner IPv4 or IPv6 packet's length (the
// padding after it goes); an empty one (keepalive) stays empty. malformed when
// it holds no IP packet that fits (the view is then unchanged).
Status trim_padding(PacketView& plaintext);

class Peer {
 public:
  explicit Peer(Clock clock = {});
  ~Peer();
  Peer(const Peer&) = delete;
  Peer& operator=(const Peer&) = delete;

  // Installs a keypair as described at the top of this file and posts
  // `installed` (dir seal: current at once; open: next). Refuses with
  // invalid_argument (changing nothing) keys that are not 32 bytes and a
  // local index that a live keypair of this peer already has. `limits`, when
  // given, replaces the defaults for both directions (tests, policy).
  Status install(const Keypair& kp, const Limits* limits = nullptr);

  // Seals each view's plaintext in place: the header goes in the 16 bytes of
  // headroom before it, the zero padding and the tag after it. A view without
  // that room is buffer_too_small and uses no counter. No current keypair:
  // key_expired. Returns how many sealed; each view carries its Status.
  size_t seal(std::span<PacketView> pkts);
  // Opens each view's message in place: on success the view is the (padded)
  // plaintext. Statuses: truncated (< 32 bytes), malformed (not type 4),
  // unknown_epoch (no live keypair with that receiver index), key_exhausted
  // (counter >= Reject-After-Messages), key_expired (the keypair is past
  // Reject-After-Time, or its receiving key died at the integrity limit),
  // replayed, too_old, auth_failed.
  size_t open(std::span<PacketView> pkts);

  // Promotes the next keypair `local_index` as its first authenticated
  // message does (next -> current -> previous), for a Peer that seals apart
  // from the Peer that opens (another thread's Peer saw that message and
  // posted peer_updated; this one posts nothing). unknown_epoch, changing
  // nothing, when next is not that keypair.
  Status confirm(uint32_t local_index);

  // The cap for padding (the tunnel's MTU); 0, the default, pads to 16 only.
  void set_mtu(uint32_t mtu) { mtu_ = mtu; }
  // Wipes the keypair with this local index (expired events); unknown_epoch
  // when there is none.
  Status expire(uint32_t local_index);
  // Wipes every keypair (termination).
  void clear();

  bool poll_event(KeyEvent& e) { return events_.poll(e); }
  // The local index of the current / previous / next keypair.
  std::optional<uint32_t> current() const { return index_of(cur_); }
  std::optional<uint32_t> previous() const { return index_of(prev_); }
  std::optional<uint32_t> next() const { return index_of(next_); }
  // The counter the next sealed message gets under the current keypair.
  std::optional<uint64_t> send_counter() const;
  // Counters of a live keypair by local index (nullptr when none).
  const KeyCounters* counters(uint32_t local_index, Direction dir) const;
  // The highest counter opened under a live keypair (nullopt: none yet).
  std::optional<uint64_t> highest_opened(uint32_t local_index) const;
  // Test hook: the key bytes of every slot (all zero once wiped).
  void debug_key_bytes(std::span<std::span<const uint8_t>> out) const;

 private:
  struct Slot {
    KeyEpoch send, recv;
    ReplayWindow window;
    uint32_t local = 0, remote = 0;
    uint64_t next_counter = 0;
    bool live() const { return recv.live() || send.live(); }
  };
  static constexpr int kSlots = 4;  // current, previous, next, and room for a new one
  static constexpr int8_t kNone = -1;

  std::optional<uint32_t> index_of(int8_t slot) const;
  int find(uint32_t local_index) const;
  void drop(int8_t& role);
  void promote_next();
  size_t seal_chunk(std::span<PacketView> pkts, uint64_t now);
  size_t open_chunk(std::span<PacketView> pkts);

  Slot slots_[kSlots];
  int8_t cur_ = kNone, prev_ = kNone, next_ = kNone;
  uint32_t mtu_ = 0;
  Clock clock_;
  EventQueue events_;
  AeadJob jobs_[kMaxBurst];
};

}  // namespace rl::wireguard
