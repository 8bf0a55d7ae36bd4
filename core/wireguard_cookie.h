// WireGuard's cookie mechanism (the WireGuard paper, "WireGuard: Next
// Generation Kernel Network Tunnel", §5.3, §5.4.4, §5.4.7): the DoS
// mitigation that lets a responder under load prove a handshake's source
// address before doing any Curve25519 work, i.e. WireGuard's source-address
// validation tool in RFC 8922's terms (as Retry tags are QUIC's,
// core/quic.h). The engine still does no handshake: these are stateless
// helpers around the handshake messages that whoever runs Noise IK owns.
// - Responder (whoever receives a handshake message: a response can be
//   answered with a cookie reply too): a CookieChecker per device (our static
//   key). For a type-1 or type-2 message, check_mac1() first (invalid: drop, §5.4.4); under load,
//   check_mac2() with the datagram's source address, and when that fails,
//   make_cookie_reply() and send the 64 bytes back to that address instead
//   of processing the message (§5.3). Not under load, mac2 is not looked at.
// - Initiator (whoever sends one): a CookieState per peer. add_macs() fills mac1 and mac2 of each
//   handshake message before it is sent; open_cookie_reply() takes a type-3
//   message (routed to the handshake by wireguard::receiver_index()) with the
//   mac1 of the message it answers, and stores the cookie that the next
//   add_macs() uses for mac2 while it is younger than 120 s.
//
//   mac1  = MAC(HASH(LABEL_MAC1 ‖ S_pub), msg up to mac1)        (len - 32)
//   mac2  = MAC(cookie, msg up to mac2), or 0^16 without a cookie (len - 16)
//   cookie = MAC(R_m, source address), R_m random, replaced every 120 s
//   reply = 03 00 00 00 ‖ LE32(sender index of the message answered) ‖ nonce (24, random)
//           ‖ XChaCha20-Poly1305(HASH(LABEL_COOKIE ‖ S_pub), nonce, cookie, AAD = its mac1)
//
// S_pub is the static public key of the message's receiver (the responder,
// who also sends the reply). HASH is BLAKE2s-256, MAC keyed BLAKE2s-128
// (core/blake2s.h). The source address is whatever bytes the caller uses for
// the datagram's sender, the same for check_mac2() and make_cookie_reply()
// (the paper's A_m': e.g. the IPv4 or IPv6 address followed by the UDP port,
// network byte order). Secrets (R_m, cookies) are wiped when they die.
//
// Not thread-safe: check_mac1() is const, but check_mac2() and
// make_cookie_reply() may replace R_m; CookieState is one peer's.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "core/keys.h"
#include "simd/status.h"

namespace rl::wireguard {

inline constexpr uint32_t kHandshakeInitiation = 1, kHandshakeResponse = 2, kCookieReply = 3;
inline constexpr size_t kInitiationLen = 148, kResponseLen = 92, kCookieReplyLen = 64;
inline constexpr size_t kMacLen = 16;  // mac1, mac2, a cookie
inline constexpr size_t kCookieNonceLen = 24;
inline constexpr size_t kPublicKeyLen = 32;
// §5.3 / §6.1 Cookie-Refresh-Time: R_m's life at the responder and a cookie's
// at the initiator, in seconds.
inline constexpr uint64_t kCookieRefreshTime = 120;

using PublicKey = std::span<const uint8_t, kPublicKeyLen>;
using Mac = std::array<uint8_t, kMacLen>;

// Where random bytes come from: RAND_bytes unless `fill` is set (tests).
struct RandomSource {
  void (*fill)(void* ctx, uint8_t* out, size_t n) = nullptr;
  void* ctx = nullptr;
  void read(uint8_t* out, size_t n) const;
};

// ok when `msg` is a handshake initiation (type 1, 148 bytes) or response
// (type 2, 92 bytes): truncated when shorter than its type's length, malformed
// otherwise (another type, reserved bytes not zero, longer than its type).
Status check_handshake_framing(std::span<const uint8_t> msg);

// mac1 of a handshake message to the holder of `receiver_static` (the message
// up to mac1; the bytes at mac1 and after are not read). Fails as
// check_handshake_framing().
Status compute_mac1(std::span<const uint8_t> msg, PublicKey receiver_static, Mac& out);

class CookieChecker {
 public:
  // Reads the clock and draws the first R_m.
  explicit CookieChecker(PublicKey our_static_public, Clock clock = {}, RandomSource random = {});
  ~CookieChecker();
  CookieChecker(const CookieChecker&) = delete;
  CookieChecker& operator=(const CookieChecker&) = delete;

  // Whether `msg` is a well-formed handshake message whose mac1 is the one
  // for our static key (constant-time compare).
  bool check_mac1(std::span<const uint8_t> msg) const;
  // Whether `msg` is a well-formed handshake message whose mac2 is made with
  // the cookie we give `source` now (constant-time compare). Draws a new R_m
  // first when the current one is 120 s old, so cookies from before that
  // fail. False for an empty `source`. Does not look at mac1.
  bool check_mac2(std::span<const uint8_t> msg, std::span<const uint8_t> source);
  // Writes the cookie reply to `msg` for `source` into `out` (new R_m first
  // as above; a fresh random nonce). Refuses, writing nothing:
  // truncated / malformed (framing as check_handshake_framing()), auth_failed
  // (mac1 is not ours: answering it would make us a reflector),
  // invalid_argument (empty `source`).
  Status make_cookie_reply(std::span<const uint8_t> msg, std::span<const uint8_t> source,
                           std::span<uint8_t, kCookieReplyLen> out);

 private:
  void refresh_secret();

  uint8_t mac1_key_[32];
  uint8_t cookie_key_[32];
  uint8_t secret_[32];  // R_m
  uint64_t secret_born_ = 0;
  Clock clock_;
  RandomSource random_;
};

class CookieState {
 public:
  explicit CookieState(Clock clock = {});
  ~CookieState();
  CookieState(const CookieState&) = delete;
  CookieState& operator=(const CookieState&) = delete;

  // Opens a cookie reply from `peer_static_public` that answers the message
  // whose mac1 was `last_sent_mac1`, and keeps its cookie (received now),
  // replacing any older one. Refuses, changing nothing: truncated (< 64
  // bytes), malformed (> 64 bytes, not type 3, reserved bytes not zero),
  // unknown_epoch (`our_sender_index` given and the reply's receiver index is
  // another), auth_failed (the AEAD does not verify: another key, another
  // mac1, a changed nonce or sealed cookie). The AEAD does not cover the
  // receiver index (§5.4.7): without `our_sender_index` it is only what routed
  // the reply (wireguard::receiver_index()) to this peer and handshake. Accept
  // one reply per mac1 sent (as Linux does): the caller drops last_sent_mac1
  // once a reply opened.
  Status open_cookie_reply(std::span<const uint8_t> reply, std::span<const uint8_t, kMacLen> last_sent_mac1,
                           PublicKey peer_static_public,
                           std::optional<uint32_t> our_sender_index = std::nullopt);
  // Fills the last 32 bytes of handshake message `msg` (to the holder of
  // `peer_static_public`): mac1, then mac2 made with the cookie when one
  // younger than 120 s is held, else 0^16 (§5.4.4; an older cookie is wiped).
  // Refuses a message that check_handshake_framing() refuses, writing nothing.
  Status add_macs(std::span<uint8_t> msg, PublicKey peer_static_public);

  // Whether a cookie younger than 120 s is held (add_macs would write mac2).
  bool has_cookie() const;
  // The mac1 the last successful add_macs() wrote (for open_cookie_reply).
  std::optional<Mac> last_mac1() const { return last_mac1_; }
  // Wipes the cookie and forgets the last mac1.
  void clear();

 private:
  bool fresh(uint64_t now) const;

  uint8_t cookie_[kMacLen];
  uint64_t received_at_ = 0;
  bool have_cookie_ = false;
  std::optional<Mac> last_mac1_;
  Clock clock_;
};

}  // namespace rl::wireguard
