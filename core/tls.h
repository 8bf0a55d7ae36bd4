// TLS 1.3 (RFC 8446 §5) and TLS 1.2 AEAD (RFC 5246 §6.2.3.3, RFC 5288, RFC 7905)
// record protection, in place and in bursts.
//
// One RecordProtection object is one TLS connection's record layer: a seal
// direction and an open direction, each with its own key, sequence number and
// counters. Handshakes live elsewhere and hand keys over through install():
//   TLS 1.3: the traffic secret; key and iv are derived here (§7.3), and
//            update() moves to the next generation ("traffic upd", §7.2).
//   TLS 1.2: the write key and write IV from the key block (4-byte salt for
//            AES-GCM, 12-byte IV for ChaCha20-Poly1305; see core/tls12_prf.h).
//
// Records are views into caller memory (core/packet.h):
//   seal: [offset, offset+length) holds the content; the header is written in
//         the headroom (header_size() bytes) and inner type, padding and tag in
//         the tailroom; afterwards [offset, offset+length) is the whole record.
//   open: [offset, offset+length) holds exactly one whole record (header
//         included, e.g. as yielded by tls::StreamReader); afterwards it is the
//         content and `type` holds the real content type.
//
// Failure policy (TLS over TCP cannot skip a record: RFC 8446 §5.2 and RFC 5246
// §7.2.2 make any failed record fatal). A record whose Status is not ok leaves
// its bytes exactly as they arrived and changes no sequence number, key or
// counter except the key's auth_failures count. By default
// (Config::stop_after_failure) the open direction then stops: the later records
// of the burst and every later open() report Status::closed, and failure()
// says what went wrong. With stop_after_failure = false a failed record is
// treated as if it never arrived (useful to replay captures and for tests).
// Failed authentications count against the key's integrity budget
// (Limits::max_auth_failures, unlimited by default for TLS): when it is
// reached the key is wiped, an integrity_limit event is queued, the rest of
// the burst reports key_exhausted and later opens key_expired.
//
// Limits: default_limits(Protocol::tls13 / tls12, suite) unless given (AES-GCM
// 2^24.5 records, RFC 8446 §5.5); the soft limit queues an event, the hard
// limit makes seal return key_exhausted. The sequence number never wraps:
// after record 2^64-1 the direction returns key_exhausted. The clock is read
// on the data path only for keys that have an age limit.
//
// Not thread-safe: one object, one thread.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>

#include "core/keys.h"
#include "core/packet.h"
#include "simd/jobs.h"
#include "simd/status.h"
#include "simd/suite.h"

namespace rl::tls {

enum class Version : uint8_t { tls12, tls13 };

// ContentType (RFC 8446 §5.1).
enum ContentType : uint8_t {
  change_cipher_spec = 20,
  alert = 21,
  handshake = 22,
  application_data = 23,
};

// AlertLevel / AlertDescription values used here (RFC 8446 §6).
enum AlertLevel : uint8_t { warning = 1, fatal = 2 };
enum AlertDescription : uint8_t {
  close_notify = 0,
  unexpected_message = 10,
  bad_record_mac = 20,
  record_overflow_alert = 22,
  internal_error = 80,
  user_canceled = 90,
};

inline constexpr size_t kHeaderLen = 5;
inline constexpr size_t kMaxPlaintext = 1 << 14;                // 2^14 (§5.1)
inline constexpr size_t kMaxInner13 = kMaxPlaintext + 1;         // TLSInnerPlaintext (§5.4)
inline constexpr size_t kMaxCiphertext13 = kMaxPlaintext + 256;  // §5.2
inline constexpr size_t kMaxCiphertext12 = kMaxPlaintext + 2048; // RFC 5246 §6.2.3
inline constexpr size_t kExplicitNonceLen = 8;                   // RFC 5288 §3
inline constexpr uint16_t kLegacyVersion = 0x0303;

// A record in caller memory plus what the record layer says about it.
struct Record : PacketView {
  uint8_t type = application_data;  // seal: content type to send; open: real type
  uint64_t seq = 0;                 // out: the sequence number it was sealed/opened with
};

// TLS 1.3 padding of TLSInnerPlaintext (RFC 8446 §5.4), chosen by the caller.
struct Padding {
  enum Kind : uint8_t {
    none,      // content ‖ type
    multiple,  // content ‖ type ‖ zeros, total a multiple of `n` (capped at 2^14+1)
    full,      // every record's inner plaintext is 2^14+1 bytes
  };
  Kind kind = none;
  uint16_t n = 0;
};

struct Config {
  Version version = Version::tls13;
  bool stop_after_failure = true;  // see the failure policy above
  Clock clock{};                   // for age limits
};

class RecordProtection {
 public:
  explicit RecordProtection(const Config& cfg = {});
  ~RecordProtection();
  RecordProtection(const RecordProtection&) = delete;
  RecordProtection& operator=(const RecordProtection&) = delete;

  Version version() const { return cfg_.version; }

  // TLS 1.3: `secret` is the traffic secret of this direction (hash length of
  // the suite's hash). Becomes current now, sequence = `initial_seq` (a
  // handshake library may already have sent records under this key).
  // Refused (invalid_argument, nothing changed) on a TLS 1.2 object or when the
  // secret has the wrong length. `limits` default to default_limits(tls13, suite).
  // Installing again (handshake -> application keys) replaces the key; a
  // direction closed by close_notify, a fatal alert or a failure stays closed.
  Status install(Direction dir, Suite suite, std::span<const uint8_t> secret,
                 const Limits* limits = nullptr, uint64_t initial_seq = 0);
  // TLS 1.2: write key and IV of this direction from the key block: the IV is
  // the 4-byte salt for AES-GCM (RFC 5288 §3) and 12 bytes for ChaCha20-Poly1305
  // (RFC 7905 §2). Refused on a TLS 1.3 object or on wrong lengths.
  Status install_tls12(Direction dir, Suite suite, std::span<const uint8_t> key,
                       std::span<const uint8_t> iv, const Limits* limits = nullptr,
                       uint64_t initial_seq = 0);
  // TLS 1.3 KeyUpdate (RFC 8446 §4.6.3, §7.2): this direction moves to the next
  // traffic secret (pre-derived at install / the previous update) and its
  // sequence number restarts at 0. Sending or receiving the KeyUpdate message is
  // the caller's job: seal it, then update(seal); open it, then update(open).
  Status update(Direction dir);
  // Wipes this direction's keys (RFC 8922 CT); later use returns key_expired.
  Status expire(Direction dir);

  // Padding policy for sealed TLS 1.3 records (ignored by TLS 1.2).
  Status set_padding(Padding p);
  Padding padding() const { return padding_; }

  // Seal a burst: each record's content is protected in place with the next
  // sequence number. Returns how many records are ok; each has its own Status
  // (buffer_too_small: not enough headroom/tailroom; record_overflow: content
  // over 2^14; key_exhausted: hard limit or sequence space used up; closed:
  // close_notify or a fatal alert was sealed earlier). A refused record uses no
  // sequence number.
  size_t seal(std::span<Record> records);
  // Open a burst of whole records in order. Returns how many are ok. An opened
  // close_notify or fatal alert is reported (type alert, status ok) and every
  // later record reports closed.
  size_t open(std::span<Record> records);

  // Writes the two alert bytes at r.offset and seals them (RFC 8446 §6). After
  // close_notify or a fatal alert, further seals return closed.
  Status seal_alert(Record& r, AlertLevel level, AlertDescription desc);

  // Bytes a record of `content_len` grows by when sealed (header, explicit
  // nonce, inner type, padding, tag), and the headroom it needs.
  size_t header_size() const;
  size_t sealed_size(size_t content_len) const;

  bool poll_event(KeyEvent& e) { return events_.poll(e); }
  // The current key's counters of a direction, its next sequence number and
  // its generation (0 at install, +1 per update()).
  const KeyCounters& counters(Direction dir) const { return side(dir).key.counters(); }
  uint64_t sequence(Direction dir) const { return side(dir).seq; }
  uint64_t generation(Direction dir) const { return side(dir).generation; }
  bool closed(Direction dir) const { return side(dir).closed; }
  // The first failure that stopped the open direction (ok while it runs).
  Status failure() const { return failure_; }

 private:
  struct Side {
    KeyEpoch key;
    uint8_t iv[kNonceLen] = {};  // TLS 1.3 / ChaCha20: the IV; TLS 1.2 GCM: salt in [0..4)
    // TLS 1.3: this generation's secret, and the next generation's secret, key
    // and IV, derived ahead so that update() only installs them.
    uint8_t secret[48] = {};
    uint8_t next_secret[48] = {};
    uint8_t next_key[kMaxKeyLen] = {};
    uint8_t next_iv[kNonceLen] = {};
    uint8_t secret_len = 0;
    Suite suite = Suite::aes128_gcm;
    Limits limits{};
    uint64_t seq = 0;
    uint64_t generation = 0;
    bool installed = false;
    bool seq_exhausted = false;  // the last sequence number (2^64-1) was used
    bool closed = false;
    void wipe();
  };
  Side& side(Direction d) { return d == Direction::seal ? seal_ : open_; }
  const Side& side(Direction d) const { return d == Direction::seal ? seal_ : open_; }

  Status derive_next(Side& s);
  uint64_t now_for(const Side& s) const;
  size_t padded_inner(size_t content_len) const;
  size_t seal_chunk(std::span<Record> records);
  size_t seal_one(Record& r);
  size_t open_chunk(std::span<Record> records);
  size_t open_one(Record& r);
  Status settle(Record& r, AeadJob& j, uint64_t seq, uint32_t body_off, bool& closing);
  bool ends_chunk(std::span<Record> records, size_t stop, bool closing);

  Config cfg_;
  Padding padding_{};
  Side seal_, open_;
  EventQueue events_;
  Status failure_ = Status::ok;
};

}  // namespace rl::tls
