// QUIC v1 and v2 packet protection (RFC 9001 §5–6, RFC 9369, RFC 9000 §17).
//
// Everything below the handshake: Initial keys from the client's Destination
// Connection ID, Handshake / 0-RTT / 1-RTT keys from traffic secrets, long and
// short headers built and parsed in place, packet numbers per space, header
// protection as MaskJob bursts, payload protection as AeadJob bursts, key
// update with pre-derived next keys, AEAD usage limits, Retry integrity tags and
// stateless-reset recognition.
//
// Seal: the caller puts the frames (plaintext payload) at view.offset with room
// for the header before it (headroom, see max_header_length) and for the tag
// after it (16 bytes, plus up to 3 bytes of PADDING for tiny payloads). The
// engine assigns the packet number, writes the header into the headroom,
// encrypts in place and protects the header; the view then covers the whole
// protected packet. Padding Initial datagrams to 1200 bytes (RFC 9000 §14.1)
// is the caller's: it owns the frames.
//
// Open: each view covers exactly one QUIC packet (split a datagram with
// coalesced packets with split_datagram, or call open_datagram). On success the
// view covers the frames and the header before it is unprotected; on any
// failure nothing changes, neither the connection state nor the bytes: header
// protection removed in place is put back, and a packet that authenticated but
// is still refused (reserved bits set, duplicate in the same burst) is sealed
// again to its original bytes. The one counter a forgery moves is the
// integrity-limit count of failed 1-RTT opens (RFC 9001 §6.6).
//
// Key update (RFC 9001 §6): each 1-RTT direction keeps the current keys and
// the pre-derived next generation; open also keeps the previous generation for
// late packets until discard_previous(). A flipped key phase is tried with the
// next keys and committed only once a packet authenticates under them (then a
// peer_updated event is queued and the send side follows, §6.2).
//
// Not thread-safe: one object per connection, one thread at a time.
#pragma once
#include <bit>
#include <cstddef>
#include <cstdint>
#include <span>

#include "core/keys.h"
#include "core/packet.h"
#include "core/replay_window.h"
#include "simd/aead_key.h"
#include "simd/jobs.h"
#include "simd/status.h"
#include "simd/suite.h"

namespace rl::quic {

enum class Version : uint32_t { v1 = 0x00000001, v2 = 0x6b3343cf };

// Encryption levels (RFC 9001 §4) and the packet-number spaces they use
// (RFC 9000 §12.3: 0-RTT and 1-RTT share the application space).
enum class Level : uint8_t { initial, zero_rtt, handshake, one_rtt };
enum class Space : uint8_t { initial, handshake, application };
constexpr Space space_of(Level l) {
  return l == Level::initial ? Space::initial
         : l == Level::handshake ? Space::handshake
                                 : Space::application;
}

enum class PacketType : uint8_t { initial, zero_rtt, handshake, retry, one_rtt, version_negotiation };
const char* to_string(PacketType t);

// The two "Long Packet Type" bits (RFC 9000 §17.2, RFC 9369 §3.2: v2 rotates
// them so that middleboxes keyed on v1 values do not ossify).
constexpr uint8_t long_type_bits(Version v, PacketType t) {
  const uint8_t v1 = t == PacketType::initial    ? 0
                     : t == PacketType::zero_rtt ? 1
                     : t == PacketType::handshake ? 2
                                                  : 3;
  return v == Version::v1 ? v1 : static_cast<uint8_t>((v1 + 1) & 3);
}

// KeyEvent::epoch names the level and the key generation (0 for all levels
// but 1-RTT, which counts key updates).
constexpr uint64_t epoch_id(Level l, uint64_t generation) {
  return uint64_t{static_cast<uint8_t>(l)} << 56 | generation;
}
constexpr Level level_of_epoch(uint64_t epoch) { return static_cast<Level>(epoch >> 56); }
constexpr uint64_t generation_of_epoch(uint64_t epoch) { return epoch & ((uint64_t{1} << 56) - 1); }

inline constexpr size_t kMaxCidLen = 20;     // RFC 9000 §17.2
inline constexpr size_t kTagLen = 16;        // every QUIC AEAD
inline constexpr size_t kSampleLen = 16;     // RFC 9001 §5.4.2
inline constexpr uint64_t kMaxPn = (uint64_t{1} << 62) - 1;
inline constexpr size_t kBurst = 64;         // jobs per batched call

enum class KeyUpdateError : uint8_t { none, old_keys_after_new, consecutive_update, ack_in_old_keys };
const char* to_string(KeyUpdateError e);

struct Packet {
  PacketView view;
  // seal: in (which keys); open: out (from the header).
  Level level = Level::one_rtt;
  // seal: the Initial token (Initial packets only); open: out, points into view.buf.
  std::span<const uint8_t> token;
  // open: out, point into view.buf (scid empty for short headers).
  std::span<const uint8_t> dcid, scid;
  // seal: in, the shortest packet-number encoding to use (0 = as short as
  // RFC 9000 §17.1 allows); the engine never goes below what is needed.
  uint8_t min_pn_length = 0;
  PacketType type = PacketType::one_rtt;  // out
  uint64_t pn = 0;                        // out: the full packet number
  uint8_t pn_length = 0;                  // out
  bool key_phase = false;                 // out (1-RTT)
  uint32_t header_length = 0;             // out: bytes of header before the payload
  Status status() const { return view.status; }
};

class PacketProtection {
 public:
  explicit PacketProtection(Version v = Version::v1);
  ~PacketProtection();
  PacketProtection(const PacketProtection&) = delete;
  PacketProtection& operator=(const PacketProtection&) = delete;

  // The version decides labels ("quic " / "quicv2 ") and long-header type bits
  // for keys installed and packets built afterwards (compatible version
  // negotiation, RFC 9368, switches before the handshake keys arrive).
  void set_version(Version v) { version_ = v; }
  Version version() const { return version_; }
  void set_clock(Clock c) {
    clock_ = c;
    uses_clock_ = true;
  }

  // RFC 9001 §5.2 / RFC 9369 §3.3.1: both directions of the Initial keys from
  // the Destination Connection ID of the client's first Initial. Also sets the
  // version.
  Status install_initial(Version v, std::span<const uint8_t> client_dcid, bool is_server,
                         const Limits* limits = nullptr);
  // A traffic secret from the TLS stack for one level and direction; the engine
  // derives key, iv and hp (RFC 9001 §5.1), and for 1-RTT also pre-derives the
  // next generation (§6). `limits` default to default_limits(Protocol::quic, s).
  // For the open direction the integrity limit (max_auth_failures) counts
  // failed opens across all 1-RTT keys of the connection (§6.6).
  Status install(Level level, Direction dir, Suite suite, std::span<const uint8_t> secret,
                 const Limits* limits = nullptr);
  // update(seal): start a key update (RFC 9001 §6.1): the send side moves to
  // the pre-derived next generation and flips the key phase. §6.1 forbids it
  // before the handshake is confirmed and before a packet sent with the
  // current keys was acknowledged; update() is refused with invalid_argument
  // until on_ack() reports an ACK for a packet of the current phase, which
  // covers both: an ACK of a 1-RTT packet confirms the handshake (§4.1.2: a
  // client MAY take it as confirmation; a server opens no 1-RTT packet, so no
  // ACK, before its handshake is complete), and an ACK of 0-RTT packets
  // only does not count. The open side follows the peer by itself;
  // update(open) is refused with invalid_argument.
  Status update(Direction dir);
  // Drops the previous 1-RTT open generation (the caller runs the 3×PTO timer
  // of RFC 9001 §6.5). Returns unknown_epoch when there is none.
  Status discard_previous();
  // Wipes the keys of a level and direction (RFC 9001 §4.9: Initial and
  // Handshake keys are discarded during the handshake). Later use: key_expired.
  Status expire(Level level, Direction dir);

  // The largest packet number the peer acknowledged in a space: the packet
  // number length is chosen from it (RFC 9000 §17.1), and it allows the next
  // key update. `carried_in` is the packet number of the received 1-RTT
  // packet whose ACK frame this is (kUnknownPn: not checked): an ACK carried
  // with keys older than those of a packet it acknowledges is the §6.2
  // KEY_UPDATE_ERROR (the peer acknowledged our key update without updating);
  // it is refused with malformed, recorded in key_update_error(), and not
  // applied.
  static constexpr uint64_t kUnknownPn = ~uint64_t{0};
  Status on_ack(Space s, uint64_t largest_acked, uint64_t carried_in = kUnknownPn);
  // The largest packet number we acknowledged (application space) in an ACK
  // frame we sent, called once that packet is sealed. Callers that report
  // it get the §6.2 check of consecutive key updates (see key_update_error);
  // without it that check is off.
  void on_ack_sent(uint64_t largest_acknowledged);

  // Key update errors (RFC 9001 §6.2, §6.4), for the caller to close the
  // connection with KEY_UPDATE_ERROR (0x0e). The packet that shows the error
  // is refused with Status::malformed and changes nothing else; the first
  // error stays recorded here.
  //  old_keys_after_new  §6.4 (MUST): a packet opens with the previous keys
  //                      although a lower-numbered packet used the current ones.
  //  consecutive_update  §6.2 (MAY): the peer updates again before we sent an
  //                      ACK for a packet of its current phase (on_ack_sent;
  //                      checked only when the caller reports sent ACKs).
  //  ack_in_old_keys     §6.2 (MAY): see on_ack's `carried_in`.
  KeyUpdateError key_update_error() const { return key_update_error_; }
  // Skips `count` packet numbers on send (RFC 9000 §21.4: skipping detects
  // optimistic acknowledgements). Only forward, so no nonce is ever reused.
  Status skip_packet_numbers(Space s, uint64_t count);

  // Connection IDs (RFC 8922 ME): the DCID and SCID written on send, and the
  // length of our own CIDs that short headers carry. Changing them never
  // touches keys or packet numbers.
  Status set_dcid(std::span<const uint8_t> dcid);
  Status set_scid(std::span<const uint8_t> scid);
  Status set_short_dcid_length(size_t len);
  void set_spin(bool spin) { spin_ = spin; }
  // RFC 9287: we advertised grease_quic_bit, so the peer may send packets with the
  // fixed bit 0; open then accepts them (seal always sets it). Off by default.
  void set_grease_quic_bit(bool accept) { grease_quic_bit_ = accept; }
  std::span<const uint8_t> dcid() const { return {dcid_, dcid_len_}; }

  // Returns how many packets are ok; each packet has its own Status.
  size_t seal(std::span<Packet> packets);
  size_t open(std::span<Packet> packets);
  // Splits `datagram` into `out` with split_datagram, then opens them; a
  // packet whose Destination Connection ID differs from the first packet's is
  // `malformed` and not opened (RFC 9000 §12.2).
  size_t open_datagram(std::span<uint8_t> datagram, std::span<Packet> out, size_t* count);

  bool poll_event(KeyEvent& e) { return events_.poll(e); }

  // Bytes of header a packet of `level` will need in front of its payload
  // (worst case for the packet-number length; Initial counts `token_len`).
  size_t max_header_length(Level level, size_t payload_len, size_t token_len = 0) const;

  // State, for tests and statistics.
  bool has_received(Space s) const { return !spaces_[idx(s)].window.empty(); }
  uint64_t largest_received(Space s) const { return spaces_[idx(s)].window.highest(); }
  uint64_t next_pn(Space s) const { return spaces_[idx(s)].next_pn; }
  uint64_t generation(Direction d) const;  // 1-RTT key generation
  bool key_phase(Direction d) const { return generation(d) & 1; }
  bool has_previous() const;               // 1-RTT open: old generation still kept
  uint64_t auth_failures() const { return auth_failures_; }  // 1-RTT, whole connection
  // Counters of the current generation of a level and direction (null when none).
  const KeyCounters* counters(Level level, Direction dir) const;

 private:
  struct Gen {
    KeyEpoch epoch;
    uint8_t iv[kNonceLen] = {};
    uint64_t number = 0;
  };
  struct Side {
    Gen slot[3];  // 1-RTT rotates current / next / previous; other levels use slot 0
    MaskKey hp;
    Limits limits;
    uint8_t secret[48] = {};  // secret of the newest derived generation (1-RTT)
    uint8_t secret_len = 0;
    uint8_t cur = 0, next = 1, prev = 2;
    bool installed = false, has_next = false, has_prev = false;
    bool exhausted = false;      // integrity limit reached
    Suite suite = Suite::aes128_gcm;
    // seal: first PN sent with the current generation; open: lowest PN
    // authenticated with it.
    uint64_t first_pn = 0;
    bool any_pn = false;
  };
  // Packet numbers received in one space (RFC 9000 §12.3: duplicates are
  // discarded; App. A.3 decodes against the largest), the last 4096 of them.
  struct SpaceState {
    SpaceState() { window.init(ReplayWindow::kMaxSize); }
    uint64_t next_pn = 0;
    uint64_t largest_acked = 0;
    bool any_acked = false;
    ReplayWindow window;
  };
  // Per-burst scratch, kept in the object so that a call zeroes nothing it
  // does not use (one object is used by one thread at a time).
  struct SealMeta {
    uint8_t* hdr;
    uint32_t hdr_len, body_len;  // body = payload + padding
    uint8_t pn_len;
    bool long_hdr;
    int job;
  };
  struct OpenMeta {
    size_t pn_offset = 0;  // from the packet start
    Level level = Level::one_rtt;
    bool long_hdr = false;
    bool unmasked = false;  // header protection removed in place
    bool try_prev = false;  // next keys tried on a flipped phase; previous ones exist
    uint8_t pn_len = 0;
    int mask = -1;          // index into masks, or -1
    int job = -1;           // index into jobs, or -1
    Gen* gen = nullptr;
    uint64_t gen_number = 0;
    uint64_t pn = 0;
  };
  struct Scratch {
    AeadJob jobs[kBurst];
    MaskJob masks[kBurst];
    SealMeta seal[kBurst];
    OpenMeta open[kBurst];
    // What the lean open loops keep per packet beside job i (whose AAD is
    // the header) and mask i: the packet number, rising (one array, so that
    // the window takes a run in one commit_rising).
    uint64_t lean_pn[kBurst];
    int mask_of[kBurst];
  };

  static constexpr size_t idx(Space s) { return static_cast<size_t>(s); }
  static constexpr size_t idx(Level l) { return static_cast<size_t>(l); }
  static constexpr size_t idx(Direction d) { return static_cast<size_t>(d); }
  Side& side(Level l, Direction d) { return sides_[idx(l)][idx(d)]; }
  const Side& side(Level l, Direction d) const { return sides_[idx(l)][idx(d)]; }

  Status derive_into(Side& s, Gen& g, Level l, Direction d, Suite suite,
                     std::span<const uint8_t> secret, uint64_t number);
  Status derive_next(Side& s, Level l, Direction d);
  void rotate_seal();
  void rotate_open(uint64_t pn);
  void wipe_side(Side& s);
  Gen* gen_by_number(Side& s, uint64_t number);
  void count_auth_failure(Side& s, Gen* g);

  size_t seal_chunk(std::span<Packet> packets);
  bool seal_1rtt(std::span<Packet> packets, size_t* ok);
  size_t seal_chunks(std::span<Packet> packets);
  size_t open_chunks(std::span<Packet> packets);
  size_t seal_one(std::span<Packet> one);
  size_t open_one(std::span<Packet> one);
  int open_one_guessed(Packet& p, Gen& g, uint8_t* d, uint64_t expected, uint8_t want, MaskJob& m);
  size_t commit_one(Packet& p, Side& s, Gen& g, uint64_t pn, uint32_t hdr, uint32_t body);
  size_t lean_parse(std::span<Packet> packets);
  size_t lean_jobs(std::span<Packet> packets, size_t count, uint64_t now);
  size_t lean_commit(std::span<Packet> packets, size_t count, uint64_t* bytes);
  void lean_to_meta(size_t jobs, size_t masks);
  bool retry_previous(Side& s, const OpenMeta& mt, const AeadJob& j);
  bool consecutive_update(const Side& s) const;
  void note_key_update_error(KeyUpdateError e) {
    if (key_update_error_ == KeyUpdateError::none) key_update_error_ = e;
  }
  // `splits`: how many more times a run may end early at a packet whose
  // number would decode differently after the ones before it (open_chunk).
  static constexpr unsigned kMaxPnSplits = 8;
  size_t open_chunk(std::span<Packet> packets, unsigned splits = kMaxPnSplits);

  Scratch scratch_;
  Side sides_[4][2];
  SpaceState spaces_[3];
  EventQueue events_;
  Clock clock_;
  Version version_;
  uint64_t auth_failures_ = 0;
  bool soft_integrity_sent_ = false;
  uint8_t dcid_[kMaxCidLen] = {}, scid_[kMaxCidLen] = {};
  uint8_t dcid_len_ = 0, scid_len_ = 0, short_dcid_len_ = 0;
  bool spin_ = false;
  bool grease_quic_bit_ = false;
  // open_one_guessed: the packet number length of the last packet the lean
  // paths opened (0: no guess).
  uint8_t guess_pn_len_ = 0;
  bool uses_clock_ = false;  // some key has an age limit, or a clock was set
  bool ack_sent_reported_ = false;  // on_ack_sent was called at least once
  uint64_t largest_ack_sent_ = 0;
  KeyUpdateError key_update_error_ = KeyUpdateError::none;
  uint64_t now() const { return uses_clock_ ? clock_.read() : 0; }
  bool dcid_of(const Packet& p, std::span<const uint8_t>& cid) const;
};

// Splits a datagram into its coalesced packets (RFC 9000 §12.2): each long
// header's Length field is checked against what is left; a short-header,
// Retry or Version Negotiation packet runs to the end. A packet whose header
// cannot be read covers the rest of the datagram (open() then says why).
// `greased_ok`: the fixed bit may be 0 (RFC 9287, set_grease_quic_bit); such a
// long header is framed by its Length like any other (open_datagram passes
// the connection's setting).
// Returns the number of packets written to `out` (stops when `out` is full).
size_t split_datagram(std::span<uint8_t> datagram, std::span<Packet> out, bool greased_ok = false);

// Retry Integrity Tag (RFC 9001 §5.8, RFC 9369 §3.3.3): AES-128-GCM with a
// fixed key and nonce over the Retry pseudo-packet, usable without any
// connection state (source-address validation, RFC 8922 §5.2).
// `retry_without_tag` is the Retry packet up to (not including) the tag.
Status retry_integrity_tag(Version v, std::span<const uint8_t> original_dcid,
                           std::span<const uint8_t> retry_without_tag, uint8_t tag[kTagLen]);
// ok when the last 16 bytes of `retry_packet` are its valid tag; auth_failed
// otherwise; truncated when shorter than a Retry can be.
Status verify_retry(Version v, std::span<const uint8_t> original_dcid,
                    std::span<const uint8_t> retry_packet);
// Writes a complete Retry packet into `out`; returns its length through `len`.
// `unused_bits` fill the four low bits of the first byte (RFC 9000 §17.2.5
// leaves them unused; the RFC 9001/9369 examples set them to 0xf).
Status write_retry(Version v, std::span<const uint8_t> dcid, std::span<const uint8_t> scid,
                   std::span<const uint8_t> token, std::span<const uint8_t> original_dcid,
                   std::span<uint8_t> out, size_t* len, uint8_t unused_bits = 0);

// Stateless reset (RFC 9000 §10.3.1): whether the last 16 bytes of a datagram
// (at least 21 bytes long) equal one of `tokens`, compared in constant time
// and without stopping at the first match. Call it for datagrams that failed
// to open.
bool is_stateless_reset(std::span<const uint8_t> datagram,
                        std::span<const uint8_t* const> tokens);

// The key schedule, exposed for tests and tools (the class uses the same code).
struct PacketKeys {
  uint8_t key[kMaxKeyLen] = {}, iv[kNonceLen] = {}, hp[kMaxKeyLen] = {};
  uint8_t key_len = 0, hp_len = 0;
  ~PacketKeys();
};
// RFC 9001 §5.2 / RFC 9369 §3.3.1: client and server Initial secrets (32 bytes each).
Status derive_initial_secrets(Version v, std::span<const uint8_t> client_dcid,
                              uint8_t client[32], uint8_t server[32]);
// RFC 9001 §5.1: key, iv and hp from a traffic secret.
Status derive_packet_keys(Version v, Suite s, std::span<const uint8_t> secret, PacketKeys& out);
// RFC 9001 §6.1: the next generation's secret ("quic ku" / "quicv2 ku").
Status derive_next_secret(Version v, Suite s, std::span<const uint8_t> secret,
                          std::span<uint8_t> next);

// quic_pn_length (core/seqnum.h, RFC 9000 §17.1) with the bit length taken in
// one instruction instead of a loop: seal calls it for every packet. The
// tests check that both agree.
constexpr unsigned packet_number_length(uint64_t pn, uint64_t largest_acked, bool none_acked) {
  const uint64_t n = none_acked ? pn + 1 : pn - largest_acked;
  if (n == 0) return 1;
  const unsigned bits = static_cast<unsigned>(std::bit_width(n));
  const unsigned bytes = (n & (n - 1)) == 0 ? (bits + 7) / 8 : bits / 8 + 1;
  return bytes > 4 ? 4 : bytes;
}

// QUIC variable-length integers (RFC 9000 §16). decode returns the bytes
// used, 0 when `in` is too short.
size_t varint_decode(std::span<const uint8_t> in, uint64_t* value);
constexpr size_t varint_length(uint64_t v) {
  return v < 64 ? 1 : v < 16384 ? 2 : v < (uint64_t{1} << 30) ? 4 : 8;
}

}  // namespace rl::quic
