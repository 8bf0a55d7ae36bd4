// DTLS 1.3 records, read top to bottom:
//   1. the unified header and what is AAD
//   2. keys: traffic secret -> key, iv, sn_key; key update = next epoch
//   3. seal: header with the plain sequence number as AAD, AEAD, then mask
//   4. open: parse, unmask, reconstruct, replay check, AEAD, commit
//   5. datagrams with several records
#include "core/dtls13.h"

#include <array>
#include <cstring>
#include <new>

#include <openssl/mem.h>

#include "core/aead.h"
#include "core/bytes.h"
#include "core/job_fill.h"
#include "core/scratch.h"
#include "core/hkdf.h"
#include "core/seqnum.h"

namespace rl::dtls13 {
namespace {

// ---- 1. The unified header (RFC 9147 §4, Figure 3) ------------------------------
//
//   0 0 1 C S L E E | CID (if C; length known to the receiver) |
//   seq (8 bits, or 16 if S) | length (16 bits, if L) | encrypted_record
//
// §4: "The entire header value shown in Figure 4 (but prior to record number
// encryption; see Section 4.2.3) is used as the additional data value for the
// AEAD function", and the nonce uses the 64-bit sequence number only ("unlike
// DTLS 1.2, the epoch is not included"): nonce = iv XOR seq (RFC 8446 §5.3).
// So seal runs the AEAD over the header with the plain sequence number and
// masks the sequence number afterwards; open unmasks first, then verifies.
//
// §4.2.3: mask = AES-ECB(sn_key, ciphertext[0..15]) or ChaCha20(sn_key,
// counter = ciphertext[0..3], nonce = ciphertext[4..15]); the leading mask
// bytes are XORed onto the on-the-wire sequence number bytes. Ciphertext
// shorter than 16 bytes is rejected.

constexpr uint8_t kFixedBits = 0x20, kFixedMask = 0xe0;
constexpr uint8_t kBitC = 0x10, kBitS = 0x08, kBitL = 0x04;
constexpr size_t kTagLen = 16;

// DTLS 1.3 content types: alert(21) handshake(22) application_data(23)
// heartbeat(24) ack(26). change_cipher_spec does not exist in 1.3.
bool valid_type(uint8_t t) { return (t >= 21 && t <= 24) || t == 26; }

// 0, 1, ..., 31: the index arrays of a burst whose first records took a lean
// loop start as this (one copy instead of a loop).
constexpr auto kIota = [] {
  std::array<uint8_t, 32> a{};
  for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<uint8_t>(i);
  return a;
}();
// First bytes of DTLSPlaintext records that may share a datagram (§4.1).
bool plaintext_type(uint8_t t) { return t == 21 || t == 22 || t == 26; }

Hash hash_of(Suite s) { return suite_info(s).hash; }

}  // namespace

// ---- 2. Keys --------------------------------------------------------------------

void RecordProtection::Epoch::wipe() {
  key.expire();
  sn.wipe();
  OPENSSL_cleanse(iv, sizeof iv);
  OPENSSL_cleanse(secret, sizeof secret);
  secret_len = 0;
  window.reset();
}

// RFC 9147 §5.9 / RFC 8446 §7.3 with the "dtls13" label prefix:
//   key = HKDF-Expand-Label(secret, "key", "", key_length)
//   iv  = HKDF-Expand-Label(secret, "iv",  "", 12)
//   sn_key = HKDF-Expand-Label(secret, "sn", "", key_length)     (§4.2.3)
Status RecordProtection::load(Epoch& e, Direction dir, uint64_t epoch, Suite suite,
                              std::span<const uint8_t> secret, const KeyOptions& opt) {
  const SuiteInfo si = suite_info(suite);
  if (si.key_len == 0 || secret.size() != hash_len(si.hash)) return Status::invalid_argument;
  if (dir == Direction::open &&
      (opt.replay_window == 0 || opt.replay_window > ReplayWindow::kMaxSize))
    return Status::invalid_argument;
  const Hash h = hash_of(suite);
  uint8_t key[kMaxKeyLen], iv[kNonceLen], sn[kMaxKeyLen];
  const std::span<const uint8_t> none;
  Status st = hkdf_expand_label(h, secret, "key", none, {key, si.key_len}, kDtls13LabelPrefix);
  if (st == Status::ok)
    st = hkdf_expand_label(h, secret, "iv", none, {iv, kNonceLen}, kDtls13LabelPrefix);
  if (st == Status::ok)
    st = hkdf_expand_label(h, secret, "sn", none, {sn, si.key_len}, kDtls13LabelPrefix);
  if (st == Status::ok) {
    const Limits l = opt.limits != nullptr ? *opt.limits : default_limits(Protocol::dtls13, suite);
    e.wipe();
    st = e.key.install(epoch, dir, suite, {key, si.key_len}, l, clock_.read(), &events_);
    if (st == Status::ok) st = e.sn.init(suite, {sn, si.key_len});
    if (st == Status::ok) {
      std::memcpy(e.iv, iv, kNonceLen);
      std::memcpy(e.secret, secret.data(), secret.size());
      e.secret_len = static_cast<uint8_t>(secret.size());
      e.epoch = epoch;
      e.next_seq = 0;
      e.window_size = opt.replay_window;
      e.window.init(opt.replay_window);
      e.limits_copy = l;
      e.limits = opt.limits != nullptr ? &e.limits_copy : nullptr;
      KeyEvent ev;
      ev.epoch = epoch;
      ev.dir = dir;
      ev.kind = KeyEvent::installed;
      events_.push(ev);
    } else {
      e.wipe();
    }
  }
  OPENSSL_cleanse(key, sizeof key);
  OPENSSL_cleanse(iv, sizeof iv);
  OPENSSL_cleanse(sn, sizeof sn);
  return st;
}

Status RecordProtection::install(Direction dir, uint64_t epoch, Suite suite,
                                 std::span<const uint8_t> secret, const KeyOptions& opt) {
  if (dir == Direction::seal) return load(seal_, dir, epoch, suite, secret, opt);
  return load(open_[epoch & 3], dir, epoch, suite, secret, opt);
}

Status RecordProtection::update(Direction dir) {
  Epoch* from = nullptr;
  if (dir == Direction::seal) {
    from = seal_.live() ? &seal_ : nullptr;
  } else {
    for (Epoch& e : open_)
      if (e.live() && (from == nullptr || e.epoch > from->epoch)) from = &e;
  }
  if (from == nullptr) return Status::key_expired;
  // RFC 9147 §6.1: the epoch is a 64-bit counter that MUST NOT wrap.
  if (from->epoch == UINT64_MAX) return Status::key_exhausted;
  const Suite suite = from->key.suite();
  const Hash h = hash_of(suite);
  uint8_t next[48];
  const size_t len = from->secret_len;
  Status st = hkdf_expand_label(h, {from->secret, len}, "traffic upd", {}, {next, len},
                                kDtls13LabelPrefix);
  if (st == Status::ok) {
    KeyOptions opt;
    opt.limits = from->limits;
    opt.replay_window = from->window_size;
    const uint64_t epoch = from->epoch + 1;
    Epoch& to = dir == Direction::seal ? seal_ : open_[epoch & 3];
    st = load(to, dir, epoch, suite, {next, len}, opt);
  }
  OPENSSL_cleanse(next, sizeof next);
  return st;
}

Status RecordProtection::expire(Direction dir, uint64_t epoch) {
  Epoch& e = dir == Direction::seal ? seal_ : open_[epoch & 3];
  if (!e.live() || e.epoch != epoch) return Status::unknown_epoch;
  e.wipe();
  return Status::ok;
}

Status RecordProtection::set_seal_cid(std::span<const uint8_t> cid) {
  if (cid.size() > kMaxCidLen) return Status::invalid_argument;
  if (!cid.empty()) std::memcpy(seal_cid_, cid.data(), cid.size());
  seal_cid_len_ = static_cast<uint8_t>(cid.size());
  return Status::ok;
}

Status RecordProtection::set_open_cid(std::span<const uint8_t> cid) {
  if (cid.size() > kMaxCidLen) return Status::invalid_argument;
  if (!cid.empty()) std::memcpy(open_cid_, cid.data(), cid.size());
  open_cid_len_ = static_cast<uint8_t>(cid.size());
  return Status::ok;
}

const KeyEpoch* RecordProtection::key(Direction dir, uint64_t epoch) const {
  const Epoch& e = dir == Direction::seal ? seal_ : open_[epoch & 3];
  return e.live() && e.epoch == epoch ? &e.key : nullptr;
}

const ReplayWindow* RecordProtection::window(uint64_t epoch) const {
  const Epoch& e = open_[epoch & 3];
  return e.live() && e.epoch == epoch ? &e.window : nullptr;
}

// ---- 3. Seal --------------------------------------------------------------------

namespace {
// The lean loops of DTLS 1.3 seal, for the usual burst (fast mode: far from
// every limit and from the end of the sequence space): records in the header
// shape our peers get (16-bit sequence number, length, the CID if any),
// without padding, whose header fits one 16-byte AAD slot. Each takes only
// what the general loop of seal_chunk would take with the same result and
// stops at the first record that needs anything else; the general loop goes
// on from there. (Separate functions, so that their few constants stay in
// registers.)

// XORs `v` (4 bytes, memory order) into the 16-byte header image `w` at
// bit `sh`. kPos says where bytes sh/8 .. sh/8 + 3 sit: 0 in the first 8 (a
// CID of up to 3 bytes), 1 in the second 8, 2 across the two; 3 is no CID
// (the 5-byte header: the lean functions take it as a constant).
template <int kPos>
inline recjob::Block16 xor_in(recjob::Block16 w, uint32_t v, unsigned sh) {
  if constexpr (kPos == 0 || kPos == 3) {
    w.lo ^= uint64_t{v} << sh;
  } else if constexpr (kPos == 1) {
    w.hi ^= uint64_t{v} << (sh - 64);
  } else {
    const unsigned __int128 x = static_cast<unsigned __int128>(v) << sh;
    w.lo ^= static_cast<uint64_t>(x);
    w.hi ^= static_cast<uint64_t>(x >> 64);
  }
  return w;
}

// Whether `r` has the lean shape: a well-formed view with room for the
// header before and the type byte and tag after, sane content, no padding.
inline bool lean_sealable(const Record& r, size_t hdr) {
  const uint32_t off = r.pkt.offset, len = r.pkt.length, cap = r.pkt.capacity;
  return r.pkt.buf != nullptr && off <= cap && len <= cap - off && cap - off - len >= 1 + kTagLen &&
         off >= hdr && len <= kMaxPlaintext && valid_type(r.type) && r.seq16 && r.with_length &&
         r.padding == 0;
}

// Phase 1: builds the AEAD and mask jobs of records[i] while each has the
// lean shape; the AAD (the header with the clear sequence number, §4) is
// composed in registers from `base` (first byte and CID) and written to its
// slot with one store; the record's header is written after the mask.
// Sequence numbers seq0, seq0 + 1, ...; *bytes gets the content bytes.
template <int kPos>
[[gnu::always_inline]] inline size_t seal_run_body(std::span<Record> records,
                                                   recjob::Block16 base, size_t hdr,
                                                   unsigned seq_at, uint64_t seq0,
                                                   const AeadKey* key, recjob::Block16 iv,
                                                   const MaskKey* sn, uint64_t epoch,
                                                   AeadJob* jobs, MaskJob* masks,
                                                   uint8_t (*aad)[16], uint64_t* bytes) {
  if constexpr (kPos == 3) hdr = 5, seq_at = 1;
  const unsigned sh = 8 * seq_at;
  uint64_t sum = 0;
  size_t i = 0;
  for (; i < records.size(); ++i) {
    Record& r = records[i];
    if (!lean_sealable(r, hdr)) break;
    const uint32_t len = r.pkt.length;
    const uint64_t seq = seq0 + i;
    uint8_t* const data = r.pkt.buf + r.pkt.offset;
    data[len] = r.type;  // DTLSInnerPlaintext = content ‖ type
    const uint32_t wire_len = len + 1 + kTagLen;
    const uint32_t v = uint32_t{__builtin_bswap16(static_cast<uint16_t>(seq))} |
                       uint32_t{__builtin_bswap16(static_cast<uint16_t>(wire_len))} << 16;
    recjob::store16(aad[i], xor_in<kPos>(base, v, sh));
    recjob::make(jobs + i, key, recjob::xor_seq(iv, seq), {aad[i], hdr}, {data, len + 1u},
                 data + len + 1);
    MaskJob* const mj = ::new (static_cast<void*>(masks + i)) MaskJob;
    mj->key = sn;
    mj->sample = data;  // len + 17 >= 17 bytes
    r.epoch = epoch;
    r.seq = seq;
    r.cid = {};
    sum += len;
  }
  *bytes = sum;
  return i;
}

template <int kPos>
size_t seal_run(std::span<Record> records, recjob::Block16 base, size_t hdr, unsigned seq_at,
                uint64_t seq0, const AeadKey* key, recjob::Block16 iv, const MaskKey* sn,
                uint64_t epoch, AeadJob* jobs, MaskJob* masks, uint8_t (*aad)[16],
                uint64_t* bytes) {
  return seal_run_body<kPos>(records, base, hdr, seq_at, seq0, key, iv, sn, epoch, jobs, masks,
                             aad, bytes);
}

// Phase 3 for those records: the header, the AAD slot with the mask XORed
// onto the sequence number (§4.2.3), written before the ciphertext; the view
// widened to the whole record.
template <int kPos>
[[gnu::always_inline]] inline size_t seal_finish_body(std::span<Record> records,
                                                      const AeadJob* jobs, const MaskJob* masks,
                                                      const uint8_t (*aad)[16], size_t hdr,
                                                      unsigned seq_at) {
  if constexpr (kPos == 3) hdr = 5, seq_at = 1;
  const unsigned sh = 8 * seq_at;
  size_t ok = 0;
  for (size_t k = 0; k < records.size(); ++k) {
    PacketView& p = records[k].pkt;
    p.status = jobs[k].status;
    if (p.status != Status::ok) continue;
    uint16_t m16;
    std::memcpy(&m16, masks[k].mask, 2);
    const recjob::Block16 w =
        xor_in<kPos>({recjob::le64(aad[k]), recjob::le64(aad[k] + 8)}, m16, sh);
    uint8_t* const start = p.data() - hdr;
    if (hdr == 5) {  // no CID
      const uint32_t first4 = static_cast<uint32_t>(w.lo);
      std::memcpy(start, &first4, 4);
      start[4] = static_cast<uint8_t>(w.lo >> 32);
    } else {
      uint8_t h[16];
      recjob::store16(h, w);
      std::memcpy(start, h, hdr);
    }
    p.offset -= static_cast<uint32_t>(hdr);
    p.length += static_cast<uint32_t>(hdr + 1 + kTagLen);
    ++ok;
  }
  return ok;
}
template <int kPos>
size_t seal_finish(std::span<Record> records, const AeadJob* jobs, const MaskJob* masks,
                   const uint8_t (*aad)[16], size_t hdr, unsigned seq_at) {
  return seal_finish_body<kPos>(records, jobs, masks, aad, hdr, seq_at);
}
}  // namespace


// A burst of one record: the lean loop's phases for it (seal_lean,
// seal_lean_finish) without seal_chunk's arrays and general loop; anything
// else goes to seal_chunk before anything is asked or changed. The key is
// asked once, admit_seal(1, length): what seal_chunk's general mode asks
// for one record, and (no age limit, so the key is quiet whenever it is
// live) what its fast mode's two questions, admit_seal(0, 0) then
// admit_seal(1, length), come to.
size_t RecordProtection::seal_one(Record& r) {
  const size_t cid_len = seal_cid_len_;
  if (!seal_.live() || seal_.next_seq == UINT64_MAX || cid_len > kLeanMaxCid ||
      seal_.key.limits().has_age_limit() || !lean_sealable(r, seal_headroom(cid_len)))
    return seal_chunk({&r, 1});
  // (BurstClock's "now" for a key without an age limit.)
  if (const Status st = seal_.key.admit_seal(1, r.pkt.length, seal_.key.installed_at());
      st != Status::ok) {
    r.pkt.status = st;  // no sequence number used
    return 0;
  }
  Scratch<AeadJob, 1> jobs;
  Scratch<MaskJob, 1> masks;
  alignas(16) uint8_t aad[1][16];
  uint64_t bytes = 0;
  // Both take it (lean_sealable); without a CID (the constant 5-byte
  // header) inline, with one as seal_chunk's lean loop.
  if (cid_len == 0) {
    const recjob::Block16 base{
        static_cast<uint8_t>(kFixedBits | kBitS | kBitL | (seal_.epoch & 3)), 0};
    seal_run_body<3>({&r, 1}, base, 5, 1, seal_.next_seq, &seal_.key.aead(),
                     recjob::load_iv(seal_.iv), &seal_.sn, seal_.epoch, &jobs[0], &masks[0], aad,
                     &bytes);
  } else {
    seal_lean({&r, 1}, &jobs[0], &masks[0], aad, &bytes);
  }
  ++seal_.next_seq;
  rl::seal_masked(jobs[0], masks[0]);  // §4.2.3: the mask over the ciphertext just produced
  if (cid_len == 0) return seal_finish_body<3>({&r, 1}, &jobs[0], &masks[0], aad, 5, 1);
  return seal_lean_finish({&r, 1}, &jobs[0], &masks[0], aad);
}

size_t RecordProtection::seal(std::span<Record> records) {
  if (records.size() == 1) return seal_one(records[0]);
  size_t ok = 0;
  for (size_t i = 0; i < records.size(); i += kBurst)
    ok += seal_chunk(records.subspan(i, std::min(kBurst, records.size() - i)));
  return ok;
}

// The seal's lean loop for a burst whose first record has the lean shape
// (out of line: the general loop of seal_chunk stays as compact as without
// it). Returns how many records from the first it took.
size_t RecordProtection::seal_lean(std::span<Record> records, AeadJob* jobs, MaskJob* masks,
                                   uint8_t (*aad)[16], uint64_t* bytes) {
  const size_t cid_len = seal_cid_len_;
  const size_t hdr = seal_headroom(cid_len);
  const unsigned seq_at = 1 + static_cast<unsigned>(cid_len);
  uint8_t head[16] = {static_cast<uint8_t>(kFixedBits | (cid_len != 0 ? kBitC : 0) | kBitS |
                                           kBitL | (seal_.epoch & 3))};
  if (cid_len != 0) std::memcpy(head + 1, seal_cid_, cid_len);
  const recjob::Block16 base{recjob::le64(head), recjob::le64(head + 8)};
  const auto run = cid_len == 0        ? seal_run<3>
                   : seq_at + 4 <= 8   ? seal_run<0>
                   : seq_at >= 8       ? seal_run<1>
                                       : seal_run<2>;
  return run(records, base, hdr, seq_at, seal_.next_seq, &seal_.key.aead(),
             recjob::load_iv(seal_.iv), &seal_.sn, seal_.epoch, jobs, masks, aad, bytes);
}

size_t RecordProtection::seal_lean_finish(std::span<Record> records, const AeadJob* jobs,
                                          const MaskJob* masks, const uint8_t (*aad)[16]) {
  const size_t cid_len = seal_cid_len_;
  const size_t hdr = seal_headroom(cid_len);
  const unsigned seq_at = 1 + static_cast<unsigned>(cid_len);
  const auto finish = cid_len == 0        ? seal_finish<3>
                      : seq_at + 4 <= 8   ? seal_finish<0>
                      : seq_at >= 8       ? seal_finish<1>
                                          : seal_finish<2>;
  return finish(records, jobs, masks, aad, hdr, seq_at);
}

size_t RecordProtection::seal_chunk(std::span<Record> records) {
  Scratch<AeadJob, kBurst> jobs;
  Scratch<MaskJob, kBurst> masks;
  alignas(16) uint8_t aad[kBurst][16];
  uint8_t idx[kBurst];
  size_t n = 0;
  const uint64_t now = BurstClock(clock_).now_for(seal_.key);
  const size_t cid_len = seal_cid_len_;
  const bool live = seal_.live();
  const AeadKey* key = &seal_.key.aead();
  const recjob::Block16 iv = recjob::load_iv(seal_.iv);
  const uint8_t flags0 =
      static_cast<uint8_t>(kFixedBits | (cid_len != 0 ? kBitC : 0) | (seal_.epoch & 3));
  // Fast mode: the whole chunk fits under every limit and in the sequence
  // space: the key is asked once (lazily) and counts the burst once.
  const bool fast = live && UINT64_MAX - seal_.next_seq > records.size() &&
                    recjob::far_from_limits(seal_.key, records.size(),
                                            records.size() * uint64_t{kMaxPlaintext});
  recjob::BurstAdmit admit;  // fast mode: the key's answer for every record
  uint64_t bytes = 0;
  static_assert(kIota.size() == kBurst && seal_headroom(kLeanMaxCid) == 16);

  // The usual records first, through the lean loop (fast mode, a header
  // within one 16-byte AAD slot); the key is asked once its first record is
  // one the general loop would ask for. (A burst of one record costs fewer
  // instructions in the general loop alone.)
  size_t lean = 0;
  if (fast && records.size() > 1 && cid_len <= kLeanMaxCid &&
      lean_sealable(records[0], seal_headroom(cid_len)) && admit(seal_.key, now) == Status::ok) {
    lean = seal_lean(records, &jobs[0], &masks[0], aad, &bytes);
    std::memcpy(idx, kIota.data(), kBurst);  // idx[i] = i for the lean records
    seal_.next_seq += lean;
    n = lean;
  }

  for (size_t i = lean; i < records.size(); ++i) {
    Record& r = records[i];
    PacketView& p = r.pkt;
    if (!p.well_formed() || !valid_type(r.type)) {
      p.status = Status::invalid_argument;
      continue;
    }
    if (!live) {
      p.status = Status::key_expired;
      continue;
    }
    const size_t inner_len = size_t{p.length} + 1 + r.padding;
    if (p.length > kMaxPlaintext || inner_len > kMaxInner) {
      p.status = Status::record_overflow;
      continue;
    }
    const size_t hdr = seal_headroom(cid_len, r.seq16, r.with_length);
    if (p.headroom() < hdr || p.tailroom() < seal_tailroom(r.padding)) {
      p.status = Status::buffer_too_small;
      continue;
    }
    if (fast) {
      const Status refuse = admit(seal_.key, now);  // live, not too old
      if (refuse != Status::ok) {
        p.status = refuse;
        continue;
      }
      bytes += p.length;
    } else {
      // §4.2.1: rekey before the sequence number would wrap.
      if (seal_.next_seq == UINT64_MAX) {
        p.status = Status::key_exhausted;
        continue;
      }
      if (const Status st = seal_.key.admit_seal(1, p.length, now); st != Status::ok) {
        p.status = st;
        continue;
      }
    }
    const uint64_t seq = seal_.next_seq++;
    uint8_t* data = p.data();
    data[p.length] = r.type;  // DTLSInnerPlaintext = content ‖ type ‖ zeros
    if (r.padding != 0) std::memset(data + p.length + 1, 0, r.padding);
    uint8_t* h = data - hdr;
    const uint16_t wire_len = static_cast<uint16_t>(inner_len + kTagLen);
    std::span<const uint8_t> aad_view;
    if (cid_len == 0) {
      // The header (at most 5 bytes) composed in a register: written to the
      // record and, as the AAD the kernel loads, to a 16-byte slot.
      uint64_t w = flags0 | (r.seq16 ? kBitS : 0) | (r.with_length ? kBitL : 0);
      size_t at = 1;
      if (r.seq16) {
        w |= uint64_t{__builtin_bswap16(static_cast<uint16_t>(seq))} << 8;
        at = 3;
      } else {
        w |= uint64_t{static_cast<uint8_t>(seq)} << 8;
        at = 2;
      }
      if (r.with_length) w |= uint64_t{__builtin_bswap16(wire_len)} << (8 * at);
      recjob::store16(aad[n], {w, 0});
      h[0] = static_cast<uint8_t>(w);
      h[1] = static_cast<uint8_t>(w >> 8);
      if (hdr > 2) h[2] = static_cast<uint8_t>(w >> 16);
      if (hdr > 3) h[3] = static_cast<uint8_t>(w >> 24);
      if (hdr > 4) h[4] = static_cast<uint8_t>(w >> 32);
      aad_view = {aad[n], hdr};
    } else {
      h[0] = static_cast<uint8_t>(flags0 | (r.seq16 ? kBitS : 0) | (r.with_length ? kBitL : 0));
      std::memcpy(h + 1, seal_cid_, cid_len);
      size_t at = 1 + cid_len;
      if (r.seq16) {
        store_be16(h + at, static_cast<uint16_t>(seq));
        at += 2;
      } else {
        h[at++] = static_cast<uint8_t>(seq);
      }
      if (r.with_length) store_be16(h + at, wire_len);
      aad_view = {h, hdr};  // the header with the sequence number still in clear
    }
    recjob::make(&jobs[n], key, recjob::xor_seq(iv, seq), aad_view, {data, inner_len},
                 data + inner_len);
    // The record-number mask's job in the same pass (§4.2.3): its sample, the
    // first ciphertext bytes, is where the kernel will write them.
    MaskJob& mj = *::new (static_cast<void*>(&masks[n])) MaskJob;
    mj.key = &seal_.sn;
    mj.sample = data;  // inner_len + 16 >= 17 bytes
    r.epoch = seal_.epoch;
    r.seq = seq;
    r.cid = {};
    idx[n++] = static_cast<uint8_t>(i);
  }
  // Counted once: far_from_limits() guaranteed this cannot refuse.
  if (fast && n != 0) seal_.key.admit_seal(n, bytes, now);

  rl::seal(jobs.first(n));

  // Record number encryption over the ciphertext just produced (§4.2.3). A
  // record whose seal failed gets a mask too, which is never applied.
  rl::mask(masks.first(n));

  size_t ok = 0;
  if (lean != 0) ok = seal_lean_finish(records.first(lean), &jobs[0], &masks[0], aad);
  for (size_t k = lean; k < n; ++k) {
    Record& r = records[idx[k]];
    PacketView& p = r.pkt;
    p.status = jobs[k].status;
    if (p.status != Status::ok) continue;
    const size_t hdr = seal_headroom(cid_len, r.seq16, r.with_length);
    uint8_t* seqp = p.data() - hdr + 1 + cid_len;
    const uint8_t* mask = masks[k].mask;
    seqp[0] ^= mask[0];
    if (r.seq16) seqp[1] ^= mask[1];
    p.offset -= static_cast<uint32_t>(hdr);
    p.length = static_cast<uint32_t>(hdr + jobs[k].data.size() + kTagLen);
    ++ok;
  }
  return ok;
}

// ---- 4. Open --------------------------------------------------------------------

// The integrity limit (§4.5.3) holds in a burst as one record at a time:
// see open_within_integrity.
size_t RecordProtection::open(std::span<Record> records) {
  if (records.size() == 1) return open_one(records[0]);
  return open_within_integrity(
      records, kBurst, [&] { return fewest_failures_left(open_); },
      [&](std::span<Record> chunk) { return open_chunk(chunk); });
}

namespace {
// Byte `at` (memory order) of a 16-byte block held in registers.
// (No reference to either word: that sent the block through the stack.)
inline void put_byte(recjob::Block16& w, size_t at, uint8_t v) {
  const unsigned sh = 8 * static_cast<unsigned>(at & 7);
  const uint64_t keep = ~(uint64_t{0xff} << sh), put = uint64_t{v} << sh;
  if (at < 8)
    w.lo = (w.lo & keep) | put;
  else
    w.hi = (w.hi & keep) | put;
}

// The lean loops of DTLS 1.3 open, for the usual burst: records of the
// current epoch in the header shape our peers send (C as negotiated, 16-bit
// sequence number, length present: RFC 9147 §4), one per view, sequence
// numbers rising above the window's top, application data without padding,
// far from every limit. Each takes only what the general loops of open_chunk
// would take with the same result and stops at the first record that needs
// anything else; the general loops go on from there. (Separate functions, so
// that their few constants stay in registers.)

// Phase 1: how many records from the first have the lean shape; their mask
// jobs (sample = the first ciphertext bytes, §4.2.3) are built.
[[gnu::always_inline]] inline size_t lean_parse_body(std::span<Record> records, uint8_t b0,
                                                     size_t hdr, const uint8_t* cid,
                                                     size_t cid_len, const MaskKey* sn,
                                                     MaskJob* masks) {
  size_t i = 0;
  for (; i < records.size(); ++i) {
    const PacketView& p = records[i].pkt;
    uint8_t* const buf = p.buf;
    const uint32_t off = p.offset, len = p.length, cap = p.capacity;
    // §4.2.3: at least 16 bytes of ciphertext for the sample; the tag and
    // the inner type byte make 17.
    if (buf == nullptr || off > cap || len > cap - off || len < hdr + kTagLen + 1) break;
    const uint8_t* const b = buf + off;
    const size_t ct_len = len - hdr;
    if (b[0] != b0 || load_be16(b + hdr - 2) != ct_len || ct_len > kMaxInner + kTagLen) break;
    if (cid_len != 0 && CRYPTO_memcmp(b + 1, cid, cid_len) != 0) break;
    MaskJob* const mj = ::new (static_cast<void*>(masks + i)) MaskJob;
    mj->key = sn;
    mj->sample = b + hdr;
  }
  return i;
}

size_t lean_parse(std::span<Record> records, uint8_t b0, size_t hdr, const uint8_t* cid,
                  size_t cid_len, const MaskKey* sn, MaskJob* masks) {
  return lean_parse_body(records, b0, hdr, cid, cid_len, sn, masks);
}

// Phase 3: unmasks and reconstructs each record's sequence number (§4.2.2)
// and builds its AEAD job, while the number lies in [expected, expected +
// 2^15] (then the closest candidate is expected + (low - expected) mod 2^16,
// above the window's top, so the replay check passes) and above the
// previous record's. The AAD is the header with the clear sequence number
// (§4): the first 16 bytes of the record (hdr + 17 are there) with the mask
// XORed onto the two sequence bytes at byte `seq_at`, one store. kPos says
// where those bytes sit: 0 in the first 8 (a CID of up to 5 bytes), 1 in
// the second 8, 2 across the two; 3 is no CID (a constant 5-byte header).
template <int kPos>
[[gnu::always_inline]] inline size_t lean_jobs_body(std::span<Record> records, uint64_t epoch,
                                                    size_t hdr, unsigned seq_at,
                                                    uint64_t expected, const AeadKey* key,
                                                    recjob::Block16 iv, const MaskJob* masks,
                                                    AeadJob* jobs, uint8_t (*aad)[16],
                                                    uint64_t* seqs) {
  if constexpr (kPos == 3) hdr = 5, seq_at = 1;
  const unsigned sh = 8 * seq_at;
  uint64_t lo = expected;  // the least sequence number the next record may have
  size_t k = 0;
  for (; k < records.size(); ++k) {
    Record& r = records[k];
    uint8_t* const b = r.pkt.buf + r.pkt.offset;
    const size_t ct_len = r.pkt.length - hdr;
    uint16_t m16;
    std::memcpy(&m16, masks[k].mask, 2);
    recjob::Block16 w{recjob::le64(b), recjob::le64(b + 8)};
    uint16_t clear;  // the sequence bytes in memory order, unmasked
    if constexpr (kPos == 0 || kPos == 3) {
      w.lo ^= uint64_t{m16} << sh;
      clear = static_cast<uint16_t>(w.lo >> sh);
    } else if constexpr (kPos == 1) {
      w.hi ^= uint64_t{m16} << (sh - 64);
      clear = static_cast<uint16_t>(w.hi >> (sh - 64));
    } else {
      w.lo ^= uint64_t{m16} << 56;
      w.hi ^= uint64_t{m16} >> 8;
      clear = static_cast<uint16_t>(w.lo >> 56 | w.hi << 8);
    }
    const uint64_t low = __builtin_bswap16(clear);
    const uint64_t d = (low - expected) & 0xffff;
    const uint64_t seq = expected + d;
    if (d > 0x8000 || seq < lo) break;
    lo = seq + 1;
    recjob::store16(aad[k], w);
    recjob::make(jobs + k, key, recjob::xor_seq(iv, seq), {aad[k], hdr},
                 {b + hdr, ct_len - kTagLen}, b + hdr + ct_len - kTagLen);
    r.epoch = epoch;
    r.seq = seq;
    seqs[k] = seq;
  }
  return k;
}

template <int kPos>
size_t lean_jobs(std::span<Record> records, uint64_t epoch, size_t hdr, unsigned seq_at,
                 uint64_t expected, const AeadKey* key, recjob::Block16 iv, const MaskJob* masks,
                 AeadJob* jobs, uint8_t (*aad)[16], uint64_t* seqs) {
  return lean_jobs_body<kPos>(records, epoch, hdr, seq_at, expected, key, iv, masks, jobs, aad,
                              seqs);
}

// Phase 5: commits records[t] (job t) while each opened and is application
// data without padding (RFC 8446 §5.4: its last byte is the type). Returns
// how many; *bytes gets their content bytes. Their sequence numbers (seqs,
// from lean_jobs) rise above the window's top: one commit_rising for all.
[[gnu::always_inline]] inline size_t lean_commit_body(std::span<Record> records,
                                                      const AeadJob* jobs, ReplayWindow& window,
                                                      const uint64_t* seqs, size_t cid_len,
                                                      uint64_t* bytes) {
  uint64_t sum = 0;
  size_t t = 0;
  for (; t < records.size(); ++t) {
    const AeadJob& j = jobs[t];
    if (j.status != Status::ok) break;
    uint8_t* const plain = j.data.data();
    const size_t content = j.data.size() - 1;
    if (plain[content] != 23 || content > kMaxPlaintext) break;
    Record& r = records[t];
    PacketView& p = r.pkt;
    r.type = 23;
    r.newest = true;  // the current epoch, above every record opened before
    // (Without a CID: empty, as the general loop leaves it.)
    r.cid = {p.buf + p.offset + 1, cid_len};
    p.offset = static_cast<uint32_t>(plain - p.buf);
    p.length = static_cast<uint32_t>(content);
    p.status = Status::ok;
    sum += content;
  }
  window.commit_rising(seqs, t);
  *bytes = sum;
  return t;
}
size_t lean_commit(std::span<Record> records, const AeadJob* jobs, ReplayWindow& window,
                   const uint64_t* seqs, size_t cid_len, uint64_t* bytes) {
  return lean_commit_body(records, jobs, window, seqs, cid_len, bytes);
}
}  // namespace

// Phase 5 for one record whose AEAD ran (its job `j`, its epoch `e`): the
// commit of what authenticated, or its refusal (bytes as they arrived).
// `rising`: the burst's records are of one epoch with rising sequence
// numbers (none repeats another of the burst).
bool RecordProtection::settle(Record& r, AeadJob& j, Epoch& e, unsigned seq_at, bool rising) {
  PacketView& p = r.pkt;
  if (j.status != Status::ok) {
    // One record at a time, a repeat of (or a record now too old for) one
    // committed earlier in this burst is refused before its AEAD, as a
    // replay: so it is here, and does not count as a failure.
    if (!rising) {
      if (const Status st = e.window.check(r.seq); st != Status::ok) {
        e.key.count_replay();
        p.status = st;
        return false;
      }
    }
    e.key.count_auth_failure();  // may reach the integrity limit (§4.5.3)
    p.status = j.status;
    return false;
  }
  if (!rising) {
    if (const Status st = e.window.check(r.seq); st != Status::ok) {
      // A duplicate of a record earlier in this same burst. It opened:
      // sealing it again with the same key, nonce and AAD puts back the
      // exact ciphertext and tag (its bytes as they arrived).
      rl::seal({&j, 1});
      e.key.count_replay();
      p.status = st;
      return false;
    }
  }
  // RFC 8446 §5.4: strip the zero padding; the last non-zero byte is the
  // real content type; all zeros is an error.
  uint8_t* plain = j.data.data();
  size_t plain_len = j.data.size();
  // A record refused here opened: it is sealed again (as above) so that
  // it keeps its bytes as they arrived.
  while (plain_len > 0 && plain[plain_len - 1] == 0) --plain_len;
  if (plain_len == 0 || !valid_type(plain[plain_len - 1])) {
    rl::seal({&j, 1});
    p.status = Status::malformed;
    return false;
  }
  if (plain_len - 1 > kMaxPlaintext) {
    rl::seal({&j, 1});
    p.status = Status::record_overflow;
    return false;
  }
  r.type = plain[--plain_len];
  r.newest = !open_any_ || e.epoch > open_current_ ||
             (e.epoch == open_current_ && (e.window.empty() || r.seq > e.window.highest()));
  e.window.commit(r.seq);
  e.key.count_opened(plain_len);
  if (e.key.counters().opened == 1 && open_any_ && e.epoch > open_current_) {
    KeyEvent ev;
    ev.epoch = e.epoch;
    ev.dir = Direction::open;
    ev.kind = KeyEvent::peer_updated;
    events_.push(ev);
  }
  if (!open_any_ || e.epoch > open_current_) open_current_ = e.epoch;
  open_any_ = true;
  // A CID sits before the sequence number; the header line itself is
  // not read again (a large burst has long pushed it out of L1).
  if (seq_at > 1) r.cid = {p.data() + 1, open_cid_len_};
  p.offset = static_cast<uint32_t>(plain - p.buf);
  p.length = static_cast<uint32_t>(plain_len);
  p.status = Status::ok;
  return true;
}

// The lean loops' epoch for a burst of n records: the current one, when the
// burst cannot reach a limit (then counting it once equals counting each
// record), its sequence numbers are far from 2^64, and the header fits one
// 16-byte AAD slot. *expected: the least sequence number the next record
// may have.
inline RecordProtection::Epoch* RecordProtection::lean_epoch(size_t n, uint64_t* expected) {
  Epoch* const le = &open_[open_current_ & 3];
  const size_t lhdr = 1 + size_t{open_cid_len_} + 2 + 2;
  const uint64_t lexpected = le->window.empty() ? 0 : le->window.highest() + 1;
  const KeyCounters& lc = le->key.counters();
  const uint64_t lsoft = le->key.limits().soft_bytes;
  *expected = lexpected;
  const bool ok = open_any_ && le->live() && le->epoch == open_current_ && lhdr <= 16 &&
                  lexpected < (uint64_t{1} << 62) && lc.bytes_opened < lsoft &&
                  lsoft - lc.bytes_opened > n * uint64_t{kMaxPlaintext};
  return ok ? le : nullptr;
}

// A burst of one record (interactive traffic): the lean loops' phases for
// it without the chunk's arrays and loops. A record the lean parse or the
// lean reconstruction would not take goes to open_chunk with nothing
// changed (the epoch's admit_open, asked again there, has no further
// effect); after the AEAD, settle() decides as for a record of a burst.
size_t RecordProtection::open_one(Record& r) {
  uint64_t expected = 0;
  Epoch* const le = lean_epoch(1, &expected);
  if (le == nullptr) return open_chunk({&r, 1});
  const size_t hdr = 1 + size_t{open_cid_len_} + 2 + 2;
  const unsigned seq_at = 1u + open_cid_len_;
  const uint8_t b0 = static_cast<uint8_t>(kFixedBits | (open_cid_len_ != 0 ? kBitC : 0) | kBitS |
                                          kBitL | (open_current_ & 3));
  Scratch<MaskJob, 1> masks;
  Scratch<AeadJob, 1> jobs;
  alignas(16) uint8_t aad[1][16];
  uint64_t seq[1];
  if (lean_parse_body({&r, 1}, b0, hdr, open_cid_, open_cid_len_, &le->sn, &masks[0]) == 0)
    return open_chunk({&r, 1});
  if (const Status st = le->key.admit_open(BurstClock(clock_).now_for(le->key)); st != Status::ok) {
    // What open_chunk's general loop gives this record.
    r.cid = {};
    r.newest = false;
    r.pkt.status = st;
    return 0;
  }
  if (guess_seq_) {
    const int g = open_one_guessed(r, *le, hdr, seq_at, expected, masks[0]);
    if (g >= 0) return static_cast<size_t>(g);
  } else {
    rl::mask(masks.first(1));
  }
  const recjob::Block16 iv = recjob::load_iv(le->iv);
  // No CID: the constant 5-byte header, inline; with one, as open_chunk.
  const auto run = seq_at + 2 <= 8 ? lean_jobs<0> : seq_at >= 8 ? lean_jobs<1> : lean_jobs<2>;
  const size_t took =
      seq_at == 1 ? lean_jobs_body<3>({&r, 1}, le->epoch, hdr, seq_at, expected, &le->key.aead(),
                                      iv, &masks[0], &jobs[0], aad, seq)
                  : run({&r, 1}, le->epoch, hdr, seq_at, expected, &le->key.aead(), iv, &masks[0],
                        &jobs[0], aad, seq);
  if (took == 0) return open_chunk({&r, 1});
  rl::open(jobs.first(1));
  uint64_t bytes = 0;
  if (lean_commit_body({&r, 1}, &jobs[0], le->window, seq, open_cid_len_, &bytes) == 1) {
    le->key.count_opened(1, bytes);
    guess_seq_ = true;
    return 1;
  }
  r.cid = {};
  r.newest = false;
  return settle(r, jobs[0], *le, seq_at, true) ? 1 : 0;
}

// open_one with the sequence number guessed instead of waited for: the next
// one expected. The AAD (the header with the clear sequence number, §4) is
// built from the guess and the AEAD starts at once, while the record number
// mask (§4.2.3: one AES or ChaCha20 block over the ciphertext sample, which
// the guess does not need) is computed beside it; the mask's latency is most
// of what a lone record pays over the raw AEAD. Only when the sequence bytes
// on the wire, unmasked, are the guess did the AEAD see the record's own
// AAD and nonce, and only then is its answer taken and settled as open_one
// settles it. Otherwise the record is as it arrived (its AAD is built aside;
// an open that authenticated is sealed again: same key, nonce and AAD, same
// bytes), guessing stops until a record opens through the lean paths again,
// and open_one goes on with the mask it has. Returns 1 or 0 when settled, -1
// for a wrong guess.
int RecordProtection::open_one_guessed(Record& r, Epoch& e, size_t hdr, unsigned seq_at, uint64_t expected,
                                       MaskJob& m) {
  uint8_t* const b = r.pkt.buf + r.pkt.offset;
  const size_t ct_len = r.pkt.length - hdr;  // the lean parse saw a full sample after the header
  alignas(16) uint8_t aad[16];
  std::memcpy(aad, b, 16);
  const uint16_t guess = __builtin_bswap16(static_cast<uint16_t>(expected));  // memory order
  std::memcpy(aad + seq_at, &guess, 2);
  AeadJob j;
  recjob::make(&j, &e.key.aead(), recjob::xor_seq(recjob::load_iv(e.iv), expected), {aad, hdr},
               {b + hdr, ct_len - kTagLen}, b + hdr + ct_len - kTagLen);
  rl::open_masked(j, m);  // the mask over the sample as it arrived, in the open's passes where a tier can
  uint16_t wire, m16;
  std::memcpy(&wire, b + seq_at, 2);
  std::memcpy(&m16, m.mask, 2);
  if (static_cast<uint16_t>(wire ^ m16) != guess) {
    if (j.status == Status::ok) rl::seal({&j, 1});
    guess_seq_ = false;
    return -1;
  }
  r.epoch = e.epoch;
  r.seq = expected;
  const uint64_t seq[1] = {expected};
  uint64_t bytes = 0;
  if (lean_commit_body({&r, 1}, &j, e.window, seq, open_cid_len_, &bytes) == 1) {
    e.key.count_opened(1, bytes);
    return 1;
  }
  r.cid = {};
  r.newest = false;
  return settle(r, j, e, seq_at, true) ? 1 : 0;
}

size_t RecordProtection::open_chunk(std::span<Record> records, unsigned splits) {
  struct Parsed {
    Epoch* e;
    uint16_t hdr, seq_at;
    uint32_t ct_len;
    bool seq16;
  };
  // The AAD is the header with the clear sequence number (§4). It is built
  // here, never in the record: a record that fails keeps its bytes as they
  // arrived with nothing to put back, and the kernel loads a slot written
  // with one store. Headers longer than 16 bytes (long CIDs) take a slot of
  // kMaxHdr.
  static constexpr size_t kMaxHdr = 1 + kMaxCidLen + 2 + 2;
  Parsed ps[kBurst];
  // What phase 1 keeps for a record of the lean shape.
  auto lean_parsed = [this](Epoch* e, size_t hdr, const Record& r) {
    return Parsed{e, static_cast<uint16_t>(hdr), static_cast<uint16_t>(1 + open_cid_len_),
                  static_cast<uint32_t>(r.pkt.length - hdr), true};
  };
  Scratch<MaskJob, kBurst> masks;
  Scratch<AeadJob, kBurst> jobs;
  alignas(16) uint8_t aad[kBurst][16];
  uint8_t long_aad[kBurst][kMaxHdr];  // touched only for headers over 16 bytes
  uint8_t idx[kBurst], aidx[kBurst];
  uint64_t lean_seq[kBurst];  // the lean loop's sequence numbers, for commit_rising
  size_t n = 0;
  BurstClock clock(clock_);
  unsigned last_bits = 4;  // the epoch bits of the previous record (4: none)
  Epoch* last = nullptr;
  Status last_admit = Status::ok;

  // The headers are most likely not in L1: ask for all of them before the
  // first is parsed (a prefetch never faults, whatever the view holds).
  for (const Record& r : records) r.pkt.prefetch();

  // The lean loops' epoch (lean_epoch()).
  uint64_t lexpected = 0;
  Epoch* const lean_e = lean_epoch(records.size(), &lexpected);
  const bool lean_ok = lean_e != nullptr;
  Epoch* const le = &open_[open_current_ & 3];
  const size_t lhdr = 1 + size_t{open_cid_len_} + 2 + 2;
  size_t lean = 0;  // records 0..lean-1 passed the lean parse

  // Phase 1: parse; nothing changes. The usual records first, through the
  // lean loop; the epoch is admitted only once its first record is one the
  // general loop would admit it for too.
  if (lean_ok) {
    const uint8_t b0 = static_cast<uint8_t>(kFixedBits | (open_cid_len_ != 0 ? kBitC : 0) | kBitS |
                                            kBitL | (open_current_ & 3));
    lean = lean_parse(records, b0, lhdr, open_cid_, open_cid_len_, &le->sn, &masks[0]);
    if (lean != 0) {
      last_bits = open_current_ & 3;
      last = le;
      last_admit = le->key.admit_open(clock.now_for(le->key));
      if (last_admit != Status::ok) lean = 0;
    }
    std::memcpy(idx, kIota.data(), kBurst);  // idx[i] = i for the lean records
    n = lean;
  }
  for (size_t i = lean; i < records.size(); ++i) {
    Record& r = records[i];
    PacketView& p = r.pkt;
    r.cid = {};
    r.newest = false;
    if (!p.well_formed()) {
      p.status = Status::invalid_argument;
      continue;
    }
    const uint8_t* b = p.data();
    const size_t len = p.length;
    if (len < 1) {
      p.status = Status::truncated;
      continue;
    }
    const uint8_t b0 = b[0];
    if ((b0 & kFixedMask) != kFixedBits) {
      p.status = Status::malformed;  // §4.1: not a DTLSCiphertext
      continue;
    }
    const bool has_cid = (b0 & kBitC) != 0, seq16 = (b0 & kBitS) != 0, has_len = (b0 & kBitL) != 0;
    // §9 / RFC 9146: with a CID negotiated every record carries it; without
    // one a C bit cannot be parsed (the length is unknown).
    if (has_cid != (open_cid_len_ != 0)) {
      p.status = Status::malformed;
      continue;
    }
    const size_t cid_len = has_cid ? open_cid_len_ : 0;
    const size_t seq_at = 1 + cid_len;
    const size_t hdr = seq_at + (seq16 ? 2 : 1) + (has_len ? 2 : 0);
    if (len < hdr) {
      p.status = Status::truncated;
      continue;
    }
    if (has_cid && CRYPTO_memcmp(b + 1, open_cid_, cid_len) != 0) {
      p.status = Status::unknown_epoch;  // another association's CID
      continue;
    }
    size_t ct_len = len - hdr;
    if (has_len) {
      const size_t l = load_be16(b + hdr - 2);
      if (l > ct_len) {
        p.status = Status::truncated;
        continue;
      }
      if (l < ct_len) {
        p.status = Status::malformed;  // trailing bytes: frame with open_datagram
        continue;
      }
    }
    if (ct_len < kMinCiphertext || ct_len < kTagLen + 1) {
      p.status = Status::truncated;  // §4.2.3: reject as failed deprotection
      continue;
    }
    if (ct_len > kMaxInner + kTagLen) {
      p.status = Status::record_overflow;
      continue;
    }
    // A burst is almost always one epoch: looked up and admitted once.
    if ((b0 & 3u) != last_bits) {
      last_bits = b0 & 3u;
      last = open_epoch_bits(last_bits);
      if (last != nullptr) last_admit = last->key.admit_open(clock.now_for(last->key));
    }
    Epoch* e = last;
    if (e == nullptr) {
      p.status = Status::unknown_epoch;
      continue;
    }
    if (last_admit != Status::ok) {
      p.status = last_admit;
      continue;
    }
    ps[n] = {e, static_cast<uint16_t>(hdr), static_cast<uint16_t>(seq_at),
             static_cast<uint32_t>(ct_len), seq16};
    MaskJob& mj = masks.make(n);
    mj.key = &e->sn;
    mj.sample = b + hdr;
    idx[n++] = static_cast<uint8_t>(i);
  }

  // Phase 2: unmask the sequence numbers of the whole burst.
  rl::mask(masks.first(n));

  // Phase 3: reconstruct (§4.2.2), replay check, build AEAD jobs with the
  // header-with-clear-sequence-number as AAD.
  size_t a = 0;
  // Whether the accepted records are all of one epoch with rising sequence
  // numbers: then none repeats another of this burst and the commit phase
  // need not check the window again.
  bool rising = true;
  const Epoch* prev_e = nullptr;
  uint64_t prev_seq = 0;
  size_t lean_a = 0;  // records 0..lean_a-1 got their jobs in the lean loop
  // Whether the window refused a record as a repeat of one inside it, which
  // records before it in this burst may have left too old (too_old_by_now).
  bool refused_inside = false;
  // The highest sequence number given a job so far, per epoch slot. One at
  // a time a record comes after those, and when they authenticate its number
  // is reconstructed (§4.2.2) from the highest of them, not from the window
  // as the burst found it. Where the two differ (an 8-bit number 128 or more
  // behind), the chunk ends before the record and a second call opens it
  // and those after it once the others are committed, as one at a time.
  // Junk could ask for that at every record: at most kMaxSeqSplits times.
  QueuedHighest queued[4];  // per epoch slot
  size_t end = records.size();  // the first record left to the second call
  if (lean != 0) {
    const unsigned seq_at = 1u + open_cid_len_;
    const auto run = seq_at == 1 ? lean_jobs<3>
                     : seq_at + 2 <= 8 ? lean_jobs<0>
                     : seq_at >= 8 ? lean_jobs<1> : lean_jobs<2>;
    lean_a = run(records.first(lean), le->epoch, lhdr, seq_at, lexpected, &le->key.aead(),
                 recjob::load_iv(le->iv), &masks[0], &jobs[0], aad, lean_seq);
    std::memcpy(aidx, kIota.data(), kBurst);  // aidx[k] = k for the lean records
    a = lean_a;
    if (lean_a != 0) {
      prev_e = le;
      prev_seq = records[lean_a - 1].seq;
      queued[le->epoch & 3].note(prev_seq);
    }
    // The rest of the lean-parsed records go through the general loop.
    for (size_t k = lean_a; k < lean; ++k) ps[k] = lean_parsed(le, lhdr, records[k]);
  }
  for (size_t k = lean_a; k < n; ++k) {
    Record& r = records[idx[k]];
    PacketView& p = r.pkt;
    Parsed& q = ps[k];
    uint8_t* b = p.data();
    const uint8_t* m = masks[k].mask;
    const uint64_t low = q.seq16 ? uint64_t{static_cast<uint8_t>(b[q.seq_at] ^ m[0])} << 8 |
                                       static_cast<uint8_t>(b[q.seq_at + 1] ^ m[1])
                                 : static_cast<uint8_t>(b[q.seq_at] ^ m[0]);
    const ReplayWindow& w = q.e->window;
    const uint64_t expected = w.empty() ? 0 : w.highest() + 1;
    const uint64_t seq = reconstruct_closest(expected, low, q.seq16 ? 16 : 8);
    const size_t slot = q.e->epoch & 3;
    if (splits != 0 && queued[slot].moves(expected, low, q.seq16 ? 16 : 8)) {
      end = idx[k];
      --splits;
      break;
    }
    if (const Status st = w.check(seq); st != Status::ok) {
      q.e->key.count_replay();
      p.status = st;
      r.epoch = q.e->epoch;
      r.seq = seq;
      refused_inside |= st == Status::replayed;
      continue;
    }
    uint8_t* ad;
    if (q.hdr <= 16) {
      // Header with the clear sequence number composed in registers and
      // written with one store (core/job_fill.h): byte stores into the slot
      // after a wide copy would stall the kernel's AAD load.
      ad = aad[a];
      recjob::Block16 w{recjob::le64(b), recjob::le64(b + 8)};  // hdr + 17 bytes are there
      put_byte(w, q.seq_at, static_cast<uint8_t>(q.seq16 ? low >> 8 : low));
      if (q.seq16) put_byte(w, q.seq_at + 1u, static_cast<uint8_t>(low));
      recjob::store16(ad, w);
    } else {
      ad = long_aad[a];
      std::memcpy(ad, b, q.hdr);
      ad[q.seq_at] = static_cast<uint8_t>(q.seq16 ? low >> 8 : low);
      if (q.seq16) ad[q.seq_at + 1] = static_cast<uint8_t>(low);
    }
    recjob::make(&jobs[a], &q.e->key.aead(), recjob::xor_seq(recjob::load_iv(q.e->iv), seq),
                 {ad, q.hdr}, {b + q.hdr, q.ct_len - kTagLen}, b + q.hdr + q.ct_len - kTagLen);
    r.epoch = q.e->epoch;
    r.seq = seq;
    queued[slot].note(seq);
    if (prev_e != nullptr && (q.e != prev_e || seq <= prev_seq)) rising = false;
    prev_e = q.e;
    prev_seq = seq;
    aidx[a++] = static_cast<uint8_t>(k);
  }

  // Phase 4: one burst of AEAD work.
  rl::open(jobs.first(a));

  // Phase 5: commit, in order, only what authenticated. Each record's inner
  // type byte (its last non-zero byte) is read: the kernel wrote it a whole
  // burst ago, so all of them are asked for first.
  for (size_t t = 0; t < a; ++t) __builtin_prefetch(jobs[t].data.data() + jobs[t].data.size() - 1);
  size_t ok = 0;
  size_t m0 = 0;  // the lean loop's records, committed with one count
  if (lean_a != 0) {
    uint64_t bytes = 0;
    m0 = lean_commit(records.first(lean_a), &jobs[0], le->window, lean_seq, open_cid_len_, &bytes);
    if (m0 != 0) {
      le->key.count_opened(m0, bytes);
      guess_seq_ = true;  // a lone record after this burst: open_one_guessed
    }
    ok = m0;
  }
  // What the general loop of phase 1 does for every record it sees, and
  // what it would have kept for the commit of those the lean loop did not.
  for (size_t i = m0; i < lean; ++i) {
    records[i].cid = {};
    records[i].newest = false;
  }
  for (size_t k = m0; k < lean_a; ++k) ps[k] = lean_parsed(le, lhdr, records[k]);
  for (size_t t = m0; t < a; ++t) {
    const Parsed& q = ps[aidx[t]];
    ok += settle(records[idx[aidx[t]]], jobs[t], *q.e, q.seq_at, rising) ? 1 : 0;
  }
  if (refused_inside) {
    too_old_by_now(records.first(end), [this](const Record& r) -> const ReplayWindow* {
      const Epoch& e = open_[r.epoch & 3];
      return e.live() && e.epoch == r.epoch ? &e.window : nullptr;
    });
  }
  if (end < records.size()) ok += open_chunk(records.subspan(end), splits);
  return ok;
}

// ---- 5. Datagrams -----------------------------------------------------------------

size_t RecordProtection::open_datagram(std::span<uint8_t> datagram, std::span<Record> out,
                                       size_t* found) {
  size_t n = 0, pos = 0, ok = 0, run = 0;  // run = first record not yet opened
  auto flush = [&](size_t end) {
    if (end > run) ok += open(out.subspan(run, end - run));
  };
  while (pos < datagram.size() && n < out.size()) {
    Record& r = out[n];
    r = Record{};
    r.pkt.buf = datagram.data();
    r.pkt.capacity = static_cast<uint32_t>(datagram.size());
    r.pkt.offset = static_cast<uint32_t>(pos);
    const size_t left = datagram.size() - pos;
    const uint8_t* b = datagram.data() + pos;
    size_t rec_len = 0;
    Status st = Status::ok;
    if (plaintext_type(b[0])) {
      // DTLSPlaintext: type, version, epoch, seq48, length (13 bytes).
      if (left < 13 || 13 + size_t{load_be16(b + 11)} > left) {
        st = Status::truncated;
      } else {
        rec_len = 13 + load_be16(b + 11);
        st = Status::not_protected;
      }
    } else if ((b[0] & kFixedMask) != kFixedBits) {
      st = Status::malformed;
    } else {
      const size_t hdr = 1 + ((b[0] & kBitC) != 0 ? open_cid_len_ : 0) +
                         ((b[0] & kBitS) != 0 ? 2 : 1) + ((b[0] & kBitL) != 0 ? 2 : 0);
      if (left < hdr) {
        st = Status::truncated;
      } else if ((b[0] & kBitL) != 0) {
        rec_len = hdr + load_be16(b + hdr - 2);
        if (rec_len > left) st = Status::truncated;
      } else {
        rec_len = left;  // §4.3: no length = the rest of the datagram
      }
    }
    if (st != Status::ok) {
      flush(n);
      r.pkt.length = static_cast<uint32_t>(st == Status::not_protected ? rec_len : left);
      r.pkt.status = st;
      ++n;
      run = n;
      if (st != Status::not_protected) break;  // cannot frame the rest
      pos += rec_len;
      continue;
    }
    r.pkt.length = static_cast<uint32_t>(rec_len);
    pos += rec_len;
    ++n;
  }
  flush(n);
  if (found != nullptr) *found = n;
  return ok;
}

}  // namespace rl::dtls13
