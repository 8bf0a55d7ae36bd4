// SRTP and SRTCP packet protection (RFC 3711, RFC 6188, RFC 7714, RFC 6904,
// RFC 9335) for many RTP streams (SSRCs) at once.
//
// A Session is one direction (seal = protect, open = unprotect) of an SRTP
// session, like a libsrtp srtp_t used for one side. Streams are found by SSRC
// in an open-addressing table sized at construction; receivers usually set a
// template (policy + master keys) and let streams appear on first use, senders
// may do the same or add streams explicitly. A stream's master keys (several,
// told apart by MKI) are shared with every stream made from the same
// template, as with SDES and DTLS-SRTP where one master key covers the
// session; master-key lifetimes (RFC 3711 §9.2) are counted per master key.
//
// Packets are PacketViews into caller memory. seal() takes the plain RTP
// packet at [offset, offset+length) and appends MKI and tag in the tailroom;
// open() verifies, decrypts in place and shortens the length. Each packet gets
// its own Status. Open is two-phase: parse, index estimate and replay check,
// authenticate, and only then commit ROC/replay window/counters; a packet that
// fails changes no stream state and keeps its bytes as they arrived.
// Hot path: no allocation, no exceptions, no locks. Not thread-safe.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "core/keys.h"
#include "core/packet.h"
#include "core/replay_window.h"
#include "core/srtp_kernels.h"
#include "simd/aead_key.h"
#include "simd/status.h"

namespace rl::srtp {

enum class Profile : uint8_t {
  aes128_cm_sha1_80,  // AES_CM_128_HMAC_SHA1_80 (RFC 3711, RFC 4568)
  aes128_cm_sha1_32,  // AES_CM_128_HMAC_SHA1_32
  aes256_cm_sha1_80,  // AES_256_CM_HMAC_SHA1_80 (RFC 6188)
  aes256_cm_sha1_32,  // AES_256_CM_HMAC_SHA1_32
  aead_aes128_gcm,    // AEAD_AES_128_GCM (RFC 7714)
  aead_aes256_gcm,    // AEAD_AES_256_GCM
  null_sha1_80,       // NULL cipher + HMAC-SHA1-80 (RFC 5764 SRTP_NULL_HMAC_SHA1_80), testing only
  null_sha1_32,       // NULL cipher + HMAC-SHA1-32, testing only
};
inline constexpr Profile kAllProfiles[] = {
    Profile::aes128_cm_sha1_80, Profile::aes128_cm_sha1_32, Profile::aes256_cm_sha1_80,
    Profile::aes256_cm_sha1_32, Profile::aead_aes128_gcm,   Profile::aead_aes256_gcm,
    Profile::null_sha1_80,      Profile::null_sha1_32};

struct ProfileInfo {
  const char* name;          // benchmark name (DESIGN.md §7b)
  const char* sdes_name;     // RFC 4568 / 6188 / 7714 crypto-suite name ("" if none)
  uint8_t master_key_len;    // bytes
  uint8_t master_salt_len;   // 14 (AES-CM PRF), 12 (AEAD, RFC 7714 §12)
  uint8_t session_salt_len;  // 14, or 12 for AEAD
  uint8_t srtp_tag_len;      // 10, 4, or 16 (AEAD)
  uint8_t srtcp_tag_len;     // 10 for every HMAC profile (RFC 5764 §4.1.2), 16 AEAD
  bool aead;
  bool encrypts;  // false for the NULL-cipher profiles
};

constexpr ProfileInfo profile_info(Profile p) {
  switch (p) {
    case Profile::aes128_cm_sha1_80:
      return {"aescm128sha1_80", "AES_CM_128_HMAC_SHA1_80", 16, 14, 14, 10, 10, false, true};
    case Profile::aes128_cm_sha1_32:
      return {"aescm128sha1_32", "AES_CM_128_HMAC_SHA1_32", 16, 14, 14, 4, 10, false, true};
    case Profile::aes256_cm_sha1_80:
      return {"aescm256sha1_80", "AES_256_CM_HMAC_SHA1_80", 32, 14, 14, 10, 10, false, true};
    case Profile::aes256_cm_sha1_32:
      return {"aescm256sha1_32", "AES_256_CM_HMAC_SHA1_32", 32, 14, 14, 4, 10, false, true};
    case Profile::aead_aes128_gcm:
      return {"aes128gcm", "AEAD_AES_128_GCM", 16, 12, 12, 16, 16, true, true};
    case Profile::aead_aes256_gcm:
      return {"aes256gcm", "AEAD_AES_256_GCM", 32, 12, 12, 16, 16, true, true};
    case Profile::null_sha1_80:
      return {"nullsha1_80", "", 16, 14, 14, 10, 10, false, false};
    case Profile::null_sha1_32:
      return {"nullsha1_32", "", 16, 14, 14, 4, 10, false, false};
  }
  return {"?", "", 0, 0, 0, 0, 0, false, false};
}

// How RTP header extensions are protected on a stream.
enum class HeaderExtCrypto : uint8_t {
  none,     // extensions authenticated only (RFC 3711)
  rfc6904,  // the listed extension elements' data encrypted (RFC 6904)
  cryptex,  // CSRCs and the whole extension block encrypted (RFC 9335)
};

inline constexpr size_t kMaxMkiLen = 16;
inline constexpr size_t kMaxMasterKeys = 4;   // per stream / template (MKI rekeying)
inline constexpr uint32_t kMinReplayWindow = 64;  // RFC 3711 §3.3.2

struct Policy {
  Profile profile = Profile::aes128_cm_sha1_80;
  uint32_t replay_window = 128;  // kMinReplayWindow..ReplayWindow::kMaxSize packets
  // key_derivation_rate (RFC 3711 §4.3.1): 0, or a power of two up to 2^24.
  // Refused (invalid_argument) for the AEAD profiles.
  uint64_t kdr = 0;
  uint8_t mki_len = 0;        // 0 (no MKI) .. kMaxMkiLen
  bool srtcp_encrypt = true;  // the E flag this side sets when sealing SRTCP
  HeaderExtCrypto header_ext = HeaderExtCrypto::none;
  std::array<uint64_t, 4> encrypted_ext_ids{};  // RFC 6904: bit i = encrypt element with ID i
  // Known-answer tests only (RFC 7714 §16-17 print session keys, not master
  // keys): use the master key and salt as the session key and salt, no PRF.
  // AEAD profiles only.
  bool raw_session_keys = false;
  // Master-key lifetimes (RFC 3711 §9.2 defaults: 2^48 SRTP, 2^31 SRTCP packets).
  Limits srtp_limits = default_limits(Protocol::srtp, Suite::aes128_gcm);
  Limits srtcp_limits = default_limits(Protocol::srtcp, Suite::aes128_gcm);

  void encrypt_ext_id(uint8_t id) { encrypted_ext_ids[id >> 6] |= uint64_t{1} << (id & 63); }
  bool ext_id_encrypted(uint8_t id) const {
    return (encrypted_ext_ids[id >> 6] >> (id & 63)) & 1;
  }
};

// One master key as the key-management protocol delivers it.
struct MasterKey {
  std::span<const uint8_t> key;
  std::span<const uint8_t> salt;
  std::span<const uint8_t> mki;  // empty when the policy has mki_len 0
};

// A parsed RTP header (RFC 3550 §5.1, RFC 8285 extensions). Offsets are from
// the start of the packet.
struct RtpHeader {
  uint32_t ssrc = 0;
  uint16_t seq = 0;
  uint8_t cc = 0;
  bool padding = false;
  bool extension = false;
  uint16_t ext_profile = 0;  // 0xBEDE one-byte, 0x100X two-byte (RFC 8285 §4)
  uint32_t ext_offset = 0;   // offset of the 4-byte extension header
  uint32_t ext_len = 0;      // bytes of extension data after it
  uint32_t header_len = 0;   // fixed header + CSRCs + extension
};
// Parses in place. truncated: shorter than 12 bytes; malformed: not version 2,
// or CSRCs / extension run past `len`. Never reads past p[len-1].
Status parse_rtp_header(const uint8_t* p, size_t len, RtpHeader& out);

// RFC 3711 Appendix A: the packet index the receiver guesses for `seq` given
// the highest index seen so far (ROC ‖ s_l). Returns false when the guess
// would fall outside 0..2^48-1.
bool estimate_index(uint64_t highest, uint16_t seq, uint64_t& index);

// AES-CM PRF (RFC 3711 §4.3.1-4.3.3): `out` = the first out.size() bytes for
// `label` at `r` = index DIV key_derivation_rate. The salt is 14 bytes (or 12
// for the AEAD profiles, zero-padded on the right as RFC 7714 §11 does).
Status derive_session_key(std::span<const uint8_t> master_key,
                          std::span<const uint8_t> master_salt, uint8_t label, uint64_t r,
                          std::span<uint8_t> out);

// Per-stream state as tests and tools see it.
struct StreamInfo {
  uint32_t ssrc = 0;
  bool any = false;           // a packet was sealed / authenticated
  uint64_t highest_index = 0; // ROC ‖ s_l (meaningful when any)
  uint32_t roc = 0;
  bool rtcp_any = false;
  uint32_t rtcp_highest = 0;  // open side: highest SRTCP index authenticated
  uint32_t rtcp_next = 0;     // seal side: next SRTCP index to use
  uint64_t packets = 0, rtcp_packets = 0;  // sealed / authenticated on this stream
};

class Session {
 public:
  // `max_streams` bounds the number of SSRCs (table allocated here, never on
  // the data path). `clock` feeds the age limits.
  explicit Session(Direction dir, size_t max_streams = 64, Clock clock = {});
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  Direction direction() const { return dir_; }

  // Policy + master keys for streams created on first use (any SSRC).
  // Replacing a template removes the streams made from the old one.
  Status set_template(const Policy& policy, std::span<const MasterKey> keys);
  // An explicit stream with its own keys.
  Status add_stream(uint32_t ssrc, const Policy& policy, std::span<const MasterKey> keys);
  Status remove_stream(uint32_t ssrc);
  size_t stream_count() const { return live_streams_; }
  size_t max_streams() const { return pool_.size(); }

  // MKI rekeying (RFC 3711 §8.1). `ssrc` nullopt = the template's key set.
  Status add_master_key(std::optional<uint32_t> ssrc, const MasterKey& key);
  // Seal side: the master key (by MKI) used from now on.
  Status select_master_key(std::optional<uint32_t> ssrc, std::span<const uint8_t> mki);
  // Wipes a master key (its MKI is refused afterwards).
  Status remove_master_key(std::optional<uint32_t> ssrc, std::span<const uint8_t> mki);

  // Starting ROC for a stream that has not carried a packet yet (a sender
  // joining mid-session, or a receiver told the ROC out of band).
  Status set_roc(uint32_t ssrc, uint32_t roc);

  // Bursts. Return how many packets came out ok.
  size_t seal(std::span<PacketView> pkts);       // protect RTP -> SRTP
  size_t open(std::span<PacketView> pkts);       // unprotect SRTP -> RTP
  size_t seal_rtcp(std::span<PacketView> pkts);  // protect RTCP -> SRTCP
  size_t open_rtcp(std::span<PacketView> pkts);  // unprotect SRTCP -> RTCP

  // Key events (soft/hard lifetime limits, integrity limit, expired). The
  // epoch field names the master key: 2 * key id + (1 for SRTCP, 0 for SRTP),
  // key ids counting from 1 in the order keys were installed on this session.
  bool poll_event(KeyEvent& e) { return events_.poll(e); }
  std::optional<StreamInfo> stream_info(uint32_t ssrc) const;
  // Counters of one master key (SRTP or SRTCP side), nullptr if unknown.
  const KeyCounters* key_counters(std::optional<uint32_t> ssrc, std::span<const uint8_t> mki,
                                  bool rtcp) const;
  uint64_t refused_new_streams() const { return refused_streams_; }

  // Implementation types (public so that srtp.cc's helpers can name them).
  struct KeySet;
  struct Stream;

 private:
  struct Burst;
  Stream* find(uint32_t ssrc) const;
  Stream* create(uint32_t ssrc, KeySet* ks, bool provisional);
  void erase(Stream* s);
  KeySet* keyset_for(std::optional<uint32_t> ssrc) const;
  Status make_keyset(const Policy& policy, std::span<const MasterKey> keys,
                     std::unique_ptr<KeySet>& out);
  // One burst of SRTP or SRTCP packets to seal or to open (srtp.cc §4).
  template <bool rtcp, bool sealing>
  size_t run(std::span<PacketView> pkts, bool lean_loop = true);
  // The lean loop for the usual SRTP AEAD chunk (srtp.cc §4): how many of the
  // first `pkts` (at most one chunk) it settled; run() takes the rest.
  // `one`: a call with a single packet (pkts.size() == 1), compiled apart so
  // that the chunk's loops and arrays fold away.
  template <bool sealing, bool one = false>
  size_t lean(std::span<PacketView> pkts, size_t& ok);

  Direction dir_;
  Clock clock_;
  EventQueue events_;
  std::unique_ptr<KeySet> template_;
  std::vector<std::unique_ptr<Stream>> pool_;
  std::vector<uint32_t> free_;       // free pool slots
  std::vector<int32_t> table_;       // open addressing: pool index or -1
  mutable Stream* last_ = nullptr;   // find()'s one-entry cache, a live stream
  uint32_t table_mask_ = 0;
  size_t live_streams_ = 0;
  uint64_t next_key_id_ = 1;
  uint64_t refused_streams_ = 0;
  std::unique_ptr<Burst> burst_;  // job scratch for one run(), allocated once
};

}  // namespace rl::srtp
