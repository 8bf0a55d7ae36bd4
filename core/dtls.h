// DTLS 1.2 record protection (RFC 6347 §4.1) with the AEAD suites
// (AES-GCM as in RFC 5288, ChaCha20-Poly1305 as in RFC 7905) and RFC 9146
// Connection IDs. Read core/dtls.cc top to bottom for the rules.
//
// Records are views into caller memory (PacketView). Seal takes the plaintext
// at [offset, offset+length) and writes header, explicit nonce, tag (and for CID
// records the inner type and padding) around it, in place. Open takes one
// protected record and leaves the plaintext view in place. A burst of records
// becomes one burst of AEAD jobs; state (replay window, counters) is committed
// only for records that authenticated.
//
// Not thread-safe: one object per association and direction pair, one thread.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>

#include "core/keys.h"
#include "core/packet.h"
#include "core/replay_window.h"
#include "simd/jobs.h"

namespace rl::dtls {

inline constexpr uint8_t kContentTls12Cid = 25;    // RFC 9146 §4
inline constexpr uint16_t kVersion = 0xfefd;       // DTLS 1.2 on the wire
inline constexpr size_t kHeaderLen = 13;           // type, version, epoch, seq48, length
inline constexpr size_t kExplicitNonceLen = 8;     // AES-GCM only (RFC 5288 §3)
inline constexpr size_t kMaxCidLen = 255;          // RFC 9146: opaque cid<0..2^8-1>
inline constexpr size_t kMaxPlaintext = 16384;     // RFC 6347 §4.1 / RFC 5246 §6.2.1
inline constexpr uint64_t kMaxSeq = (uint64_t{1} << 48) - 1;

// Per-key options for install().
struct KeyOptions {
  uint64_t first_seq = 0;         // seal: next sequence number (Finished may have used 0)
  const Limits* limits = nullptr; // nullptr: default_limits(Protocol::dtls12, suite)
  uint32_t replay_window = 64;    // open: window size in records, 1..4096
  // Seal, AES-GCM: explicit nonce = (epoch ‖ seq) + offset mod 2^64. RFC 5288
  // §3 only asks that it never repeat under a key; 0 (epoch ‖ seq, as RFC 6347
  // suggests) is the default, OpenSSL starts from a random value.
  uint64_t gcm_explicit_offset = 0;
};

// One record. Seal: pkt holds the plaintext, `type` and `padding` are inputs.
// Open: pkt holds one protected record; on ok it is narrowed to the plaintext,
// and type / epoch / seq / cid say what authenticated.
struct Record {
  PacketView pkt;
  uint8_t type = 23;           // seal: content type; open: the real content type
  uint16_t padding = 0;        // seal, CID records only: zero bytes after the inner type
  uint16_t epoch = 0;          // out
  uint64_t seq = 0;            // out: 48-bit sequence number
  std::span<const uint8_t> cid;  // open out: the authenticated CID (points into pkt.buf)
  // Open out: authenticated and newer (epoch, then sequence number) than every
  // record opened before. RFC 9146 §6 / RFC 8922 ME: only such a record may
  // move the peer address of a CID association.
  bool newest = false;
  Status status() const { return pkt.status; }
};

// Room the caller leaves before / after the plaintext for seal.
size_t seal_headroom(Suite s, size_t cid_len);
size_t seal_tailroom(Suite s, size_t cid_len, size_t padding);

class RecordProtection {
 public:
  static constexpr size_t kOpenEpochs = 2;  // current and the one before (rehandshake)
  static constexpr size_t kBurst = 32;      // records per AEAD burst
  static constexpr size_t kLeanCidAad = 64; // AAD slot of a lean CID record (dtls.cc)

  explicit RecordProtection(Clock clock = {}) : clock_(clock) {}
  RecordProtection(const RecordProtection&) = delete;
  RecordProtection& operator=(const RecordProtection&) = delete;

  // Installs the raw keys of one direction from the TLS 1.2 key block: the
  // write key and the write IV (4-byte salt for AES-GCM, 12 bytes for
  // ChaCha20-Poly1305). Seal: the new epoch becomes current at
  // opt.first_seq. Open: the epoch is added beside the previous one (the
  // oldest is wiped when a third arrives) with an empty replay window.
  // A refused install leaves the previous key of that slot untouched.
  Status install(Direction dir, uint16_t epoch, Suite suite, std::span<const uint8_t> key,
                 std::span<const uint8_t> iv, const KeyOptions& opt = {});

  // RFC 9146 Connection IDs. Seal: the CID the peer asked us to send (empty:
  // plain records). Open: the CID we issued (empty: none); when set, protected
  // records must be tls12_cid records carrying exactly this CID.
  Status set_seal_cid(std::span<const uint8_t> cid);
  Status set_open_cid(std::span<const uint8_t> cid);

  // Wipes the key of that epoch (CT); later records of it get unknown_epoch
  // (open) or key_expired (seal).
  Status expire(Direction dir, uint16_t epoch);

  // Both return how many records are ok; each record carries its own Status.
  size_t seal(std::span<Record> records);
  size_t open(std::span<Record> records);

  // Walks the records of one datagram (RFC 6347 §4.1.1: several records may
  // share a datagram), fills out[0..*found) with views into `datagram` and
  // opens them. A record whose header cannot be parsed ends the walk (its
  // Status says why; the rest of the datagram cannot be framed). At most
  // out.size() records are looked at.
  size_t open_datagram(std::span<uint8_t> datagram, std::span<Record> out, size_t* found);

  bool poll_event(KeyEvent& e) { return events_.poll(e); }
  EventQueue& events() { return events_; }

  // Introspection (tests, statistics).
  uint16_t seal_epoch() const { return seal_.epoch; }
  uint64_t next_seq() const { return seal_.next_seq; }
  const KeyEpoch* key(Direction dir, uint16_t epoch) const;
  const ReplayWindow* window(uint16_t epoch) const;

 private:
  struct Epoch {
    KeyEpoch key;
    uint8_t iv[kNonceLen] = {};  // salt (4) for GCM, full IV (12) for ChaCha20
    uint16_t epoch = 0;
    uint64_t next_seq = 0;   // seal only
    uint64_t explicit_offset = 0;  // seal only
    ReplayWindow window;     // open only
    bool live() const { return key.live(); }
  };
  Epoch* open_epoch(uint16_t epoch);
  size_t seal_one(Record& r);
  [[gnu::noinline]] size_t seal_one_cid(Record& r);
  [[gnu::always_inline]] size_t seal_chunk(std::span<Record> records);
  [[gnu::noinline]] size_t seal_chunks(std::span<Record> records);
  [[gnu::noinline]] size_t seal_general(std::span<Record> records, size_t lean, bool fast,
                                        Status answer, bool asked, uint64_t now, AeadJob* jobs,
                                        uint8_t (*aad)[16]);
  size_t open_one(Record& r);
  [[gnu::noinline]] size_t open_one_cid(Record& r);
  [[gnu::always_inline]] size_t open_chunk(std::span<Record> records);
  [[gnu::noinline]] size_t open_chunks(std::span<Record> records);
  [[gnu::noinline]] size_t open_general(std::span<Record> records, size_t lean, Epoch* e0,
                                        Status admit0, BurstClock clock, AeadJob* jobs,
                                        uint8_t (*aad)[16], const uint64_t* seqs);
  [[gnu::always_inline]] size_t commit_one(Record& r, Epoch* e, uint32_t offset, size_t len,
                                           uint8_t type, uint64_t seq);
  template <bool CID>
  [[gnu::always_inline]] size_t commit_lean(std::span<Record> records, const AeadJob* jobs,
                                            const uint64_t* seqs, Epoch* e);
  size_t commit_general(std::span<Record> records, AeadJob* jobs, size_t from, size_t n,
                        size_t lean, Epoch* e0, const uint8_t* idx, Epoch* const* slot,
                        const uint8_t* otype, bool rising);

  Clock clock_;
  EventQueue events_;
  Epoch seal_;
  Epoch open_[kOpenEpochs];
  uint8_t seal_cid_[kMaxCidLen] = {};
  uint8_t open_cid_[kMaxCidLen] = {};
  // RFC 9146 §5 AAD templates of the lean loops (CIDs of up to 32 bytes).
  alignas(16) uint8_t seal_cid_aad_[kLeanCidAad] = {};
  alignas(16) uint8_t open_cid_aad_[kLeanCidAad] = {};
  uint8_t seal_cid_len_ = 0, open_cid_len_ = 0;
  bool open_cid_set_ = false;
  uint16_t newest_epoch_ = 0;  // highest epoch with an authenticated record
  bool any_opened_ = false;
};

}  // namespace rl::dtls
