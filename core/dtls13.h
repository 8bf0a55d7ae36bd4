// DTLS 1.3 record protection (RFC 9147 §4): the unified header, record number
// encryption (§4.2.3), sequence number and epoch reconstruction (§4.2.2),
// per-epoch keys from traffic secrets with the "dtls13" label prefix, key
// update = next epoch. Read core/dtls13.cc top to bottom for the rules.
//
// Records are views into caller memory (PacketView), sealed and opened in
// place. A burst becomes one burst of AEAD jobs and one burst of mask jobs;
// state (replay windows, counters, current epoch) is committed only for
// records that authenticated.
//
// Not thread-safe: one object per association, one thread.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>

#include "core/keys.h"
#include "core/packet.h"
#include "core/replay_window.h"
#include "simd/aead_key.h"
#include "simd/jobs.h"

namespace rl::dtls13 {

inline constexpr size_t kMaxCidLen = 255;
inline constexpr size_t kMaxPlaintext = 16384;           // RFC 8446 §5.1
inline constexpr size_t kMaxInner = kMaxPlaintext + 256;  // RFC 8446 §5.2 (content+type+pad)
inline constexpr size_t kMinCiphertext = 16;              // §4.2.3: the mask sample

// One record. Seal: pkt holds the content; type, padding and the header
// shape (seq16, with_length) are inputs. Open: pkt holds one record; on ok it
// is narrowed to the content and type/epoch/seq/cid say what authenticated.
struct Record {
  PacketView pkt;
  uint8_t type = 23;           // seal: content type; open: the real type
  uint16_t padding = 0;        // seal: zero bytes after the inner type
  bool seq16 = true;           // seal: S bit (16-bit) or 8-bit sequence number
  bool with_length = true;     // seal: L bit; only the last record of a datagram may omit it
  uint64_t epoch = 0;          // out
  uint64_t seq = 0;            // out: full 64-bit sequence number
  std::span<const uint8_t> cid;  // open out: the authenticated CID (points into pkt.buf)
  // Open out: authenticated and newer (epoch, then sequence number) than every
  // record opened before; only such a record may move the peer address of a
  // CID association (RFC 9146 §6, RFC 9147 §9, RFC 8922 ME).
  bool newest = false;
  Status status() const { return pkt.status; }
};

// Room the caller leaves before / after the content for seal.
constexpr size_t seal_headroom(size_t cid_len, bool seq16 = true, bool with_length = true) {
  return 1 + cid_len + (seq16 ? 2 : 1) + (with_length ? 2 : 0);
}
constexpr size_t seal_tailroom(size_t padding) { return 1 + padding + 16; }

struct KeyOptions {
  const Limits* limits = nullptr;  // nullptr: default_limits(Protocol::dtls13, suite)
  uint32_t replay_window = 64;     // open: 1..4096 records
};

class RecordProtection {
 public:
  static constexpr size_t kBurst = 32;

  explicit RecordProtection(Clock clock = {}) : clock_(clock) {}
  RecordProtection(const RecordProtection&) = delete;
  RecordProtection& operator=(const RecordProtection&) = delete;

  // Installs the traffic secret of `epoch` (RFC 9147 §6.1: 2 = handshake,
  // 3 = first application secret, then one per KeyUpdate); key, iv and sn_key
  // are derived here. Seal: becomes current at sequence 0. Open: kept beside
  // the other epochs; an open epoch lives in slot epoch mod 4, so the low two
  // epoch bits on the wire (§4.2.2) always name one key.
  Status install(Direction dir, uint64_t epoch, Suite suite, std::span<const uint8_t> secret,
                 const KeyOptions& opt = {});

  // Key update (RFC 9147 §8, RFC 8446 §7.2): the next epoch from
  // HKDF-Expand-Label(secret, "traffic upd", "", Hash.length) with the dtls13
  // prefix. Seal: switches now (sequence 0 again). Open: installs the epoch
  // after the newest one beside it; older epochs stay for late records until
  // expire() (the caller chooses how long; RFC 9147 §4.2.1 suggests the MSL).
  Status update(Direction dir);

  // Wipes one epoch's keys and secret (CT). Later records of it: unknown_epoch.
  Status expire(Direction dir, uint64_t epoch);

  // Connection IDs (RFC 9147 §9). Seal: the CID the peer asked for (empty:
  // none). Open: the CID we issued; records must carry exactly it (C bit set).
  Status set_seal_cid(std::span<const uint8_t> cid);
  Status set_open_cid(std::span<const uint8_t> cid);

  size_t seal(std::span<Record> records);
  size_t open(std::span<Record> records);

  // Walks one datagram (§4.3): records with L are framed by their length, a
  // record without L takes the rest. DTLSPlaintext records (first byte 21, 22
  // or 26: 13-byte header with length) are skipped and reported as
  // not_protected. A first byte that is neither ends the walk as malformed.
  // At most out.size() records are looked at.
  size_t open_datagram(std::span<uint8_t> datagram, std::span<Record> out, size_t* found);

  bool poll_event(KeyEvent& e) { return events_.poll(e); }

  // Introspection.
  uint64_t seal_epoch() const { return seal_.epoch; }
  uint64_t next_seq() const { return seal_.next_seq; }
  uint64_t open_current_epoch() const { return open_current_; }
  const KeyEpoch* key(Direction dir, uint64_t epoch) const;
  const ReplayWindow* window(uint64_t epoch) const;

 private:
  struct Epoch {
    KeyEpoch key;
    MaskKey sn;
    uint8_t iv[kNonceLen] = {};
    uint8_t secret[48] = {};
    uint8_t secret_len = 0;
    uint64_t epoch = 0;
    uint64_t next_seq = 0;  // seal
    ReplayWindow window;    // open
    uint32_t window_size = 64;
    const Limits* limits = nullptr;
    Limits limits_copy;
    bool live() const { return key.live(); }
    void wipe();
  };
  Status load(Epoch& e, Direction dir, uint64_t epoch, Suite suite,
              std::span<const uint8_t> secret, const KeyOptions& opt);
  Epoch* open_epoch_bits(unsigned bits) {
    Epoch& e = open_[bits & 3];
    return e.live() ? &e : nullptr;
  }
  size_t seal_chunk(std::span<Record> records);
  size_t seal_one(Record& r);
  // The seal's lean loop (core/dtls13.cc): CIDs up to this many bytes keep
  // the header within one 16-byte AAD slot.
  static constexpr size_t kLeanMaxCid = 11;
  [[gnu::noinline]] size_t seal_lean(std::span<Record> records, AeadJob* jobs, MaskJob* masks,
                                     uint8_t (*aad)[16], uint64_t* bytes);
  [[gnu::noinline]] size_t seal_lean_finish(std::span<Record> records, const AeadJob* jobs,
                                            const MaskJob* masks, const uint8_t (*aad)[16]);
  // `splits`: how many more times a chunk may end early at a record whose
  // sequence number would reconstruct differently after the ones before it.
  static constexpr unsigned kMaxSeqSplits = 8;
  size_t open_chunk(std::span<Record> records, unsigned splits = kMaxSeqSplits);
  size_t open_one(Record& r);
  int open_one_guessed(Record& r, Epoch& e, size_t hdr, unsigned seq_at, uint64_t expected, MaskJob& m);
  Epoch* lean_epoch(size_t n, uint64_t* expected);
  bool settle(Record& r, AeadJob& j, Epoch& e, unsigned seq_at, bool rising);

  Clock clock_;
  EventQueue events_;
  Epoch seal_;
  Epoch open_[4];
  uint64_t open_current_ = 0;
  bool open_any_ = false;
  // open_one guesses the next record's sequence number (open_one_guessed)
  // after a record opened through the lean paths, until a guess is wrong.
  bool guess_seq_ = false;
  uint8_t seal_cid_[kMaxCidLen] = {};
  uint8_t open_cid_[kMaxCidLen] = {};
  uint8_t seal_cid_len_ = 0, open_cid_len_ = 0;
};

}  // namespace rl::dtls13
