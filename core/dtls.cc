// DTLS 1.2 records, read top to bottom:
//   1. wire formats and nonces
//   2. keys and CIDs (install / expire)
//   3. seal: build headers and AEAD jobs for a burst, run them
//   4. open: parse, replay check, run the burst, then commit per record
//   5. datagrams with several records
#include "core/dtls.h"

#include <cstring>
#include <new>
#include <type_traits>

#include <openssl/mem.h>

#include "core/aead.h"
#include "core/bytes.h"
#include "core/job_fill.h"
#include "core/scratch.h"

namespace rl::dtls {
namespace {

// ---- 1. Wire formats ---------------------------------------------------------
//
// RFC 6347 §4.1 DTLSCiphertext:
//   type(1) version(2) epoch(2) sequence_number(6) length(2) fragment
// RFC 9146 §4 CID record (type tls12_cid = 25):
//   25 version(2) epoch(2) sequence_number(6) cid(cid_len) length(2) enc_content
// where enc_content protects DTLSInnerPlaintext = content ‖ real_type ‖ zeros.
// The receiver knows cid_len (it chose the CID); the record does not carry it.
//
// AES-GCM fragments start with the 8-byte explicit nonce (RFC 5288 §3); we
// send epoch ‖ seq there, as RFC 6347 §4.1.2.1 and every implementation do,
// and on open use whatever the sender put there. ChaCha20-Poly1305 has no
// explicit nonce (RFC 7905 §2).

constexpr size_t kTagLen = 16;
constexpr size_t kMaxAad = 8 + 1 + 1 + 1 + 2 + 2 + 6 + kMaxCidLen + 2;

bool is_gcm(Suite s) { return s != Suite::chacha20_poly1305; }
size_t explicit_len(Suite s) { return is_gcm(s) ? kExplicitNonceLen : 0; }
size_t iv_len(Suite s) { return is_gcm(s) ? 4 : kNonceLen; }

// Content types that may appear as a protected record's (inner) type:
// change_cipher_spec(20) alert(21) handshake(22) application_data(23)
// heartbeat(24). Anything else is refused.
bool valid_type(uint8_t t) { return t >= 20 && t <= 24; }
constexpr uint8_t kApplicationData = 23;

// The "sequence number" DTLS 1.2 feeds into nonce and AAD is the 64-bit
// epoch ‖ sequence_number (RFC 6347 §4.1.2.1).
uint64_t record_number(uint16_t epoch, uint64_t seq) { return uint64_t{epoch} << 48 | seq; }

// Nonces (recjob::salt_seq / salt_explicit / xor_seq):
//   AES-GCM, RFC 5288 §3: nonce = salt(4) ‖ explicit_nonce(8);
//   ChaCha20-Poly1305, RFC 7905 §2: nonce = iv XOR left-padded 64-bit
//   record number.
// AAD without a CID (recjob::aad13), RFC 5246 §6.2.3.3 as amended by RFC 6347
// §4.1.2.1: additional_data = epoch ‖ seq_num(6) ‖ type ‖ version ‖ length
// (13 bytes), length being the plaintext length.

// The lean loops compose the AES-GCM nonce, salt(4) ‖ explicit(8), and the
// ChaCha20 one in a vector register (recjob::Nonce128): fewer instructions
// per record than two scalar words.

// RFC 9146 §5 (AEAD ciphers, the RFC text, which replaced the draft's AAD):
//   additional_data = seq_num_placeholder ‖ tls12_cid ‖ cid_length ‖ tls12_cid ‖
//                     DTLSCiphertext.version ‖ epoch ‖ sequence_number ‖ cid ‖
//                     length_of_DTLSInnerPlaintext
// seq_num_placeholder is 8 bytes of 0xff; cid_length is one byte; the last
// field is the length of the serialized DTLSInnerPlaintext (content + type +
// padding), i.e. the AEAD plaintext length, not the record's length field.
size_t aad_cid(uint8_t* a, uint16_t version, uint16_t epoch, uint64_t seq, const uint8_t* cid,
               size_t cid_len, size_t inner_len) {
  std::memset(a, 0xff, 8);
  a[8] = kContentTls12Cid;
  a[9] = static_cast<uint8_t>(cid_len);
  a[10] = kContentTls12Cid;
  store_be16(a + 11, version);
  store_be16(a + 13, epoch);
  store_be48(a + 15, seq);
  if (cid_len != 0) std::memcpy(a + 21, cid, cid_len);
  store_be16(a + 21 + cid_len, static_cast<uint16_t>(inner_len));
  return 23 + cid_len;
}

// The lean loops take CID records whose CID is at most kLeanCid bytes
// (longer ones take the general loops): the AAD then fits a kLeanCidAad-byte
// slot, built from a template (aad_cid with epoch, seq and length 0, set
// with the CID) by one fixed-size copy, then the record number and length.
constexpr size_t kLeanCid = 32;
constexpr size_t kLeanCidAad = RecordProtection::kLeanCidAad;
static_assert(23 + kLeanCid <= kLeanCidAad);

inline void cid_aad_template(uint8_t* t, const uint8_t* cid, size_t cid_len) {
  std::memset(t, 0, kLeanCidAad);
  aad_cid(t, kVersion, 0, 0, cid, cid_len, 0);
}
// The template as a burst loop holds it: in four XMM registers (with SSE2;
// the copy is then four stores: no loads, which the compiler could not
// hoist past the stores of the AADs before). One record copies it from
// memory (MemTmpl): loading it into registers first only costs there.
struct MemTmpl {
  const uint8_t* t = nullptr;
  [[gnu::always_inline]] void store(uint8_t* a) const { std::memcpy(a, t, kLeanCidAad); }
};
struct AadTmpl {
#if defined(__SSE2__)
  __m128i v[4];
  [[gnu::always_inline]] AadTmpl() : v{} {}
  [[gnu::always_inline]] explicit AadTmpl(const uint8_t* t) {
    for (int i = 0; i < 4; ++i) v[i] = _mm_loadu_si128(reinterpret_cast<const __m128i*>(t + 16 * i));
  }
  [[gnu::always_inline]] void store(uint8_t* a) const {
    for (int i = 0; i < 4; ++i) _mm_storeu_si128(reinterpret_cast<__m128i*>(a + 16 * i), v[i]);
  }
#else
  const uint8_t* t = nullptr;
  AadTmpl() = default;
  explicit AadTmpl(const uint8_t* p) : t(p) {}
  void store(uint8_t* a) const { std::memcpy(a, t, kLeanCidAad); }
#endif
};
static_assert(kLeanCidAad == 64);

template <class Tmpl>
[[gnu::always_inline]] inline void cid_aad_fill(uint8_t* a, const Tmpl& tmpl, uint64_t rn,
                                                size_t cid_len, size_t inner_len) {
  tmpl.store(a);
  store_be64(a + 13, rn);  // epoch(2) ‖ sequence_number(6)
  store_be16(a + 21 + cid_len, static_cast<uint16_t>(inner_len));
}

// Copy and compare of a CID of 1..kLeanCid bytes with a few overlapping
// word accesses inside [0, n) (n is the same for a whole burst, so the
// branches are predicted). The CID is on the wire in the clear: comparing
// it need not be constant-time.
inline void store64(uint8_t* p, uint64_t v) { std::memcpy(p, &v, 8); }
inline void store32(uint8_t* p, uint32_t v) { std::memcpy(p, &v, 4); }
[[gnu::always_inline]] inline void cid_copy(uint8_t* d, const uint8_t* s, size_t n) {
  if (n >= 8) {
    if (n > 16) {
      store64(d + 8, recjob::le64(s + 8));
      store64(d + n - 16, recjob::le64(s + n - 16));
    }
    store64(d, recjob::le64(s));
    store64(d + n - 8, recjob::le64(s + n - 8));
  } else if (n >= 4) {
    store32(d, recjob::le32(s));
    store32(d + n - 4, recjob::le32(s + n - 4));
  } else {
    d[0] = s[0];
    d[n / 2] = s[n / 2];
    d[n - 1] = s[n - 1];
  }
}
[[gnu::always_inline]] inline bool cid_equal(const uint8_t* a, const uint8_t* b, size_t n) {
  using recjob::le32;
  using recjob::le64;
  if (n >= 8) {
    uint64_t d = (le64(a) ^ le64(b)) | (le64(a + n - 8) ^ le64(b + n - 8));
    if (n > 16) d |= (le64(a + 8) ^ le64(b + 8)) | (le64(a + n - 16) ^ le64(b + n - 16));
    return d == 0;
  }
  if (n >= 4) return ((le32(a) ^ le32(b)) | (le32(a + n - 4) ^ le32(b + n - 4))) == 0;
  return ((a[0] ^ b[0]) | (a[n / 2] ^ b[n / 2]) | (a[n - 1] ^ b[n - 1])) == 0;
}

}  // namespace

size_t seal_headroom(Suite s, size_t cid_len) { return kHeaderLen + cid_len + explicit_len(s); }
size_t seal_tailroom(Suite, size_t cid_len, size_t padding) {
  return kTagLen + (cid_len != 0 ? 1 + padding : 0);
}

// ---- 2. Keys and CIDs -----------------------------------------------------------

Status RecordProtection::install(Direction dir, uint16_t epoch, Suite suite,
                                 std::span<const uint8_t> key, std::span<const uint8_t> iv,
                                 const KeyOptions& opt) {
  const uint64_t first_seq = opt.first_seq;
  const uint32_t replay_window = opt.replay_window;
  const Limits* limits = opt.limits;
  if (iv.size() != iv_len(suite) || first_seq > kMaxSeq) return Status::invalid_argument;
  if (dir == Direction::open &&
      (replay_window == 0 || replay_window > ReplayWindow::kMaxSize))
    return Status::invalid_argument;
  const Limits l = limits != nullptr ? *limits : default_limits(Protocol::dtls12, suite);
  Epoch* slot = &seal_;
  if (dir == Direction::open) {
    // Re-installing an epoch replaces it; otherwise take an empty slot or the
    // oldest epoch (RFC 6347 §4.1: keep the previous epoch for late records).
    slot = nullptr;
    for (Epoch& e : open_)
      if (e.live() && e.epoch == epoch) slot = &e;
    if (slot == nullptr)
      for (Epoch& e : open_)
        if (!e.live()) slot = &e;
    if (slot == nullptr) slot = open_[0].epoch < open_[1].epoch ? &open_[0] : &open_[1];
  }
  // Validate everything before touching the live epoch: a refused install
  // leaves the old key working.
  AeadKey probe;
  if (const Status st = probe.init(suite, key); st != Status::ok) return st;
  probe.wipe();
  slot->key.expire();
  if (const Status st = slot->key.install(epoch, dir, suite, key, l, clock_.read(), &events_);
      st != Status::ok)
    return st;
  OPENSSL_cleanse(slot->iv, sizeof slot->iv);
  std::memcpy(slot->iv, iv.data(), iv.size());
  slot->epoch = epoch;
  slot->next_seq = first_seq;
  slot->explicit_offset = opt.gcm_explicit_offset;
  if (dir == Direction::open) slot->window.init(replay_window);
  KeyEvent ev;
  ev.epoch = epoch;
  ev.dir = dir;
  ev.kind = KeyEvent::installed;
  events_.push(ev);
  return Status::ok;
}

Status RecordProtection::set_seal_cid(std::span<const uint8_t> cid) {
  if (cid.size() > kMaxCidLen) return Status::invalid_argument;
  if (!cid.empty()) std::memcpy(seal_cid_, cid.data(), cid.size());
  seal_cid_len_ = static_cast<uint8_t>(cid.size());
  if (cid.size() <= kLeanCid) cid_aad_template(seal_cid_aad_, seal_cid_, cid.size());
  return Status::ok;
}

Status RecordProtection::set_open_cid(std::span<const uint8_t> cid) {
  if (cid.size() > kMaxCidLen) return Status::invalid_argument;
  if (!cid.empty()) std::memcpy(open_cid_, cid.data(), cid.size());
  open_cid_len_ = static_cast<uint8_t>(cid.size());
  if (cid.size() <= kLeanCid) cid_aad_template(open_cid_aad_, open_cid_, cid.size());
  // RFC 9146 §3: a zero-length CID means "send me plain records".
  open_cid_set_ = !cid.empty();
  return Status::ok;
}

Status RecordProtection::expire(Direction dir, uint16_t epoch) {
  if (dir == Direction::seal) {
    if (!seal_.live() || seal_.epoch != epoch) return Status::unknown_epoch;
    seal_.key.expire();
    OPENSSL_cleanse(seal_.iv, sizeof seal_.iv);
    return Status::ok;
  }
  Epoch* e = open_epoch(epoch);
  if (e == nullptr) return Status::unknown_epoch;
  e->key.expire();
  OPENSSL_cleanse(e->iv, sizeof e->iv);
  e->window.reset();
  return Status::ok;
}

inline RecordProtection::Epoch* RecordProtection::open_epoch(uint16_t epoch) {
  for (Epoch& e : open_)
    if (e.live() && e.epoch == epoch) return &e;
  return nullptr;
}

const KeyEpoch* RecordProtection::key(Direction dir, uint16_t epoch) const {
  if (dir == Direction::seal) return seal_.epoch == epoch ? &seal_.key : nullptr;
  for (const Epoch& e : open_)
    if (e.epoch == epoch && e.key.live()) return &e.key;
  return nullptr;
}

const ReplayWindow* RecordProtection::window(uint16_t epoch) const {
  for (const Epoch& e : open_)
    if (e.epoch == epoch && e.key.live()) return &e.window;
  return nullptr;
}

// ---- 3. Seal -------------------------------------------------------------------
//
// Headers, AADs and nonces for a burst, one burst of AEAD work, then the
// views are widened over what was written. The usual burst (records without
// a CID, or RFC 9146 records with a CID of up to 32 bytes and no padding, far
// from every limit and from the end of the sequence space) goes through a
// lean loop; the first record that needs anything else, and every one after
// it, goes through the general loop, which applies every rule.

// One record goes to seal_one(), more to seal_chunks() (seal_chunk is
// inlined there and into seal_one's hand-over).
size_t RecordProtection::seal(std::span<Record> records) {
  // A tail call either way: seal() saves no registers for one record.
  return records.size() == 1 ? seal_one(records[0]) : seal_chunks(records);
}

size_t RecordProtection::seal_chunks(std::span<Record> records) {
  size_t ok = 0;
  for (size_t i = 0; i < records.size(); i += kBurst)
    ok += seal_chunk(records.subspan(i, std::min(kBurst, records.size() - i)));
  return ok;
}

namespace {

// The lean seal's record: one the general loop would take (a valid type, at
// most 2^14 bytes, headroom for header and explicit nonce, tailroom for the
// tag: off + len + tag <= cap, without overflow in 64 bits). With a CID
// (`cid_len` bytes, RFC 9146 §4): headroom for it too, and no padding, so
// that DTLSInnerPlaintext is the content and the type byte (at most 2^14
// bytes, tailroom for the type).
template <bool GCM, bool CID>
[[gnu::always_inline]] inline bool seal_simple(const Record& r, uint32_t cid_len = 0) {
  constexpr uint32_t kH = kHeaderLen + (GCM ? kExplicitNonceLen : 0);
  const PacketView& p = r.pkt;
  if constexpr (CID)
    return p.buf != nullptr && valid_type(r.type) && r.padding == 0 &&
           p.offset >= kH + cid_len && p.length < kMaxPlaintext &&
           uint64_t{p.offset} + p.length + 1 + kTagLen <= p.capacity;
  return p.buf != nullptr && valid_type(r.type) && p.offset >= kH &&
         p.length <= kMaxPlaintext && uint64_t{p.offset} + p.length + kTagLen <= p.capacity;
}

// What a lean CID record needs besides the key: the CID, the AAD template
// (cid_aad_template) and where each record's AAD goes. The lean open loop
// compares a CID of up to 16 bytes as two 8-byte words, at 0 and at o1 (n -
// 8, or 0 below 8 bytes) under one mask (the low n bytes below 8 bytes), set
// once per burst: no branch on its length per record. (`cid` is a
// kMaxCidLen array: 8 bytes read at any offset below 16 stay inside it.)
struct CidRun {
  const uint8_t* cid = nullptr;
  uint32_t len = 0;
  const uint8_t* tmpl = nullptr;  // cid_aad_template's
  uint8_t (*aad)[kLeanCidAad] = nullptr;
  uint64_t w0, w1, mask;  // set by prepare_match() (not for seal: no stores)
  uint32_t o1;
  CidRun() = default;
  [[gnu::always_inline]] CidRun(const uint8_t* id, uint32_t n, const uint8_t* t,
                                uint8_t (*slots)[kLeanCidAad])
      : cid(id), len(n), tmpl(t), aad(slots) {}
  // For match(): once per burst, by the lean open loop only.
  [[gnu::always_inline]] void prepare_match() {
    o1 = len > 8 ? len - 8 : 0;
    mask = len >= 8 ? ~uint64_t{0} : (uint64_t{1} << (8 * len)) - 1;
    w0 = recjob::le64(cid) & mask;
    w1 = recjob::le64(cid + o1) & mask;
  }
  // Whether the record's CID at `p` (with 8 readable bytes at p + o1) is ours.
  [[gnu::always_inline]] bool match(const uint8_t* p) const {
    if (len > 16) [[unlikely]]
      return cid_equal(p, cid, len);
    return (((recjob::le64(p) ^ w0) | (recjob::le64(p + o1) ^ w1)) & mask) == 0;
  }
};

// Writes the header (and explicit nonce) of a lean record with record number
// `rn` (epoch ‖ seq) and builds its job, AAD in `aad`.
// With a CID (RFC 9146 §4): outer type tls12_cid, the CID after the
// sequence number, the real type after the content (no padding), the §5
// AAD in `aad`, a kLeanCidAad-byte slot.
template <bool GCM, bool CID, class Tmpl = MemTmpl>
[[gnu::always_inline]] inline void seal_build(Record& r, uint64_t rn, uint64_t ex_off,
                                              const AeadKey* key, recjob::Nonce128 salt,
                                              recjob::Block16 ivb, AeadJob* job, uint8_t* aad,
                                              const CidRun& c = {}, const Tmpl& tmpl = {}) {
  constexpr uint32_t kEx = GCM ? kExplicitNonceLen : 0;
  const uint32_t cl = CID ? c.len : 0;
  const uint32_t kH = kHeaderLen + kEx + cl;
  PacketView& p = r.pkt;
  const uint32_t len = p.length;
  const uint32_t inner = CID ? len + 1 : len;  // DTLSInnerPlaintext
  const uint8_t type = r.type;
  uint8_t* const data = p.buf + p.offset;
  uint8_t* const rec = data - kH;
  // type ‖ version in one store; byte 3 is then written by the next one.
  const uint32_t head =
      uint32_t{CID ? kContentTls12Cid : type} | uint32_t{__builtin_bswap16(kVersion)} << 8;
  std::memcpy(rec, &head, 4);
  store_be64(rec + 3, rn);  // epoch(2) ‖ sequence_number(6)
  size_t alen = 13;
  if constexpr (CID) {
    cid_copy(rec + 11, c.cid, cl);
    data[len] = type;
    cid_aad_fill(aad, tmpl, rn, cl, inner);
    alen = 23 + cl;
  } else {
    recjob::store16(aad, recjob::aad13(rn, type, kVersion, static_cast<uint16_t>(len)));
  }
  store_be16(rec + 11 + cl, static_cast<uint16_t>(kEx + inner + kTagLen));
  if constexpr (GCM) {
    // RFC 5288 §3: salt ‖ explicit nonce, which is epoch ‖ seq plus the
    // configured offset.
    const uint64_t mem = __builtin_bswap64(rn + ex_off);  // BE64 in memory order
    std::memcpy(data - kEx, &mem, 8);
    recjob::make(job, key, recjob::with_explicit(salt, mem), {aad, alen}, {data, inner},
                 data + inner);
  } else {
    // RFC 7905 §2
    recjob::make(job, key, recjob::xor_seq(ivb, rn), {aad, alen}, {data, inner}, data + inner);
  }
  r.epoch = static_cast<uint16_t>(rn >> 48);
  r.seq = rn & kMaxSeq;
  r.cid = {};
}

// The lean seal: builds jobs[k] for records[k] while each is a record the
// general loop would take (seal_simple), the first one admitted by the key.
// `rn` is the first record number (epoch ‖ seq); the caller made sure that
// the chunk stays inside the epoch's sequence space. Returns how many.
template <bool GCM, bool CID>
[[gnu::always_inline]] inline size_t seal_run(std::span<Record> records, uint64_t rn,
                                              uint64_t ex_off, const AeadKey* key,
                                              const uint8_t* iv, KeyEpoch& k0, uint64_t now,
                                              recjob::BurstAdmit& admit, AeadJob* jobs,
                                              uint8_t (*aad)[16], const CidRun& c = {}) {
  const recjob::Block16 ivb = recjob::load_iv(iv);  // ChaCha20-Poly1305
  const recjob::Nonce128 salt = recjob::salt128(iv);               // AES-GCM
  // CID records' AADs go to their own slots.
  auto slot = [&](size_t k) -> uint8_t* { return CID ? c.aad[k] : aad[k]; };
  AadTmpl tmpl;
  if constexpr (CID) tmpl = AadTmpl(c.tmpl);
  // The first record is asked about first, and the key only then (what it
  // says, and any event it raises, as in the general loop).
  Record* r = records.data();
  Record* const end = r + records.size();
  if (!seal_simple<GCM, CID>(*r, c.len) || admit(k0, now) != Status::ok)
    return 0;  // live, not too old
  size_t k = 0;
  seal_build<GCM, CID>(*r, rn++, ex_off, key, salt, ivb, jobs + k, slot(k), c, tmpl);
  for (++r, ++k; r != end && seal_simple<GCM, CID>(*r, c.len); ++r, ++k)
    seal_build<GCM, CID>(*r, rn++, ex_off, key, salt, ivb, jobs + k, slot(k), c, tmpl);
  return k;
}

}  // namespace

// A burst of one record: seal_chunk's lean record (seal_simple, seal_build)
// without the chunk's loops, for a key without an age limit, short of the
// end of the sequence space, with no CID or one of at most kLeanCid bytes
// (no padding). The key is asked once,
// admit_seal(1, length), as seal_general asks it for each record when the
// burst is not far from the limits (and with no age limit, what the fast
// mode's two questions, admit_seal(0, 0) then admit_seal(1, length), come
// to: nothing can raise an event or refuse between them); a refusal uses no
// sequence number, as there. Anything else goes to seal_chunk before
// anything is asked or changed. Held to seal_chunk by the tests that seal
// one record at a time and in bursts (dtls12_test: SealBurstsAgreeWithOneAtATime,
// SealOneAtATimeAtTheEdges; seal_burst_fuzz).
size_t RecordProtection::seal_one(Record& r) {
  KeyEpoch& k = seal_.key;
  const bool gcm = is_gcm(k.suite());
  const uint32_t cl = seal_cid_len_;
  if (!seal_.live() || seal_.next_seq >= kMaxSeq || k.limits().has_age_limit() ||
      !(cl == 0 ? (gcm ? seal_simple<true, false>(r) : seal_simple<false, false>(r))
                : cl <= kLeanCid &&
                      (gcm ? seal_simple<true, true>(r, cl) : seal_simple<false, true>(r, cl))))
    return seal_chunks({&r, 1});  // seal_chunk, out of line
  if (cl != 0) return seal_one_cid(r);
  // No age limit: the burst's time is the install time (BurstClock).
  if (const Status st = k.admit_seal(1, r.pkt.length, k.installed_at()); st != Status::ok) {
    r.pkt.status = st;
    return 0;
  }
  Scratch<AeadJob, 1> jobs;  // constructed by seal_build
  alignas(16) uint8_t aad[16];
  const uint64_t rn = record_number(seal_.epoch, seal_.next_seq++);
  if (gcm)
    seal_build<true, false>(r, rn, seal_.explicit_offset, &k.aead(), recjob::salt128(seal_.iv), {},
                            &jobs[0], aad);
  else
    seal_build<false, false>(r, rn, 0, &k.aead(), recjob::Nonce128{}, recjob::load_iv(seal_.iv),
                             &jobs[0], aad);
  rl::seal(jobs.first(1));
  PacketView& p = r.pkt;
  p.status = jobs[0].status;
  if (p.status != Status::ok) return 0;
  const uint32_t hdr = gcm ? kHeaderLen + kExplicitNonceLen : kHeaderLen;
  p.offset -= hdr;
  p.length += hdr + kTagLen;
  return 1;
}

// seal_one's CID record (seal_simple said yes): the same steps with
// seal_build's CID record.
size_t RecordProtection::seal_one_cid(Record& r) {
  KeyEpoch& k = seal_.key;
  const bool gcm = is_gcm(k.suite());
  if (const Status st = k.admit_seal(1, r.pkt.length, k.installed_at()); st != Status::ok) {
    r.pkt.status = st;
    return 0;
  }
  Scratch<AeadJob, 1> jobs;  // constructed by seal_build
  alignas(16) uint8_t aad[1][kLeanCidAad];
  const CidRun c{seal_cid_, seal_cid_len_, seal_cid_aad_, aad};
  const uint64_t rn = record_number(seal_.epoch, seal_.next_seq++);
  if (gcm)
    seal_build<true, true>(r, rn, seal_.explicit_offset, &k.aead(), recjob::salt128(seal_.iv), {},
                           &jobs[0], aad[0], c, MemTmpl{seal_cid_aad_});
  else
    seal_build<false, true>(r, rn, 0, &k.aead(), recjob::Nonce128{}, recjob::load_iv(seal_.iv),
                            &jobs[0], aad[0], c, MemTmpl{seal_cid_aad_});
  rl::seal(jobs.first(1));
  PacketView& p = r.pkt;
  p.status = jobs[0].status;
  if (p.status != Status::ok) return 0;
  const uint32_t hdr = kHeaderLen + seal_cid_len_ + (gcm ? kExplicitNonceLen : 0);
  p.offset -= hdr;
  p.length += hdr + 1 + kTagLen;
  return 1;
}

inline size_t RecordProtection::seal_chunk(std::span<Record> records) {
  Scratch<AeadJob, kBurst> jobs;
  alignas(16) uint8_t aad[kBurst][16];  // 13-byte AADs, one 16-byte store each
  alignas(16) uint8_t cid_aad[kBurst][kLeanCidAad];  // RFC 9146 §5 AADs of lean CID records
  const uint64_t now = BurstClock(clock_).now_for(seal_.key);
  const bool gcm = is_gcm(seal_.key.suite());
  // Fast mode: the whole chunk fits under every limit and in the sequence
  // space: the key is asked once (lazily) and counts the burst once.
  const bool fast = seal_.live() && seal_.next_seq <= kMaxSeq &&
                    kMaxSeq - seal_.next_seq >= records.size() &&
                    recjob::far_from_limits(seal_.key, records.size(),
                                            records.size() * uint64_t{kMaxPlaintext});
  recjob::BurstAdmit admit;  // fast mode: the key's answer for every record
  size_t lean = 0;
  const uint32_t cl = seal_cid_len_;
  if (fast && cl == 0) {
    const uint64_t rn = record_number(seal_.epoch, seal_.next_seq);
    lean = gcm ? seal_run<true, false>(records, rn, seal_.explicit_offset, &seal_.key.aead(),
                                       seal_.iv, seal_.key, now, admit, &jobs[0], aad)
               : seal_run<false, false>(records, rn, seal_.explicit_offset, &seal_.key.aead(),
                                        seal_.iv, seal_.key, now, admit, &jobs[0], aad);
    seal_.next_seq += lean;
  } else if (fast && cl <= kLeanCid) {
    const uint64_t rn = record_number(seal_.epoch, seal_.next_seq);
    const CidRun c{seal_cid_, cl, seal_cid_aad_, cid_aad};
    lean = gcm ? seal_run<true, true>(records, rn, seal_.explicit_offset, &seal_.key.aead(),
                                      seal_.iv, seal_.key, now, admit, &jobs[0], aad, c)
               : seal_run<false, true>(records, rn, seal_.explicit_offset, &seal_.key.aead(),
                                       seal_.iv, seal_.key, now, admit, &jobs[0], aad, c);
    seal_.next_seq += lean;
  }
  if (lean != records.size())
    return seal_general(records, lean, fast, admit.answer, admit.asked, now, &jobs[0], aad);

  rl::seal(jobs.first(lean));
  // The view grows over header (with the CID) and explicit nonce before, the
  // tag (after the inner type) after.
  const uint32_t hdr = static_cast<uint32_t>(kHeaderLen + cl + explicit_len(seal_.key.suite()));
  const uint32_t tail = kTagLen + (cl != 0 ? 1 : 0);
  uint64_t bytes = 0;
  size_t ok = 0;
  for (size_t k = 0; k < lean; ++k) {
    PacketView& p = records[k].pkt;
    bytes += p.length;
    p.status = jobs[k].status;
    if (p.status != Status::ok) continue;
    p.offset -= hdr;
    p.length += hdr + tail;
    ++ok;
  }
  // Counted once: far_from_limits() guaranteed that the counts fit, and the
  // key has answered for this `now` already (so counting after the AEAD
  // work gives what counting before it gave).
  seal_.key.admit_seal(lean, bytes, now);
  return ok;
}

// The general loop, from record `lean` on (jobs[0..lean) are the lean
// loop's), then the AEAD burst and the views.
size_t RecordProtection::seal_general(std::span<Record> records, size_t lean, bool fast,
                                      Status answer, bool asked, uint64_t now, AeadJob* jobs,
                                      uint8_t (*aad)[16]) {
  recjob::BurstAdmit admit;  // what the key said to the lean loop, if asked
  admit.answer = answer;
  admit.asked = asked;
  uint64_t bytes = 0;  // the lean records' plaintext, counted with the rest
  for (size_t k = 0; k < lean; ++k) bytes += records[k].pkt.length;
  // RFC 9146 AADs of any CID length (the lean records' are in their slots).
  uint8_t cid_aad[kBurst][kMaxAad];
  uint8_t idx[kBurst];
  for (size_t k = 0; k < lean; ++k) idx[k] = static_cast<uint8_t>(k);
  size_t n = lean;
  const Suite suite = seal_.key.suite();
  const size_t cid_len = seal_cid_len_;
  const size_t ex = explicit_len(suite);
  const bool gcm = is_gcm(suite);
  const size_t headroom = seal_headroom(suite, cid_len);
  const size_t tail_fixed = kTagLen + (cid_len != 0 ? 1 : 0);
  const bool live = seal_.live();
  const uint16_t epoch = seal_.epoch;
  const AeadKey* key = &seal_.key.aead();
  const recjob::Block16 iv = recjob::load_iv(seal_.iv);
  const uint32_t salt = recjob::le32(seal_.iv);

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
    // With a CID the AEAD plaintext is DTLSInnerPlaintext, which RFC 9146 §4
    // also bounds by 2^14.
    const size_t inner_len = p.length + (cid_len != 0 ? 1 + size_t{r.padding} : 0);
    if (inner_len > kMaxPlaintext) {
      p.status = Status::record_overflow;
      continue;
    }
    if (p.headroom() < headroom || p.tailroom() < tail_fixed + (cid_len != 0 ? r.padding : 0)) {
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
      // RFC 6347 §4.1: the sequence number MUST NOT wrap; the epoch's key is
      // done (rehandshake) before it would.
      if (seal_.next_seq > kMaxSeq) {
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
    uint8_t* rec = data - ex - kHeaderLen - cid_len;
    const size_t frag_len = ex + inner_len + kTagLen;
    const uint64_t rn = record_number(epoch, seq);
    if (cid_len != 0) {
      data[p.length] = r.type;
      if (r.padding != 0) std::memset(data + p.length + 1, 0, r.padding);
    }
    const uint8_t outer_type = cid_len != 0 ? kContentTls12Cid : r.type;
    rec[0] = outer_type;
    store_be16(rec + 1, kVersion);
    store_be64(rec + 3, rn);  // epoch(2) ‖ sequence_number(6)
    if (cid_len != 0) std::memcpy(rec + 11, seal_cid_, cid_len);
    store_be16(rec + 11 + cid_len, static_cast<uint16_t>(frag_len));
    size_t alen;
    if (cid_len != 0) {
      alen = aad_cid(cid_aad[n], kVersion, epoch, seq, seal_cid_, cid_len, inner_len);
    } else {
      recjob::store16(aad[n], recjob::aad13(rn, r.type, kVersion, static_cast<uint16_t>(inner_len)));
      alen = 13;
    }
    // RFC 5288 §3: salt ‖ explicit nonce (we send epoch ‖ seq, plus the
    // configured offset); RFC 7905 §2: iv XOR epoch ‖ seq.
    recjob::Block16 nonce;
    if (gcm) {
      const uint64_t explicit_nonce = rn + seal_.explicit_offset;
      store_be64(data - ex, explicit_nonce);
      nonce = recjob::salt_seq(salt, explicit_nonce);
    } else {
      nonce = recjob::xor_seq(iv, rn);
    }
    recjob::make(&jobs[n], key, nonce, {cid_len != 0 ? cid_aad[n] : aad[n], alen},
                 {data, inner_len}, data + inner_len);
    r.epoch = epoch;
    r.seq = seq;
    r.cid = {};
    idx[n++] = static_cast<uint8_t>(i);
  }
  // Counted once: far_from_limits() guaranteed this cannot refuse.
  if (fast && n != 0) seal_.key.admit_seal(n, bytes, now);

  rl::seal({jobs, n});

  size_t ok = 0;
  const uint32_t hdr = static_cast<uint32_t>(kHeaderLen + cid_len + ex);
  for (size_t k = 0; k < n; ++k) {
    Record& r = records[idx[k]];
    PacketView& p = r.pkt;
    p.status = jobs[k].status;
    if (p.status != Status::ok) continue;
    p.offset -= hdr;
    p.length = static_cast<uint32_t>(hdr + jobs[k].data.size() + kTagLen);
    ++ok;
  }
  return ok;
}

// ---- 4. Open -------------------------------------------------------------------
//
// Phase 1 parses and checks every record and builds its AEAD job, changing
// nothing; phase 2 runs the burst; phase 3 commits, in order, only what
// authenticated. The usual burst (records of one epoch, application data or,
// with a CID of up to 32 bytes, tls12_cid records carrying it; record
// numbers rising above the replay window's top) goes through lean loops
// that keep their constants in registers and update the window and
// counters once; the first record that needs anything else, and everything
// after it, goes through the general loops, which apply every rule.

// One record goes to open_one(), more to open_chunks() (open_chunk is
// inlined into both).
size_t RecordProtection::open(std::span<Record> records) {
  // A tail call either way: open() saves no registers for one record.
  return records.size() == 1 ? open_one(records[0]) : open_chunks(records);
}


// The integrity limit (RFC 9147 §4.5.3) holds in a burst as one record at a
// time: see open_within_integrity.
size_t RecordProtection::open_chunks(std::span<Record> records) {
  return open_within_integrity(
      records, kBurst, [&] { return fewest_failures_left(open_); },
      [&](std::span<Record> chunk) { return open_chunk(chunk); });
}

namespace {

// The first three header bytes of an application data record as a
// little-endian word: type ‖ version as on the wire.
constexpr uint32_t kAppHead = uint32_t{kApplicationData} | uint32_t{kVersion >> 8} << 8 |
                              uint32_t{kVersion & 0xff} << 16;
// The same for an RFC 9146 record: tls12_cid ‖ version.
constexpr uint32_t kCidHead = uint32_t{kContentTls12Cid} | uint32_t{kVersion >> 8} << 8 |
                              uint32_t{kVersion & 0xff} << 16;

// Builds the job of a lean record at `b` (header first) with `inner_len`
// bytes of AEAD plaintext and record number `rn`, and the record's out
// fields. A CID record (RFC 9146 §4, the CID checked already) has the CID
// after the sequence number and its §5 AAD in `aad`, a kLeanCidAad-byte
// slot.
template <bool GCM, bool CID, class Tmpl = MemTmpl>
[[gnu::always_inline]] inline void open_build(Record& r, uint8_t* b, size_t inner_len, uint64_t rn,
                                              const AeadKey* key, recjob::Nonce128 salt,
                                              recjob::Block16 ivb, AeadJob* job, uint8_t* aad,
                                              const CidRun& c = {}, const Tmpl& tmpl = {}) {
  constexpr size_t kEx = GCM ? kExplicitNonceLen : 0;
  const size_t cl = CID ? c.len : 0;
  uint8_t* const frag = b + kHeaderLen + cl;
  size_t alen = 13;
  if constexpr (CID) {
    cid_aad_fill(aad, tmpl, rn, cl, inner_len);
    alen = 23 + cl;
  } else {
    recjob::store16(aad, recjob::aad13(rn, kApplicationData, kVersion,
                                       static_cast<uint16_t>(inner_len)));
  }
  if constexpr (GCM) {
    // RFC 5288 §3: salt ‖ the explicit nonce as sent.
    recjob::make(job, key, recjob::with_explicit(salt, recjob::le64(frag)), {aad, alen},
                 {frag + kEx, inner_len}, frag + kEx + inner_len);
  } else {
    recjob::make(job, key, recjob::xor_seq(ivb, rn), {aad, alen}, {frag + kEx, inner_len},
                 frag + kEx + inner_len);
  }
  r.cid = {};
  r.newest = false;
  r.epoch = static_cast<uint16_t>(rn >> 48);
  r.seq = rn & kMaxSeq;
}

// The lean parse: builds jobs[i] for records[i] while each is one whole
// kApplicationData record (no CID) alone in its view, of `epoch`, with a
// record number above `prev` (the window's top, or just below the epoch's
// first record number when the window is empty) and above the record before
// it: the replay check passes for each, and no record repeats another of the
// burst. Every other check is the general loop's, with the same result.
// Returns how many; seqs[i] gets each one's sequence number. With a CID:
// tls12_cid records carrying exactly c's CID, with 1 .. 2^14 bytes of
// DTLSInnerPlaintext (RFC 9146 §4).
template <bool GCM, bool CID>
[[gnu::always_inline]] inline size_t parse_run(std::span<Record> records, uint16_t epoch,
                                               uint64_t prev, const AeadKey* key,
                                               const uint8_t* iv, AeadJob* jobs,
                                               uint8_t (*aad)[16], uint64_t* seqs,
                                               const CidRun& c = {}) {
  constexpr size_t kEx = GCM ? kExplicitNonceLen : 0;
  const size_t cl = CID ? c.len : 0;
  const size_t kMin = kHeaderLen + cl + kEx + kTagLen + (CID ? 1 : 0);  // and the inner type
  constexpr size_t kMaxIn = kMaxPlaintext - (CID ? 1 : 0);
  constexpr uint32_t kHead = CID ? kCidHead : kAppHead;
  const uint64_t last = uint64_t{epoch} << 48 | kMaxSeq;  // the epoch's last record number
  const recjob::Nonce128 salt = recjob::salt128(iv);
  const recjob::Block16 ivb = recjob::load_iv(iv);
  AadTmpl tmpl;
  if constexpr (CID) tmpl = AadTmpl(c.tmpl);
  size_t i = 0;
  for (; i < records.size(); ++i) {
    Record& r = records[i];
    uint8_t* const buf = r.pkt.buf;
    const uint32_t off = r.pkt.offset, n_in = r.pkt.length, cap = r.pkt.capacity;
    // A well formed view of kMin .. kMin + kMaxIn bytes (one unsigned test).
    if (buf == nullptr || off > cap || n_in > cap - off || n_in - kMin > kMaxIn) break;
    uint8_t* const b = buf + off;
    const uint64_t rn = load_be64(b + 3);  // epoch(2) ‖ sequence_number(6)
    if ((recjob::le32(b) & 0xffffff) != kHead || rn <= prev || rn > last ||
        kHeaderLen + cl + load_be16(b + 11 + cl) != n_in)
      break;
    if constexpr (CID)  // n_in >= kMin: 8 bytes at b + 11 + o1 are in the record
      if (!c.match(b + 11)) break;
    prev = rn;
    const size_t inner_len = n_in - (kMin - (CID ? 1 : 0));
    open_build<GCM, CID>(r, b, inner_len, rn, key, salt, ivb, jobs + i,
                         CID ? c.aad[i] : aad[i], c, tmpl);
    seqs[i] = rn & kMaxSeq;
  }
  return i;
}

// The real content type of an authenticated DTLSInnerPlaintext (RFC 9146
// §4): the last non-zero byte, after the zero padding; false when there is
// none or it is no valid type. `len` becomes the content's length.
[[gnu::always_inline]] inline bool inner_type(const uint8_t* d, size_t& len, uint8_t& type) {
  size_t n = len;
  while (n > 0 && d[n - 1] == 0) --n;
  if (n == 0 || !valid_type(d[n - 1])) return false;
  type = d[--n];
  len = n;
  return true;
}

}  // namespace

inline size_t RecordProtection::open_chunk(std::span<Record> records) {
  Scratch<AeadJob, kBurst> jobs;
  alignas(16) uint8_t aad[kBurst][16];  // 13-byte AADs, one 16-byte store each
  alignas(16) uint8_t cid_aad[kBurst][kLeanCidAad];  // RFC 9146 §5 AADs of lean CID records
  uint64_t seqs[kBurst];                // the lean records' sequence numbers
  BurstClock clock(clock_);

  // The headers are most likely not in L1: ask for all of them before the
  // first is parsed (a prefetch never faults, whatever the view holds).
  // (One record is read right away.)
  if (records.size() > 1)
    for (const Record& r : records) r.pkt.prefetch();

  // The lean parse runs under the first record's epoch. That epoch is
  // looked up and admitted only for a first record that the general loop
  // would look it up for too (well framed application data, or with a CID
  // a well framed tls12_cid record carrying ours), so that what the key says
  // (and any event it raises) is the same either way.
  size_t lean = 0;
  Epoch* e0 = nullptr;
  Status admit0 = Status::ok;
  const PacketView& p0 = records[0].pkt;  // open() never passes an empty chunk
  const bool cid = open_cid_set_;
  const uint32_t cl = open_cid_len_;  // 0 without a CID
  if ((!cid || cl <= kLeanCid) && p0.well_formed() && p0.length >= kHeaderLen + cl &&
      (recjob::le32(p0.data()) & 0xffffff) == (cid ? kCidHead : kAppHead) &&
      kHeaderLen + cl + load_be16(p0.data() + 11 + cl) == p0.length &&
      (!cid || cid_equal(p0.data() + 11, open_cid_, cl)) &&
      (e0 = open_epoch(load_be16(p0.data() + 3))) != nullptr) {
    admit0 = e0->key.admit_open(clock.now_for(e0->key));
    if (admit0 == Status::ok) {
      // Epoch 0 with an empty window has no record number below its first:
      // first_rn - 1 wraps to the top, nothing passes, and the general loop
      // takes the first record.
      const uint64_t first_rn = uint64_t{e0->epoch} << 48;
      const uint64_t prev = e0->window.empty() ? first_rn - 1 : first_rn | e0->window.highest();
      const bool gcm = is_gcm(e0->key.suite());
      const AeadKey* key = &e0->key.aead();
      if (!cid) {
        lean = gcm ? parse_run<true, false>(records, e0->epoch, prev, key, e0->iv, &jobs[0], aad,
                                            seqs)
                   : parse_run<false, false>(records, e0->epoch, prev, key, e0->iv, &jobs[0],
                                             aad, seqs);
      } else {
        CidRun c{open_cid_, cl, open_cid_aad_, cid_aad};
        c.prepare_match();
        lean = gcm ? parse_run<true, true>(records, e0->epoch, prev, key, e0->iv, &jobs[0], aad,
                                           seqs, c)
                   : parse_run<false, true>(records, e0->epoch, prev, key, e0->iv, &jobs[0], aad,
                                            seqs, c);
      }
    }
  }
  if (lean != records.size())
    return open_general(records, lean, e0, admit0, clock, &jobs[0], aad, seqs);

  rl::open(jobs.first(lean));
  const size_t ok = cid ? commit_lean<true>(records, &jobs[0], seqs, e0)
                        : commit_lean<false>(records, &jobs[0], seqs, e0);
  if (ok == lean) return ok;
  // A record failed: it and everything after it through the general commit.
  return ok + commit_general(records, &jobs[0], ok, lean, lean, e0, nullptr, nullptr, nullptr,
                             true);
}

// Commits the lean records in order while each authenticated: the window
// once for the run (each record lies above the one before, as its
// commit() one at a time would see it), the counters once unless the run
// crosses the soft byte limit (then one at a time, so that the event carries
// the counters of the record that crossed it). Returns how many. CID records
// (RFC 9146 §4) also need a valid inner type: the first without one ends
// the run, and commit_general refuses it, as it would.
template <bool CID>
inline size_t RecordProtection::commit_lean(std::span<Record> records, const AeadJob* jobs,
                                            const uint64_t* seqs, Epoch* e) {
  // Header (with the CID) and explicit nonce: the plaintext starts right
  // after them.
  const uint32_t cl = CID ? open_cid_len_ : 0;
  const uint32_t hdr = static_cast<uint32_t>(kHeaderLen + cl + explicit_len(e->key.suite()));
  // Each record is above the window's top, so the general rule (first ever,
  // a newer epoch, or the newest epoch's highest record number so far)
  // gives the first one's answer to every one after it.
  const bool newest = !any_opened_ || e->epoch >= newest_epoch_;
  uint64_t bytes = 0;
  size_t m = 0;
  for (; m < records.size(); ++m) {
    const AeadJob& j = jobs[m];
    if (j.status != Status::ok) break;
    PacketView& p = records[m].pkt;
    size_t len = j.data.size();
    uint8_t type = kApplicationData;
    if constexpr (CID) {
      if (!inner_type(j.data.data(), len, type)) break;
      records[m].cid = {p.buf + p.offset + 11, cl};
    }
    p.offset += hdr;
    p.length = static_cast<uint32_t>(len);
    p.status = Status::ok;
    records[m].type = type;
    records[m].newest = newest;
    bytes += len;
  }
  if (m == 0) return 0;
  if (m == 1) e->window.commit(seqs[0]);  // the same, with less set-up
  else e->window.commit_rising(seqs, m);
  const KeyCounters& c = e->key.counters();
  const uint64_t soft = e->key.limits().soft_bytes;
  if (m == 1 || (c.bytes_opened < soft && bytes < soft - c.bytes_opened)) {
    e->key.count_opened(m, bytes);
  } else {
    for (size_t k = 0; k < m; ++k) e->key.count_opened(records[k].pkt.length);
  }
  if (newest) newest_epoch_ = e->epoch;
  any_opened_ = true;
  return m;
}

// commit_lean for one record that authenticated: its view (payload at
// `offset`, `len` bytes), type and epoch flag, the window, the counters.
inline size_t RecordProtection::commit_one(Record& r, Epoch* e, uint32_t offset, size_t len,
                                           uint8_t type, uint64_t seq) {
  const bool newest = !any_opened_ || e->epoch >= newest_epoch_;
  PacketView& p = r.pkt;
  p.offset = offset;
  p.length = static_cast<uint32_t>(len);
  p.status = Status::ok;
  r.type = type;
  r.newest = newest;
  e->window.commit(seq);
  e->key.count_opened(1, len);
  if (newest) newest_epoch_ = e->epoch;
  any_opened_ = true;
  return 1;
}

// A burst of one record (no CID; open_one_cid has the CID record's):
// open_chunk's questions for its first record and parse_run's, each asked
// once and in their order (a whole application data record of a live
// epoch; then the key; then its length and a
// record number above the window's top), the job built as parse_run builds
// it (open_build), and commit_lean's commit for one record. A record that
// fails a question before the key is asked goes to open_chunk untouched; one
// the key refuses or the lean parse would not take goes to open_general with
// what the key said, as from open_chunk; after the AEAD, a record that failed
// goes to commit_general. Held to the burst path by the tests that open one
// record at a time and in bursts (dtls12_test: MixedBurstsAgreeWithOneAtATime,
// OpenRunsAgreeWithOneAtATime, ...; dtls12_burst_fuzz).
size_t RecordProtection::open_one(Record& r) {
  PacketView& p = r.pkt;
  if (open_cid_set_) return open_one_cid(r);
  const uint32_t off = p.offset, n_in = p.length, cap = p.capacity;
  if (p.buf == nullptr || off > cap || n_in > cap - off || n_in < kHeaderLen)
    return open_chunks({&r, 1});
  uint8_t* const b = p.buf + off;
  if ((recjob::le32(b) & 0xffffff) != kAppHead || kHeaderLen + load_be16(b + 11) != n_in)
    return open_chunks({&r, 1});
  const uint64_t rn = load_be64(b + 3);  // epoch(2) ‖ sequence_number(6)
  Epoch* const e = open_epoch(static_cast<uint16_t>(rn >> 48));
  if (e == nullptr) return open_chunks({&r, 1});
  BurstClock clock(clock_);
  const Status admit = e->key.admit_open(clock.now_for(e->key));
  Scratch<AeadJob, 1> jobs;  // constructed by open_build / open_general
  alignas(16) uint8_t aad[1][16];
  uint64_t seqs[1];
  const bool gcm = is_gcm(e->key.suite());
  const size_t min = kHeaderLen + (gcm ? kExplicitNonceLen : 0) + kTagLen;
  // Epoch 0 with an empty window: nothing is above first_rn - 1 (as there).
  const uint64_t first_rn = uint64_t{e->epoch} << 48;
  const uint64_t prev = e->window.empty() ? first_rn - 1 : first_rn | e->window.highest();
  if (admit != Status::ok || n_in - min > kMaxPlaintext || rn <= prev)
    return open_general({&r, 1}, 0, e, admit, clock, &jobs[0], aad, seqs);
  const size_t inner_len = n_in - min;
  if (gcm)
    open_build<true, false>(r, b, inner_len, rn, &e->key.aead(), recjob::salt128(e->iv), {},
                            &jobs[0], aad[0]);
  else
    open_build<false, false>(r, b, inner_len, rn, &e->key.aead(), recjob::Nonce128{},
                             recjob::load_iv(e->iv), &jobs[0], aad[0]);
  seqs[0] = rn & kMaxSeq;
  rl::open(jobs.first(1));
  if (jobs[0].status != Status::ok)
    return commit_general({&r, 1}, &jobs[0], 0, 1, 1, e, nullptr, nullptr, nullptr, true);
  return commit_one(r, e, off + static_cast<uint32_t>(min - kTagLen), inner_len, kApplicationData,
                    seqs[0]);
}

// open_one for a CID association (RFC 9146 §4): the same questions in the
// same order for a tls12_cid record carrying our CID (of at most kLeanCid
// bytes; longer ones, and everything else, go to open_chunk untouched),
// open_build's CID record, and commit_lean's CID commit for one record; a
// record whose inner plaintext has no valid type goes to commit_general,
// which refuses it.
size_t RecordProtection::open_one_cid(Record& r) {
  PacketView& p = r.pkt;
  const uint32_t off = p.offset, n_in = p.length, cap = p.capacity;
  const uint32_t cl = open_cid_len_;
  if (cl > kLeanCid || p.buf == nullptr || off > cap || n_in > cap - off ||
      n_in < kHeaderLen + cl)
    return open_chunks({&r, 1});
  uint8_t* const b = p.buf + off;
  if ((recjob::le32(b) & 0xffffff) != kCidHead || kHeaderLen + cl + load_be16(b + 11 + cl) != n_in ||
      !cid_equal(b + 11, open_cid_, cl))
    return open_chunks({&r, 1});
  const uint64_t rn = load_be64(b + 3);  // epoch(2) ‖ sequence_number(6)
  Epoch* const e = open_epoch(static_cast<uint16_t>(rn >> 48));
  if (e == nullptr) return open_chunks({&r, 1});
  BurstClock clock(clock_);
  const Status admit = e->key.admit_open(clock.now_for(e->key));
  Scratch<AeadJob, 1> jobs;  // constructed by open_build / open_general
  alignas(16) uint8_t aad[1][16];  // open_general's (unused: a CID association's records)
  alignas(16) uint8_t cid_aad[1][kLeanCidAad];
  uint64_t seqs[1];
  const bool gcm = is_gcm(e->key.suite());
  // The header (with the CID), explicit nonce and tag; 1 .. 2^14 bytes of
  // DTLSInnerPlaintext after them.
  const uint32_t min = kHeaderLen + cl + (gcm ? kExplicitNonceLen : 0) + kTagLen;
  const uint64_t first_rn = uint64_t{e->epoch} << 48;
  const uint64_t prev = e->window.empty() ? first_rn - 1 : first_rn | e->window.highest();
  if (admit != Status::ok || n_in - min - 1 > kMaxPlaintext - 1 || rn <= prev)
    return open_general({&r, 1}, 0, e, admit, clock, &jobs[0], aad, seqs);
  const size_t inner_len = n_in - min;
  const CidRun c{open_cid_, cl, open_cid_aad_, cid_aad};
  if (gcm)
    open_build<true, true>(r, b, inner_len, rn, &e->key.aead(), recjob::salt128(e->iv), {},
                           &jobs[0], cid_aad[0], c, MemTmpl{open_cid_aad_});
  else
    open_build<false, true>(r, b, inner_len, rn, &e->key.aead(), recjob::Nonce128{},
                            recjob::load_iv(e->iv), &jobs[0], cid_aad[0], c,
                            MemTmpl{open_cid_aad_});
  seqs[0] = rn & kMaxSeq;
  rl::open(jobs.first(1));
  size_t len = inner_len;
  uint8_t type = 0;
  if (jobs[0].status != Status::ok || !inner_type(jobs[0].data.data(), len, type))
    return commit_general({&r, 1}, &jobs[0], 0, 1, 1, e, nullptr, nullptr, nullptr, true);
  r.cid = {b + 11, cl};
  return commit_one(r, e, off + (min - kTagLen), len, type, seqs[0]);
}

// The general parse, from record `lean` on (jobs[0..lean) are the lean
// records', of epoch e0), then the AEAD burst and the commit.
size_t RecordProtection::open_general(std::span<Record> records, size_t lean, Epoch* e0,
                                      Status admit0, BurstClock clock, AeadJob* jobs,
                                      uint8_t (*aad)[16], const uint64_t* seqs) {
  // RFC 9146 AADs of any CID length (the lean records' are in their slots).
  uint8_t cid_aad[kBurst][kMaxAad];
  uint8_t idx[kBurst];
  Epoch* slot[kBurst];
  uint8_t otype[kBurst];  // outer content type, kept so commit need not re-read the header
  size_t n = lean;
  // Whether the record numbers (epoch ‖ seq) accepted so far strictly
  // increase: then no record repeats an earlier one of this burst and the
  // commit phase need not check the window a second time. (The lean ones do.)
  bool rising = true;
  uint64_t prev_rn = lean != 0 ? uint64_t{e0->epoch} << 48 | seqs[lean - 1] : 0;
  // The epoch of the previous record and what its key said: a burst is
  // almost always one epoch, looked up and admitted once.
  Epoch* last = e0;
  Status last_admit = admit0;
  // Whether the window refused a record as a repeat of one inside it, which
  // records before it in this burst may have left too old (too_old_by_now).
  bool refused_inside = false;

  for (size_t i = lean; i < records.size(); ++i) {
    Record& r = records[i];
    PacketView& p = r.pkt;
    r.cid = {};
    r.newest = false;
    if (!p.well_formed()) {
      p.status = Status::invalid_argument;
      continue;
    }
    uint8_t* b = p.data();
    const size_t n_in = p.length;
    if (n_in < kHeaderLen) {
      p.status = Status::truncated;
      continue;
    }
    const uint8_t outer_type = b[0];
    const bool cid_rec = outer_type == kContentTls12Cid;
    // RFC 9146 §4: tls12_cid records only when we issued a non-empty CID,
    // and then every protected record carries it.
    if (cid_rec != open_cid_set_ || (!cid_rec && !valid_type(outer_type))) {
      p.status = Status::malformed;
      continue;
    }
    const size_t cid_len = cid_rec ? open_cid_len_ : 0;
    const size_t hdr = kHeaderLen + cid_len;
    if (n_in < hdr) {
      p.status = Status::truncated;
      continue;
    }
    const uint16_t version = load_be16(b + 1);
    const uint64_t rn = load_be64(b + 3);  // epoch(2) ‖ sequence_number(6)
    const uint16_t epoch = static_cast<uint16_t>(rn >> 48);
    const uint64_t seq = rn & kMaxSeq;
    const size_t frag_len = load_be16(b + 11 + cid_len);
    if (n_in < hdr + frag_len) {
      p.status = Status::truncated;
      continue;
    }
    if (n_in > hdr + frag_len || version != kVersion) {
      p.status = Status::malformed;
      continue;
    }
    if (cid_rec && CRYPTO_memcmp(b + 11, open_cid_, cid_len) != 0) {
      p.status = Status::unknown_epoch;  // not this association's CID
      continue;
    }
    Epoch* e = last;
    if (e == nullptr || e->epoch != epoch) {
      e = open_epoch(epoch);
      if (e == nullptr) {
        p.status = Status::unknown_epoch;
        continue;
      }
      last = e;
      last_admit = e->key.admit_open(clock.now_for(e->key));
    }
    if (last_admit != Status::ok) {
      p.status = last_admit;
      continue;
    }
    const Suite suite = e->key.suite();
    const size_t ex = explicit_len(suite);
    if (frag_len < ex + kTagLen + (cid_rec ? 1 : 0)) {
      p.status = Status::truncated;
      continue;
    }
    const size_t inner_len = frag_len - ex - kTagLen;
    if (inner_len > kMaxPlaintext) {
      p.status = Status::record_overflow;
      continue;
    }
    if (const Status st = e->window.check(seq); st != Status::ok) {
      e->key.count_replay();
      p.status = st;
      r.epoch = epoch;
      r.seq = seq;
      refused_inside |= st == Status::replayed;
      continue;
    }
    uint8_t* frag = b + hdr;
    size_t alen;
    if (cid_rec) {
      alen = aad_cid(cid_aad[n], version, epoch, seq, b + 11, cid_len, inner_len);
    } else {
      recjob::store16(aad[n], recjob::aad13(rn, outer_type, version, static_cast<uint16_t>(inner_len)));
      alen = 13;
    }
    // RFC 5288 §3: salt ‖ the explicit nonce as sent; RFC 7905 §2: iv XOR
    // epoch ‖ seq.
    const recjob::Block16 nonce = ex != 0 ? recjob::salt_explicit(recjob::le32(e->iv), frag)
                                          : recjob::xor_seq(recjob::load_iv(e->iv), rn);
    recjob::make(&jobs[n], &e->key.aead(), nonce, {cid_rec ? cid_aad[n] : aad[n], alen},
                 {frag + ex, inner_len},
                 frag + ex + inner_len);
    r.epoch = epoch;
    r.seq = seq;
    if (n != 0 && rn <= prev_rn) rising = false;
    prev_rn = rn;
    slot[n] = e;
    otype[n] = outer_type;
    idx[n++] = static_cast<uint8_t>(i);
  }

  // Phase 2: one burst of AEAD work.
  rl::open({jobs, n});

  // Phase 3: commit, in order, only what authenticated.
  const size_t ok = lean == 0        ? 0
                    : open_cid_set_ ? commit_lean<true>(records.first(lean), jobs, seqs, e0)
                                    : commit_lean<false>(records.first(lean), jobs, seqs, e0);
  const size_t opened = ok + commit_general(records, jobs, ok, n, lean, e0, idx, slot, otype, rising);
  if (refused_inside) {
    too_old_by_now(records, [this](const Record& r) -> const ReplayWindow* {
      const Epoch* e = open_epoch(r.epoch);
      return e != nullptr ? &e->window : nullptr;
    });
  }
  return opened;
}

// The general commit of jobs[from..n): jobs below `lean` are the lean
// records' (record k, epoch e0, application data or tls12_cid), the others
// record idx[k] of epoch slot[k] with outer type otype[k].
size_t RecordProtection::commit_general(std::span<Record> records, AeadJob* jobs, size_t from,
                                        size_t n, size_t lean, Epoch* e0, const uint8_t* idx,
                                        Epoch* const* slot, const uint8_t* otype, bool rising) {
  size_t ok = 0;
  for (size_t k = from; k < n; ++k) {
    Record& r = records[k < lean ? k : idx[k]];
    PacketView& p = r.pkt;
    Epoch* e = k < lean ? e0 : slot[k];
    const AeadJob& j = jobs[k];
    if (j.status != Status::ok) {
      // One record at a time, a repeat of (or a record now too old for) one
      // committed earlier in this burst is refused before its AEAD, as a
      // replay: so it is here, and does not count as a failure.
      if (!rising) {
        if (const Status st = e->window.check(r.seq); st != Status::ok) {
          e->key.count_replay();
          p.status = st;
          continue;
        }
      }
      // The integrity limit (RFC 9147 §4.5.3) may kill the key here; the
      // record itself failed authentication either way.
      e->key.count_auth_failure();
      p.status = j.status == Status::auth_failed ? Status::auth_failed : j.status;
      continue;
    }
    // A duplicate of a record earlier in this same burst passed the check
    // above before the first one was committed.
    if (!rising) {
      if (const Status st = e->window.check(r.seq); st != Status::ok) {
        // It opened: sealing it again with the same key, nonce and AAD puts
        // back the exact ciphertext and tag (its bytes as they arrived).
        rl::seal({&jobs[k], 1});
        e->key.count_replay();
        p.status = st;
        continue;
      }
    }
    uint8_t* plain = j.data.data();
    size_t plain_len = j.data.size();
    // Lean records are application data, or with a CID tls12_cid records.
    uint8_t type = k < lean ? (open_cid_set_ ? kContentTls12Cid : kApplicationData) : otype[k];
    if (type == kContentTls12Cid) {
      // RFC 9146 §4: strip the zero padding; the last non-zero byte is the
      // real content type. All zeros is an error.
      while (plain_len > 0 && plain[plain_len - 1] == 0) --plain_len;
      if (plain_len == 0 || !valid_type(plain[plain_len - 1])) {
        // Refused after it opened: put its bytes back as they arrived (as
        // for a duplicate below).
        rl::seal({&jobs[k], 1});
        p.status = Status::malformed;
        continue;
      }
      type = plain[--plain_len];
      r.cid = {p.data() + 11, open_cid_len_};
    }
    r.newest = !any_opened_ || r.epoch > newest_epoch_ ||
               (r.epoch == newest_epoch_ && (e->window.empty() || r.seq > e->window.highest()));
    if (r.newest) newest_epoch_ = r.epoch;
    any_opened_ = true;
    e->window.commit(r.seq);
    e->key.count_opened(plain_len);
    r.type = type;
    p.offset = static_cast<uint32_t>(plain - p.buf);
    p.length = static_cast<uint32_t>(plain_len);
    p.status = Status::ok;
    ++ok;
  }
  return ok;
}

// ---- 5. Datagrams -----------------------------------------------------------------

size_t RecordProtection::open_datagram(std::span<uint8_t> datagram, std::span<Record> out,
                                       size_t* found) {
  size_t n = 0, pos = 0;
  while (pos < datagram.size() && n < out.size()) {
    Record& r = out[n++];
    r = Record{};
    r.pkt.buf = datagram.data();
    r.pkt.capacity = static_cast<uint32_t>(datagram.size());
    r.pkt.offset = static_cast<uint32_t>(pos);
    const size_t left = datagram.size() - pos;
    const bool cid_rec = datagram[pos] == kContentTls12Cid;
    const size_t hdr = kHeaderLen + (cid_rec && open_cid_set_ ? open_cid_len_ : 0);
    if (left < hdr) {
      r.pkt.length = static_cast<uint32_t>(left);
      r.pkt.status = Status::truncated;
      break;
    }
    const size_t rec_len = hdr + load_be16(datagram.data() + pos + hdr - 2);
    if (rec_len > left) {
      r.pkt.length = static_cast<uint32_t>(left);
      r.pkt.status = Status::truncated;
      break;
    }
    r.pkt.length = static_cast<uint32_t>(rec_len);
    pos += rec_len;
  }
  if (found != nullptr) *found = n;
  // Records whose framing failed keep their Status; open() sees them again,
  // fails them the same way, and changes nothing.
  return open(out.first(n));
}

}  // namespace rl::dtls
